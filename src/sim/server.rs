//! The simulator's server: configuration, shared state, the job endpoint and start-up.
//!
//! A request to `GET /v1/{project_id}/jobs/{job_id}` goes through, in order: the global rate
//! limit (429 `APIG.0308`), authentication and lockout (401 `APIG.0301`), injected faults,
//! the `X-Project-Id` check (400 `Common.0018`), and the job lookup (400 `Common.0011`, or 200
//! with the job's body at this moment). Every response carries `X-Request-Id`.
//!
//! [`spawn`] starts a server in-process (tests use it with port 0); the `bms-sim` binary wraps
//! it with a command line.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::auth::{self, AuthFailure, Presented, Received, SimCredential};
use super::clock::{Clock, SystemClock};
use super::counters::{Counters, NO_ACCESS_KEY, Outcome, Snapshot, TOKEN_ACCESS_KEY};
use super::faults::{self, ActiveFault, FaultBook, FaultKind, FaultResponse, FaultSpec};
use super::jobs::{Job, JobSpec, JobStore};
use super::listener::{Connection, KillableListener};
use super::lockout::{Lockout, LockoutPolicy};
use super::scenario::Scenario;
use super::{admin, lock, random_hex};

/// Content type of JSON answers, as Huawei's services send it.
pub const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";
/// Default clock skew allowed between `X-Sdk-Date` and the server's clock.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// How a simulator is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Access keys accepted (added to the scenario's).
    pub credentials: Vec<SimCredential>,
    /// `X-Auth-Token` values accepted (added to the scenario's).
    pub tokens: Vec<String>,
    /// Jobs, credentials and faults to start with.
    pub scenario: Scenario,
    pub lockout: LockoutPolicy,
    pub max_clock_skew: Duration,
    /// Requests per second over the job endpoint, all clients together.
    pub rate_limit: Option<NonZeroU32>,
    pub clock: Arc<dyn Clock>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            credentials: Vec::new(),
            tokens: Vec::new(),
            scenario: Scenario::default(),
            lockout: LockoutPolicy::default(),
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            rate_limit: None,
            clock: Arc::new(SystemClock),
        }
    }
}

struct RateLimit {
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
    per_second: u32,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RateLimit")
            .field("per_second", &self.per_second)
            .finish()
    }
}

/// Everything the simulator knows, shared by the job endpoint and the admin API.
#[derive(Debug)]
pub struct SimState {
    clock: Arc<dyn Clock>,
    credentials: Mutex<HashMap<String, SimCredential>>,
    tokens: Mutex<HashSet<String>>,
    lockout: Mutex<Lockout>,
    jobs: Mutex<JobStore>,
    faults: Mutex<FaultBook>,
    counters: Counters,
    rate_limit: Option<RateLimit>,
    max_clock_skew: Duration,
}

/// A job as the admin API shows it: its resolved spec and its body right now.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: Job,
    pub current: super::jobs::JobBody,
}

/// An access key as the admin API shows it (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CredentialView {
    pub access_key: String,
    pub temporary: bool,
}

