//! Production readiness on the end-to-end harness: a real kube-apiserver with RBAC, `bms-sim`
//! and the operator binary as processes. Metrics and Events after a known scenario, readiness
//! that waits for the watches, respect for the cloud's limits and its credentials lockout, and
//! the operator's life: SIGTERM, the reconcile-now annotation, a rotated Secret, the catch-up
//! after a start, and BmsJobs deleted or created again under the same name.

mod support;

use support::bmsjobs::apply_ok;

use std::time::{Duration, Instant};

use bms_job_operator::api::BmsJob;
use kube::Api;
use serde_json::{Value, json};
use support::ControlPlane;
use support::bmsjobs::{
    condition_reason, condition_status, create_secret, job_requests, manifest, run_ok, wait_for,
};
use support::metrics_text::Exposition;
use support::operator_process::{OperatorProcess, test_flags};
use support::sim_process::{ACCESS_KEY, CounterSampler, PROJECT_ID, SimProcess};

const WAIT: Duration = Duration::from_secs(60);
const WRONG_SECRET_KEY: &str = "not-the-secret-key";

fn control_plane() -> &'static ControlPlane {
    support::bmsjobs::shared_control_plane_with_crd()
}

/// A batch job: `init_for` in INIT, then one sub-job per duration, one after another.
fn batch(init_for: &str, durations: &[&str]) -> Value {
    let sub_jobs: Vec<Value> = durations
        .iter()
        .map(|duration| json!({"job_type": "baremetalSingleCreate", "duration": duration}))
        .collect();
    json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
           "init_for": init_for, "sub_jobs": sub_jobs})
}

/// A manifest with another credentials Secret than `bms-credentials`.
fn manifest_with_secret(
    namespace: &str,
    name: &str,
    endpoint: &str,
    job_id: &str,
    secret: &str,
) -> String {
    manifest(namespace, name, endpoint, job_id, "")
        .replace("name: bms-credentials", &format!("name: {secret}"))
}

async fn scrape(operator: &OperatorProcess) -> Exposition {
    let (status, text) = operator.get("/metrics").await;
    assert_eq!(status, 200, "/metrics: {text}");
    Exposition::parse(&text)
}

