//! Reconcile call sequences against a mocked Kubernetes API and a scripted cloud: the right
//! URLs, field manager and body; no write when nothing changed; no poll after a terminal state.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Method, Request, Response};
use kube::client::Body;
use kube::runtime::controller::Action;
use tokio::time::Instant;
use tower_test::mock::{self, Handle};

use super::context::{Context, ObjectKey, PollMemory, Settings};
use super::fetcher::{JobFetcher, JobQuery};
use super::reconcile::reconcile;
use crate::api::{BmsJob, BmsJobStatus, Phase};
use crate::bms::{CloudError, Credentials, JobResponse};
use crate::metrics::Metrics;

/// A cloud that answers from a script and records what it was asked.
#[derive(Default)]
struct ScriptedCloud {
    answers: Mutex<VecDeque<JobResponse>>,
    asked: Mutex<Vec<(JobQuery, String)>>,
}

impl JobFetcher for ScriptedCloud {
    fn fetch<'a>(
        &'a self,
        query: &'a JobQuery,
        credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<JobResponse, CloudError>> {
        self.asked
            .lock()
            .expect("lock")
            .push((query.clone(), credentials.access_key().to_owned()));
        let answer = self.answers.lock().expect("lock").pop_front();
        Box::pin(async move { answer.ok_or_else(|| CloudError::Config("script ran out".into())) })
    }
}

fn job_answer(status: &str) -> JobResponse {
    serde_json::from_value(serde_json::json!({
        "status": status,
        "job_id": "job-1",
        "job_type": "baremetalBatchCreate",
        "begin_time": "2026-12-04T09:00:00.000Z",
        "end_time": if status == "SUCCESS" { "2026-12-04T09:05:00.000Z" } else { "" },
        "entities": {"sub_jobs_total": 1, "sub_jobs": [{"status": status, "job_id": "sub-1"}]}
    }))
    .expect("job JSON")
}

fn bmsjob(status: Option<BmsJobStatus>) -> BmsJob {
    let mut job: BmsJob = serde_json::from_value(serde_json::json!({
        "apiVersion": "bms.operator.dev/v1alpha1",
        "kind": "BmsJob",
        "metadata": {"name": "batch", "namespace": "team", "generation": 1,
                     "creationTimestamp": "2026-12-04T09:00:00Z"},
        "spec": {"projectId": "proj", "jobId": "job-1", "endpoint": "http://127.0.0.1:1",
                 "pollInterval": "15s", "credentialsSecretRef": {"name": "creds"}}
    }))
    .expect("BmsJob JSON");
    job.status = status;
    job
}

fn secret_json() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "team"},
        "data": {"accessKey": "QUtFWEFNUExF", "secretKey": "U0tFWEFNUExF"}
    })
}

struct Harness {
    ctx: Arc<Context>,
    cloud: Arc<ScriptedCloud>,
    handle: Handle<Request<Body>, Response<Body>>,
}

fn harness(answers: &[&str]) -> Harness {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let cloud = Arc::new(ScriptedCloud::default());
    cloud
        .answers
        .lock()
        .expect("lock")
        .extend(answers.iter().map(|status| job_answer(status)));
    let ctx = Arc::new(Context::new(
        kube::Client::new(service, "default"),
        cloud.clone(),
        Settings {
            default_interval: Duration::from_secs(15),
            max_interval: Duration::from_secs(300),
            auth_retry: Duration::from_secs(60),
            default_credentials: None,
        },
        Metrics::new(),
    ));
    Harness { ctx, cloud, handle }
}

fn respond(json: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .body(Body::from(serde_json::to_vec(json).expect("JSON")))
        .expect("response")
}

/// Expects a GET of the credentials Secret and answers it.
async fn expect_secret_read(handle: &mut Handle<Request<Body>, Response<Body>>) {
    let (request, send) = handle.next_request().await.expect("a Secret read");
    assert_eq!(request.method(), Method::GET);
    assert_eq!(
        request.uri().path(),
        "/api/v1/namespaces/team/secrets/creds"
    );
    send.send_response(respond(&secret_json()));
}

