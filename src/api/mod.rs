//! The `BmsJob` custom resource (`bms.operator.dev/v1alpha1`): the operator's public API.
//!
//! Changes here are additive: new fields are optional, and the CRD in `crds/` is regenerated
//! from these types (`bms-job-operator crd`).

mod bmsjob;
pub mod conditions;
mod status;

pub use bmsjob::{BmsJob, BmsJobSpec, SecretReference};
pub use status::{BmsJobStatus, EntitiesStatus, Phase, SubJobItem, SubJobsStatus};

use kube::CustomResourceExt;

/// The CRD as YAML, as committed in `crds/bmsjob.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&BmsJob::crd())
}
