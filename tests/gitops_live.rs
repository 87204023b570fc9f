//! GitOps health of live BmsJobs: the real operator drives BmsJobs to every outcome against
//! `bms-sim`; each object, fetched with `kubectl get -o json` (and saved under
//! `target/gitops-objects/`), goes through Argo CD's Lua runtime with `gitops/argocd/health.lua`
//! and through kstatus, which must agree with the table in the README's GitOps section.

mod support;

use support::bmsjobs::apply_ok;

use std::path::PathBuf;
use std::time::Duration;

use bms_job_operator::api::BmsJob;
use kube::Api;
use serde_json::json;
use support::ControlPlane;
use support::bmsjobs::{condition_reason, condition_status, create_secret, run_ok, wait_for};
use support::gitops::{Health, argocd_health, checker, kstatus, save_live_bmsjob};
use support::operator_process::{OperatorProcess, test_flags};
use support::sim_process::{PROJECT_ID, SimProcess};

const WAIT: Duration = Duration::from_secs(60);

fn control_plane() -> &'static ControlPlane {
    support::bmsjobs::shared_control_plane_with_crd()
}

/// A BmsJob for a simulator job, with credentials from Secret `secret`.
fn bmsjob(
    namespace: &str,
    name: &str,
    endpoint: &str,
    job_id: &str,
    secret: &str,
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
    name: {secret}
{extra_spec}"
    )
}

fn long_job() -> serde_json::Value {
    json!({"project_id": PROJECT_ID, "job_type": "baremetalReinstallOs",
        "init_for": "1s", "duration": "10m"})
}

/// One live object and what both checkers must say about it.
struct Expected {
    /// Name of the BmsJob, and of its saved file.
    name: &'static str,
    argocd: &'static str,
    /// Start of Argo CD's message: the reason of the deciding condition, or the script's own
    /// text when no condition decides.
    argocd_message: &'static str,
    kstatus: &'static str,
    /// Text kstatus's message must contain.
    kstatus_message: &'static str,
}

