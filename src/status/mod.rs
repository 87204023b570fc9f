//! Pure mapping from what the cloud said to the `BmsJob` status and its conditions.
//!
//! [`next_status`] takes the previous status, the observation of this reconcile and the time,
//! and returns the status to write. It does no I/O, so every job state, cloud error and
//! deadline case is a plain unit test.

mod conditions;
mod sub_jobs;

pub use conditions::condition;
pub use sub_jobs::MAX_LISTED_SUB_JOBS;

use crate::api::conditions::Reason;
use crate::api::{BmsJobStatus, EntitiesStatus, Phase};
use crate::bms::{JobResponse, JobState};

/// What this reconcile learned.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The cloud answered with a job.
    Job(Box<JobResponse>),
    /// No job this time: why, and what to tell the person.
    Problem { reason: Reason, message: String },
}

/// Everything [`next_status`] needs.
#[derive(Debug, Clone)]
pub struct StatusInput<'a> {
    pub previous: Option<&'a BmsJobStatus>,
    /// The BmsJob's `metadata.generation`.
    pub generation: Option<i64>,
    pub observation: &'a Observation,
    /// `spec.timeout` as written, when it has passed.
    pub deadline_passed: Option<&'a str>,
    pub now: jiff::Timestamp,
}

fn phase_of(state: &JobState) -> Phase {
    match state {
        JobState::Init | JobState::PendingPayment => Phase::Pending,
        JobState::Running => Phase::Running,
        JobState::Success => Phase::Succeeded,
        JobState::Fail => Phase::Failed,
        JobState::Other(_) => Phase::Unknown,
    }
}

fn reason_of(state: &JobState) -> Reason {
    match state {
        JobState::Init => Reason::JobPending,
        JobState::Running => Reason::JobRunning,
        JobState::Success => Reason::JobSucceeded,
        JobState::Fail => Reason::JobFailed,
        JobState::PendingPayment => Reason::PendingPayment,
        JobState::Other(_) => Reason::UnknownJobStatus,
    }
}

fn join_code_and_reason(code: Option<&str>, reason: Option<&str>) -> String {
    match (code, reason) {
        (Some(code), Some(reason)) => format!("{code}: {reason}"),
        (Some(text), None) | (None, Some(text)) => text.to_owned(),
        (None, None) => "no reason given".to_owned(),
    }
}

/// A one-line summary of a job for people.
fn describe(job: &JobResponse, state: &JobState) -> String {
    let id = job.job_id.as_deref().unwrap_or("(no id)");
    let kind = job.job_type.as_deref().unwrap_or("unknown type");
    let progress = sub_jobs::summarize(job)
        .map(|summary| format!(", {} sub-jobs finished", summary.progress))
        .unwrap_or_default();
    let failed_sub_job = sub_jobs::first_failure(job)
        .map(|sub_job| {
            let resource = sub_job
                .entities
                .server_id
                .as_deref()
                .or(sub_job.entities.nic_id.as_deref())
                .map(|resource| format!(" ({resource})"))
                .unwrap_or_default();
            format!(
                "; sub-job {}{resource} failed: {}",
                sub_job.job_id.as_deref().unwrap_or("(no id)"),
                join_code_and_reason(
                    sub_job.error_code.as_deref(),
                    sub_job.fail_reason.as_deref()
                )
            )
        })
        .unwrap_or_default();
    match state {
        JobState::Success => format!("Job {id} ({kind}) succeeded{progress}"),
        JobState::Fail => format!(
            "Job {id} ({kind}) failed: {}{failed_sub_job}",
            join_code_and_reason(job.error_code.as_deref(), job.fail_reason.as_deref())
        ),
        JobState::Init => format!("Job {id} ({kind}) is waiting to start{progress}"),
        JobState::Running => format!("Job {id} ({kind}) is running{progress}{failed_sub_job}"),
        JobState::PendingPayment => format!(
            "Job {id} ({kind}) awaits payment of its order: pay it in the Huawei Cloud console"
        ),
        JobState::Other(raw) => format!(
            "Job {id} ({kind}) reports status {raw:?}, unknown to this operator; still polling"
        ),
    }
}

fn job_fields(status: &mut BmsJobStatus, job: &JobResponse) {
    status.job_status = job.status.clone();
    status.job_type = job.job_type.clone();
    status.begin_time = job.begin_time.clone();
    status.end_time = job.end_time.clone();
    status.error_code = job.error_code.clone();
    status.fail_reason = job.fail_reason.clone();
    let entities = job.entities.as_ref().map(|entities| EntitiesStatus {
        server_id: entities.server_id.clone(),
        nic_id: entities.nic_id.clone(),
    });
    status.entities = entities.filter(|entities| *entities != EntitiesStatus::default());
    status.sub_jobs = sub_jobs::summarize(job);
}

/// The status to write after this reconcile.
pub fn next_status(input: &StatusInput<'_>) -> BmsJobStatus {
    let mut status = input.previous.cloned().unwrap_or_default();
    let (phase, reason, message) = match input.observation {
        Observation::Job(job) => {
            job_fields(&mut status, job);
            let state = job
                .state()
                .unwrap_or_else(|| JobState::Other(String::new()));
            (phase_of(&state), reason_of(&state), describe(job, &state))
        }
        Observation::Problem { reason, message } => (
            status.phase.unwrap_or(Phase::Pending),
            *reason,
            message.clone(),
        ),
    };
    let (phase, reason, message) = match input.deadline_passed {
        Some(timeout) if !phase.is_terminal() => (
            Phase::Failed,
            Reason::DeadlineExceeded,
            format!(
                "Job did not finish within spec.timeout {timeout}; last cloud status {}. Polling stopped.",
                status.job_status.as_deref().unwrap_or("unknown")
            ),
        ),
        _ => (phase, reason, message),
    };
    status.phase = Some(phase);
    status.message = Some(message.clone());
    status.observed_generation = input.generation;
    status.conditions = conditions::for_outcome(
        input
            .previous
            .map(|previous| previous.conditions.as_slice()),
        reason,
        &message,
        input.generation,
        input.now,
    );
    status.last_poll_time = Some(input.now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    status
}

/// Whether two statuses say the same, apart from when the cloud was asked.
pub fn same_apart_from_poll_time(left: &BmsJobStatus, right: &BmsJobStatus) -> bool {
    let without_time = |status: &BmsJobStatus| BmsJobStatus {
        last_poll_time: None,
        ..status.clone()
    };
    without_time(left) == without_time(right)
}

#[cfg(test)]
mod tests;
