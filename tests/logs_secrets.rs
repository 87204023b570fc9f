//! No secret in the logs: the operator runs at `--log-level=trace`, in text and in JSON, through
//! a scenario that uses every kind of credential (a Secret, temporary credentials with a
//! security token, the default credentials from the environment, and a rejected key), and its
//! whole output is searched for every access key, secret key, token and signature, as written
//! and base64-encoded as Secrets hold them.

mod support;

use support::bmsjobs::apply_ok;

use std::time::Duration;

use bms_job_operator::api::BmsJob;
use k8s_openapi::ByteString;
use kube::Api;
use serde_json::json;
use support::ControlPlane;
use support::bmsjobs::{
    condition_reason, condition_status, create_secret, manifest, run_ok, wait_for,
};
use support::operator_process::{OperatorProcess, test_flags};
use support::sim_process::{ACCESS_KEY, PROJECT_ID, SECRET_KEY, SimProcess};

const WAIT: Duration = Duration::from_secs(60);

const WRONG_SECRET_KEY: &str = "logTestWrongSecretKey000000000000000001";
const TEMP_ACCESS_KEY: &str = "LOGTESTTEMPACCESSKEY1";
const TEMP_SECRET_KEY: &str = "logTestTempSecretKey00000000000000000001";
const SECURITY_TOKEN: &str = "logTestSecurityToken0gQ0jbi1ub3J0aC00In0sIm1ldGhvZHMiOlsidG9rZW4iXX0";
const ENV_ACCESS_KEY: &str = "LOGTESTENVACCESSKEY01";
const ENV_SECRET_KEY: &str = "logTestEnvSecretKey000000000000000000001";

fn control_plane() -> &'static ControlPlane {
    support::bmsjobs::shared_control_plane_with_crd()
}

/// `value` base64-encoded, as in a Secret's `data`.
fn base64(value: &str) -> String {
    let encoded = serde_json::to_value(ByteString(value.as_bytes().to_vec())).expect("encodes");
    encoded.as_str().expect("a base64 string").to_owned()
}

/// Every secret of the scenario, with a name for messages.
fn secrets() -> Vec<(String, String)> {
    let mut secrets = Vec::new();
    for (name, value) in [
        ("access key", ACCESS_KEY),
        ("secret key", SECRET_KEY),
        ("rejected secret key", WRONG_SECRET_KEY),
        ("temporary access key", TEMP_ACCESS_KEY),
        ("temporary secret key", TEMP_SECRET_KEY),
        ("security token", SECURITY_TOKEN),
        ("default access key", ENV_ACCESS_KEY),
        ("default secret key", ENV_SECRET_KEY),
    ] {
        secrets.push((name.to_owned(), value.to_owned()));
        secrets.push((format!("{name} (base64)"), base64(value)));
    }
    secrets
}

/// What of `secrets` the log holds: names and the line of the first occurrence.
fn leaks(log: &str, secrets: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value) in secrets {
        if let Some(line) = log.lines().find(|line| line.contains(value.as_str())) {
            found.push(format!("{name} in: {line}"));
        }
    }
    // A signature: `Signature=` and hex digits, as in the Authorization header.
    for (index, _) in log.match_indices("Signature=") {
        let next = log[index + "Signature=".len()..].chars().next();
        if next.is_some_and(|next| next.is_ascii_hexdigit()) {
            let line = log[..index].rsplit('\n').next().unwrap_or_default();
            found.push(format!("a signature in: {line}…"));
        }
    }
    found
}

fn create_temporary_secret(control_plane: &ControlPlane, namespace: &str) {
    run_ok(control_plane.kubectl().args([
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "temporary-credentials",
        &format!("--from-literal=accessKey={TEMP_ACCESS_KEY}"),
        &format!("--from-literal=secretKey={TEMP_SECRET_KEY}"),
        &format!("--from-literal=securityToken={SECURITY_TOKEN}"),
    ]));
}

