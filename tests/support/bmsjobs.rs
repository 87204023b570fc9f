//! BmsJob helpers for end-to-end tests: manifests applied with kubectl, Secrets, and waiting
//! on conditions through a watch.

use std::process::{Command, Output};
use std::time::Duration;

use bms_job_operator::api::BmsJob;
use kube::Api;
use kube::runtime::wait::await_condition;
use serde_json::Value;

use super::ControlPlane;
use super::sim_process::{ACCESS_KEY, PROJECT_ID, SECRET_KEY};

/// Runs a command and returns its output, whatever the exit status.
pub fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|error| panic!("running {command:?}: {error}"))
}

/// Runs a command that must succeed; returns stdout.
pub fn run_ok(command: &mut Command) -> String {
    let result = output(command);
    assert!(
        result.status.success(),
        "{command:?} failed: {}\n{}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    String::from_utf8_lossy(&result.stdout).into_owned()
}

/// `kubectl apply -f -` of a YAML manifest; returns the command's output.
pub fn kubectl_apply(control_plane: &ControlPlane, manifest: &str) -> Output {
    use std::io::Write;
    let mut child = control_plane
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(manifest.as_bytes())
        .expect("manifest written");
    child.wait_with_output().expect("kubectl finishes")
}

/// `kubectl apply -f -` of a manifest that must be accepted.
pub fn apply_ok(control_plane: &ControlPlane, manifest: &str) {
    let result = kubectl_apply(control_plane, manifest);
    assert!(
        result.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Creates the credentials Secret `name` in `namespace` with the simulator's keys, or the
/// given secret key.
pub fn create_secret(
    control_plane: &ControlPlane,
    namespace: &str,
    name: &str,
    secret_key: Option<&str>,
) {
    run_ok(control_plane.kubectl().args([
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        name,
        &format!("--from-literal=accessKey={ACCESS_KEY}"),
        &format!(
            "--from-literal=secretKey={}",
            secret_key.unwrap_or(SECRET_KEY)
        ),
    ]));
}

/// A BmsJob manifest for a simulator job.
pub fn manifest(
    namespace: &str,
    name: &str,
    endpoint: &str,
    job_id: &str,
    extra_spec: &str,
) -> String {
    format!(
        "apiVersion: bms.operator.dev/v1alpha1
kind: BmsJob
metadata:
  name: {name}
  namespace: {namespace}
spec:
  projectId: {PROJECT_ID}
  jobId: {job_id}
  endpoint: {endpoint}
  pollInterval: 2s
  credentialsSecretRef:
    name: bms-credentials
{extra_spec}"
    )
}

/// Waits until `check` holds for the BmsJob, or panics with the object after `timeout`.
pub async fn wait_for(
    api: &Api<BmsJob>,
    name: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&BmsJob) -> bool,
) -> BmsJob {
    let condition = move |object: Option<&BmsJob>| object.is_some_and(&check);
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, condition)).await {
        Ok(Ok(Some(object))) => object,
        _ => {
            let object = api.get(name).await.ok();
            panic!(
                "{name}: not {what} within {timeout:?}; object: {}",
                serde_json::to_string_pretty(&object).unwrap_or_default()
            )
        }
    }
}

/// The status of condition `type_`, if set.
pub fn condition_status(job: &BmsJob, type_: &str) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|condition| condition.type_ == type_)
        .map(|condition| condition.status.clone())
}

/// The reason of condition `type_`, if set.
pub fn condition_reason(job: &BmsJob, type_: &str) -> Option<String> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|condition| condition.type_ == type_)
        .map(|condition| condition.reason.clone())
}

/// Requests the simulator served for one job, from its counters.
pub fn job_requests(counters: &Value, job_id: &str) -> u64 {
    counters["jobs"][job_id]["requests"].as_u64().unwrap_or(0)
}

/// The shared control plane of this test binary, with the BmsJob CRD installed once.
pub fn shared_control_plane_with_crd() -> &'static ControlPlane {
    let control_plane = ControlPlane::shared();
    static CRD: std::sync::Once = std::sync::Once::new();
    CRD.call_once(|| {
        run_ok(control_plane.kubectl().args([
            "apply",
            "--server-side",
            "-f",
            concat!(env!("CARGO_MANIFEST_DIR"), "/crds/bmsjob.yaml"),
        ]));
        run_ok(control_plane.kubectl().args([
            "wait",
            "--for=condition=Established",
            "crd/bmsjobs.bms.operator.dev",
            "--timeout=30s",
        ]));
    });
    control_plane
}