impl SimState {
    /// State from a configuration: scenario jobs are created now.
    pub fn new(config: &SimConfig) -> Result<Self, String> {
        config.scenario.validate()?;
        let state = Self {
            clock: config.clock.clone(),
            credentials: Mutex::default(),
            tokens: Mutex::default(),
            lockout: Mutex::new(Lockout::new(config.lockout)),
            jobs: Mutex::default(),
            faults: Mutex::default(),
            counters: Counters::new(),
            rate_limit: config.rate_limit.map(|per_second| RateLimit {
                limiter: RateLimiter::direct(Quota::per_second(per_second)),
                clock: DefaultClock::default(),
                per_second: per_second.get(),
            }),
            max_clock_skew: config.max_clock_skew,
        };
        for credential in config
            .scenario
            .credentials
            .iter()
            .chain(&config.credentials)
        {
            state.set_credential(credential.clone())?;
        }
        for token in config.scenario.tokens.iter().chain(&config.tokens) {
            state.add_token(token)?;
        }
        for (index, spec) in config.scenario.jobs.iter().enumerate() {
            state
                .add_job(spec.clone())
                .map_err(|error| format!("jobs[{index}].{error}"))?;
        }
        for (index, spec) in config.scenario.faults.iter().enumerate() {
            state
                .add_fault(spec.clone())
                .map_err(|error| format!("faults[{index}].{error}"))?;
        }
        Ok(state)
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Adds a job created now; the error starts with the offending field.
    pub fn add_job(&self, spec: JobSpec) -> Result<JobView, String> {
        let now = self.clock.now();
        let job = Job::new(spec, now)?;
        let mut jobs = lock(&self.jobs);
        let job = jobs.insert(job)?.clone();
        let current = job.render(now);
        tracing::info!(
            project_id = job.project_id(),
            job_id = job.job_id(),
            "job added"
        );
        Ok(JobView { job, current })
    }

    /// Every job with its body now.
    pub fn jobs(&self) -> Vec<JobView> {
        let now = self.clock.now();
        lock(&self.jobs)
            .iter()
            .map(|job| JobView {
                job: job.clone(),
                current: job.render(now),
            })
            .collect()
    }

    /// Puts a fault in force; the error starts with the offending field.
    pub fn add_fault(&self, spec: FaultSpec) -> Result<ActiveFault, String> {
        spec.validate()?;
        let fault = lock(&self.faults).add(spec);
        tracing::info!(id = fault.id, kind = fault.spec.kind.name(), job_id = ?fault.spec.job_id, count = ?fault.spec.count, "fault added");
        Ok(fault)
    }

    pub fn faults(&self) -> Vec<ActiveFault> {
        lock(&self.faults).list().to_vec()
    }

    /// Clears one job's faults, or all; returns how many.
    pub fn clear_faults(&self, job_id: Option<&str>) -> usize {
        lock(&self.faults).clear(job_id)
    }

    /// Adds or replaces an access key; returns whether it replaced one.
    pub fn set_credential(&self, credential: SimCredential) -> Result<bool, String> {
        credential.validate()?;
        let access_key = credential.access_key.clone();
        let replaced = lock(&self.credentials)
            .insert(access_key.clone(), credential)
            .is_some();
        tracing::info!(access_key, replaced, "credential set");
        Ok(replaced)
    }

    pub fn credentials(&self) -> Vec<CredentialView> {
        let mut views: Vec<CredentialView> = lock(&self.credentials)
            .values()
            .map(|credential| CredentialView {
                access_key: credential.access_key.clone(),
                temporary: credential.security_token.is_some(),
            })
            .collect();
        views.sort_by(|a, b| a.access_key.cmp(&b.access_key));
        views
    }

    /// Accepts `token` as `X-Auth-Token`.
    pub fn add_token(&self, token: &str) -> Result<(), String> {
        if token.trim().is_empty() {
            return Err("token: must not be empty".into());
        }
        lock(&self.tokens).insert(token.trim().to_owned());
        Ok(())
    }

    /// The counters, with each access key's lock state now.
    pub fn counters(&self) -> Snapshot {
        let now = self.clock.now();
        let lockout = lock(&self.lockout);
        self.counters
            .snapshot(|access_key| lockout.status(access_key, now))
    }

    pub fn reset_counters(&self) {
        self.counters.reset();
    }

    /// Prometheus metrics text.
    pub fn metrics(&self) -> String {
        let now = self.clock.now();
        let locked: Vec<(String, bool)> = {
            let lockout = lock(&self.lockout);
            lockout
                .keys()
                .map(|key| {
                    (
                        key.to_owned(),
                        lockout.status(key, now).locked_until.is_some(),
                    )
                })
                .collect()
        };
        self.counters.encode(&locked)
    }

    /// Authenticates a request: `Ok(access key label)` or the label, failure and outcome.
    fn authenticate(
        &self,
        parts: &axum::http::request::Parts,
    ) -> Result<String, (String, AuthFailure, Outcome)> {
        let now = self.clock.now();
        let headers = &parts.headers;
        let parsed = match auth::presented(headers) {
            Ok(Presented::Signature(parsed)) => parsed,
            Ok(Presented::Token(token)) => {
                return if lock(&self.tokens).contains(&token) {
                    Ok(TOKEN_ACCESS_KEY.to_owned())
                } else {
                    Err((
                        TOKEN_ACCESS_KEY.to_owned(),
                        AuthFailure::UnknownToken,
                        Outcome::AuthFailed,
                    ))
                };
            }
            Err(failure) => {
                let claimed = auth::claimed_access_key(headers);
                let mut lockout = lock(&self.lockout);
                if let Some(access_key) = &claimed {
                    if let Err(until) = lockout.check(access_key, now) {
                        return Err((
                            access_key.clone(),
                            AuthFailure::Locked { until },
                            Outcome::Locked,
                        ));
                    }
                    lockout.record_failure(access_key, now);
                }
                let label = claimed.unwrap_or_else(|| NO_ACCESS_KEY.to_owned());
                return Err((label, failure, Outcome::AuthFailed));
            }
        };
        let access_key = parsed.access_key.clone();
        let mut lockout = lock(&self.lockout);
        if let Err(until) = lockout.check(&access_key, now) {
            return Err((access_key, AuthFailure::Locked { until }, Outcome::Locked));
        }
        let credential = lock(&self.credentials).get(&access_key).cloned();
        let received = Received {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            authority: parts.uri.authority().map(|authority| authority.as_str()),
            headers,
            body: b"",
        };
        match auth::verify_signature(
            &received,
            &parsed,
            credential.as_ref(),
            now,
            self.max_clock_skew,
        ) {
            Ok(()) => {
                lockout.record_success(&access_key);
                Ok(access_key)
            }
            Err(failure) => {
                if let Some(until) = lockout.record_failure(&access_key, now) {
                    tracing::warn!(
                        access_key,
                        until = %super::clock::format_time(until),
                        "access key locked after consecutive authentication failures"
                    );
                }
                Err((access_key, failure, Outcome::AuthFailed))
            }
        }
    }

    /// `Some((seconds to wait, limit per second))` when the global rate limit refuses a request.
    fn rate_limited(&self) -> Option<(u64, u32)> {
        let rate_limit = self.rate_limit.as_ref()?;
        let not_until = rate_limit.limiter.check().err()?;
        let wait = not_until.wait_time_from(rate_limit.clock.now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some((seconds.max(1), rate_limit.per_second))
    }
}

/// A JSON answer with a request id.
fn json_answer(status: StatusCode, body: &impl Serialize, request_id: &str) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
    response
}

/// The API gateway's error: `{"error_msg", "error_code", "request_id"}`.
fn gateway_error(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
    retry_after: Option<u64>,
) -> Response {
    let body = serde_json::json!({
        "error_msg": message,
        "error_code": code,
        "request_id": request_id,
    });
    let mut response = json_answer(status, &body, request_id);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The service's nested error: `{"error": {"code", "message"}}`.
fn service_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    json_answer(status, &body, request_id)
}

/// `GET /v1/{project_id}/jobs/{job_id}`.
async fn job_endpoint(
    State(state): State<Arc<SimState>>,
    Path((project_id, job_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let request_id = random_hex(16);
    let connection = request
        .extensions()
        .get::<ConnectInfo<Connection>>()
        .map(|info| info.0.clone());
    let (parts, _body) = request.into_parts();
    let peer = connection
        .as_ref()
        .map(|connection| connection.remote.to_string())
        .unwrap_or_default();
    let record = |access_key: &str, outcome: Outcome, status: u16| {
        state.counters.record(&job_id, access_key, outcome);
        tracing::info!(
            %peer,
            project_id,
            job_id,
            access_key,
            outcome = outcome.as_str(),
            status,
            request_id,
            "job request"
        );
    };

    if let Some((retry_after, per_second)) = state.rate_limited() {
        let access_key =
            auth::claimed_access_key(&parts.headers).unwrap_or_else(|| NO_ACCESS_KEY.to_owned());
        record(&access_key, Outcome::Throttled, 429);
        return gateway_error(
            StatusCode::TOO_MANY_REQUESTS,
            "APIG.0308",
            &format!(
                "The throttling threshold has been reached: policy user over ratelimit,limit:{per_second},time:1 second"
            ),
            &request_id,
            Some(retry_after),
        );
    }

    let access_key = match state.authenticate(&parts) {
        Ok(access_key) => access_key,
        Err((access_key, failure, outcome)) => {
            tracing::debug!(
                access_key,
                reason = failure.reason(),
                "authentication failed"
            );
            record(&access_key, outcome, 401);
            return gateway_error(
                StatusCode::UNAUTHORIZED,
                "APIG.0301",
                &failure.message(),
                &request_id,
                None,
            );
        }
    };

    let plan = lock(&state.faults).take(&job_id);
    if plan.latency_applied {
        state.counters.record_fault(&job_id, FaultKind::Latency);
        tokio::time::sleep(plan.delay).await;
    }

    let now = state.clock.now();
    let job_body = lock(&state.jobs)
        .get(&project_id, &job_id)
        .map(|job| job.render(now));

    if let Some(fault) = plan.answer {
        state.counters.record_fault(&job_id, fault.kind);
        let bytes = job_body
            .as_ref()
            .and_then(|body| serde_json::to_vec(body).ok())
            .unwrap_or_else(|| {
                br#"{"status":"RUNNING","entities":{"sub_jobs_total":0,"sub_jobs":[]},"job_id":"","job_type":"","begin_time":"","end_time":""}"#.to_vec()
            });
        let limit = "limit:20,time:1 minute";
        return match faults::respond(&fault, &bytes, &request_id, limit) {
            FaultResponse::Drop => {
                record(&access_key, Outcome::Fault, 0);
                if let Some(connection) = connection {
                    connection.switch.kill();
                }
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
            FaultResponse::Respond {
                status,
                content_type,
                retry_after,
                body,
            } => {
                record(&access_key, Outcome::Fault, status);
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut response = (status, Body::from(body)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                if let Some(seconds) = retry_after {
                    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    headers.insert("x-request-id", value);
                }
                response
            }
        };
    }

    if let Some(header_project) = parts.headers.get("x-project-id")
        && header_project.as_bytes() != project_id.as_bytes()
    {
        record(&access_key, Outcome::ProjectMismatch, 400);
        return service_error(
            StatusCode::BAD_REQUEST,
            "Common.0018",
            "The token in the request does not match the project ID in the URL.",
            &request_id,
        );
    }

    match job_body {
        Some(body) => {
            record(&access_key, Outcome::Ok, 200);
            json_answer(StatusCode::OK, &body, &request_id)
        }
        None => {
            record(&access_key, Outcome::NotFound, 400);
            service_error(
                StatusCode::BAD_REQUEST,
                "Common.0011",
                "Failed to query system tasks.",
                &request_id,
            )
        }
    }
}

/// `GET /metrics`.
async fn metrics(State(state): State<Arc<SimState>>) -> Response {
    let mut response = state.metrics().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// Any other path: the gateway's "no such API".
async fn no_such_api() -> Response {
    let request_id = random_hex(16);
    gateway_error(
        StatusCode::NOT_FOUND,
        "APIG.0101",
        "The API does not exist or has not been published in the environment",
        &request_id,
        None,
    )
}

/// Adds `X-Request-Id` to any response that has none.
async fn add_request_id(mut response: Response) -> Response {
    if !response.headers().contains_key("x-request-id")
        && let Ok(value) = HeaderValue::from_str(&random_hex(16))
    {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The whole application: job endpoint, admin API, metrics and health.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/{project_id}/jobs/{job_id}", get(job_endpoint))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .nest("/admin", admin::routes())
        .fallback(no_such_api)
        .layer(axum::middleware::map_response(add_request_id))
        .with_state(state)
}

/// A running simulator. Dropping it shuts the server down.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        (&mut self.task)
            .await
            .context("the server task failed")?
            .context("the server failed")
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Starts a simulator on `config.listen` (port 0: any free port) and returns at once.
pub async fn spawn(config: SimConfig) -> anyhow::Result<SimHandle> {
    let state = Arc::new(SimState::new(&config).map_err(anyhow::Error::msg)?);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    let (shutdown, shutdown_requested) = oneshot::channel::<()>();
    let app = router(state.clone()).into_make_service_with_connect_info::<Connection>();
    let task = tokio::spawn(async move {
        axum::serve(KillableListener::new(listener), app)
            .with_graceful_shutdown(async move {
                let _ = shutdown_requested.await;
            })
            .await
    });
    Ok(SimHandle {
        addr,
        state,
        shutdown: Some(shutdown),
        task,
    })
}
