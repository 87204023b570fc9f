//! Every job fixture, every outcome and the condition rules, mapped to the status users see.

use super::*;
use crate::api::conditions::{FAILED, READY, RECONCILING, STALLED};

fn fixture(name: &str) -> JobResponse {
    let path = format!(
        "{}/tests/fixtures/jobs/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    let wrapper: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    serde_json::from_value(wrapper["body"].clone()).expect("fixture body parses as a job")
}

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_796_000_000 + seconds).expect("valid time")
}

fn status_for(job: JobResponse) -> BmsJobStatus {
    next_status(&StatusInput {
        previous: None,
        generation: Some(1),
        observation: &Observation::Job(Box::new(job)),
        deadline_passed: None,
        now: at(0),
    })
}

/// `(Ready, Reconciling, Failed, Stalled)` as condition statuses, and the shared reason.
fn conditions_of(status: &BmsJobStatus) -> ([&str; 4], &str) {
    let get = |type_| {
        condition(&status.conditions, type_).unwrap_or_else(|| panic!("condition {type_} missing"))
    };
    let reason = get(READY).reason.as_str();
    for type_ in [RECONCILING, FAILED, STALLED] {
        assert_eq!(get(type_).reason, reason, "reasons agree");
        assert_eq!(get(type_).observed_generation, Some(1));
    }
    (
        [READY, RECONCILING, FAILED, STALLED].map(|type_| get(type_).status.as_str()),
        reason,
    )
}

const DONE_OK: [&str; 4] = ["True", "False", "False", "False"];
const DONE_FAILED: [&str; 4] = ["False", "False", "True", "True"];
const IN_PROGRESS: [&str; 4] = ["False", "True", "False", "False"];
const NEEDS_A_PERSON: [&str; 4] = ["False", "False", "False", "True"];

#[test]
fn every_job_fixture_maps_to_the_phase_and_conditions_a_user_expects() {
    let cases = [
        (
            "success-create-server",
            Phase::Succeeded,
            DONE_OK,
            "JobSucceeded",
        ),
        ("ecs-style-nic", Phase::Succeeded, DONE_OK, "JobSucceeded"),
        ("fail-batch-create", Phase::Failed, DONE_FAILED, "JobFailed"),
        ("fail-no-subjobs", Phase::Failed, DONE_FAILED, "JobFailed"),
        (
            "running-batch-create",
            Phase::Running,
            IN_PROGRESS,
            "JobRunning",
        ),
        (
            "subjob-entities-array",
            Phase::Running,
            IN_PROGRESS,
            "JobRunning",
        ),
        ("large-batch-240", Phase::Running, IN_PROGRESS, "JobRunning"),
        (
            "init-no-entities",
            Phase::Pending,
            IN_PROGRESS,
            "JobPending",
        ),
        (
            "pending-payment",
            Phase::Pending,
            IN_PROGRESS,
            "PendingPayment",
        ),
        (
            "unknown-status",
            Phase::Unknown,
            IN_PROGRESS,
            "UnknownJobStatus",
        ),
    ];
    let fixtures_dir = format!("{}/tests/fixtures/jobs", env!("CARGO_MANIFEST_DIR"));
    let on_disk = std::fs::read_dir(fixtures_dir)
        .expect("fixtures dir")
        .count();
    assert_eq!(on_disk, cases.len(), "every job fixture has a case");
    for (name, phase, conditions, reason) in cases {
        let job = fixture(name);
        let status = status_for(job.clone());
        assert_eq!(status.phase, Some(phase), "{name}");
        assert_eq!(conditions_of(&status), (conditions, reason), "{name}");
        assert_eq!(status.job_status, job.status, "{name}: raw status kept");
        assert_eq!(status.job_type, job.job_type, "{name}");
        assert_eq!(status.observed_generation, Some(1));
    }
}

