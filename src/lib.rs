//! bms-job-operator: follows Huawei Cloud Bare Metal Server jobs as `BmsJob` resources.
//!
//! - [`api`]: the `BmsJob` custom resource, its spec, status and conditions.
//! - [`bms`]: the Huawei Cloud job API: signing, client, response model, errors.
//! - [`status`]: pure mapping from a job response to a `BmsJob` status.
//! - [`schedule`]: pure decision of when to poll next.
//! - [`controller`]: the reconciler and its wiring.
//! - [`sim`]: `bms-sim`, a simulator of the job API for tests and demos.

pub mod api;
pub mod bms;
pub mod cli;
pub mod controller;
pub mod get_job;
pub mod http;
pub mod metrics;
pub mod operator;
pub mod schedule;
pub mod sim;
pub mod status;
pub mod telemetry;
