//! Sub-job counts and a bounded, most-telling-first list of sub-jobs.

use crate::api::{SubJobItem, SubJobsStatus};
use crate::bms::{JobResponse, JobState, SubJob};

/// Most sub-jobs listed in `status.subJobs.items`, failed ones aside: keeps the object small.
pub const MAX_LISTED_SUB_JOBS: usize = 20;

/// Sorting rank: failed first, then running, pending and succeeded.
fn rank(state: Option<&JobState>) -> u8 {
    match state {
        Some(JobState::Fail) => 0,
        Some(JobState::Running) => 1,
        Some(JobState::Success) => 3,
        _ => 2,
    }
}

fn item(sub_job: &SubJob) -> SubJobItem {
    SubJobItem {
        job_id: sub_job.job_id.clone(),
        job_type: sub_job.job_type.clone(),
        status: sub_job.status.clone(),
        server_id: sub_job.entities.server_id.clone(),
        nic_id: sub_job.entities.nic_id.clone(),
        begin_time: sub_job.begin_time.clone(),
        end_time: sub_job.end_time.clone(),
        error_code: sub_job.error_code.clone(),
        fail_reason: sub_job.fail_reason.clone(),
    }
}

/// Sub-job summary of a job; `None` when the job has no sub-jobs at all.
pub fn summarize(job: &JobResponse) -> Option<SubJobsStatus> {
    let sub_jobs = job.sub_jobs();
    let announced = job
        .entities
        .as_ref()
        .and_then(|entities| entities.sub_jobs_total)
        .unwrap_or(0);
    let total = i32::try_from(sub_jobs.len())
        .unwrap_or(i32::MAX)
        .max(i32::try_from(announced).unwrap_or(i32::MAX));
    if total == 0 {
        return None;
    }
    let states: Vec<Option<JobState>> = sub_jobs.iter().map(SubJob::state).collect();
    let count = |wanted: JobState| {
        let matching = states
            .iter()
            .filter(|state| state.as_ref() == Some(&wanted));
        i32::try_from(matching.count()).unwrap_or(i32::MAX)
    };
    let (succeeded, failed, running) = (
        count(JobState::Success),
        count(JobState::Fail),
        count(JobState::Running),
    );
    let pending = total.saturating_sub(succeeded + failed + running);

    let mut order: Vec<usize> = (0..sub_jobs.len()).collect();
    order.sort_by_key(|&index| rank(states[index].as_ref()));
    let kept: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(position, index)| {
            *position < MAX_LISTED_SUB_JOBS || states[**index] == Some(JobState::Fail)
        })
        .map(|(_, index)| *index)
        .collect();
    Some(SubJobsStatus {
        total,
        succeeded,
        failed,
        running,
        pending,
        progress: format!("{}/{total}", succeeded + failed),
        truncated: kept.len() < sub_jobs.len(),
        items: kept.iter().map(|&index| item(&sub_jobs[index])).collect(),
    })
}

/// The first failed sub-job, for messages.
pub fn first_failure(job: &JobResponse) -> Option<&SubJob> {
    job.sub_jobs()
        .iter()
        .find(|sub_job| sub_job.state() == Some(JobState::Fail))
}
