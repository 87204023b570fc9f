use kube::CustomResourceExt;
fn main() {
    print!(
        "{}",
        serde_yaml_ng::to_string(&bms_job_operator::api::BmsJob::crd()).unwrap()
    );
}
