//! Shared support for the integration tests, included by each test binary
//! with `mod support;`. Its centre is [`ControlPlane`], a real etcd +
//! kube-apiserver started from the binaries `hack/build-tools.sh` builds.

// Each test binary uses a different part of the support code.
#![allow(dead_code)]

mod cluster_setup;
pub mod control_plane;
mod kubeconfig;
pub mod pki;
mod processes;
pub mod tools;

pub use control_plane::{ControlPlane, client_for_kubeconfig};
