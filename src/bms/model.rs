//! The job endpoint's response body, read tolerantly.
//!
//! Every field is optional, unknown statuses are kept as they came, a sub-job's `entities` may be
//! an object or a list, and `""` times count as absent. Nothing here leaks into the CRD: the
//! status mapping turns these wire types into `BmsJobStatus`.

use serde::{Deserialize, Deserializer, Serialize};

/// A job's status as the cloud reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Init,
    Running,
    Success,
    Fail,
    /// A prepaid order that has not been paid yet.
    PendingPayment,
    /// Any other string, kept as it came.
    Other(String),
}

impl JobState {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "INIT" => Self::Init,
            "RUNNING" => Self::Running,
            "SUCCESS" => Self::Success,
            "FAIL" => Self::Fail,
            "PENDING_PAYMENT" => Self::PendingPayment,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Init => "INIT",
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Fail => "FAIL",
            Self::PendingPayment => "PENDING_PAYMENT",
            Self::Other(raw) => raw,
        }
    }

    /// Whether the job will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Success | Self::Fail)
    }
}

/// `GET /v1/{project_id}/jobs/{job_id}`, HTTP 200.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct JobResponse {
    #[serde(default, deserialize_with = "non_empty")]
    pub status: Option<String>,
    #[serde(default)]
    pub entities: Option<JobEntities>,
    #[serde(default, deserialize_with = "non_empty")]
    pub job_id: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub job_type: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub begin_time: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub end_time: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub error_code: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub fail_reason: Option<String>,
    /// Set when the query itself went wrong.
    #[serde(default, deserialize_with = "non_empty")]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub code: Option<String>,
}

impl JobResponse {
    /// The parsed status; `None` when the cloud sent none.
    pub fn state(&self) -> Option<JobState> {
        self.status.as_deref().map(JobState::parse)
    }

    pub fn sub_jobs(&self) -> &[SubJob] {
        self.entities
            .as_ref()
            .map(|entities| entities.sub_jobs.as_slice())
            .unwrap_or_default()
    }
}

/// The job's `entities`: sub-jobs, and on ECS-style jobs the resource ids.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct JobEntities {
    #[serde(default)]
    pub sub_jobs_total: Option<u64>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sub_jobs: Vec<SubJob>,
    #[serde(default, deserialize_with = "non_empty")]
    pub server_id: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub nic_id: Option<String>,
}

/// One sub-job of a batch.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SubJob {
    #[serde(default, deserialize_with = "non_empty")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "object_or_list")]
    pub entities: SubJobEntities,
    #[serde(default, deserialize_with = "non_empty")]
    pub job_id: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub job_type: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub begin_time: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub end_time: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub error_code: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub fail_reason: Option<String>,
}

impl SubJob {
    pub fn state(&self) -> Option<JobState> {
        self.status.as_deref().map(JobState::parse)
    }
}

/// A sub-job's resource ids.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SubJobEntities {
    #[serde(default, deserialize_with = "non_empty")]
    pub server_id: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub nic_id: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub errorcode_message: Option<String>,
}

/// Reads a string that may be missing, `null`, `""` or even another JSON type; keeps only a
/// non-empty string (numbers are kept as their text).
fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::String(text) if !text.trim().is_empty() => Some(text),
        serde_json::Value::Number(number) => Some(number.to_string()),
        _ => None,
    })
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SubJob>, D::Error> {
    Ok(Option::<Vec<SubJob>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A sub-job's `entities` as an object, a list of objects (merged, first value wins), or nothing.
fn object_or_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SubJobEntities, D::Error> {
    let from_value = |value: serde_json::Value| {
        serde_json::from_value::<SubJobEntities>(value).unwrap_or_default()
    };
    Ok(match serde_json::Value::deserialize(deserializer)? {
        value @ serde_json::Value::Object(_) => from_value(value),
        serde_json::Value::Array(items) => {
            items
                .into_iter()
                .map(from_value)
                .fold(SubJobEntities::default(), |merged, next| SubJobEntities {
                    server_id: merged.server_id.or(next.server_id),
                    nic_id: merged.nic_id.or(next.nic_id),
                    errorcode_message: merged.errorcode_message.or(next.errorcode_message),
                })
        }
        _ => SubJobEntities::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_and_nulls_are_absent() {
        let job: JobResponse = serde_json::from_str(
            r#"{"status":"RUNNING","end_time":"","error_code":null,"entities":{"sub_jobs":null}}"#,
        )
        .expect("parses");
        assert_eq!(job.end_time, None);
        assert_eq!(job.error_code, None);
        assert!(job.sub_jobs().is_empty());
        assert_eq!(job.state(), Some(JobState::Running));
    }

    #[test]
    fn sub_job_entities_as_a_list_are_merged() {
        let sub: SubJob =
            serde_json::from_str(r#"{"entities":[{"server_id":"s1"},{"nic_id":"n1"}]}"#)
                .expect("parses");
        assert_eq!(sub.entities.server_id.as_deref(), Some("s1"));
        assert_eq!(sub.entities.nic_id.as_deref(), Some("n1"));
    }

    #[test]
    fn unknown_statuses_are_kept_and_not_terminal() {
        let state = JobState::parse("QUEUED");
        assert_eq!(state.as_str(), "QUEUED");
        assert!(!state.is_terminal());
        assert!(JobState::parse("FAIL").is_terminal());
    }
}
