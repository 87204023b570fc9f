//! `bms-job-operator get-job` against `bms-sim`: the status the controller would write, as JSON,
//! for a running, a succeeded and a failed job; one clear line on stderr otherwise.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use support::sim_process::{ACCESS_KEY, PROJECT_ID, SECRET_KEY, SimProcess};

fn get_job(sim: &SimProcess, project_id: &str, job_id: &str, secret_key: &str) -> Output {
    Command::new(support::tools::crate_binary("bms-job-operator"))
        .args(["get-job", "--project-id", project_id, "--job-id", job_id])
        .args(["--endpoint", sim.url()])
        .env("HUAWEICLOUD_SDK_AK", ACCESS_KEY)
        .env("HUAWEICLOUD_SDK_SK", secret_key)
        .env_remove("HUAWEICLOUD_SDK_SECURITY_TOKEN")
        .output()
        .expect("get-job runs")
}

fn status_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "get-job failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a str {
    status["conditions"]
        .as_array()
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == type_))
        .and_then(|condition| condition["status"].as_str())
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

#[tokio::test]
async fn get_job_prints_the_status_of_a_running_a_succeeded_and_a_failed_job() {
    let sim = SimProcess::start(&[]);
    let running = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "sub_jobs": [{"duration": "1s"}, {"duration": "1h"}]}),
        )
        .await;
    let succeeded = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "sub_jobs": [{"duration": "1s"}]}),
        )
        .await;
    let failed = sim
        .create_job(json!({"project_id": PROJECT_ID, "job_type": "baremetalReinstallOs",
            "duration": "1s", "fail": {"error_code": "BMS.0223", "fail_reason": "Reinstall failed."}}))
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let status = status_of(&get_job(&sim, PROJECT_ID, &running, SECRET_KEY));
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["jobStatus"], "RUNNING");
    assert_eq!(status["subJobs"]["progress"], "1/2");
    assert_eq!(condition(&status, "Reconciling"), "True");
    assert_eq!(condition(&status, "Ready"), "False");

    let status = status_of(&get_job(&sim, PROJECT_ID, &succeeded, SECRET_KEY));
    assert_eq!(status["phase"], "Succeeded");
    assert_eq!(condition(&status, "Ready"), "True");
    assert_eq!(condition(&status, "Reconciling"), "False");

    let status = status_of(&get_job(&sim, PROJECT_ID, &failed, SECRET_KEY));
    assert_eq!(status["phase"], "Failed");
    assert_eq!(status["errorCode"], "BMS.0223");
    assert_eq!(status["failReason"], "Reinstall failed.");
    assert_eq!(condition(&status, "Failed"), "True");
    assert_eq!(condition(&status, "Stalled"), "True");
}

#[tokio::test]
async fn get_job_names_the_cause_on_one_line_and_exits_non_zero() {
    let sim = SimProcess::start(&[]);
    let unknown = get_job(
        &sim,
        PROJECT_ID,
        "ff8080817c1a2b3c017c1a2b3c4d9999",
        SECRET_KEY,
    );
    assert!(!unknown.status.success());
    assert!(unknown.stdout.is_empty(), "nothing on stdout");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("HTTP 400") && stderr.contains("Common.0011"),
        "{stderr}"
    );
    assert!(stderr.contains("Failed to query system tasks"), "{stderr}");

    let wrong_key = "a-wrong-secret-key-that-must-not-be-printed";
    let rejected = get_job(
        &sim,
        PROJECT_ID,
        "ff8080817c1a2b3c017c1a2b3c4d9999",
        wrong_key,
    );
    assert!(!rejected.status.success());
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("APIG.0301"),
        "{stderr}"
    );
    assert!(stderr.contains("request id"), "{stderr}");
    assert!(
        !stderr.contains(wrong_key) && !stderr.contains("Signature="),
        "{stderr}"
    );

    let missing = Command::new(support::tools::crate_binary("bms-job-operator"))
        .args([
            "get-job",
            "--project-id",
            PROJECT_ID,
            "--job-id",
            "j",
            "--endpoint",
            sim.url(),
        ])
        .env_remove("HUAWEICLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_SK")
        .output()
        .expect("get-job runs");
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("HUAWEICLOUD_SDK_AK"), "{stderr}");
}
