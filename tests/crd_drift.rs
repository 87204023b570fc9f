//! The committed CRD files are exactly what the Rust types generate.

use std::path::Path;

fn committed(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn crds_bmsjob_yaml_matches_the_generated_crd() {
    let generated = bms_job_operator::api::crd_yaml().expect("CRD serialises");
    assert!(
        committed("crds/bmsjob.yaml") == generated,
        "crds/bmsjob.yaml is stale: run `make crds`"
    );
}

#[test]
fn the_chart_ships_the_same_crd() {
    assert!(
        committed("charts/bms-job-operator/crds/bmsjob.yaml") == committed("crds/bmsjob.yaml"),
        "charts/bms-job-operator/crds/bmsjob.yaml differs from crds/bmsjob.yaml: run `make crds`"
    );
}

#[test]
fn the_crd_names_the_api_users_type() {
    let crd: serde_json::Value =
        serde_yaml_ng::from_str(&committed("crds/bmsjob.yaml")).expect("YAML");
    let names = &crd["spec"]["names"];
    assert_eq!(crd["spec"]["group"], "bms.operator.dev");
    assert_eq!(names["kind"], "BmsJob");
    assert_eq!(names["plural"], "bmsjobs");
    assert_eq!(names["shortNames"][0], "bmsj");
    assert_eq!(names["categories"][0], "huaweicloud");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
}