/// Expects one server-side apply of the status and returns the applied status.
async fn expect_status_apply(handle: &mut Handle<Request<Body>, Response<Body>>) -> BmsJobStatus {
    let (request, send) = handle.next_request().await.expect("a status write");
    assert_eq!(request.method(), Method::PATCH);
    assert_eq!(
        request.uri().path(),
        "/apis/bms.operator.dev/v1alpha1/namespaces/team/bmsjobs/batch/status"
    );
    let query = request.uri().query().unwrap_or_default();
    assert!(query.contains("fieldManager=bms-job-operator"), "{query}");
    assert!(query.contains("force=true"), "{query}");
    assert_eq!(
        request.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    let body = request.into_body().collect_bytes().await.expect("body");
    let patch: serde_json::Value = serde_json::from_slice(&body).expect("patch JSON");
    assert_eq!(patch["apiVersion"], "bms.operator.dev/v1alpha1");
    assert_eq!(patch["kind"], "BmsJob");
    let status: BmsJobStatus = serde_json::from_value(patch["status"].clone()).expect("status");
    let mut object = serde_json::to_value(bmsjob(None)).expect("object");
    object["status"] = patch["status"].clone();
    send.send_response(respond(&object));
    status
}

async fn assert_no_more_calls(harness: &mut Harness) {
    let next = tokio::time::timeout(Duration::from_millis(50), harness.handle.next_request()).await;
    assert!(next.is_err(), "unexpected Kubernetes API call");
}

fn make_due(ctx: &Context) {
    ctx.remember(
        ObjectKey {
            namespace: "team".into(),
            name: "batch".into(),
        },
        PollMemory {
            uid: None,
            generation: Some(1),
            next_poll_at: Instant::now(),
            consecutive_failures: 0,
            reconcile_now: None,
        },
    );
}

#[tokio::test]
async fn a_new_bmsjob_reads_its_secret_polls_once_and_applies_its_status() {
    let mut harness = harness(&["RUNNING"]);
    let job = Arc::new(bmsjob(None));
    let (action, status) = tokio::join!(reconcile(job, harness.ctx.clone()), async {
        expect_secret_read(&mut harness.handle).await;
        expect_status_apply(&mut harness.handle).await
    });
    let action = action.expect("reconciled");
    assert_eq!(status.phase, Some(Phase::Running));
    assert_eq!(status.observed_generation, Some(1));
    let asked = harness.cloud.asked.lock().expect("lock").clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].0,
        JobQuery {
            endpoint: "http://127.0.0.1:1".into(),
            project_id: "proj".into(),
            job_id: "job-1".into()
        }
    );
    assert_eq!(asked[0].1, "AKEXAMPLE", "credentials from the Secret");
    assert_ne!(
        action,
        Action::await_change(),
        "a running job is polled again"
    );
    assert_no_more_calls(&mut harness).await;
}

#[tokio::test]
async fn a_reconcile_before_the_job_is_due_calls_nothing() {
    let mut harness = harness(&["RUNNING"]);
    let (first, status) = tokio::join!(
        reconcile(Arc::new(bmsjob(None)), harness.ctx.clone()),
        async {
            expect_secret_read(&mut harness.handle).await;
            expect_status_apply(&mut harness.handle).await
        }
    );
    first.expect("first reconcile");
    // The status write wakes the controller again at once: it must not poll.
    let action = reconcile(Arc::new(bmsjob(Some(status))), harness.ctx.clone())
        .await
        .expect("second reconcile");
    assert_eq!(harness.cloud.asked.lock().expect("lock").len(), 1);
    assert_ne!(action, Action::await_change());
    assert_no_more_calls(&mut harness).await;
}

#[tokio::test]
async fn an_unchanged_answer_is_not_written() {
    let mut harness = harness(&["RUNNING", "RUNNING"]);
    let (_, status) = tokio::join!(
        reconcile(Arc::new(bmsjob(None)), harness.ctx.clone()),
        async {
            expect_secret_read(&mut harness.handle).await;
            expect_status_apply(&mut harness.handle).await
        }
    );
    make_due(&harness.ctx);
    let (action, ()) = tokio::join!(
        reconcile(Arc::new(bmsjob(Some(status))), harness.ctx.clone()),
        expect_secret_read(&mut harness.handle)
    );
    action.expect("reconciled");
    assert_eq!(
        harness.cloud.asked.lock().expect("lock").len(),
        2,
        "polled again"
    );
    assert_no_more_calls(&mut harness).await;
}

#[tokio::test]
async fn a_job_that_succeeds_is_written_once_and_never_polled_again() {
    let mut harness = harness(&["SUCCESS"]);
    let (action, status) = tokio::join!(
        reconcile(Arc::new(bmsjob(None)), harness.ctx.clone()),
        async {
            expect_secret_read(&mut harness.handle).await;
            expect_status_apply(&mut harness.handle).await
        }
    );
    assert_eq!(action.expect("reconciled"), Action::await_change());
    assert_eq!(status.phase, Some(Phase::Succeeded));
    // Woken again (its own write, a resync, a restart): no Secret read, no poll, no write.
    make_due(&harness.ctx);
    let again = reconcile(Arc::new(bmsjob(Some(status))), harness.ctx.clone())
        .await
        .expect("reconciled");
    assert_eq!(again, Action::await_change());
    assert_eq!(harness.cloud.asked.lock().expect("lock").len(), 1);
    assert_no_more_calls(&mut harness).await;
}