#[test]
fn a_failed_job_names_its_code_reason_and_failed_sub_job() {
    let status = status_for(fixture("fail-batch-create"));
    assert_eq!(status.error_code.as_deref(), Some("BMS.0102"));
    assert_eq!(status.fail_reason.as_deref(), Some("Sub job fail!"));
    let message = status.message.as_deref().expect("message");
    assert!(message.contains("BMS.0102: Sub job fail!"), "{message}");
    assert!(
        message.contains("ff8080817c1a2b3c017c1a2b3c4d2002"),
        "{message}"
    );
    assert!(
        message.contains("Insufficient bare metal resources"),
        "{message}"
    );
    let failed = condition(&status.conditions, FAILED).expect("Failed");
    assert_eq!(failed.message, message);
    let sub_jobs = status.sub_jobs.expect("sub-jobs");
    assert_eq!(
        (sub_jobs.total, sub_jobs.succeeded, sub_jobs.failed),
        (2, 1, 1)
    );
    assert_eq!(sub_jobs.progress, "2/2");
    assert_eq!(
        sub_jobs.items[0].status.as_deref(),
        Some("FAIL"),
        "failed first"
    );
    assert_eq!(sub_jobs.items[0].error_code.as_deref(), Some("BMS.0102"));
}

#[test]
fn running_sub_jobs_are_counted_and_empty_times_are_absent() {
    let status = status_for(fixture("running-batch-create"));
    let sub_jobs = status.sub_jobs.expect("sub-jobs");
    assert_eq!(
        (
            sub_jobs.total,
            sub_jobs.succeeded,
            sub_jobs.running,
            sub_jobs.pending
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(sub_jobs.progress, "1/3");
    assert!(!sub_jobs.truncated);
    assert_eq!(status.end_time, None, "end_time \"\" is absent");
    assert_eq!(sub_jobs.items[0].status.as_deref(), Some("RUNNING"));
    assert_eq!(
        sub_jobs.items[0].server_id.as_deref(),
        Some("6f1c0a52-1d7e-4c55-9a6e-1f7b8a3c9d02")
    );
}

#[test]
fn a_large_batch_stays_bounded_and_keeps_both_failures() {
    let status = status_for(fixture("large-batch-240"));
    let sub_jobs = status.sub_jobs.expect("sub-jobs");
    assert_eq!(sub_jobs.total, 240);
    assert_eq!(sub_jobs.failed, 2);
    assert_eq!((sub_jobs.succeeded, sub_jobs.running), (199, 39));
    assert!(sub_jobs.truncated);
    assert_eq!(sub_jobs.items.len(), MAX_LISTED_SUB_JOBS);
    let failed: Vec<_> = sub_jobs
        .items
        .iter()
        .filter(|item| item.status.as_deref() == Some("FAIL"))
        .collect();
    assert_eq!(failed.len(), 2);
    let encoded = serde_json::to_vec(&status_for(fixture("large-batch-240"))).expect("encodes");
    assert!(
        encoded.len() < 16 * 1024,
        "status is {} bytes",
        encoded.len()
    );
}

#[test]
fn failed_sub_jobs_are_never_dropped_even_past_the_bound() {
    let mut job = fixture("large-batch-240");
    let entities = job.entities.as_mut().expect("entities");
    for sub_job in entities.sub_jobs.iter_mut().take(MAX_LISTED_SUB_JOBS + 5) {
        sub_job.status = Some("FAIL".into());
    }
    let failed_count = entities
        .sub_jobs
        .iter()
        .filter(|s| s.status.as_deref() == Some("FAIL"))
        .count();
    let sub_jobs = status_for(job).sub_jobs.expect("sub-jobs");
    assert_eq!(sub_jobs.items.len(), failed_count);
    assert!(
        sub_jobs
            .items
            .iter()
            .all(|item| item.status.as_deref() == Some("FAIL"))
    );
}

#[test]
fn ecs_style_top_level_entities_are_kept() {
    let status = status_for(fixture("ecs-style-nic"));
    assert_eq!(
        status
            .entities
            .and_then(|entities| entities.nic_id)
            .as_deref(),
        Some("d5a1c7e2-3b4f-4a6d-9e8c-1f2a3b4c5d6e")
    );
}

#[test]
fn a_passed_deadline_fails_a_running_job_but_not_a_finished_one() {
    let running = Observation::Job(Box::new(fixture("running-batch-create")));
    let status = next_status(&StatusInput {
        previous: None,
        generation: Some(1),
        observation: &running,
        deadline_passed: Some("10m"),
        now: at(0),
    });
    assert_eq!(status.phase, Some(Phase::Failed));
    assert_eq!(conditions_of(&status), (DONE_FAILED, "DeadlineExceeded"));
    let message = status.message.expect("message");
    assert!(
        message.contains("10m") && message.contains("RUNNING"),
        "{message}"
    );

    let finished = Observation::Job(Box::new(fixture("success-create-server")));
    let status = next_status(&StatusInput {
        previous: None,
        generation: Some(1),
        observation: &finished,
        deadline_passed: Some("10m"),
        now: at(0),
    });
    assert_eq!(status.phase, Some(Phase::Succeeded));
}

#[test]
fn problems_that_need_a_person_stall_without_claiming_failure_and_keep_job_fields() {
    let running = status_for(fixture("running-batch-create"));
    for reason in [
        Reason::SecretNotFound,
        Reason::SecretKeyMissing,
        Reason::CredentialsMissing,
        Reason::CredentialsRejected,
        Reason::JobNotFound,
        Reason::InvalidConfiguration,
    ] {
        let observation = Observation::Problem {
            reason,
            message: "fix it".into(),
        };
        let status = next_status(&StatusInput {
            previous: Some(&running),
            generation: Some(1),
            observation: &observation,
            deadline_passed: None,
            now: at(30),
        });
        assert_eq!(conditions_of(&status), (NEEDS_A_PERSON, reason.as_str()));
        assert_eq!(status.phase, Some(Phase::Running), "phase kept");
        assert_eq!(status.sub_jobs, running.sub_jobs, "sub-jobs kept");
        assert_eq!(status.message.as_deref(), Some("fix it"));
    }
}

#[test]
fn transient_cloud_trouble_keeps_reconciling() {
    for reason in [
        Reason::CloudUnavailable,
        Reason::CloudThrottled,
        Reason::InvalidCloudResponse,
    ] {
        let observation = Observation::Problem {
            reason,
            message: "HTTP 503".into(),
        };
        let status = next_status(&StatusInput {
            previous: None,
            generation: Some(1),
            observation: &observation,
            deadline_passed: None,
            now: at(0),
        });
        assert_eq!(conditions_of(&status), (IN_PROGRESS, reason.as_str()));
        assert_eq!(status.phase, Some(Phase::Pending));
    }
}

#[test]
fn last_transition_time_moves_only_when_a_condition_flips() {
    let first = status_for(fixture("running-batch-create"));
    let again = next_status(&StatusInput {
        previous: Some(&first),
        generation: Some(1),
        observation: &Observation::Job(Box::new(fixture("subjob-entities-array"))),
        deadline_passed: None,
        now: at(60),
    });
    for (old, new) in first.conditions.iter().zip(&again.conditions) {
        assert_eq!(
            old.last_transition_time, new.last_transition_time,
            "{}",
            old.type_
        );
    }
    let done = next_status(&StatusInput {
        previous: Some(&again),
        generation: Some(1),
        observation: &Observation::Job(Box::new(fixture("success-create-server"))),
        deadline_passed: None,
        now: at(120),
    });
    let moved = |type_| {
        condition(&done.conditions, type_)
            .expect("present")
            .last_transition_time
            .0
            == at(120)
    };
    assert!(moved(READY) && moved(RECONCILING));
    assert!(!moved(FAILED) && !moved(STALLED), "False stayed False");
}

#[test]
fn an_unchanged_answer_differs_only_in_poll_time() {
    let first = status_for(fixture("running-batch-create"));
    let second = next_status(&StatusInput {
        previous: Some(&first),
        generation: Some(1),
        observation: &Observation::Job(Box::new(fixture("running-batch-create"))),
        deadline_passed: None,
        now: at(15),
    });
    assert_ne!(first.last_poll_time, second.last_poll_time);
    assert!(same_apart_from_poll_time(&first, &second));
    let progressed = status_for(fixture("success-create-server"));
    assert!(!same_apart_from_poll_time(&first, &progressed));
}

#[test]
fn a_new_generation_is_recorded_everywhere() {
    let first = status_for(fixture("running-batch-create"));
    let second = next_status(&StatusInput {
        previous: Some(&first),
        generation: Some(2),
        observation: &Observation::Job(Box::new(fixture("running-batch-create"))),
        deadline_passed: None,
        now: at(15),
    });
    assert_eq!(second.observed_generation, Some(2));
    assert!(
        second
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(2))
    );
    assert!(!same_apart_from_poll_time(&first, &second));
}
