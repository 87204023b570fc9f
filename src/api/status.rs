//! `BmsJob.status`: what the cloud said about the job, summarised for people and tools.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Where the job stands, in one word.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Phase {
    /// Accepted but not started (`INIT`), awaiting payment (`PENDING_PAYMENT`), or not yet polled.
    Pending,
    /// The cloud is working on it (`RUNNING`).
    Running,
    /// Finished successfully (`SUCCESS`).
    Succeeded,
    /// Finished with an error (`FAIL`), or the BmsJob's timeout passed.
    Failed,
    /// The cloud reported a status this operator does not know; polling goes on.
    Unknown,
}

impl Phase {
    /// Whether the BmsJob is finished: no more polling unless the spec changes.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Unknown => "Unknown",
        }
    }
}

/// Observed state of the cloud job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BmsJobStatus {
    /// Pending, Running, Succeeded, Failed or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The job's status exactly as the cloud reported it (`INIT`, `RUNNING`, `SUCCESS`, `FAIL`,
    /// `PENDING_PAYMENT`, or anything else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<String>,
    /// Job type, e.g. `baremetalBatchCreate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    /// When the cloud started the job (ISO-8601, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_time: Option<String>,
    /// When the cloud finished the job (ISO-8601, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// The cloud's error code when the job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The cloud's failure reason when the job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    /// A one-line human summary of the latest observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Resources the job created or changed, when the cloud names them at the top level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<EntitiesStatus>,
    /// Counts of sub-jobs by state, and a bounded list of them (failed ones always kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_jobs: Option<SubJobsStatus>,
    /// `Ready` (the job succeeded), `Failed` (the job failed or timed out), `Stalled` (a person
    /// must act: the job failed, or credentials, Secret or job id are wrong) and `Reconciling`
    /// (the operator is still following the job).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the cloud was asked for the answer this status shows (RFC 3339). Polls that bring
    /// no change do not rewrite the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_poll_time: Option<String>,
}

/// Resource ids at the top level of the job's entities.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntitiesStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_id: Option<String>,
}

/// Sub-jobs by state, and the most telling of them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubJobsStatus {
    /// Number of sub-jobs (the cloud's `sub_jobs_total`, or those listed when larger).
    pub total: i32,
    pub succeeded: i32,
    pub failed: i32,
    pub running: i32,
    /// Not started yet, awaiting payment, or in a state this operator does not know.
    pub pending: i32,
    /// Finished out of all, e.g. `3/5`.
    pub progress: String,
    /// Whether `items` leaves sub-jobs out; failed sub-jobs are never left out.
    #[serde(default)]
    pub truncated: bool,
    /// Failed sub-jobs first, then running, pending and succeeded ones, up to a bound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<SubJobItem>,
}

/// One sub-job.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubJobItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<String>,
    /// Status as the cloud reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nic_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
}
