//! The admin API under `/admin/`: jobs, faults, counters and credentials at run time.
//!
//! Unauthenticated and meant for loopback use by tests and CI scripts. Bodies are JSON; a
//! body that does not parse is answered 400 with `{"error": "<field>: <problem>", "field":
//! "<field>"}` (and the valid fault kinds when the `kind` is unknown).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::auth::SimCredential;
use super::faults::{FaultKind, FaultSpec};
use super::jobs::JobSpec;
use super::server::SimState;

type AppState = Arc<SimState>;

/// The admin routes, to nest under `/admin`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(list_jobs).post(add_job))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/counters", get(counters))
        .route("/counters/reset", post(reset_counters))
        .route("/credentials", get(list_credentials).post(set_credential))
        .route("/tokens", post(add_token))
}

fn bad_request(field: &str, message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message, "field": field})),
    )
        .into_response()
}

/// Parses a JSON body; the error is `(field, message)`, the message starting with the field.
fn parse_named<T: DeserializeOwned>(body: &Bytes) -> Result<T, (String, String)> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.inner().to_string();
        if field.is_empty() || field == "." {
            (String::new(), inner)
        } else {
            (field.clone(), format!("{field}: {inner}"))
        }
    })
}

/// A validation error `field: problem` as a 400 naming the field.
fn invalid(error: String) -> Response {
    let field = error
        .split_once(':')
        .map(|(field, _)| field.to_owned())
        .unwrap_or_default();
    bad_request(&field, error)
}

async fn list_jobs(State(state): State<AppState>) -> Response {
    Json(json!({"jobs": state.jobs()})).into_response()
}

async fn add_job(State(state): State<AppState>, body: Bytes) -> Response {
    let spec: JobSpec = match parse_named(&body) {
        Ok(spec) => spec,
        Err((field, message)) => return bad_request(&field, message),
    };
    match state.add_job(spec) {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(error) if error.contains("already exists") => (
            StatusCode::CONFLICT,
            Json(json!({"error": error, "field": "job_id"})),
        )
            .into_response(),
        Err(error) => invalid(error),
    }
}

async fn list_faults(State(state): State<AppState>) -> Response {
    Json(json!({"faults": state.faults()})).into_response()
}

async fn add_fault(State(state): State<AppState>, body: Bytes) -> Response {
    let spec: FaultSpec = match parse_named(&body) {
        Ok(spec) => spec,
        Err((field, message)) => {
            let about_kind = field == "kind" || message.contains("`kind`");
            if !about_kind {
                return bad_request(&field, message);
            }
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": format!("{message}; valid kinds: {}", FaultKind::valid_names()),
                    "field": "kind",
                    "valid_kinds": FaultKind::ALL.map(FaultKind::name),
                })),
            )
                .into_response();
        }
    };
    match state.add_fault(spec) {
        Ok(fault) => (StatusCode::CREATED, Json(fault)).into_response(),
        Err(error) => invalid(error),
    }
}

#[derive(Debug, Deserialize)]
struct ClearQuery {
    job_id: Option<String>,
}

async fn clear_faults(State(state): State<AppState>, Query(query): Query<ClearQuery>) -> Response {
    let cleared = state.clear_faults(query.job_id.as_deref());
    Json(json!({"cleared": cleared})).into_response()
}

async fn counters(State(state): State<AppState>) -> Response {
    Json(state.counters()).into_response()
}

async fn reset_counters(State(state): State<AppState>) -> Response {
    state.reset_counters();
    Json(json!({"reset": true})).into_response()
}

async fn list_credentials(State(state): State<AppState>) -> Response {
    Json(json!({"credentials": state.credentials()})).into_response()
}

async fn set_credential(State(state): State<AppState>, body: Bytes) -> Response {
    let credential: SimCredential = match parse_named(&body) {
        Ok(credential) => credential,
        Err((field, message)) => return bad_request(&field, message),
    };
    let access_key = credential.access_key.clone();
    let temporary = credential.security_token.is_some();
    match state.set_credential(credential) {
        Ok(replaced) => {
            let status = if replaced {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (
                status,
                Json(
                    json!({"access_key": access_key, "temporary": temporary, "replaced": replaced}),
                ),
            )
                .into_response()
        }
        Err(error) => invalid(error),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn add_token(State(state): State<AppState>, body: Bytes) -> Response {
    let token: TokenBody = match parse_named(&body) {
        Ok(token) => token,
        Err((field, message)) => return bad_request(&field, message),
    };
    match state.add_token(&token.token) {
        Ok(()) => (StatusCode::CREATED, Json(json!({"added": true}))).into_response(),
        Err(error) => invalid(error),
    }
}
