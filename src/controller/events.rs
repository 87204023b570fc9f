//! Kubernetes Events for the transitions a person cares about, derived purely from the status
//! before and after a write, so each is emitted once per transition.

use kube::runtime::events::EventType;

use crate::api::conditions::{READY, Reason};
use crate::api::{BmsJobStatus, Phase};
use crate::status::condition;

/// One Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

impl TransitionEvent {
    pub fn event_type(&self) -> EventType {
        if self.warning {
            EventType::Warning
        } else {
            EventType::Normal
        }
    }
}

fn reason_of(status: Option<&BmsJobStatus>) -> Option<&str> {
    status
        .and_then(|status| condition(&status.conditions, READY))
        .map(|ready| ready.reason.as_str())
}

fn failed_sub_jobs(status: Option<&BmsJobStatus>) -> i32 {
    status
        .and_then(|status| status.sub_jobs.as_ref())
        .map(|sub_jobs| sub_jobs.failed)
        .unwrap_or(0)
}

/// The Events that the change from `previous` to `next` deserves.
pub fn transition_events(
    previous: Option<&BmsJobStatus>,
    next: &BmsJobStatus,
) -> Vec<TransitionEvent> {
    let mut events = Vec::new();
    let note = next.message.clone().unwrap_or_default();
    let had_job = previous
        .and_then(|status| status.job_status.as_ref())
        .is_some();
    if !had_job && next.job_status.is_some() && !next.phase.is_some_and(Phase::is_terminal) {
        events.push(TransitionEvent {
            warning: false,
            reason: "Started",
            note: note.clone(),
        });
    }
    let failed_before = failed_sub_jobs(previous);
    let failed_now = failed_sub_jobs(Some(next));
    if failed_now > failed_before && next.phase == Some(Phase::Running) {
        events.push(TransitionEvent {
            warning: true,
            reason: "SubJobFailed",
            note: note.clone(),
        });
    }
    let reason = reason_of(Some(next));
    if reason == reason_of(previous) {
        return events;
    }
    let (warning, name) = match reason {
        Some(name) if name == Reason::JobSucceeded.as_str() => (false, "Succeeded"),
        Some(name) if name == Reason::JobFailed.as_str() => (true, "Failed"),
        Some(name) if name == Reason::DeadlineExceeded.as_str() => (true, "DeadlineExceeded"),
        Some(name) if name == Reason::CredentialsRejected.as_str() => (true, "CredentialsRejected"),
        Some(name) if name == Reason::SecretNotFound.as_str() => (true, "SecretNotFound"),
        Some(name) if name == Reason::SecretKeyMissing.as_str() => (true, "SecretKeyMissing"),
        Some(name) if name == Reason::CredentialsMissing.as_str() => (true, "CredentialsMissing"),
        Some(name) if name == Reason::JobNotFound.as_str() => (true, "JobNotFound"),
        Some(name) if name == Reason::InvalidConfiguration.as_str() => {
            (true, "InvalidConfiguration")
        }
        _ => return events,
    };
    events.push(TransitionEvent {
        warning,
        reason: name,
        note,
    });
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bms::JobResponse;
    use crate::status::{Observation, StatusInput, next_status};

    fn after(previous: Option<&BmsJobStatus>, observation: Observation) -> BmsJobStatus {
        next_status(&StatusInput {
            previous,
            generation: Some(1),
            observation: &observation,
            deadline_passed: None,
            now: jiff::Timestamp::UNIX_EPOCH,
        })
    }

    fn job(value: serde_json::Value) -> Observation {
        Observation::Job(Box::new(
            serde_json::from_value::<JobResponse>(value).expect("job"),
        ))
    }

    fn reasons(events: &[TransitionEvent]) -> Vec<&'static str> {
        events.iter().map(|event| event.reason).collect()
    }

    #[test]
    fn a_job_is_announced_once_when_it_starts_and_once_when_it_ends() {
        let running = job(serde_json::json!({"status": "RUNNING", "job_id": "j"}));
        let first = after(None, running.clone());
        assert_eq!(reasons(&transition_events(None, &first)), ["Started"]);
        let second = after(Some(&first), running);
        assert!(
            transition_events(Some(&first), &second).is_empty(),
            "no repeat"
        );
        let done = after(
            Some(&second),
            job(serde_json::json!({"status": "SUCCESS", "job_id": "j"})),
        );
        let events = transition_events(Some(&second), &done);
        assert_eq!(reasons(&events), ["Succeeded"]);
        assert!(!events[0].warning);
    }

    #[test]
    fn failures_are_warnings_that_say_why() {
        let failed = after(
            None,
            job(
                serde_json::json!({"status": "FAIL", "job_id": "j", "error_code": "BMS.1", "fail_reason": "boom"}),
            ),
        );
        let events = transition_events(None, &failed);
        assert_eq!(reasons(&events), ["Failed"]);
        assert!(events[0].warning && events[0].note.contains("BMS.1: boom"));
    }

    #[test]
    fn a_failed_sub_job_of_a_running_job_is_reported_once() {
        let one_failed = serde_json::json!({"status": "RUNNING", "job_id": "j", "entities": {"sub_jobs": [
            {"status": "FAIL", "job_id": "s1", "error_code": "E", "fail_reason": "r"},
            {"status": "RUNNING", "job_id": "s2"}]}});
        let first = after(
            None,
            job(serde_json::json!({"status": "RUNNING", "job_id": "j"})),
        );
        let second = after(Some(&first), job(one_failed.clone()));
        assert_eq!(
            reasons(&transition_events(Some(&first), &second)),
            ["SubJobFailed"]
        );
        let third = after(Some(&second), job(one_failed));
        assert!(transition_events(Some(&second), &third).is_empty());
    }

    #[test]
    fn rejected_credentials_are_reported_when_they_start_being_rejected() {
        let rejected = Observation::Problem {
            reason: Reason::CredentialsRejected,
            message: "rejected".into(),
        };
        let first = after(None, rejected.clone());
        assert_eq!(
            reasons(&transition_events(None, &first)),
            ["CredentialsRejected"]
        );
        let again = after(Some(&first), rejected);
        assert!(transition_events(Some(&first), &again).is_empty());
    }
}
