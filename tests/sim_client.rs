//! Our client (`bms_job_operator::bms::BmsClient`) against an in-process `bms-sim`: jobs
//! polled through their whole life, authentication failures, lockout, temporary credentials,
//! unknown jobs and project scoping.
//!
//! The simulator runs on a manual clock that starts at the real time (so that the client's
//! `X-Sdk-Date` is within the allowed skew) and is moved by the test, so no test sleeps
//! waiting for a job.

use std::sync::Arc;
use std::time::Duration;

use bms_job_operator::bms::signing::{self, SignedRequest};
use bms_job_operator::bms::{
    BmsClient, ClientOptions, CloudError, Credentials, ErrorClass, JobResponse, JobState,
};
use bms_job_operator::sim::auth::SimCredential;
use bms_job_operator::sim::scenario::{Format, Scenario};
use bms_job_operator::sim::{ManualClock, SimConfig, SimHandle, spawn};
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
const AK: &str = "SIMTESTACCESSKEY0001";
const SK: &str = "simTestSecretKey00000000000000000000001";
const TEMP_AK: &str = "SIMTEMPACCESSKEY0002";
const TEMP_SK: &str = "simTempSecretKey00000000000000000000002";
const TEMP_TOKEN: &str = "gQpjbi1ub3J0aC00jSIMTOKEN";

const SCENARIO: &str = r#"
jobs:
  - project_id: 0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b
    job_id: ff8080817c1a2b3c017c1a2b3c4d0001
    job_type: baremetalBatchCreate
    init_for: 2s
    sub_jobs:
      - {job_id: ff8080817c1a2b3c017c1a2b3c4d1001, server_id: 6f1c0a52-1d7e-4c55-9a6e-1f7b8a3c9d01, duration: 3s}
      - {job_id: ff8080817c1a2b3c017c1a2b3c4d1002, server_id: 6f1c0a52-1d7e-4c55-9a6e-1f7b8a3c9d02, duration: 5s}
      - {job_id: ff8080817c1a2b3c017c1a2b3c4d1003, server_id: 6f1c0a52-1d7e-4c55-9a6e-1f7b8a3c9d03, start_after: 3500ms, duration: 2500ms}
  - project_id: 0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b
    job_id: ff8080817c1a2b3c017c1a2b3c4d0003
    job_type: baremetalBatchCreate
    init_for: 1s
    sub_jobs:
      - {server_id: 7a2d1b63-2e8f-4d66-8b7f-2a8c9b4d0e01, duration: 2s}
      - server_id: 7a2d1b63-2e8f-4d66-8b7f-2a8c9b4d0e02
        duration: 3s
        fail: {error_code: BMS.0102, fail_reason: "Insufficient bare metal resources in the selected AZ."}
  - project_id: 0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b
    job_id: ff8080817c1a2b3c017c1a2b3c4d0005
    pending_payment_for: forever
  - project_id: 0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b
    job_id: ff8080817c1a2b3c017c1a2b3c4d0009
    pending_payment_for: 3s
    init_for: 1s
    duration: 1s
  - project_id: 0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b
    job_id: ff8080817c1a2b3c017c1a2b3c4d0007
    job_type: baremetalBatchOperate
    status_override: QUEUED
  - project_id: 99999999999999999999999999999999
    job_id: ff8080817c1a2b3c017c1a2b3c4d0008
    duration: 1s
"#;

struct Harness {
    sim: SimHandle,
    clock: Arc<ManualClock>,
    client: BmsClient,
}

async fn start(lockout_failures: u32) -> Harness {
    install_crypto_provider();
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let config = SimConfig {
        credentials: vec![
            SimCredential::parse(&format!("{AK}:{SK}")).expect("credential"),
            SimCredential::parse(&format!("{TEMP_AK}:{TEMP_SK}:{TEMP_TOKEN}")).expect("credential"),
        ],
        scenario: Scenario::parse(SCENARIO, Format::Yaml).expect("scenario"),
        lockout: bms_job_operator::sim::lockout::LockoutPolicy {
            failures: lockout_failures,
            duration: Duration::from_secs(300),
        },
        clock: clock.clone(),
        ..SimConfig::default()
    };
    let sim = spawn(config).await.expect("simulator starts");
    let client = BmsClient::new(&sim.url(), ClientOptions::default()).expect("client");
    Harness { sim, clock, client }
}