/// Scrapes until `check` holds, or panics with the last scrape after `timeout`.
async fn scrape_until(
    operator: &OperatorProcess,
    timeout: Duration,
    what: &str,
    check: impl Fn(&Exposition) -> bool,
) -> Exposition {
    let deadline = Instant::now() + timeout;
    loop {
        let metrics = scrape(operator).await;
        if check(&metrics) {
            return metrics;
        }
        if Instant::now() > deadline {
            panic!("metrics never showed {what}:\n{}", metrics.text());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Requests the simulator counted for `job_id` with `outcome` (`ok`, `auth_failed`, ...).
fn job_outcome(counters: &Value, job_id: &str, outcome: &str) -> u64 {
    counters["jobs"][job_id]["by_outcome"][outcome]
        .as_u64()
        .unwrap_or(0)
}

/// The total of the simulator's requests in each sample.
fn totals(samples: &[(Instant, Value)]) -> Vec<(Instant, u64)> {
    samples
        .iter()
        .map(|(at, counters)| (*at, counters["requests"].as_u64().unwrap_or(0)))
        .collect()
}

/// The Events of one object, as `kubectl get events` shows them.
fn events_of(control_plane: &ControlPlane, namespace: &str, name: &str) -> Vec<Value> {
    let text = run_ok(control_plane.kubectl().args([
        "-n",
        namespace,
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "json",
    ]));
    let list: Value = serde_json::from_str(&text).expect("events JSON");
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until the object's Events include every reason of `reasons`; returns them all.
async fn wait_for_events(
    control_plane: &ControlPlane,
    namespace: &str,
    name: &str,
    reasons: &[&str],
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = events_of(control_plane, namespace, name);
        let has = |reason: &str| events.iter().any(|event| event["reason"] == reason);
        if reasons.iter().all(|reason| has(reason)) {
            return events;
        }
        if Instant::now() > deadline {
            panic!("{name}: Events {reasons:?} not all there: {events:#?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Asserts that `reason` was recorded exactly once, as one Event that never repeated.
fn assert_once<'a>(events: &'a [Value], reason: &str, type_: &str) -> &'a Value {
    let matching: Vec<&Value> = events
        .iter()
        .filter(|event| event["reason"] == reason)
        .collect();
    assert_eq!(matching.len(), 1, "one {reason} Event: {events:#?}");
    let event = matching[0];
    assert_eq!(event["type"], type_, "{event:#}");
    assert!(
        event["count"].as_u64().unwrap_or(1) == 1 && event["series"].is_null(),
        "{reason} was recorded more than once: {event:#}"
    );
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_events_tell_what_happened() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("metrics").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    create_secret(
        control_plane,
        &namespace,
        "wrong-credentials",
        Some(WRONG_SECRET_KEY),
    );
    let operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    operator.wait_ready().await;

    let succeeds = sim.create_job(batch("1s", &["2s"])).await;
    let fails = sim
        .create_job(json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate",
            "init_for": "1s", "sub_jobs": [
                {"job_type": "baremetalSingleCreate", "duration": "2s",
                 "fail": {"error_code": "BMS.0102", "fail_reason": "Insufficient bare metal resources."}}]}))
        .await;
    apply_ok(
        control_plane,
        &manifest(&namespace, "succeeds", sim.url(), &succeeds, ""),
    );
    apply_ok(
        control_plane,
        &manifest(&namespace, "fails", sim.url(), &fails, ""),
    );
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    wait_for(&api, "succeeds", WAIT, "Ready", |job| {
        condition_status(job, "Ready").as_deref() == Some("True")
    })
    .await;
    wait_for(&api, "fails", WAIT, "Failed", |job| {
        condition_status(job, "Failed").as_deref() == Some("True")
    })
    .await;

    // Every documented metric is exported, with its type.
    let metrics = scrape(&operator).await;
    for (family, type_) in [
        ("bms_operator_cloud_requests", "counter"),
        ("bms_operator_cloud_request_duration_seconds", "histogram"),
        ("bms_operator_jobs", "gauge"),
        ("bms_operator_reconciles", "counter"),
        ("bms_operator_reconcile_errors", "counter"),
        ("bms_operator_reconcile_duration_seconds", "histogram"),
        ("bms_operator_status_writes", "counter"),
        ("bms_operator_detection_lag_seconds", "histogram"),
        ("bms_operator_time_to_first_status_seconds", "histogram"),
        ("bms_operator_auth_breaker_open", "gauge"),
    ] {
        assert_eq!(
            metrics.family_type(family),
            Some(type_),
            "{family} is a {type_}:\n{}",
            metrics.text()
        );
    }

    // Their values match what happened.
    for (phase, count) in [
        ("Succeeded", 1.0),
        ("Failed", 1.0),
        ("Running", 0.0),
        ("Pending", 0.0),
        ("Unknown", 0.0),
    ] {
        assert_eq!(
            metrics.value("bms_operator_jobs", &[("phase", phase)]),
            count,
            "jobs in phase {phase}"
        );
    }
    let counters = sim.counters().await;
    let served_ok = job_outcome(&counters, &succeeds, "ok") + job_outcome(&counters, &fails, "ok");
    let served = job_requests(&counters, &succeeds) + job_requests(&counters, &fails);
    assert!(served_ok >= 2, "{counters}");
    assert_eq!(
        metrics.value(
            "bms_operator_cloud_requests_total",
            &[("outcome", "success"), ("code", "")]
        ),
        served_ok as f64,
        "successful requests counted as the simulator served them: {counters}"
    );
    assert_eq!(
        metrics.sum("bms_operator_cloud_requests_total", &[]),
        served as f64,
        "every request counted once"
    );
    assert_eq!(
        metrics.value("bms_operator_cloud_request_duration_seconds_count", &[]),
        served as f64,
        "one latency per request"
    );
    let reconciles = metrics.value("bms_operator_reconciles_total", &[]);
    assert!(reconciles >= served as f64, "a poll is a reconcile");
    // One duration per reconcile, once none is in progress.
    scrape_until(
        &operator,
        Duration::from_secs(5),
        "a duration per reconcile",
        |m| {
            m.get("bms_operator_reconcile_duration_seconds_count", &[])
                == m.get("bms_operator_reconciles_total", &[])
        },
    )
    .await;
    assert_eq!(
        metrics.sum("bms_operator_reconcile_errors_total", &[]),
        0.0,
        "no Kubernetes-side failure"
    );
    let writes = metrics.value("bms_operator_status_writes_total", &[]);
    assert!(
        writes >= 4.0 && writes <= served as f64,
        "a first and a final status per job, never more writes than polls: {writes}"
    );
    for histogram in [
        "bms_operator_detection_lag_seconds",
        "bms_operator_time_to_first_status_seconds",
    ] {
        assert_eq!(
            metrics.value(&format!("{histogram}_count"), &[]),
            2.0,
            "{histogram}: one observation per BmsJob"
        );
        // With 2 s polls, both are a few seconds at most.
        assert_eq!(
            metrics.value(&format!("{histogram}_bucket"), &[("le", "8.0")]),
            2.0,
            "{histogram} within 8 s:\n{}",
            metrics.text()
        );
    }
    assert_eq!(metrics.value("bms_operator_auth_breaker_open", &[]), 0.0);

    // Events: each transition once.
    let events = wait_for_events(
        control_plane,
        &namespace,
        "succeeds",
        &["Started", "Succeeded"],
    )
    .await;
    assert_once(&events, "Started", "Normal");
    assert_once(&events, "Succeeded", "Normal");
    assert_eq!(events.len(), 2, "nothing else: {events:#?}");
    let events = wait_for_events(control_plane, &namespace, "fails", &["Failed"]).await;
    let failed = assert_once(&events, "Failed", "Warning");
    let note = failed["message"].as_str().unwrap_or_default();
    assert!(
        note.contains("BMS.0102") && note.contains("Insufficient bare metal resources"),
        "the Failed Event gives the code and reason: {failed:#}"
    );

    // Rejected credentials: counted by code, and the key's breaker opens.
    let wrong = sim.create_job(batch("1s", &["30s"])).await;
    apply_ok(
        control_plane,
        &manifest_with_secret(
            &namespace,
            "wrong-key",
            sim.url(),
            &wrong,
            "wrong-credentials",
        ),
    );
    wait_for(
        &api,
        "wrong-key",
        WAIT,
        "stalled on its credentials",
        |job| condition_reason(job, "Stalled").as_deref() == Some("CredentialsRejected"),
    )
    .await;
    let metrics = scrape_until(&operator, Duration::from_secs(10), "an open breaker", |m| {
        m.get("bms_operator_auth_breaker_open", &[]) == Some(1.0)
    })
    .await;
    let counters = sim.counters().await;
    let rejected = job_outcome(&counters, &wrong, "auth_failed");
    assert!(rejected >= 1, "{counters}");
    assert_eq!(
        metrics.value(
            "bms_operator_cloud_requests_total",
            &[("outcome", "auth"), ("code", "APIG.0301")]
        ),
        rejected as f64,
        "rejected requests counted with their code"
    );
    // Let it retry a few times: the Event is still recorded once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let events = wait_for_events(
        control_plane,
        &namespace,
        "wrong-key",
        &["CredentialsRejected"],
    )
    .await;
    let rejected_event = assert_once(&events, "CredentialsRejected", "Warning");
    assert!(
        rejected_event["message"]
            .as_str()
            .unwrap_or_default()
            .contains("wrong-credentials"),
        "the Event names the Secret to fix: {rejected_event:#}"
    );
    let metrics = scrape(&operator).await;
    assert_eq!(
        metrics.value("bms_operator_jobs", &[("phase", "Succeeded")]),
        1.0
    );
    assert_eq!(
        metrics.value("bms_operator_jobs", &[("phase", "Failed")]),
        1.0
    );
}

/// The rules the Helm chart grants the operator in a watched namespace, split in parts that a
/// test grants one after another.
const SECRETS_AND_EVENTS_RULES: &str = r#"
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
"#;
const READ_BMSJOBS_RULES: &str = r#"
- apiGroups: ["bms.operator.dev"]
  resources: ["bmsjobs"]
  verbs: ["get", "list", "watch"]
"#;
const WRITE_STATUS_RULES: &str = r#"
- apiGroups: ["bms.operator.dev"]
  resources: ["bmsjobs/status"]
  verbs: ["patch"]
"#;

/// Grants ServiceAccount `account` the `rules` through a Role and RoleBinding named `name`.
fn grant(control_plane: &ControlPlane, namespace: &str, account: &str, name: &str, rules: &str) {
    let rules: String = rules
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| format!("  {line}\n"))
        .collect();
    apply_ok(
        control_plane,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {name}
  namespace: {namespace}
rules:
{rules}---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {name}
  namespace: {namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {name}
subjects:
- kind: ServiceAccount
  name: {account}
  namespace: {namespace}
"
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_only_once_the_watches_synced_and_alive_throughout() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("readiness").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let account = "bms-job-operator";
    let kubeconfig = control_plane
        .service_account_kubeconfig(&namespace, account)
        .await;
    grant(
        control_plane,
        &namespace,
        account,
        "secrets-and-events",
        SECRETS_AND_EVENTS_RULES,
    );
    let job_id = sim.create_job(batch("1s", &["2s"])).await;
    apply_ok(
        control_plane,
        &manifest(&namespace, "guarded", sim.url(), &job_id, ""),
    );

    // It may not list BmsJobs yet: alive, not ready.
    let operator = OperatorProcess::start(
        control_plane,
        Some(&kubeconfig),
        &test_flags(&namespace),
        &[],
    );
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let (ready, body) = operator.get("/readyz").await;
        assert_eq!(ready, 503, "not ready before the watches synced: {body}");
        assert!(body.contains("not synced"), "{body}");
        assert_eq!(operator.get("/livez").await.0, 200, "alive meanwhile");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        job_requests(&sim.counters().await, &job_id),
        0,
        "nothing polled before the watches synced"
    );

    // Allowed to list and watch: ready, still alive.
    grant(
        control_plane,
        &namespace,
        account,
        "read-bmsjobs",
        READ_BMSJOBS_RULES,
    );
    let granted = Instant::now();
    loop {
        let (ready, body) = operator.get("/readyz").await;
        assert_eq!(operator.get("/livez").await.0, 200, "alive while syncing");
        if ready == 200 {
            assert_eq!(body, "ok");
            break;
        }
        assert!(
            granted.elapsed() < Duration::from_secs(30),
            "never ready after the grant: {body}\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Not yet allowed to write status: the failure is counted by class, readiness unaffected.
    let metrics = scrape_until(&operator, WAIT, "a status write refused", |m| {
        m.get(
            "bms_operator_reconcile_errors_total",
            &[("class", "write_status")],
        )
        .is_some_and(|errors| errors >= 1.0)
    })
    .await;
    assert_eq!(
        metrics.value(
            "bms_operator_reconcile_errors_total",
            &[("class", "read_secret")]
        ),
        0.0
    );
    assert_eq!(operator.get("/readyz").await.0, 200);

    // With the chart's full rules, the job is followed to the end.
    grant(
        control_plane,
        &namespace,
        account,
        "write-status",
        WRITE_STATUS_RULES,
    );
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    wait_for(&api, "guarded", WAIT, "Ready", |job| {
        condition_status(job, "Ready").as_deref() == Some("True")
    })
    .await;
    assert_eq!(operator.get("/livez").await.0, 200);
    assert_eq!(operator.get("/readyz").await.0, 200);
}

/// The most requests seen in any window of at least `least` between two samples, with the
/// window's length: `(requests, seconds)` for every such pair of samples.
fn windows(totals: &[(Instant, u64)], least: Duration) -> Vec<(u64, f64)> {
    let mut found = Vec::new();
    for (index, (start, first)) in totals.iter().enumerate() {
        for (end, last) in &totals[index + 1..] {
            let length = end.duration_since(*start);
            if length >= least {
                found.push((last - first, length.as_secs_f64()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_keeps_to_its_cloud_rate_limit_and_every_job_finishes() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("ratelimit").await;
    // The cloud allows 3 requests per second; the operator is told to send at most 2.
    let sim = SimProcess::start(&["--rate-limit", "3"]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let mut flags = test_flags(&namespace);
    flags.extend(["--cloud-rate-limit=2".into(), "--cloud-burst=2".into()]);
    let operator = OperatorProcess::start(control_plane, None, &flags, &[]);
    operator.wait_ready().await;

    // Ten BmsJobs polled every 2 s would want 5 requests per second.
    let mut manifests = String::new();
    let mut names = Vec::new();
    for index in 0..10 {
        let job_id = sim.create_job(batch("1s", &["4s"])).await;
        let name = format!("limited-{index}");
        manifests.push_str(&manifest(&namespace, &name, sim.url(), &job_id, ""));
        manifests.push_str("---\n");
        names.push(name);
    }
    let sampler = CounterSampler::start(&sim, Duration::from_millis(250));
    tokio::time::sleep(Duration::from_millis(500)).await;
    apply_ok(control_plane, &manifests);
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    for name in &names {
        wait_for(&api, name, Duration::from_secs(90), "Ready", |job| {
            condition_status(job, "Ready").as_deref() == Some("True")
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = sampler.samples();
    drop(sampler);

    let counters = sim.counters().await;
    assert_eq!(
        counters["by_outcome"]["throttled"].as_u64().unwrap_or(0),
        0,
        "the cloud never had to throttle: {counters}"
    );
    let totals = totals(&samples);
    let sent = totals.last().map(|(_, total)| *total).unwrap_or(0);
    assert!(
        sent >= 20,
        "every job was polled more than once: {counters}"
    );
    // Any window: at most 2 per second plus the burst of 2 (and one for timing).
    for (requests, seconds) in windows(&totals, Duration::from_secs(1)) {
        let allowed = 2.0 * seconds + 2.0 + 1.0;
        assert!(
            requests as f64 <= allowed,
            "{requests} requests in {seconds:.2} s, more than {allowed:.1}: {totals:?}"
        );
    }
    let metrics = scrape(&operator).await;
    assert_eq!(
        metrics.value("bms_operator_jobs", &[("phase", "Succeeded")]),
        10.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_answer_pauses_every_job_of_that_key_for_its_retry_after() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("throttle").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    // Eight BmsJobs polled every 2 s want 4 requests per second: requests queue for their turn.
    let mut flags = test_flags(&namespace);
    flags.extend(["--cloud-rate-limit=2".into(), "--cloud-burst=2".into()]);
    let operator = OperatorProcess::start(control_plane, None, &flags, &[]);
    operator.wait_ready().await;
    let mut names = Vec::new();
    for index in 0..8 {
        let job_id = sim.create_job(batch("1s", &["40s"])).await;
        let name = format!("throttled-{index}");
        apply_ok(
            control_plane,
            &manifest(&namespace, &name, sim.url(), &job_id, ""),
        );
        names.push(name);
    }
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    for name in &names {
        wait_for(&api, name, WAIT, "running", |job| {
            job.status.as_ref().and_then(|s| s.job_status.as_deref()) == Some("RUNNING")
        })
        .await;
    }
    let sampler = CounterSampler::start(&sim, Duration::from_millis(100));
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.add_fault(json!({"kind": "throttle", "retry_after_seconds": 4, "count": 1}))
        .await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let samples = sampler.samples();
    drop(sampler);

    let throttled_at = samples
        .iter()
        .position(|(_, counters)| counters["faults_injected"]["throttle"].as_u64() == Some(1))
        .expect("the throttle fault answered a request");
    assert!(throttled_at > 0, "sampled before the fault");
    // The 429 came after the previous sample: nothing from then until 4 s later, less a margin.
    let before = &samples[throttled_at].1;
    let quiet_until = samples[throttled_at - 1].0 + Duration::from_millis(3700);
    let after = samples
        .iter()
        .rev()
        .find(|(sampled, _)| *sampled <= quiet_until)
        .map(|(_, counters)| counters)
        .expect("a sample in the pause");
    let during = after["requests"].as_u64().unwrap_or(0) - before["requests"].as_u64().unwrap_or(0);
    assert!(
        during <= 1,
        "{during} requests within Retry-After of a 429 (at most one already on its way)"
    );
    // Then polling resumes.
    let last = &samples.last().expect("samples").1;
    assert!(
        last["requests"].as_u64().unwrap_or(0) > after["requests"].as_u64().unwrap_or(0),
        "polling resumed after the pause"
    );
    let metrics = scrape(&operator).await;
    assert_eq!(
        metrics.value(
            "bms_operator_cloud_requests_total",
            &[("outcome", "throttled"), ("code", "APIG.0308")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_jobs_with_one_rejected_key_never_approach_the_lockout() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("lockout").await;
    let sim = SimProcess::start(&[]);
    create_secret(
        control_plane,
        &namespace,
        "bms-credentials",
        Some(WRONG_SECRET_KEY),
    );
    let operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    operator.wait_ready().await;
    // Six BmsJobs share the key, all applied at once.
    let mut manifests = String::new();
    let mut names = Vec::new();
    for index in 0..6 {
        let job_id = sim.create_job(batch("1s", &["1m"])).await;
        let name = format!("rejected-{index}");
        manifests.push_str(&manifest(&namespace, &name, sim.url(), &job_id, ""));
        manifests.push_str("---\n");
        names.push(name);
    }
    apply_ok(control_plane, &manifests);
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    for name in &names {
        let stalled = wait_for(&api, name, WAIT, "stalled on its credentials", |job| {
            condition_reason(job, "Stalled").as_deref() == Some("CredentialsRejected")
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
        let message = stalled.status.and_then(|s| s.message).unwrap_or_default();
        assert!(message.contains("bms-credentials"), "{message}");
    }
    // With 2 s polls, six BmsJobs would send about sixty requests in 20 s.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let counters = sim.counters().await;
    let key = &counters["access_keys"][ACCESS_KEY];
    let longest = key["longest_auth_failure_streak"]
        .as_u64()
        .expect("streak counter");
    assert!(longest >= 1, "the key was tried: {counters}");
    assert!(
        longest <= 3,
        "at most three consecutive failures, never the five that lock the key: {counters}"
    );
    assert!(
        key["locked_until"].is_null(),
        "the key was never locked: {counters}"
    );
    let metrics = scrape(&operator).await;
    assert_eq!(metrics.value("bms_operator_auth_breaker_open", &[]), 1.0);
}

/// `text` without ANSI colour sequences (`ESC [ ... m`).
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

fn annotate(control_plane: &ControlPlane, namespace: &str, name: &str, value: &str) {
    run_ok(control_plane.kubectl().args([
        "-n",
        namespace,
        "annotate",
        "--overwrite",
        &format!("bmsjob/{name}"),
        &format!("bms.operator.dev/reconcile-now={value}"),
    ]));
}

/// Waits until the simulator served `job_id` at least `count` requests; returns when.
async fn wait_for_requests(sim: &SimProcess, job_id: &str, count: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let counters = sim.counters().await;
        if job_requests(&counters, job_id) >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{job_id}: fewer than {count} requests within {timeout:?}: {counters}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_now_forces_one_poll_and_sigterm_stops_cleanly() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("reconcile-now").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let mut operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    operator.wait_ready().await;
    let job_id = sim.create_job(batch("0s", &["1h"])).await;
    let slow = manifest(&namespace, "slow", sim.url(), &job_id, "")
        .replace("pollInterval: 2s", "pollInterval: 30m");
    apply_ok(control_plane, &slow);
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    wait_for(&api, "slow", WAIT, "running", |job| {
        job.status.as_ref().and_then(|s| s.job_status.as_deref()) == Some("RUNNING")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        job_requests(&sim.counters().await, &job_id),
        1,
        "polled once, next in 30 minutes"
    );

    for (value, expected) in [("1", 2), ("2", 3)] {
        let annotated = Instant::now();
        annotate(control_plane, &namespace, "slow", value);
        wait_for_requests(&sim, &job_id, expected, Duration::from_secs(5)).await;
        let latency = annotated.elapsed();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            job_requests(&sim.counters().await, &job_id),
            expected,
            "reconcile-now={value} forced exactly one poll (within {latency:?})"
        );
    }
    // The same value again is no request for a poll.
    annotate(control_plane, &namespace, "slow", "2");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(job_requests(&sim.counters().await, &job_id), 3);

    assert!(operator.terminate(), "SIGTERM: exit status 0");
    let log = without_colours(&operator.log());
    assert!(
        log.lines().any(|line| line.contains(" INFO ")
            && line.contains("bms_job_operator::operator")
            && line.trim_end().ends_with(": stopped")),
        "the log says it stopped:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_is_used_without_a_restart() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("rotation").await;
    let sim = SimProcess::start(&[]);
    create_secret(
        control_plane,
        &namespace,
        "bms-credentials",
        Some(WRONG_SECRET_KEY),
    );
    let operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    operator.wait_ready().await;
    let job_id = sim.create_job(batch("1s", &["2s"])).await;
    apply_ok(
        control_plane,
        &manifest(&namespace, "rotated", sim.url(), &job_id, ""),
    );
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    wait_for(&api, "rotated", WAIT, "stalled on its credentials", |job| {
        condition_reason(job, "Stalled").as_deref() == Some("CredentialsRejected")
    })
    .await;
    // The operator tries the wrong key three times, then pauses it for 5 minutes; a person
    // fixes the Secret a while later.
    let deadline = Instant::now() + WAIT;
    loop {
        let counters = sim.counters().await;
        if counters["access_keys"][ACCESS_KEY]["longest_auth_failure_streak"].as_u64() == Some(3) {
            break;
        }
        assert!(Instant::now() < deadline, "{counters}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(12)).await;
    run_ok(control_plane.kubectl().args([
        "-n",
        &namespace,
        "patch",
        "secret",
        "bms-credentials",
        "--type=merge",
        "-p",
        &json!({"stringData": {"secretKey": support::sim_process::SECRET_KEY}}).to_string(),
    ]));
    let fixed = Instant::now();
    wait_for(&api, "rotated", WAIT, "Ready with the rotated key", |job| {
        condition_status(job, "Ready").as_deref() == Some("True")
    })
    .await;
    // --auth-retry=2s: the BmsJob re-reads its Secret at least that often.
    let took = fixed.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "the rotated Secret was used after {took:?}"
    );
    let counters = sim.counters().await;
    assert_eq!(
        counters["access_keys"][ACCESS_KEY]["longest_auth_failure_streak"].as_u64(),
        Some(3),
        "never more than three failures in a row: {counters}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_operator_spreads_its_first_polls_over_the_interval() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("catch-up").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let interval = Duration::from_secs(20);
    let mut manifests = String::new();
    let mut job_ids = Vec::new();
    for index in 0..20 {
        let job_id = sim.create_job(batch("0s", &["1h"])).await;
        manifests.push_str(
            &manifest(
                &namespace,
                &format!("running-{index}"),
                sim.url(),
                &job_id,
                "",
            )
            .replace("pollInterval: 2s", "pollInterval: 20s"),
        );
        manifests.push_str("---\n");
        job_ids.push(job_id);
    }
    apply_ok(control_plane, &manifests);
    let mut first = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    for index in 0..20 {
        wait_for(&api, &format!("running-{index}"), WAIT, "running", |job| {
            job.status.as_ref().and_then(|s| s.job_status.as_deref()) == Some("RUNNING")
        })
        .await;
    }
    assert!(first.terminate());

    let before = sim.counters().await;
    let sampler = CounterSampler::start(&sim, Duration::from_millis(100));
    let second = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    second.wait_ready().await;
    let ready = Instant::now();
    tokio::time::sleep(interval + Duration::from_secs(3)).await;
    let samples = sampler.samples();
    drop(sampler);
    let new_requests = |counters: &Value| {
        job_ids
            .iter()
            .map(|job_id| job_requests(counters, job_id) - job_requests(&before, job_id))
            .sum::<u64>()
    };
    let in_first_second = samples
        .iter()
        .rev()
        .find(|(at, _)| *at <= ready + Duration::from_secs(1))
        .map(|(_, counters)| new_requests(counters))
        .expect("a sample");
    // Spread over 20 s, about one of twenty falls in the first second; all at once would be 20.
    assert!(
        in_first_second <= 6,
        "{in_first_second} of 20 BmsJobs polled in the first second after the start"
    );
    let after = &samples.last().expect("samples").1;
    for job_id in &job_ids {
        let polled = job_requests(after, job_id) - job_requests(&before, job_id);
        assert!(
            (1..=2).contains(&polled),
            "every job polled within one interval of the start, at its interval: {job_id} {polled}"
        );
    }
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_bmsjob_is_forgotten_and_one_recreated_under_its_name_is_polled_at_once() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("recreate").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    operator.wait_ready().await;
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    let delete = |name: &str| {
        run_ok(control_plane.kubectl().args([
            "-n",
            &namespace,
            "delete",
            "bmsjob",
            name,
            "--wait=true",
        ]));
    };

    // A finished BmsJob, deleted: the jobs gauge no longer counts it.
    let done = sim.create_job(batch("0s", &["1s"])).await;
    apply_ok(
        control_plane,
        &manifest(&namespace, "done", sim.url(), &done, ""),
    );
    wait_for(&api, "done", WAIT, "Ready", |job| {
        condition_status(job, "Ready").as_deref() == Some("True")
    })
    .await;
    scrape_until(
        &operator,
        Duration::from_secs(5),
        "one Succeeded job",
        |m| m.get("bms_operator_jobs", &[("phase", "Succeeded")]) == Some(1.0),
    )
    .await;
    delete("done");

    // A slowly polled BmsJob deleted and applied again: the new object is polled at once.
    let slow = sim.create_job(batch("0s", &["1h"])).await;
    let slow_manifest = manifest(&namespace, "again", sim.url(), &slow, "")
        .replace("pollInterval: 2s", "pollInterval: 30m");
    apply_ok(control_plane, &slow_manifest);
    wait_for(&api, "again", WAIT, "running", |job| {
        job.status.as_ref().and_then(|s| s.job_status.as_deref()) == Some("RUNNING")
    })
    .await;
    delete("again");
    let recreated = Instant::now();
    apply_ok(control_plane, &slow_manifest);
    wait_for(&api, "again", WAIT, "followed again", |job| {
        job.status.as_ref().and_then(|s| s.job_status.as_deref()) == Some("RUNNING")
    })
    .await;
    assert!(
        recreated.elapsed() < Duration::from_secs(10),
        "the recreated BmsJob was first polled after {:?}",
        recreated.elapsed()
    );
    assert_eq!(job_requests(&sim.counters().await, &slow), 2);
    let metrics = scrape_until(&operator, Duration::from_secs(20), "the deletion", |m| {
        m.get("bms_operator_jobs", &[("phase", "Succeeded")]) == Some(0.0)
    })
    .await;
    assert_eq!(
        metrics.value("bms_operator_jobs", &[("phase", "Running")]),
        1.0
    );
}
