//! The Huawei Cloud BMS job API: signing, the client, the response model and error classes.

pub mod client;
pub mod credentials;
pub mod error;
pub mod model;
pub mod signing;

#[cfg(test)]
mod fixture_tests;

pub use client::{BmsClient, ClientOptions, region_endpoint};
pub use credentials::Credentials;
pub use error::{CloudError, ErrorClass};
pub use model::{JobResponse, JobState, SubJob};
