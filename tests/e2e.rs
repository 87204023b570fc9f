//! End-to-end: a real kube-apiserver, `bms-sim` and the operator binary as processes.
//! BmsJobs applied with kubectl reach the phase and conditions users wait on.

mod support;

use support::bmsjobs::apply_ok;

use std::time::Duration;

use bms_job_operator::api::{BmsJob, Phase};
use kube::Api;
use serde_json::json;
use support::ControlPlane;
use support::bmsjobs::{
    condition_reason, condition_status, create_secret, job_requests, manifest, output, run_ok,
    wait_for,
};
use support::operator_process::{OperatorProcess, test_flags};
use support::sim_process::{PROJECT_ID, SimProcess};

const WAIT: Duration = Duration::from_secs(60);

fn control_plane() -> &'static ControlPlane {
    support::bmsjobs::shared_control_plane_with_crd()
}

fn sub_jobs(durations: &[&str]) -> serde_json::Value {
    durations
        .iter()
        .map(|duration| json!({"job_type": "baremetalSingleCreate", "duration": duration}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_reaches_its_phase_and_conditions() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("outcomes").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let _operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);

    let succeeds = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": sub_jobs(&["2s", "3s"])}),
        )
        .await;
    let fails = sim
        .create_job(json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": [
                {"job_type": "baremetalSingleCreate", "duration": "2s"},
                {"job_type": "baremetalSingleCreate", "duration": "3s",
                 "fail": {"error_code": "BMS.0102", "fail_reason": "Insufficient bare metal resources."}}]}))
        .await;
    let unpaid = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "pending_payment_for": "forever"}),
        )
        .await;
    let slow = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalReinstallOs",
            "init_for": "1s", "duration": "10m"}),
        )
        .await;
    for (name, job_id, extra) in [
        ("succeeds", &succeeds, ""),
        ("fails", &fails, ""),
        ("unpaid", &unpaid, ""),
        ("slow", &slow, "  timeout: 8s\n"),
    ] {
        apply_ok(
            control_plane,
            &manifest(&namespace, name, sim.url(), job_id, extra),
        );
    }

    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    let done = wait_for(&api, "succeeds", WAIT, "Ready", |job| {
        condition_status(job, "Ready").as_deref() == Some("True")
    })
    .await;
    let status = done.status.clone().expect("status");
    assert_eq!(status.phase, Some(Phase::Succeeded));
    assert_eq!(status.job_status.as_deref(), Some("SUCCESS"));
    assert_eq!(
        status.sub_jobs.as_ref().map(|s| s.progress.as_str()),
        Some("2/2")
    );
    assert_eq!(
        condition_status(&done, "Reconciling").as_deref(),
        Some("False")
    );
    assert_eq!(condition_status(&done, "Failed").as_deref(), Some("False"));

    let failed = wait_for(&api, "fails", WAIT, "Failed", |job| {
        condition_status(job, "Failed").as_deref() == Some("True")
    })
    .await;
    let status = failed.status.clone().expect("status");
    assert_eq!(status.phase, Some(Phase::Failed));
    assert_eq!(
        condition_status(&failed, "Stalled").as_deref(),
        Some("True")
    );
    assert_eq!(
        condition_reason(&failed, "Failed").as_deref(),
        Some("JobFailed")
    );
    let sub_jobs = status.sub_jobs.expect("sub-jobs");
    assert_eq!(sub_jobs.failed, 1);
    assert_eq!(sub_jobs.items[0].error_code.as_deref(), Some("BMS.0102"));
    let message = status.message.expect("message");
    assert!(
        message.contains("Insufficient bare metal resources"),
        "{message}"
    );

    let unpaid_job = wait_for(&api, "unpaid", WAIT, "pending payment", |job| {
        condition_reason(job, "Reconciling").as_deref() == Some("PendingPayment")
    })
    .await;
    assert_eq!(
        unpaid_job.status.clone().expect("status").phase,
        Some(Phase::Pending)
    );
    assert_eq!(
        condition_status(&unpaid_job, "Reconciling").as_deref(),
        Some("True")
    );

    let timed_out = wait_for(&api, "slow", WAIT, "past its deadline", |job| {
        condition_reason(job, "Failed").as_deref() == Some("DeadlineExceeded")
    })
    .await;
    assert_eq!(
        condition_status(&timed_out, "Failed").as_deref(),
        Some("True")
    );
    assert_eq!(
        timed_out.status.clone().expect("status").phase,
        Some(Phase::Failed)
    );

    // Finished jobs are not polled again.
    let before = sim.counters().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = sim.counters().await;
    for job_id in [&succeeds, &fails, &slow] {
        assert_eq!(
            job_requests(&before, job_id),
            job_requests(&after, job_id),
            "job {job_id} was polled after it finished"
        );
    }
    assert!(
        job_requests(&after, &unpaid) > job_requests(&before, &unpaid),
        "unpaid job still polled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_returns_when_it_should_and_times_out_when_it_should_not() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("wait").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let _operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    let ok = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": sub_jobs(&["5s"])}),
        )
        .await;
    let bad = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalReinstallOs",
            "init_for": "1s", "duration": "5s",
            "fail": {"error_code": "BMS.0223", "fail_reason": "Reinstall failed."}}),
        )
        .await;
    apply_ok(
        control_plane,
        &manifest(&namespace, "ok", sim.url(), &ok, ""),
    );
    apply_ok(
        control_plane,
        &manifest(&namespace, "bad", sim.url(), &bad, ""),
    );

    let wait = |target: &str, condition: &str, timeout: &str| {
        output(control_plane.kubectl().args([
            "-n",
            &namespace,
            "wait",
            &format!("bmsjob/{target}"),
            &format!("--for=condition={condition}"),
            &format!("--timeout={timeout}"),
        ]))
    };
    // While running, neither outcome is reached.
    assert!(
        !wait("ok", "Ready", "2s").status.success(),
        "Ready too early"
    );
    assert!(
        !wait("ok", "Reconciling=False", "2s").status.success(),
        "done too early"
    );

    assert!(
        wait("ok", "Ready", "60s").status.success(),
        "Ready never came"
    );
    assert!(wait("ok", "Reconciling=False", "10s").status.success());
    assert!(
        !wait("ok", "Failed", "3s").status.success(),
        "a success is not Failed"
    );

    assert!(
        wait("bad", "Failed", "60s").status.success(),
        "Failed never came"
    );
    assert!(wait("bad", "Reconciling=False", "10s").status.success());
    assert!(
        !wait("bad", "Ready", "3s").status.success(),
        "a failure is not Ready"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_stalls_and_recovers_once_created() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("secret").await;
    let sim = SimProcess::start(&[]);
    let _operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    let job_id = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": sub_jobs(&["2s"])}),
        )
        .await;
    apply_ok(
        control_plane,
        &manifest(&namespace, "later", sim.url(), &job_id, ""),
    );
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    let stalled = wait_for(&api, "later", WAIT, "stalled on its Secret", |job| {
        condition_reason(job, "Stalled").as_deref() == Some("SecretNotFound")
    })
    .await;
    assert_eq!(
        condition_status(&stalled, "Stalled").as_deref(),
        Some("True")
    );
    assert_eq!(
        condition_status(&stalled, "Failed").as_deref(),
        Some("False")
    );
    let message = stalled.status.and_then(|s| s.message).expect("message");
    assert!(message.contains("bms-credentials"), "{message}");
    assert_eq!(
        job_requests(&sim.counters().await, &job_id),
        0,
        "no cloud call without credentials"
    );

    create_secret(control_plane, &namespace, "bms-credentials", None);
    wait_for(
        &api,
        "later",
        WAIT,
        "Ready after the Secret appeared",
        |job| condition_status(job, "Ready").as_deref() == Some("True"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_stall_and_never_approach_the_lockout() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("wrongkey").await;
    let sim = SimProcess::start(&[]);
    create_secret(
        control_plane,
        &namespace,
        "bms-credentials",
        Some("not-the-secret-key"),
    );
    let _operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    let mut job_ids = Vec::new();
    for index in 0..3 {
        let job_id = sim
            .create_job(
                json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
                "init_for": "1s", "sub_jobs": sub_jobs(&["2s"])}),
            )
            .await;
        apply_ok(
            control_plane,
            &manifest(
                &namespace,
                &format!("wrong-{index}"),
                sim.url(),
                &job_id,
                "",
            ),
        );
        job_ids.push(job_id);
    }
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    let stalled = wait_for(
        &api,
        "wrong-0",
        WAIT,
        "stalled on rejected credentials",
        |job| condition_reason(job, "Stalled").as_deref() == Some("CredentialsRejected"),
    )
    .await;
    assert_eq!(
        condition_status(&stalled, "Failed").as_deref(),
        Some("False")
    );
    // Three BmsJobs share the key; with 2 s polls they would send dozens of requests.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let counters = sim.counters().await;
    let key = &counters["access_keys"][support::sim_process::ACCESS_KEY];
    let longest = key["longest_auth_failure_streak"]
        .as_u64()
        .expect("streak counter");
    assert!(longest >= 1, "the wrong key was tried: {counters}");
    assert!(
        longest <= 3,
        "at most three consecutive failures: {counters}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_shows_columns_and_explain_shows_the_docs() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("columns").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let _operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    let job_id = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": sub_jobs(&["1s", "2s"])}),
        )
        .await;
    apply_ok(
        control_plane,
        &manifest(&namespace, "shown", sim.url(), &job_id, ""),
    );
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    wait_for(&api, "shown", WAIT, "Ready", |job| {
        condition_status(job, "Ready").as_deref() == Some("True")
    })
    .await;
    let table = run_ok(
        control_plane
            .kubectl()
            .args(["-n", &namespace, "get", "bmsj"]),
    );
    let header: Vec<&str> = table
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "TYPE", "SUB-JOBS", "AGE"],
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..4],
        ["shown", "Succeeded", "baremetalBatchCreate", "2/2"],
        "{table}"
    );
    let by_category =
        run_ok(
            control_plane
                .kubectl()
                .args(["-n", &namespace, "get", "huaweicloud"]),
        );
    assert!(by_category.contains("shown"), "{by_category}");

    let explain = run_ok(control_plane.kubectl().args(["explain", "bmsjob.spec"]));
    for expected in [
        "projectId",
        "jobId",
        "pollInterval",
        "credentialsSecretRef",
        "Immutable",
    ] {
        assert!(
            explain.contains(expected),
            "explain lacks {expected}:\n{explain}"
        );
    }
}
