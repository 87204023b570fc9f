//! The operator's HTTP server: `/livez`, `/readyz` and `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// Whether this replica can serve: its watches synced and, with leader election, it leads.
#[derive(Debug, Default)]
pub struct Readiness {
    synced: AtomicBool,
    leading: AtomicBool,
}

impl Readiness {
    pub fn set_synced(&self, value: bool) {
        self.synced.store(value, Ordering::SeqCst);
    }

    pub fn set_leading(&self, value: bool) {
        self.leading.store(value, Ordering::SeqCst);
    }

    fn state(&self) -> (bool, &'static str) {
        match (
            self.leading.load(Ordering::SeqCst),
            self.synced.load(Ordering::SeqCst),
        ) {
            (false, _) => (false, "standby: not holding the lease"),
            (true, false) => (false, "watches not synced yet"),
            (true, true) => (true, "ok"),
        }
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    readiness: Arc<Readiness>,
}

async fn livez() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (ready, text) = state.readiness.state();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, text)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match state.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Binds `addr` and serves until the process ends.
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    readiness: Arc<Readiness>,
) -> std::io::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let app = Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(self::metrics))
        .with_state(AppState { metrics, readiness });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(tokio::spawn(
        async move { axum::serve(listener, app).await },
    ))
}