fn condition_is(job: &BmsJob, type_: &str, status: &str, reason: &str) -> bool {
    condition_status(job, type_).as_deref() == Some(status)
        && condition_reason(job, type_).as_deref() == Some(reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_bmsjobs_of_every_outcome_get_the_documented_argocd_and_kstatus_health() {
    // Missing checkers are a setup error, reported before anything starts.
    checker("argocd-health");
    checker("kstatus-check");

    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("gitops").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    create_secret(
        control_plane,
        &namespace,
        "wrong-credentials",
        Some("not-the-secret-key-at-all-000000000000000"),
    );
    let mut operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);

    let succeeds = sim
        .create_job(json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": [{"job_type": "baremetalSingleCreate", "duration": "1s"}]}))
        .await;
    let fails = sim
        .create_job(json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": [
                {"job_type": "baremetalSingleCreate", "duration": "1s"},
                {"job_type": "baremetalSingleCreate", "duration": "1s",
                 "fail": {"error_code": "BMS.0102", "fail_reason": "Insufficient bare metal resources."}}]}))
        .await;
    let unpaid = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "pending_payment_for": "forever"}),
        )
        .await;
    let running = sim.create_job(long_job()).await;
    let too_long = sim.create_job(long_job()).await;
    let rejected = sim.create_job(long_job()).await;
    let no_secret = sim.create_job(long_job()).await;
    let behind = sim.create_job(long_job()).await;
    let fresh = sim.create_job(long_job()).await;

    let good = "bms-credentials";
    for (name, job_id, secret, extra) in [
        ("succeeded", &succeeds, good, ""),
        ("failed-sub-job", &fails, good, ""),
        ("pending-payment", &unpaid, good, ""),
        ("running", &running, good, ""),
        ("deadline-exceeded", &too_long, good, "  timeout: 5s\n"),
        ("credentials-rejected", &rejected, "wrong-credentials", ""),
        ("secret-missing", &no_secret, "absent-credentials", ""),
        ("generation-behind", &behind, good, ""),
    ] {
        apply_ok(
            control_plane,
            &bmsjob(&namespace, name, sim.url(), job_id, secret, extra),
        );
    }

    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    wait_for(&api, "succeeded", WAIT, "Ready", |job| {
        condition_is(job, "Ready", "True", "JobSucceeded")
    })
    .await;
    wait_for(&api, "failed-sub-job", WAIT, "Failed", |job| {
        condition_is(job, "Failed", "True", "JobFailed")
    })
    .await;
    wait_for(&api, "pending-payment", WAIT, "awaiting payment", |job| {
        condition_is(job, "Reconciling", "True", "PendingPayment")
    })
    .await;
    wait_for(&api, "running", WAIT, "running", |job| {
        condition_is(job, "Reconciling", "True", "JobRunning")
    })
    .await;
    wait_for(
        &api,
        "deadline-exceeded",
        WAIT,
        "past its deadline",
        |job| condition_is(job, "Failed", "True", "DeadlineExceeded"),
    )
    .await;
    wait_for(
        &api,
        "credentials-rejected",
        WAIT,
        "stalled on rejected credentials",
        |job| condition_is(job, "Stalled", "True", "CredentialsRejected"),
    )
    .await;
    wait_for(
        &api,
        "secret-missing",
        WAIT,
        "stalled on its Secret",
        |job| condition_is(job, "Stalled", "True", "SecretNotFound"),
    )
    .await;
    wait_for(
        &api,
        "generation-behind",
        WAIT,
        "running, generation 1 observed",
        |job| {
            condition_is(job, "Reconciling", "True", "JobRunning")
                && job.status.as_ref().and_then(|s| s.observed_generation) == Some(1)
        },
    )
    .await;

    // With the operator stopped, a spec change leaves the status describing generation 1, and
    // a new BmsJob keeps the CRD's default status.
    assert!(operator.terminate(), "operator stopped cleanly");
    run_ok(control_plane.kubectl().args([
        "-n",
        &namespace,
        "patch",
        "bmsjob",
        "generation-behind",
        "--type=merge",
        "-p",
        r#"{"spec":{"pollInterval":"3s"}}"#,
    ]));
    apply_ok(
        control_plane,
        &bmsjob(&namespace, "not-yet-polled", sim.url(), &fresh, good, ""),
    );
    let behind_job = api
        .get("generation-behind")
        .await
        .expect("generation-behind");
    assert_eq!(behind_job.metadata.generation, Some(2));
    assert_eq!(
        behind_job
            .status
            .as_ref()
            .and_then(|s| s.observed_generation),
        Some(1)
    );

    let expectations = [
        Expected {
            name: "succeeded",
            argocd: "Healthy",
            argocd_message: "JobSucceeded: ",
            kstatus: "Current",
            kstatus_message: "Resource is Ready",
        },
        Expected {
            name: "running",
            argocd: "Progressing",
            argocd_message: "JobRunning: ",
            kstatus: "InProgress",
            kstatus_message: "is running",
        },
        Expected {
            name: "pending-payment",
            argocd: "Progressing",
            argocd_message: "PendingPayment: ",
            kstatus: "InProgress",
            kstatus_message: "awaits payment",
        },
        Expected {
            name: "failed-sub-job",
            argocd: "Degraded",
            argocd_message: "JobFailed: ",
            kstatus: "Failed",
            kstatus_message: "Insufficient bare metal resources",
        },
        Expected {
            name: "deadline-exceeded",
            argocd: "Degraded",
            argocd_message: "DeadlineExceeded: ",
            kstatus: "Failed",
            kstatus_message: "spec.timeout 5s",
        },
        Expected {
            name: "credentials-rejected",
            argocd: "Degraded",
            argocd_message: "CredentialsRejected: ",
            kstatus: "Failed",
            kstatus_message: "Secret \"wrong-credentials\"",
        },
        Expected {
            name: "secret-missing",
            argocd: "Degraded",
            argocd_message: "SecretNotFound: ",
            kstatus: "Failed",
            kstatus_message: "Secret \"absent-credentials\" not found",
        },
        Expected {
            name: "generation-behind",
            argocd: "Progressing",
            argocd_message: "Waiting for the controller to observe generation 2 (status describes generation 1)",
            kstatus: "InProgress",
            kstatus_message: "generation is 2, but latest observed generation is 1",
        },
        Expected {
            name: "not-yet-polled",
            argocd: "Progressing",
            argocd_message: "Waiting for the controller to report the job's status",
            kstatus: "InProgress",
            kstatus_message: "generation is 1, but latest observed generation is 0",
        },
    ];

    let mut mismatches = Vec::new();
    for expected in &expectations {
        let path: PathBuf =
            save_live_bmsjob(control_plane, &namespace, expected.name, expected.name);
        let argocd = argocd_health(&path);
        let flux = kstatus(&path);
        let argocd_ok =
            argocd.status == expected.argocd && argocd.message.starts_with(expected.argocd_message);
        let kstatus_ok =
            flux.status == expected.kstatus && flux.message.contains(expected.kstatus_message);
        if !(argocd_ok && kstatus_ok) {
            mismatches.push(describe(expected, &argocd, &flux, &path));
        }
    }
    assert!(
        mismatches.is_empty(),
        "live BmsJobs whose GitOps health differs from the README:\n{}",
        mismatches.join("\n")
    );
}

fn describe(expected: &Expected, argocd: &Health, flux: &Health, path: &std::path::Path) -> String {
    format!(
        "- {}: expected Argo CD {} ({:?}…) and kstatus {} (containing {:?}); got Argo CD {:?} and \
         kstatus {:?}; object in {}",
        expected.name,
        expected.argocd,
        expected.argocd_message,
        expected.kstatus,
        expected.kstatus_message,
        argocd,
        flux,
        path.display()
    )
}
