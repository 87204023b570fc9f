//! Every fault kind of `bms-sim`, injected through its admin API, against our client: what
//! the client makes of it (`CloudError` variant, `class()`, `code()`, `retry_after()`), plus
//! counts, per-job scoping, clearing, and the global rate limit.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use bms_job_operator::bms::{
    BmsClient, ClientOptions, CloudError, Credentials, ErrorClass, JobResponse, JobState,
};
use bms_job_operator::sim::auth::SimCredential;
use bms_job_operator::sim::scenario::{Format, Scenario};
use bms_job_operator::sim::{SimConfig, SimHandle, spawn};
use serde_json::{Value, json};

/// reqwest is built without a default TLS crypto provider: install one before any client.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A response body as JSON (`Null` when it is not JSON).
async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

const PROJECT: &str = "0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b";
const JOB: &str = "ff8080817c1a2b3c017c1a2b3c4d0001";
const OTHER_JOB: &str = "ff8080817c1a2b3c017c1a2b3c4d0002";
const AK: &str = "SIMFAULTACCESSKEY001";
const SK: &str = "simFaultSecretKey0000000000000000000001";

const SCENARIO: &str = r#"
jobs:
  - project_id: 0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b
    job_id: ff8080817c1a2b3c017c1a2b3c4d0001
    sub_jobs:
      - {duration: 1h}
      - {duration: 1h}
  - project_id: 0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b
    job_id: ff8080817c1a2b3c017c1a2b3c4d0002
    duration: 1h
"#;

struct Harness {
    sim: SimHandle,
    client: BmsClient,
    http: reqwest::Client,
}

async fn start(rate_limit: Option<u32>) -> Harness {
    install_crypto_provider();
    let config = SimConfig {
        credentials: vec![SimCredential::parse(&format!("{AK}:{SK}")).expect("credential")],
        scenario: Scenario::parse(SCENARIO, Format::Yaml).expect("scenario"),
        rate_limit: rate_limit.and_then(NonZeroU32::new),
        ..SimConfig::default()
    };
    let sim = spawn(config).await.expect("simulator");
    let options = ClientOptions {
        request_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    let client = BmsClient::new(&sim.url(), options).expect("client");
    Harness {
        sim,
        client,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    async fn get(&self, job_id: &str) -> Result<JobResponse, CloudError> {
        self.client
            .get_job(PROJECT, job_id, &Credentials::new(AK, SK))
            .await
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sim.url()));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("admin request");
        let status = response.status().as_u16();
        let body = json_of(response).await;
        (status, body)
    }

    async fn fault(&self, fault: Value) -> Value {
        let (status, body) = self
            .admin(reqwest::Method::POST, "/admin/faults", Some(fault.clone()))
            .await;
        assert_eq!(status, 201, "fault {fault} refused: {body}");
        body
    }

    async fn counters(&self) -> Value {
        self.admin(reqwest::Method::GET, "/admin/counters", None)
            .await
            .1
    }
}

fn api_status(error: &CloudError) -> Option<u16> {
    match error {
        CloudError::Api { status, .. } => Some(*status),
        _ => None,
    }
}

#[tokio::test]
async fn server_errors_are_transient_and_503_is_flow_control() {
    let harness = start(None).await;
    harness
        .fault(json!({"kind": "server_error", "count": 1}))
        .await;
    let error = harness.get(JOB).await.expect_err("500");
    assert_eq!(api_status(&error), Some(500), "{error:?}");
    assert_eq!(error.code(), Some("Common.0001"));
    assert_eq!(error.class(), ErrorClass::Transient);

    harness
        .fault(json!({"kind": "server_error", "status": 503, "count": 1, "retry_after_seconds": 4}))
        .await;
    let error = harness.get(JOB).await.expect_err("503");
    assert_eq!(api_status(&error), Some(503));
    assert_eq!(error.code(), Some("Common.1503"));
    assert_eq!(error.class(), ErrorClass::Throttled);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(4)));

    harness
        .fault(json!({"kind": "server_error", "status": 502, "count": 1}))
        .await;
    let error = harness.get(JOB).await.expect_err("502");
    assert_eq!(api_status(&error), Some(502));
    assert_eq!(error.class(), ErrorClass::Transient);

    assert!(harness.get(JOB).await.is_ok(), "the counted faults ran out");
}