fn credentials() -> Credentials {
    Credentials::new(AK, SK)
}

impl Harness {
    async fn get(&self, job_id: &str) -> Result<JobResponse, CloudError> {
        self.client.get_job(PROJECT, job_id, &credentials()).await
    }

    fn advance_ms(&self, millis: u64) {
        self.clock.advance(Duration::from_millis(millis));
    }

    async fn counters(&self) -> Value {
        json_of(
            reqwest::get(format!("{}/admin/counters", self.sim.url()))
                .await
                .expect("counters"),
        )
        .await
    }
}

fn sub_states(job: &JobResponse) -> Vec<String> {
    job.sub_jobs()
        .iter()
        .map(|sub| sub.status.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_batch_goes_from_init_through_running_sub_jobs_to_success() {
    let harness = start(5).await;
    let job_id = "ff8080817c1a2b3c017c1a2b3c4d0001";

    let init = harness.get(job_id).await.expect("INIT");
    assert_eq!(init.state(), Some(JobState::Init));
    assert_eq!(init.job_id.as_deref(), Some(job_id));
    assert_eq!(init.job_type.as_deref(), Some("baremetalBatchCreate"));
    assert_eq!(init.begin_time, None, "begin_time is \"\" while INIT");
    assert_eq!(init.end_time, None);
    assert!(init.sub_jobs().is_empty());

    // Poll every 500 ms of simulated time until the job ends, recording what is seen.
    let mut seen_states = vec![init.status.clone().unwrap_or_default()];
    let mut seen_sub_states = Vec::new();
    let mut last = init;
    for _ in 0..40 {
        harness.advance_ms(500);
        last = harness.get(job_id).await.expect("job");
        if seen_states.last() != last.status.as_ref() {
            seen_states.push(last.status.clone().unwrap_or_default());
        }
        let subs = sub_states(&last);
        if seen_sub_states.last() != Some(&subs) && !subs.is_empty() {
            seen_sub_states.push(subs);
        }
        if matches!(last.state(), Some(state) if state.is_terminal()) {
            break;
        }
    }
    assert_eq!(seen_states, ["INIT", "RUNNING", "SUCCESS"]);
    // Sub-jobs run in parallel (the third starts later) and finish one by one.
    let expected: Vec<Vec<&str>> = vec![
        vec!["RUNNING", "RUNNING", "INIT"],
        vec!["SUCCESS", "RUNNING", "INIT"],
        vec!["SUCCESS", "RUNNING", "RUNNING"],
        vec!["SUCCESS", "SUCCESS", "RUNNING"],
        vec!["SUCCESS", "SUCCESS", "SUCCESS"],
    ];
    assert_eq!(seen_sub_states, expected);

    assert_eq!(last.state(), Some(JobState::Success));
    assert_eq!(last.error_code, None);
    assert_eq!(last.fail_reason, None);
    let entities = last.entities.as_ref().expect("entities");
    assert_eq!(entities.sub_jobs_total, Some(3));
    let begin = last.begin_time.as_deref().expect("begin_time");
    let end = last.end_time.as_deref().expect("end_time");
    assert!(
        begin.ends_with('Z') && begin.len() == "2016-04-25T20:04:47.591Z".len(),
        "{begin}"
    );
    let begin: jiff::Timestamp = begin.parse().expect("ISO-8601");
    let end: jiff::Timestamp = end.parse().expect("ISO-8601");
    assert_eq!(
        end.duration_since(begin),
        jiff::SignedDuration::from_secs(6)
    );
    for (index, sub) in last.sub_jobs().iter().enumerate() {
        assert_eq!(sub.state(), Some(JobState::Success));
        assert_eq!(
            sub.entities.server_id.as_deref(),
            Some(format!("6f1c0a52-1d7e-4c55-9a6e-1f7b8a3c9d0{}", index + 1).as_str())
        );
        assert_eq!(sub.job_type.as_deref(), Some("baremetalSingleCreate"));
        assert!(sub.begin_time.is_some() && sub.end_time.is_some());
        assert_eq!(sub.error_code, None);
    }
}

#[tokio::test]
async fn a_failed_sub_job_fails_the_batch_with_codes_and_reasons() {
    let harness = start(5).await;
    let job_id = "ff8080817c1a2b3c017c1a2b3c4d0003";
    harness.advance_ms(1_500);
    let running = harness.get(job_id).await.expect("RUNNING");
    assert_eq!(running.state(), Some(JobState::Running));
    assert_eq!(sub_states(&running), ["RUNNING", "RUNNING"]);
    harness.advance_ms(2_000);
    let running = harness.get(job_id).await.expect("RUNNING");
    assert_eq!(sub_states(&running), ["SUCCESS", "RUNNING"]);
    assert_eq!(running.error_code, None);
    harness.advance_ms(3_000);
    let failed = harness.get(job_id).await.expect("FAIL");
    assert_eq!(failed.state(), Some(JobState::Fail));
    assert_eq!(failed.error_code.as_deref(), Some("BMS.0102"));
    assert_eq!(failed.fail_reason.as_deref(), Some("Sub job fail!"));
    assert!(failed.end_time.is_some());
    let subs = failed.sub_jobs();
    assert_eq!(subs[0].state(), Some(JobState::Success));
    assert_eq!(subs[0].error_code, None);
    assert_eq!(subs[1].state(), Some(JobState::Fail));
    assert_eq!(subs[1].error_code.as_deref(), Some("BMS.0102"));
    assert_eq!(
        subs[1].fail_reason.as_deref(),
        Some("Insufficient bare metal resources in the selected AZ.")
    );
    assert_eq!(
        subs[1].entities.server_id.as_deref(),
        Some("7a2d1b63-2e8f-4d66-8b7f-2a8c9b4d0e02")
    );
}

#[tokio::test]
async fn pending_payment_then_unknown_status() {
    let harness = start(5).await;
    let unpaid = harness
        .get("ff8080817c1a2b3c017c1a2b3c4d0005")
        .await
        .expect("unpaid");
    assert_eq!(unpaid.state(), Some(JobState::PendingPayment));
    assert!(unpaid.begin_time.is_some());
    assert_eq!(unpaid.end_time, None);

    let paid_later = "ff8080817c1a2b3c017c1a2b3c4d0009";
    assert_eq!(
        harness.get(paid_later).await.expect("job").state(),
        Some(JobState::PendingPayment)
    );
    harness.advance_ms(3_000);
    assert_eq!(
        harness.get(paid_later).await.expect("job").state(),
        Some(JobState::Init)
    );
    harness.advance_ms(1_000);
    assert_eq!(
        harness.get(paid_later).await.expect("job").state(),
        Some(JobState::Running)
    );
    harness.advance_ms(1_000);
    assert_eq!(
        harness.get(paid_later).await.expect("job").state(),
        Some(JobState::Success)
    );
    harness.advance_ms(60_000);
    let still_unpaid = harness
        .get("ff8080817c1a2b3c017c1a2b3c4d0005")
        .await
        .expect("unpaid");
    assert_eq!(still_unpaid.state(), Some(JobState::PendingPayment));

    let queued = harness
        .get("ff8080817c1a2b3c017c1a2b3c4d0007")
        .await
        .expect("queued");
    assert_eq!(queued.state(), Some(JobState::Other("QUEUED".into())));
    assert!(!queued.state().expect("state").is_terminal());
    assert_eq!(queued.job_type.as_deref(), Some("baremetalBatchOperate"));
}

#[tokio::test]
async fn a_wrong_secret_key_is_an_auth_error() {
    let harness = start(5).await;
    let error = harness
        .client
        .get_job(
            PROJECT,
            "ff8080817c1a2b3c017c1a2b3c4d0001",
            &Credentials::new(AK, "not-the-secret"),
        )
        .await
        .expect_err("refused");
    assert_eq!(error.class(), ErrorClass::Auth);
    assert_eq!(error.code(), Some("APIG.0301"));
    match &error {
        CloudError::Api {
            status, request_id, ..
        } => {
            assert_eq!(*status, 401);
            assert!(
                request_id.as_deref().is_some_and(|id| id.len() == 32),
                "{error}"
            );
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    let unknown = harness
        .client
        .get_job(
            PROJECT,
            "ff8080817c1a2b3c017c1a2b3c4d0001",
            &Credentials::new("NOSUCHACCESSKEY", SK),
        )
        .await
        .expect_err("unknown access key");
    assert_eq!(unknown.class(), ErrorClass::Auth);
}

#[tokio::test]
async fn unknown_jobs_and_other_projects_jobs_are_not_found() {
    let harness = start(5).await;
    for job_id in [
        "00000000000000000000000000000000",
        // Exists, but in another project.
        "ff8080817c1a2b3c017c1a2b3c4d0008",
    ] {
        let error = harness.get(job_id).await.expect_err("not found");
        assert_eq!(error.class(), ErrorClass::NotFound, "{error}");
        assert_eq!(error.code(), Some("Common.0011"));
        assert!(
            matches!(error, CloudError::Api { status: 400, .. }),
            "{error}"
        );
    }
    let other_project = harness
        .client
        .get_job(
            "99999999999999999999999999999999",
            "ff8080817c1a2b3c017c1a2b3c4d0008",
            &credentials(),
        )
        .await
        .expect("visible in its own project");
    assert_eq!(other_project.state(), Some(JobState::Running));
}

#[tokio::test]
async fn temporary_credentials_need_their_security_token() {
    let harness = start(5).await;
    let job_id = "ff8080817c1a2b3c017c1a2b3c4d0001";
    let temporary =
        Credentials::new(TEMP_AK, TEMP_SK).with_security_token(Some(TEMP_TOKEN.to_owned()));
    let job = harness
        .client
        .get_job(PROJECT, job_id, &temporary)
        .await
        .expect("accepted with its token");
    assert_eq!(job.state(), Some(JobState::Init));

    let without_token = Credentials::new(TEMP_AK, TEMP_SK);
    let error = harness
        .client
        .get_job(PROJECT, job_id, &without_token)
        .await
        .expect_err("refused without the token");
    assert_eq!(error.class(), ErrorClass::Auth);

    let wrong_token =
        Credentials::new(TEMP_AK, TEMP_SK).with_security_token(Some("another".to_owned()));
    let error = harness
        .client
        .get_job(PROJECT, job_id, &wrong_token)
        .await
        .expect_err("refused with another token");
    assert_eq!(error.class(), ErrorClass::Auth);
}

#[tokio::test]
async fn five_failures_lock_the_key_until_the_lock_expires() {
    let harness = start(5).await;
    let job_id = "ff8080817c1a2b3c017c1a2b3c4d0001";
    let wrong = Credentials::new(AK, "wrong-secret");
    for _ in 0..5 {
        let error = harness
            .client
            .get_job(PROJECT, job_id, &wrong)
            .await
            .expect_err("wrong secret");
        assert_eq!(error.class(), ErrorClass::Auth);
    }
    let locked = harness.get(job_id).await.expect_err("locked");
    assert_eq!(locked.class(), ErrorClass::Auth);
    assert!(locked.to_string().contains("locked"), "{locked}");
    harness.advance_ms(299_000);
    harness.get(job_id).await.expect_err("still locked");
    harness.advance_ms(1_000);
    harness.get(job_id).await.expect("the lock expired");

    let counters = harness.counters().await;
    let key = &counters["access_keys"][AK];
    assert_eq!(key["by_outcome"]["auth_failed"], 5, "{counters}");
    assert_eq!(key["by_outcome"]["locked"], 2, "{counters}");
    assert_eq!(key["by_outcome"]["ok"], 1, "{counters}");
    assert_eq!(key["longest_auth_failure_streak"], 7, "{counters}");
    assert_eq!(key["consecutive_auth_failures"], 0, "{counters}");
    assert_eq!(counters["jobs"][job_id]["requests"], 8, "{counters}");
}

#[tokio::test]
async fn a_success_resets_the_failure_count() {
    let harness = start(3).await;
    let job_id = "ff8080817c1a2b3c017c1a2b3c4d0001";
    let wrong = Credentials::new(AK, "wrong-secret");
    for _ in 0..2 {
        harness
            .client
            .get_job(PROJECT, job_id, &wrong)
            .await
            .expect_err("wrong");
    }
    harness.get(job_id).await.expect("still accepted");
    for _ in 0..2 {
        harness
            .client
            .get_job(PROJECT, job_id, &wrong)
            .await
            .expect_err("wrong");
    }
    harness
        .get(job_id)
        .await
        .expect("not locked: the count restarted");
}

/// A request signed by hand, to send what our client never sends.
async fn signed_get(
    base: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
    secret: &str,
) -> reqwest::Response {
    let url = reqwest::Url::parse(&format!("{base}{path}")).expect("url");
    let host = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().expect("port")
    );
    let sdk_date = jiff::Timestamp::now()
        .strftime(signing::DATE_FORMAT)
        .to_string();
    let mut headers = vec![
        ("Host".to_owned(), host),
        ("X-Sdk-Date".to_owned(), sdk_date.clone()),
    ];
    for (name, value) in extra_headers {
        headers.push(((*name).to_owned(), (*value).to_owned()));
    }
    let authorization = signing::authorization(
        &SignedRequest {
            method: "GET",
            path: url.path(),
            query: &[],
            headers: &headers,
            body: b"",
        },
        &sdk_date,
        AK,
        secret,
    );
    let mut request = reqwest::Client::new().get(url.clone());
    for (name, value) in headers.iter().filter(|(name, _)| name != "Host") {
        request = request.header(name, value);
    }
    request
        .header("Authorization", authorization)
        .send()
        .await
        .expect("response")
}

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    serde_json::from_str::<Value>(&text).expect("fixture JSON")["body"].clone()
}

#[tokio::test]
async fn error_bodies_match_the_fixtures() {
    let harness = start(5).await;
    let base = harness.sim.url();
    let path = format!("/v1/{PROJECT}/jobs/00000000000000000000000000000000");
    let response = signed_get(&base, &path, &[], SK).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = json_of(response).await;
    assert_eq!(body, fixture("errors/job-not-found-400.json"));

    let path = format!("/v1/{PROJECT}/jobs/ff8080817c1a2b3c017c1a2b3c4d0001");
    let response = signed_get(
        &base,
        &path,
        &[("X-Project-Id", "11111111111111111111111111111111")],
        SK,
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = json_of(response).await;
    assert_eq!(body, fixture("errors/project-mismatch-400.json"));

    let response = signed_get(&base, &path, &[], "wrong").await;
    assert_eq!(response.status(), 401);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .expect("X-Request-Id");
    let body: Value = json_of(response).await;
    assert_eq!(body["error_code"], "APIG.0301");
    assert_eq!(body["request_id"], json!(request_id));
    assert!(
        body["error_msg"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 3, "{body}");

    let response = reqwest::get(format!("{base}{path}"))
        .await
        .expect("response");
    assert_eq!(response.status(), 401, "no signature at all");
}

#[tokio::test]
async fn the_running_body_has_the_fixture_shape() {
    let harness = start(5).await;
    harness.advance_ms(5_200);
    let base = harness.sim.url();
    let path = format!("/v1/{PROJECT}/jobs/ff8080817c1a2b3c017c1a2b3c4d0001");
    let response = signed_get(&base, &path, &[("X-Project-Id", PROJECT)], SK).await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"))
    );
    let body: Value = json_of(response).await;
    let shape = fixture("jobs/running-batch-create.json");
    let keys = |value: &Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&body), keys(&shape));
    assert_eq!(body["end_time"], "");
    let subs = body["entities"]["sub_jobs"].as_array().expect("sub_jobs");
    let shape_subs = shape["entities"]["sub_jobs"].as_array().expect("sub_jobs");
    for (sub, shape_sub) in subs.iter().zip(shape_subs) {
        assert_eq!(sub["status"], shape_sub["status"]);
        assert_eq!(keys(sub), keys(shape_sub), "{sub}");
        assert_eq!(
            keys(&sub["entities"]),
            keys(&shape_sub["entities"]),
            "{sub}"
        );
    }
}

#[tokio::test]
async fn the_system_clock_moves_jobs_too() {
    install_crypto_provider();
    let config = SimConfig {
        credentials: vec![SimCredential::parse(&format!("{AK}:{SK}")).expect("credential")],
        ..SimConfig::default()
    };
    let sim = spawn(config).await.expect("simulator");
    let state = sim.state().clone();
    let view = state
        .add_job(
            serde_json::from_value(json!({
                "project_id": PROJECT, "init_for": "200ms",
                "sub_jobs": [{"duration": "200ms"}, {"duration": "200ms"}]
            }))
            .expect("spec"),
        )
        .expect("job");
    let job_id = view.job.job_id().to_owned();
    let client = BmsClient::new(&sim.url(), ClientOptions::default()).expect("client");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let job = client
            .get_job(PROJECT, &job_id, &credentials())
            .await
            .expect("job");
        if job.state() == Some(JobState::Success) {
            assert_eq!(job.sub_jobs().len(), 2);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never finished: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.shutdown().await.expect("clean shutdown");
}

#[derive(serde::Deserialize)]
struct Vectors {
    cases: Vec<Vector>,
}

#[derive(serde::Deserialize)]
struct Vector {
    name: String,
    method: String,
    host: String,
    path: String,
    headers: std::collections::BTreeMap<String, String>,
    ak: String,
    sk: String,
    expected_authorization: String,
}

/// The server accepts each job-endpoint signing vector, replayed byte for byte, when its clock
/// is set to the vector's date; one second of skew beyond the limit and it refuses it.
#[tokio::test]
async fn the_server_accepts_the_signing_vectors_at_their_own_date() {
    install_crypto_provider();
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/signing-vectors.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("vectors");
    let vectors: Vectors = serde_json::from_str(&text).expect("vectors JSON");
    let job_vectors: Vec<&Vector> = vectors
        .cases
        .iter()
        .filter(|case| case.method == "GET" && case.path.contains("/jobs/"))
        .collect();
    assert!(job_vectors.len() >= 3, "job-endpoint vectors");
    for case in job_vectors {
        let signed_at =
            bms_job_operator::sim::auth::parse_sdk_date(&case.headers["X-Sdk-Date"]).expect("date");
        let clock = Arc::new(ManualClock::new(signed_at));
        let token = case
            .headers
            .get("X-Security-Token")
            .map(|token| format!(":{token}"));
        let credential = format!("{}:{}{}", case.ak, case.sk, token.unwrap_or_default());
        let segments: Vec<&str> = case.path.split('/').collect();
        let (project, job) = (segments[2], segments[4]);
        let scenario =
            format!("jobs: [{{project_id: '{project}', job_id: '{job}', duration: 1h}}]");
        let sim = spawn(SimConfig {
            credentials: vec![SimCredential::parse(&credential).expect("credential")],
            scenario: Scenario::parse(&scenario, Format::Yaml).expect("scenario"),
            clock: clock.clone(),
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let send = || {
            let mut request = reqwest::Client::new()
                .get(format!("{}{}", sim.url(), case.path))
                .header("host", &case.host)
                .header("authorization", &case.expected_authorization);
            for (name, value) in &case.headers {
                request = request.header(name, value);
            }
            request.send()
        };
        let response = send().await.expect("response");
        assert_eq!(response.status(), 200, "vector {}", case.name);
        let body = json_of(response).await;
        assert_eq!(body["job_id"], json!(job), "vector {}", case.name);

        clock.advance(Duration::from_secs(15 * 60 + 1));
        let response = send().await.expect("response");
        assert_eq!(response.status(), 401, "vector {} too old", case.name);
        sim.shutdown().await.expect("shutdown");
    }
}