#[tokio::test]
async fn a_restarted_operator_spreads_its_catch_up_over_one_interval() {
    let mut harness = harness(&[]);
    let running = BmsJobStatus {
        phase: Some(Phase::Running),
        observed_generation: Some(1),
        ..BmsJobStatus::default()
    };
    let action = reconcile(Arc::new(bmsjob(Some(running))), harness.ctx.clone())
        .await
        .expect("reconciled");
    assert_ne!(action, Action::await_change());
    let memory = harness
        .ctx
        .recall(&ObjectKey {
            namespace: "team".into(),
            name: "batch".into(),
        })
        .expect("scheduled");
    let delay = memory.next_poll_at - Instant::now();
    assert!(delay <= Duration::from_secs(15), "{delay:?}");
    assert!(harness.cloud.asked.lock().expect("lock").is_empty());
    assert_no_more_calls(&mut harness).await;
}

/// A cloud that rejects every request's credentials.
struct RejectingCloud;

impl JobFetcher for RejectingCloud {
    fn fetch<'a>(
        &'a self,
        _query: &'a JobQuery,
        _credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<JobResponse, CloudError>> {
        Box::pin(async {
            Err(CloudError::Api {
                status: 401,
                code: Some("APIG.0301".into()),
                message: Some("Incorrect IAM authentication information".into()),
                request_id: None,
                retry_after: None,
            })
        })
    }
}

#[tokio::test]
async fn rejected_credentials_are_re_read_every_auth_retry_without_a_growing_backoff() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let auth_retry = Duration::from_secs(60);
    let ctx = Arc::new(Context::new(
        kube::Client::new(service, "default"),
        Arc::new(RejectingCloud),
        Settings {
            default_interval: Duration::from_secs(15),
            max_interval: Duration::from_secs(300),
            auth_retry,
            default_credentials: None,
        },
        Metrics::new(),
    ));
    let (first, status) = tokio::join!(reconcile(Arc::new(bmsjob(None)), ctx.clone()), async {
        expect_secret_read(&mut handle).await;
        expect_status_apply(&mut handle).await
    });
    first.expect("first reconcile");
    let key = ObjectKey {
        namespace: "team".into(),
        name: "batch".into(),
    };
    for attempt in 2..=6 {
        let mut memory = ctx.recall(&key).expect("scheduled");
        memory.next_poll_at = Instant::now();
        ctx.remember(key.clone(), memory);
        // The unchanged problem is not written again; the Secret is read on every attempt.
        let (action, ()) = tokio::join!(
            reconcile(Arc::new(bmsjob(Some(status.clone()))), ctx.clone()),
            expect_secret_read(&mut handle)
        );
        action.expect("reconciled");
        let wait = ctx.recall(&key).expect("scheduled").next_poll_at - Instant::now();
        assert!(
            wait <= auth_retry.mul_f64(1.1),
            "attempt {attempt}: next read of the Secret in {wait:?}"
        );
    }
    let mut harness_like = Harness {
        ctx,
        cloud: Arc::new(ScriptedCloud::default()),
        handle,
    };
    assert_no_more_calls(&mut harness_like).await;
}

#[tokio::test]
async fn a_bmsjob_created_again_under_the_same_name_is_polled_at_once() {
    let mut harness = harness(&["RUNNING"]);
    // The BmsJob deleted a moment ago was not due for a long time.
    harness.ctx.remember(
        ObjectKey {
            namespace: "team".into(),
            name: "batch".into(),
        },
        PollMemory {
            uid: Some("old-uid".into()),
            generation: Some(1),
            next_poll_at: Instant::now() + Duration::from_secs(1800),
            consecutive_failures: 0,
            reconcile_now: None,
        },
    );
    let mut recreated = bmsjob(None);
    recreated.metadata.uid = Some("new-uid".into());
    let (action, status) = tokio::join!(
        reconcile(Arc::new(recreated), harness.ctx.clone()),
        tokio::time::timeout(Duration::from_secs(5), async {
            expect_secret_read(&mut harness.handle).await;
            expect_status_apply(&mut harness.handle).await
        })
    );
    action.expect("reconciled");
    let status = status.expect("the recreated BmsJob is polled at once");
    assert_eq!(status.phase, Some(Phase::Running));
    assert_eq!(harness.cloud.asked.lock().expect("lock").len(), 1);
    assert_no_more_calls(&mut harness).await;
}
