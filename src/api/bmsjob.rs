//! `BmsJob`: which cloud job to follow, where, and with which credentials.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::status::BmsJobStatus;

/// Which cloud job to follow, where, and with which credentials.
// Several `printcolumn(...)` entries repeat the same keys by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "bms.operator.dev",
    version = "v1alpha1",
    kind = "BmsJob",
    plural = "bmsjobs",
    shortname = "bmsj",
    category = "huaweicloud",
    namespaced,
    doc = "BmsJob follows one Huawei Cloud Bare Metal Server asynchronous job (GET /v1/{projectId}/jobs/{jobId}) and reports its progress, sub-jobs and outcome in status, with Ready, Failed, Stalled and Reconciling conditions to wait on.",
    status = "BmsJobStatus",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Type", type_ = "string", json_path = ".status.jobType"),
    printcolumn(
        name = "Sub-jobs",
        type_ = "string",
        json_path = ".status.subJobs.progress",
        description = "Finished sub-jobs out of all"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Job",
        type_ = "string",
        json_path = ".spec.jobId",
        priority = "1"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.region) != has(self.endpoint)")
    .message("exactly one of spec.region or spec.endpoint must be set"))]
pub struct BmsJobSpec {
    /// Huawei Cloud project ID that owns the job. Immutable.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.projectId is immutable"))]
    pub project_id: String,

    /// ID of the asynchronous job, as returned by the BMS call that started it. Immutable.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.jobId is immutable"))]
    pub job_id: String,

    /// Huawei Cloud region, e.g. `cn-north-4`; the endpoint is `https://bms.{region}.myhuaweicloud.com`.
    /// Set this or `endpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 63),
        regex(pattern = r"^[a-z0-9]+(-[a-z0-9]+)+$")
    )]
    pub region: Option<String>,

    /// Full base URL of the BMS endpoint (`http://` or `https://`), for private clouds,
    /// dedicated regions and simulators. Set this or `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 8, max = 2048),
        regex(pattern = r"^https?://[^\s/]+(/\S*)?$")
    )]
    pub endpoint: Option<String>,

    /// Secret in this namespace with keys `accessKey`, `secretKey` and optionally
    /// `securityToken`. When absent, the operator's default credentials are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretReference>,

    /// How often to ask the cloud while the job runs, as a duration (`15s`, `1m`), from 2s to 1h.
    /// The operator waits longer as a job runs long, up to its own maximum. Default: the
    /// operator's `--default-poll-interval` (15s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('2s') && duration(self) <= duration('1h')")
        .message("spec.pollInterval must be between 2s and 1h"))]
    pub poll_interval: Option<String>,

    /// How long the job may take, counted from this BmsJob's creation, as a duration (`30m`,
    /// `2h`). When it passes before the job finishes, the BmsJob fails with reason
    /// `DeadlineExceeded` and polling stops. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1s')")
        .message("spec.timeout must be at least 1s"))]
    pub timeout: Option<String>,
}

/// A Secret in the BmsJob's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

impl BmsJobSpec {
    /// The base URL to call: `endpoint`, or the region's public endpoint.
    pub fn endpoint_url(&self) -> Option<String> {
        self.endpoint
            .clone()
            .or_else(|| self.region.as_deref().map(crate::bms::region_endpoint))
    }
}