/// Runs the scenario with an operator at trace level in `format`; returns its whole log and
/// the strings it must hold (BmsJob names, and the ids of the jobs it followed).
async fn run_scenario(format: &str) -> (String, Vec<String>) {
    let control_plane = control_plane();
    let namespace = control_plane
        .create_namespace(&format!("logs-{format}"))
        .await;
    let sim = SimProcess::start(&[
        &format!("--credential={TEMP_ACCESS_KEY}:{TEMP_SECRET_KEY}:{SECURITY_TOKEN}"),
        &format!("--credential={ENV_ACCESS_KEY}:{ENV_SECRET_KEY}"),
    ]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    create_secret(
        control_plane,
        &namespace,
        "wrong-credentials",
        Some(WRONG_SECRET_KEY),
    );
    create_temporary_secret(control_plane, &namespace);
    let mut flags = test_flags(&namespace);
    flags.retain(|flag| !flag.starts_with("--log-level"));
    flags.extend(["--log-level=trace".into(), format!("--log-format={format}")]);
    let mut operator = OperatorProcess::start(
        control_plane,
        None,
        &flags,
        &[
            ("HUAWEICLOUD_SDK_AK", ENV_ACCESS_KEY),
            ("HUAWEICLOUD_SDK_SK", ENV_SECRET_KEY),
        ],
    );
    operator.wait_ready().await;

    let job = json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
        "init_for": "1s", "sub_jobs": [{"job_type": "baremetalSingleCreate", "duration": "2s"}]});
    let mut expected = Vec::new();
    for (name, secret) in [
        ("logged-permanent", Some("bms-credentials")),
        ("logged-temporary", Some("temporary-credentials")),
        ("logged-defaults", None),
        ("logged-rejected", Some("wrong-credentials")),
    ] {
        let job_id = sim.create_job(job.clone()).await;
        let mut text = manifest(&namespace, name, sim.url(), &job_id, "");
        text = match secret {
            Some(secret) => text.replace("name: bms-credentials", &format!("name: {secret}")),
            None => text
                .replace("  credentialsSecretRef:\n", "")
                .replace("    name: bms-credentials\n", ""),
        };
        apply_ok(control_plane, &text);
        expected.push(name.to_owned());
        if secret != Some("wrong-credentials") {
            // In the status messages of the jobs that were followed.
            expected.push(job_id);
        }
    }
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    for name in ["logged-permanent", "logged-temporary", "logged-defaults"] {
        wait_for(&api, name, WAIT, "Ready", |job| {
            condition_status(job, "Ready").as_deref() == Some("True")
        })
        .await;
    }
    wait_for(&api, "logged-rejected", WAIT, "rejected", |job| {
        condition_reason(job, "Stalled").as_deref() == Some("CredentialsRejected")
    })
    .await;
    // A few more rejected and paused attempts.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(operator.terminate(), "stops cleanly");
    (operator.log(), expected)
}

fn assert_no_secrets(log: &str, expected: &[String]) {
    // The search works: what is logged is found the same way.
    let canaries: Vec<(String, String)> = expected
        .iter()
        .map(|text| (text.clone(), text.clone()))
        .collect();
    let found = leaks(log, &canaries);
    assert_eq!(
        found.len(),
        canaries.len(),
        "the log names every BmsJob and job id ({} bytes of log)",
        log.len()
    );
    let traces = log.lines().filter(|line| line.contains("TRACE")).count();
    assert!(
        traces > 100,
        "the log is at trace level: {traces} trace lines"
    );
    let leaked = leaks(log, &secrets());
    assert!(
        leaked.is_empty(),
        "secrets in the log:\n{}",
        leaked.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_trace_logs_as_text() {
    let (log, expected) = run_scenario("text").await;
    assert_no_secrets(&log, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_trace_logs_as_json() {
    let (log, expected) = run_scenario("json").await;
    let lines = log.lines().filter(|line| !line.trim().is_empty());
    for line in lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "every line is JSON: {line}"
        );
    }
    assert_no_secrets(&log, &expected);
}