#[tokio::test]
async fn throttling_is_throttled_with_retry_after() {
    let harness = start(None).await;
    harness
        .fault(json!({"kind": "throttle", "retry_after_seconds": 3, "count": 1}))
        .await;
    let error = harness.get(JOB).await.expect_err("429");
    assert_eq!(api_status(&error), Some(429));
    assert_eq!(error.code(), Some("APIG.0308"));
    assert_eq!(error.class(), ErrorClass::Throttled);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    match &error {
        CloudError::Api { request_id, .. } => assert!(request_id.is_some()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn flow_control_202_and_overload_400_are_retryable() {
    let harness = start(None).await;
    harness
        .fault(json!({"kind": "flow_control", "count": 1}))
        .await;
    let error = harness.get(JOB).await.expect_err("202 flow control");
    assert_eq!(api_status(&error), Some(202));
    assert_eq!(error.code(), Some("Common.0024"));
    assert_eq!(error.class(), ErrorClass::Throttled);

    harness
        .fault(json!({"kind": "overloaded", "count": 1}))
        .await;
    let error = harness.get(JOB).await.expect_err("400 overloaded");
    assert_eq!(api_status(&error), Some(400));
    assert_eq!(error.code(), Some("BMS.0212"));
    assert_eq!(error.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn latency_delays_but_the_job_still_comes() {
    let harness = start(None).await;
    harness
        .fault(json!({"kind": "latency", "latency_ms": 400, "count": 1}))
        .await;
    let started = Instant::now();
    let job = harness.get(JOB).await.expect("slow but fine");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(job.state(), Some(JobState::Running));
    let (_, listed) = harness
        .admin(reqwest::Method::GET, "/admin/faults", None)
        .await;
    assert_eq!(listed["faults"], json!([]), "the counted fault ran out");
    harness.get(JOB).await.expect("no delay left");
}

#[tokio::test]
async fn a_dropped_connection_is_a_transient_transport_error() {
    let harness = start(None).await;
    harness.fault(json!({"kind": "drop_connection"})).await;
    let error = harness.get(JOB).await.expect_err("dropped");
    assert!(matches!(error, CloudError::Transport { .. }), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.code(), None);
    let (status, cleared) = harness
        .admin(reqwest::Method::DELETE, "/admin/faults", None)
        .await;
    assert_eq!((status, cleared["cleared"].as_u64()), (200, Some(1)));
    harness.get(JOB).await.expect("answers again");
}

#[tokio::test]
async fn broken_bodies_are_invalid_responses() {
    let harness = start(None).await;
    for kind in ["truncated_json", "malformed_json", "wrong_content_type"] {
        harness.fault(json!({"kind": kind, "count": 1})).await;
        let error = harness.get(JOB).await.expect_err(kind);
        assert!(
            matches!(error, CloudError::InvalidResponse { status: 200, .. }),
            "{kind}: {error:?}"
        );
        assert_eq!(error.class(), ErrorClass::InvalidResponse, "{kind}");
        if kind == "wrong_content_type" {
            assert!(error.to_string().contains("text/html"), "{error}");
        }
    }
    harness.get(JOB).await.expect("healthy again");
}

#[tokio::test]
async fn an_oversized_body_is_too_large() {
    let harness = start(None).await;
    harness
        .fault(json!({"kind": "oversized_body", "count": 1}))
        .await;
    let error = harness.get(JOB).await.expect_err("8 MiB");
    assert!(matches!(error, CloudError::TooLarge { .. }), "{error:?}");
    assert_eq!(error.class(), ErrorClass::InvalidResponse);
}

#[tokio::test]
async fn faults_can_target_one_job_and_be_cleared_per_job() {
    let harness = start(None).await;
    harness
        .fault(json!({"kind": "overloaded", "job_id": JOB}))
        .await;
    for _ in 0..3 {
        assert_eq!(
            harness.get(JOB).await.expect_err("faulted").code(),
            Some("BMS.0212")
        );
        harness.get(OTHER_JOB).await.expect("other job untouched");
    }
    let (_, listed) = harness
        .admin(reqwest::Method::GET, "/admin/faults", None)
        .await;
    assert_eq!(listed["faults"][0]["applied"], 3, "{listed}");
    assert_eq!(listed["faults"][0]["remaining"], Value::Null, "{listed}");
    let (_, cleared) = harness
        .admin(
            reqwest::Method::DELETE,
            &format!("/admin/faults?job_id={JOB}"),
            None,
        )
        .await;
    assert_eq!(cleared["cleared"], 1);
    harness.get(JOB).await.expect("cleared");

    let counters = harness.counters().await;
    assert_eq!(
        counters["jobs"][JOB]["by_outcome"]["fault"], 3,
        "{counters}"
    );
    assert_eq!(counters["jobs"][JOB]["by_outcome"]["ok"], 1, "{counters}");
    assert_eq!(counters["faults_injected"]["overloaded"], 3, "{counters}");
}

#[tokio::test]
async fn faults_apply_only_after_authentication() {
    let harness = start(None).await;
    harness.fault(json!({"kind": "overloaded"})).await;
    let error = harness
        .client
        .get_job(PROJECT, JOB, &Credentials::new(AK, "wrong"))
        .await
        .expect_err("refused");
    assert_eq!(error.class(), ErrorClass::Auth);
    let counters = harness.counters().await;
    assert_eq!(counters["faults_injected"], json!({}), "{counters}");
}

#[tokio::test]
async fn the_admin_api_refuses_unknown_kinds_and_misplaced_fields() {
    let harness = start(None).await;
    let (status, body) = harness
        .admin(
            reqwest::Method::POST,
            "/admin/faults",
            Some(json!({"kind": "explode"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "kind");
    let message = body["error"].as_str().expect("message");
    assert!(message.contains("explode"), "{message}");
    for kind in [
        "server_error",
        "throttle",
        "latency",
        "drop_connection",
        "truncated_json",
        "malformed_json",
        "oversized_body",
        "wrong_content_type",
        "overloaded",
        "flow_control",
    ] {
        assert!(message.contains(kind), "{message}");
        assert!(
            body["valid_kinds"]
                .as_array()
                .expect("valid kinds")
                .contains(&json!(kind))
        );
    }
    let (status, body) = harness
        .admin(
            reqwest::Method::POST,
            "/admin/faults",
            Some(json!({"kind": "throttle", "status": 500})),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("status")),
        "{body}"
    );
    let (status, body) = harness
        .admin(
            reqwest::Method::POST,
            "/admin/faults",
            Some(json!({"kind": "latency", "delay": 5})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().expect("message").contains("delay"),
        "{body}"
    );
}

#[tokio::test]
async fn the_global_rate_limit_answers_429_with_retry_after() {
    let harness = start(Some(1)).await;
    let results = futures::future::join_all((0..8).map(|_| harness.get(JOB))).await;
    let ok = results.iter().filter(|result| result.is_ok()).count();
    let throttled: Vec<CloudError> = results.into_iter().filter_map(Result::err).collect();
    assert!(ok >= 1, "the first request passes");
    assert!(
        !throttled.is_empty(),
        "8 requests at once exceed 1 per second"
    );
    for error in &throttled {
        assert_eq!(api_status(error), Some(429), "{error:?}");
        assert_eq!(error.code(), Some("APIG.0308"));
        assert_eq!(error.class(), ErrorClass::Throttled);
        assert!(
            error
                .retry_after()
                .is_some_and(|after| after >= Duration::from_secs(1))
        );
    }
    let counters = harness.counters().await;
    assert_eq!(
        counters["by_outcome"]["throttled"].as_u64(),
        Some(throttled.len() as u64),
        "{counters}"
    );
    // The limit is per second: after a pause, requests pass again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    harness.get(JOB).await.expect("allowed again");
}
