//! The `bms-sim` admin API, metrics and token mode, over HTTP against an in-process server.

use std::time::Duration;

use bms_job_operator::bms::{BmsClient, ClientOptions, Credentials, ErrorClass, JobState};
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

async fn start() -> SimHandle {
    install_crypto_provider();
    let config = SimConfig {
        tokens: vec!["iam-token-1".to_owned()],
        ..SimConfig::default()
    };
    spawn(config).await.expect("simulator")
}

async fn call(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", sim.url()));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

#[tokio::test]
async fn jobs_are_created_listed_and_refused_when_invalid() {
    let sim = start().await;
    let (status, created) = call(
        &sim,
        reqwest::Method::POST,
        "/admin/jobs",
        Some(
            json!({"project_id": PROJECT, "job_type": "baremetalBatchCreate",
                    "init_for": "10s", "sub_jobs": [{"duration": "3s"}]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let job_id = created["job_id"].as_str().expect("job_id").to_owned();
    assert_eq!(job_id.len(), 32);
    assert!(job_id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(created["project_id"], PROJECT);
    assert_eq!(created["current"]["status"], "INIT");
    let server_id = created["sub_jobs"][0]["server_id"]
        .as_str()
        .expect("server_id");
    assert_eq!(server_id.len(), 36, "{created}");
    assert!(
        created["created_at"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z'))
    );

    let (status, listed) = call(&sim, reqwest::Method::GET, "/admin/jobs", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["jobs"][0]["job_id"], json!(job_id));

    let (status, duplicate) = call(
        &sim,
        reqwest::Method::POST,
        "/admin/jobs",
        Some(json!({"project_id": PROJECT, "job_id": job_id})),
    )
    .await;
    assert_eq!(status, 409, "{duplicate}");

    for (spec, field) in [
        (
            json!({"project_id": PROJECT, "init_for": "soon"}),
            "init_for",
        ),
        (json!({"project_id": PROJECT, "colour": "red"}), "colour"),
        (json!({"job_type": "x"}), "project_id"),
        (
            json!({"project_id": PROJECT, "sub_jobs": [{"duration": "1s", "fail": {"error_code": ""}}]}),
            "sub_jobs[0].fail",
        ),
        (json!({"project_id": "a/b"}), "project_id"),
    ] {
        let (status, body) = call(
            &sim,
            reqwest::Method::POST,
            "/admin/jobs",
            Some(spec.clone()),
        )
        .await;
        assert_eq!(status, 400, "{spec} -> {body}");
        let message = body["error"].as_str().expect("message");
        assert!(message.contains(field), "{spec} -> {message}");
    }
}

#[tokio::test]
async fn credentials_can_be_added_and_replaced_at_run_time() {
    let sim = start().await;
    let (_, created) = call(
        &sim,
        reqwest::Method::POST,
        "/admin/jobs",
        Some(json!({"project_id": PROJECT, "duration": "1h"})),
    )
    .await;
    let job_id = created["job_id"].as_str().expect("job_id").to_owned();
    let client = BmsClient::new(&sim.url(), ClientOptions::default()).expect("client");

    let error = client
        .get_job(PROJECT, &job_id, &Credentials::new("RUNTIMEAK", "first"))
        .await
        .expect_err("unknown yet");
    assert_eq!(error.class(), ErrorClass::Auth);

    let (status, body) = call(
        &sim,
        reqwest::Method::POST,
        "/admin/credentials",
        Some(json!({"access_key": "RUNTIMEAK", "secret_key": "first"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        !body.to_string().contains("first"),
        "the secret is not echoed: {body}"
    );
    let job = client
        .get_job(PROJECT, &job_id, &Credentials::new("RUNTIMEAK", "first"))
        .await
        .expect("accepted");
    assert_eq!(job.state(), Some(JobState::Running));

    let (status, body) = call(
        &sim,
        reqwest::Method::POST,
        "/admin/credentials",
        Some(json!({"access_key": "RUNTIMEAK", "secret_key": "second", "security_token": "tok"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replaced"], true);
    assert_eq!(body["temporary"], true);
    client
        .get_job(PROJECT, &job_id, &Credentials::new("RUNTIMEAK", "first"))
        .await
        .expect_err("the old secret is gone");
    client
        .get_job(
            PROJECT,
            &job_id,
            &Credentials::new("RUNTIMEAK", "second").with_security_token(Some("tok".into())),
        )
        .await
        .expect("the new one works");

    let (_, listed) = call(&sim, reqwest::Method::GET, "/admin/credentials", None).await;
    assert_eq!(
        listed,
        json!({"credentials": [{"access_key": "RUNTIMEAK", "temporary": true}]})
    );
    let (status, body) = call(
        &sim,
        reqwest::Method::POST,
        "/admin/credentials",
        Some(json!({"access_key": "X", "secret_key": "", "extra": 1})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn token_mode_accepts_configured_tokens_only() {
    let sim = start().await;
    let (_, created) = call(
        &sim,
        reqwest::Method::POST,
        "/admin/jobs",
        Some(json!({"project_id": PROJECT, "job_id": "tokenjob", "duration": "1h"})),
    )
    .await;
    assert_eq!(created["job_id"], "tokenjob");
    let url = format!("{}/v1/{PROJECT}/jobs/tokenjob", sim.url());
    let http = reqwest::Client::new();
    let ok = http
        .get(&url)
        .header("X-Auth-Token", "iam-token-1")
        .send()
        .await
        .expect("response");
    assert_eq!(ok.status(), 200);
    let refused = http
        .get(&url)
        .header("X-Auth-Token", "another")
        .send()
        .await
        .expect("response");
    assert_eq!(refused.status(), 401);
    let body: Value = json_of(refused).await;
    assert_eq!(body["error_code"], "APIG.0301");
    let (status, _) = call(
        &sim,
        reqwest::Method::POST,
        "/admin/tokens",
        Some(json!({"token": "another"})),
    )
    .await;
    assert_eq!(status, 201);
    let now_ok = http
        .get(&url)
        .header("X-Auth-Token", "another")
        .send()
        .await
        .expect("response");
    assert_eq!(now_ok.status(), 200);
}

#[tokio::test]
async fn counters_metrics_reset_health_and_unknown_paths() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/{PROJECT}/jobs/nosuchjob", sim.url());
    for _ in 0..2 {
        let response = http
            .get(&url)
            .header("X-Auth-Token", "iam-token-1")
            .send()
            .await
            .expect("response");
        assert_eq!(response.status(), 400);
    }
    http.get(&url).send().await.expect("response");
    let (_, counters) = call(&sim, reqwest::Method::GET, "/admin/counters", None).await;
    assert_eq!(counters["requests"], 3, "{counters}");
    assert_eq!(counters["by_outcome"]["not_found"], 2, "{counters}");
    assert_eq!(counters["by_outcome"]["auth_failed"], 1, "{counters}");
    assert_eq!(counters["jobs"]["nosuchjob"]["requests"], 3, "{counters}");
    assert_eq!(
        counters["access_keys"]["(token)"]["requests"], 2,
        "{counters}"
    );
    assert_eq!(
        counters["access_keys"]["(none)"]["longest_auth_failure_streak"],
        1
    );

    let metrics = http
        .get(format!("{}/metrics", sim.url()))
        .send()
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(
        text.contains(r#"bms_sim_requests_total{job_id="nosuchjob",access_key="(token)",outcome="not_found"} 2"#),
        "{text}"
    );
    assert!(
        text.contains("# TYPE bms_sim_auth_longest_failure_streak gauge"),
        "{text}"
    );

    let (status, _) = call(&sim, reqwest::Method::POST, "/admin/counters/reset", None).await;
    assert_eq!(status, 200);
    let (_, counters) = call(&sim, reqwest::Method::GET, "/admin/counters", None).await;
    assert_eq!(counters["requests"], 0, "{counters}");

    let health = http
        .get(format!("{}/healthz", sim.url()))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let unknown = http
        .get(format!("{}/v2/nothing", sim.url()))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("response");
    assert_eq!(unknown.status(), 404);
    assert!(unknown.headers().contains_key("x-request-id"));
    let body: Value = json_of(unknown).await;
    assert_eq!(body["error_code"], "APIG.0101");
}
