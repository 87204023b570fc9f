//! `make demo`: a local control plane, `bms-sim` with the demo scenario, and the operator;
//! applies `examples/demo/` and shows the BmsJobs progressing until all finish. Ctrl-C stops
//! everything. With `BMS_DEMO_EXIT_WHEN_DONE=1` it stops by itself once the jobs finished.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bms_job_operator::api::BmsJob;
use kube::Api;
use support::ControlPlane;
use support::bmsjobs::{create_secret, run_ok};
use support::operator_process::OperatorProcess;
use support::sim_process::SimProcess;

const NAMESPACE: &str = "bms-demo";
const SIM_LISTEN: &str = "127.0.0.1:18080";

fn example(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(path)
        .display()
        .to_string()
}

async fn all_finished(api: &Api<BmsJob>) -> bool {
    match api.list(&Default::default()).await {
        Ok(list) => {
            !list.items.is_empty()
                && list.items.iter().all(|job| {
                    job.status
                        .as_ref()
                        .and_then(|status| status.phase)
                        .is_some_and(|phase| phase.is_terminal())
                })
        }
        Err(_) => false,
    }
}

#[tokio::main]
async fn main() {
    println!("==> starting etcd and kube-apiserver (RBAC on) on loopback");
    let control_plane = ControlPlane::start();
    let kubectl = || control_plane.kubectl();
    run_ok(kubectl().args([
        "apply",
        "--server-side",
        "-f",
        &example("../crds/bmsjob.yaml"),
    ]));
    run_ok(kubectl().args([
        "wait",
        "--for=condition=Established",
        "crd/bmsjobs.bms.operator.dev",
        "--timeout=30s",
    ]));
    run_ok(kubectl().args(["create", "namespace", NAMESPACE]));

    println!("==> starting bms-sim on http://{SIM_LISTEN} with examples/demo/scenario.yaml");
    let _sim = SimProcess::start_on(SIM_LISTEN, &["--scenario", &example("demo/scenario.yaml")]);
    create_secret(&control_plane, NAMESPACE, "bms-credentials", None);

    println!("==> starting bms-job-operator (namespace {NAMESPACE})");
    let args = vec![
        format!("--namespaces={NAMESPACE}"),
        "--log-level=info".to_owned(),
    ];
    let operator = OperatorProcess::start(&control_plane, None, &args, &[]);
    operator.wait_ready().await;

    println!("==> kubectl apply -f examples/demo/bmsjobs.yaml");
    print!(
        "{}",
        run_ok(kubectl().args(["apply", "-f", &example("demo/bmsjobs.yaml")]))
    );
    println!();
    println!("Point kubectl at this cluster from another terminal:");
    println!(
        "  export KUBECONFIG={}",
        control_plane.kubeconfig_path().display()
    );
    println!("  kubectl get bmsjobs -n {NAMESPACE} -o wide");
    println!("  kubectl describe bmsjob -n {NAMESPACE} create-db-servers");
    println!();
    println!("==> kubectl get bmsjobs -n {NAMESPACE} -w   (until every job has finished)");
    let mut watch = tokio::process::Command::new(support::tools::kubectl_binary())
        .arg(format!(
            "--kubeconfig={}",
            control_plane.kubeconfig_path().display()
        ))
        .args(["get", "bmsjobs", "-n", NAMESPACE, "-w"])
        .stdout(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl get -w starts");

    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, NAMESPACE);
    let finished = async {
        while !all_finished(&api).await {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::select! {
        _ = finished => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let _ = watch.kill().await;
            println!();
            println!("==> every job has finished:");
            print!("{}", run_ok(kubectl().args(["get", "bmsjobs", "-n", NAMESPACE, "-o", "wide"])));
            print!("{}", run_ok(kubectl().args([
                "get", "bmsjobs", "-n", NAMESPACE, "-o",
                "custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type==\"Ready\")].status,FAILED:.status.conditions[?(@.type==\"Failed\")].status,MESSAGE:.status.message",
            ])));
        }
        _ = tokio::signal::ctrl_c() => {
            println!("\n==> stopping");
            return;
        }
    }
    if std::env::var("BMS_DEMO_EXIT_WHEN_DONE").is_ok_and(|value| value == "1") {
        println!("==> stopping");
        return;
    }
    println!();
    println!("The cluster, bms-sim and the operator keep running; press Ctrl-C to stop them.");
    let _ = tokio::signal::ctrl_c().await;
    println!("\n==> stopping");
}
