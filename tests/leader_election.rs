//! Leader election end to end: two operator processes with `--leader-election`, acting as a
//! ServiceAccount with the Helm chart's rules, on a real kube-apiserver with `bms-sim`. Only
//! the Lease holder polls; a standby takes over after a crash within the lease duration, and
//! at once after a graceful stop; the cloud sees about what one operator would send.

mod support;

use support::bmsjobs::apply_ok;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bms_job_operator::api::BmsJob;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use support::ControlPlane;
use support::bmsjobs::{condition_status, create_secret, job_requests, manifest, wait_for};
use support::metrics_text::Exposition;
use support::operator_process::{OperatorProcess, test_flags};
use support::sim_process::{CounterSampler, PROJECT_ID, SimProcess};

const WAIT: Duration = Duration::from_secs(60);
const LEASE_NAME: &str = "bms-job-operator";

fn control_plane() -> &'static ControlPlane {
    support::bmsjobs::shared_control_plane_with_crd()
}

/// A ServiceAccount kubeconfig with the rules the Helm chart gives the operator in its own
/// namespace: BmsJobs, their status, Secrets, Events, and Leases.
async fn operator_kubeconfig(control_plane: &ControlPlane, namespace: &str) -> PathBuf {
    let account = "bms-job-operator";
    let kubeconfig = control_plane
        .service_account_kubeconfig(namespace, account)
        .await;
    apply_ok(
        control_plane,
        &format!(
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bms-job-operator
  namespace: {namespace}
rules:
  - apiGroups: ["bms.operator.dev"]
    resources: ["bmsjobs"]
    verbs: ["get", "list", "watch"]
  - apiGroups: ["bms.operator.dev"]
    resources: ["bmsjobs/status"]
    verbs: ["patch"]
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["get"]
  - apiGroups: ["events.k8s.io"]
    resources: ["events"]
    verbs: ["create", "patch"]
  - apiGroups: [""]
    resources: ["events"]
    verbs: ["create", "patch"]
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    verbs: ["get", "create", "update", "patch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bms-job-operator
  namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: bms-job-operator
subjects:
  - kind: ServiceAccount
    name: {account}
    namespace: {namespace}
"#
        ),
    );
    kubeconfig
}

fn replica_flags(namespace: &str, identity: &str, lease_duration: &str) -> Vec<String> {
    let mut flags = test_flags(namespace);
    flags.extend([
        "--leader-election".into(),
        format!("--leader-election-namespace={namespace}"),
        format!("--leader-election-lease-duration={lease_duration}"),
        format!("--identity={identity}"),
    ]);
    flags
}

fn start_replica(
    control_plane: &ControlPlane,
    kubeconfig: &Path,
    namespace: &str,
    identity: &str,
    lease_duration: &str,
) -> OperatorProcess {
    OperatorProcess::start(
        control_plane,
        Some(kubeconfig),
        &replica_flags(namespace, identity, lease_duration),
        &[],
    )
}

/// Asserts that a replica is a live standby: alive, not ready, and it never asked the cloud.
async fn assert_standby(replica: &OperatorProcess) {
    let (status, body) = replica.get("/readyz").await;
    assert_eq!(status, 503, "a standby is not ready: {body}");
    assert!(body.contains("standby"), "{body}");
    assert_eq!(replica.get("/livez").await.0, 200, "a standby is alive");
    let (_, text) = replica.get("/metrics").await;
    let metrics = Exposition::parse(&text);
    assert_eq!(
        metrics.sum("bms_operator_cloud_requests_total", &[]),
        0.0,
        "a standby never asks the cloud:\n{text}"
    );
}

/// Polls `/readyz` until it answers 200; returns how long that took.
async fn time_until_ready(replica: &OperatorProcess, timeout: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if replica.get("/readyz").await.0 == 200 {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no takeover within {timeout:?}; log:\n{}", replica.log());
}

async fn lease_holder(control_plane: &ControlPlane, namespace: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(control_plane.client().await, namespace);
    leases
        .get_opt(LEASE_NAME)
        .await
        .expect("reading the Lease")
        .and_then(|lease| lease.spec)
        .and_then(|spec| spec.holder_identity)
}

/// When the simulator served `job_id`, to the sampling period: one instant per request.
fn request_times(samples: &[(Instant, Value)], job_id: &str) -> Vec<Instant> {
    let mut times = Vec::new();
    let mut seen = 0;
    for (at, counters) in samples {
        let count = job_requests(counters, job_id);
        for _ in seen..count {
            times.push(*at);
        }
        seen = seen.max(count);
    }
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_polls_and_a_standby_takes_over_after_a_crash() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("leader-crash").await;
    let kubeconfig = operator_kubeconfig(control_plane, &namespace).await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let lease_duration = Duration::from_secs(4);

    let mut first = start_replica(control_plane, &kubeconfig, &namespace, "replica-a", "4s");
    first.wait_ready().await;
    let second = start_replica(control_plane, &kubeconfig, &namespace, "replica-b", "4s");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_standby(&second).await;
    assert_eq!(
        lease_holder(control_plane, &namespace).await.as_deref(),
        Some("replica-a")
    );

    // Four jobs, running for about 25 s: long enough to span the hand-over.
    let sampler = CounterSampler::start(&sim, Duration::from_millis(100));
    let mut jobs = Vec::new();
    for index in 0..4 {
        let job_id = sim
            .create_job(json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
                "init_for": "1s", "sub_jobs": [
                    {"job_type": "baremetalSingleCreate", "duration": "12s"},
                    {"job_type": "baremetalSingleCreate", "duration": "12s", "start_after": "12s"}]}))
            .await;
        let name = format!("handed-over-{index}");
        apply_ok(
            control_plane,
            &manifest(&namespace, &name, sim.url(), &job_id, ""),
        );
        jobs.push((name, job_id));
    }
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    for (name, _) in &jobs {
        wait_for(&api, name, WAIT, "running", |job| {
            job.status.as_ref().and_then(|s| s.job_status.as_deref()) == Some("RUNNING")
        })
        .await;
    }

    // One poller: in 6 s, each job is polled about every 2 s (±10 %), not twice as often.
    let window = Duration::from_secs(6);
    let before = sim.counters().await;
    tokio::time::sleep(window).await;
    let after = sim.counters().await;
    for (name, job_id) in &jobs {
        let polls = job_requests(&after, job_id) - job_requests(&before, job_id);
        assert!(
            (2..=4).contains(&polls),
            "{name}: {polls} polls in {window:?} at a 2 s interval"
        );
    }
    assert_standby(&second).await;

    // The leader crashes: the standby takes the Lease once it expires.
    first.kill();
    let took = time_until_ready(&second, Duration::from_secs(20)).await;
    assert!(
        took <= lease_duration + Duration::from_secs(3),
        "takeover {took:?} after the crash, lease duration {lease_duration:?}"
    );
    assert_eq!(
        lease_holder(control_plane, &namespace).await.as_deref(),
        Some("replica-b")
    );
    for (name, _) in &jobs {
        wait_for(&api, name, WAIT, "Ready after the hand-over", |job| {
            condition_status(job, "Ready").as_deref() == Some("True")
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = sampler.samples();
    drop(sampler);

    // About what one operator sends: every poll at least an interval (less jitter and
    // sampling) after the previous one, hand-over included, so about one per 2 s at most.
    for (name, job_id) in &jobs {
        let times = request_times(&samples, job_id);
        assert!(times.len() >= 4, "{name}: {} polls", times.len());
        for pair in times.windows(2) {
            let gap = pair[1].duration_since(pair[0]);
            assert!(
                gap >= Duration::from_secs(1),
                "{name}: two polls {gap:?} apart: {:?}",
                times
                    .iter()
                    .map(|at| at.duration_since(times[0]))
                    .collect::<Vec<_>>()
            );
        }
        let span = times[times.len() - 1].duration_since(times[0]);
        let most = (span.as_secs_f64() / 1.7).floor() as usize + 1;
        assert!(
            times.len() <= most,
            "{name}: {} polls over {span:?}, one operator makes at most {most}",
            times.len()
        );
    }
    let (_, text) = second.get("/metrics").await;
    let metrics = Exposition::parse(&text);
    assert!(
        metrics.value(
            "bms_operator_cloud_requests_total",
            &[("outcome", "success"), ("code", "")]
        ) >= 4.0,
        "the new leader polled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_with_sigterm_hands_over_at_once() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("leader-stop").await;
    let kubeconfig = operator_kubeconfig(control_plane, &namespace).await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    // A long lease: a standby that waited for it to expire would take 20 s.
    let lease_duration = Duration::from_secs(20);
    let mut first = start_replica(control_plane, &kubeconfig, &namespace, "replica-a", "20s");
    first.wait_ready().await;
    let second = start_replica(control_plane, &kubeconfig, &namespace, "replica-b", "20s");
    let job_id = sim
        .create_job(
            json!({"project_id": PROJECT_ID, "job_type": "baremetalReinstallOs",
            "init_for": "1s", "duration": "8s"}),
        )
        .await;
    apply_ok(
        control_plane,
        &manifest(&namespace, "graceful", sim.url(), &job_id, ""),
    );
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    wait_for(&api, "graceful", WAIT, "followed", |job| {
        job.status
            .as_ref()
            .and_then(|s| s.job_status.is_some().then_some(()))
            == Some(())
    })
    .await;
    // Let the standby settle into waiting for the lease.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_standby(&second).await;

    let stopping = Instant::now();
    assert!(first.terminate(), "SIGTERM: exit status 0");
    let log = first.log();
    assert!(log.contains("lease released"), "{log}");
    time_until_ready(&second, Duration::from_secs(30)).await;
    let took = stopping.elapsed();
    assert!(
        took <= Duration::from_secs(6),
        "the standby took over {took:?} after SIGTERM of the leader (lease duration {lease_duration:?})"
    );
    assert_eq!(
        lease_holder(control_plane, &namespace).await.as_deref(),
        Some("replica-b")
    );
    wait_for(
        &api,
        "graceful",
        WAIT,
        "Ready under the new leader",
        |job| condition_status(job, "Ready").as_deref() == Some("True"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_started_together_elect_one_leader() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("leader-race").await;
    let kubeconfig = operator_kubeconfig(control_plane, &namespace).await;
    // Started at the same moment, they all find the Lease free.
    let replicas: Vec<OperatorProcess> = std::thread::scope(|scope| {
        let starting: Vec<_> = ["replica-a", "replica-b", "replica-c"]
            .iter()
            .map(|identity| {
                let (kubeconfig, namespace) = (&kubeconfig, &namespace);
                scope.spawn(move || {
                    start_replica(control_plane, kubeconfig, namespace, identity, "4s")
                })
            })
            .collect();
        starting
            .into_iter()
            .map(|replica| replica.join().expect("replica started"))
            .collect()
    });
    let started = Instant::now();
    let mut leaders_seen = Vec::new();
    while started.elapsed() < Duration::from_secs(10) {
        let mut ready = Vec::new();
        for (index, replica) in replicas.iter().enumerate() {
            if replica.get("/readyz").await.0 == 200 {
                ready.push(index);
            }
        }
        assert!(ready.len() <= 1, "replicas {ready:?} both lead");
        if let Some(index) = ready.first()
            && leaders_seen.last() != Some(index)
        {
            leaders_seen.push(*index);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(leaders_seen.len(), 1, "one leader, kept: {leaders_seen:?}");
    let holder = lease_holder(control_plane, &namespace).await;
    assert_eq!(
        holder.as_deref(),
        Some(["replica-a", "replica-b", "replica-c"][leaders_seen[0]])
    );

    // What makes that safe: the holder's claim is its own under server-side apply, so another
    // replica that read the Lease as free a moment ago gets a conflict instead of taking it.
    let leases: Api<Lease> = Api::namespaced(control_plane.client().await, &namespace);
    for field_manager in ["bms-job-operator", "bms-job-operator-replica-z"] {
        let claim = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME},
            "spec": {"holderIdentity": "replica-z"},
        });
        let taken = leases
            .patch(
                LEASE_NAME,
                &PatchParams::apply(field_manager),
                &Patch::Apply(claim),
            )
            .await;
        assert!(
            matches!(&taken, Err(kube::Error::Api(status)) if status.code == 409),
            "an apply by {field_manager} must conflict with the holder's claim: {taken:?}"
        );
    }
    assert_eq!(lease_holder(control_plane, &namespace).await, holder);
}
