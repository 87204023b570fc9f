//! Shared support for the integration tests, included by each test binary
//! with `mod support;`. Its centre is [`ControlPlane`], a real etcd +
//! kube-apiserver started from the binaries `hack/build-tools.sh` builds.

// Each test binary uses a different part of the support code.
#![allow(dead_code)]

pub mod bmsjobs;
pub mod chart;
mod cluster_setup;
pub mod control_plane;
pub mod gitops;
mod kubeconfig;
pub mod metrics_text;
pub mod operator_process;
pub mod pki;
mod processes;
pub mod sim_process;
pub mod tools;

#[allow(unused_imports)]
pub use control_plane::{ControlPlane, client_for_kubeconfig};
