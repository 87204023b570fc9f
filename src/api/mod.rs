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

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON,
};

/// The CRD, with `status` defaulting to `{observedGeneration: 0}`: a BmsJob the operator has
/// not seen yet then reads as in progress to kstatus (Flux), not as current.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = BmsJob::crd();
    for version in &mut crd.spec.versions {
        let status = version
            .schema
            .as_mut()
            .and_then(|schema| schema.open_api_v3_schema.as_mut())
            .and_then(|schema| schema.properties.as_mut())
            .and_then(|properties| properties.get_mut("status"));
        if let Some(status) = status {
            status.default = Some(JSON(serde_json::json!({ "observedGeneration": 0 })));
        }
    }
    crd
}

/// The CRD as YAML, as committed in `crds/bmsjob.yaml`.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&crd())
}
