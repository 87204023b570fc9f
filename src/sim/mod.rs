//! `bms-sim`: a simulator of Huawei Cloud's `GET /v1/{project_id}/jobs/{job_id}`, for tests,
//! demos and users' CI.
//!
//! It verifies SDK-HMAC-SHA256 signatures like the API gateway (with lockout after repeated
//! failures), serves jobs whose responses evolve with time like the real service's, injects
//! faults on demand, and counts every request.
//!
//! - [`clock`]: the time source, injectable for tests.
//! - [`auth`]: credentials and signature verification of a received request.
//! - [`lockout`]: consecutive authentication failures and access-key locks.
//! - [`jobs`]: job specs and the pure timeline that turns a spec and a time into a body.
//! - [`faults`]: injected faults and the responses they produce.
//! - [`counters`]: request counters, as JSON and Prometheus metrics.
//! - [`scenario`]: the scenario file read at start-up.
//! - [`admin`]: the admin API under `/admin/`.
//! - [`listener`]: a TCP listener whose connections a handler can cut.
//! - [`server`]: configuration, the job endpoint, routing and start-up.
//! - [`cli`]: the command line of the `bms-sim` binary.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod counters;
pub mod faults;
pub mod jobs;
pub mod listener;
pub mod lockout;
pub mod scenario;
pub mod server;

pub use clock::{Clock, ManualClock, SystemClock};
pub use server::{SimConfig, SimHandle, spawn};

/// Random lower-case hex, `bytes` bytes long (twice as many characters).
pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// A random version-4 UUID in its usual text form.
pub(crate) fn random_uuid() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let text = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &text[0..8],
        &text[8..12],
        &text[12..16],
        &text[16..20],
        &text[20..32]
    )
}

/// Locks a mutex, going on with the data even if a panicking thread poisoned it.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
