//! The example scenario shipped in `examples/sim/` loads, and its jobs live as its comments and
//! `docs/bms-sim.md` say: a batch that succeeds after 20 s, one that fails after 15 s, a slow
//! job of 60 s.

use std::path::Path;
use std::time::Duration;

use bms_job_operator::sim::clock::add;
use bms_job_operator::sim::jobs::Job;
use bms_job_operator::sim::scenario::Scenario;

const PROJECT: &str = "0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b";

fn demo_jobs() -> Vec<Job> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sim/demo-scenario.yaml");
    let scenario = Scenario::load(&path).expect("the demo scenario loads");
    assert_eq!(scenario.credentials.len(), 1);
    let start: jiff::Timestamp = "2026-12-04T10:00:00Z".parse().expect("timestamp");
    scenario
        .jobs
        .into_iter()
        .map(|spec| Job::new(spec, start).expect("valid job"))
        .collect()
}

fn status_at(job: &Job, millis: u64) -> String {
    job.render(add(job.created_at, Duration::from_millis(millis)))
        .status
}

#[test]
fn the_demo_jobs_end_when_documented() {
    let jobs = demo_jobs();
    let ids: Vec<&str> = jobs.iter().map(Job::job_id).collect();
    assert_eq!(
        ids,
        [
            "ff8080817c1a2b3c017c1a2b3cde0001",
            "ff8080817c1a2b3c017c1a2b3cde0002",
            "ff8080817c1a2b3c017c1a2b3cde0003"
        ]
    );
    assert!(jobs.iter().all(|job| job.project_id() == PROJECT));

    let (batch, failing, slow) = (&jobs[0], &jobs[1], &jobs[2]);
    assert_eq!(status_at(batch, 0), "INIT");
    assert_eq!(status_at(batch, 3_000), "RUNNING");
    assert_eq!(status_at(batch, 19_999), "RUNNING");
    assert_eq!(status_at(batch, 20_000), "SUCCESS");
    assert_eq!(
        batch
            .render(add(batch.created_at, Duration::from_secs(20)))
            .entities
            .sub_jobs_total,
        Some(3)
    );

    assert_eq!(status_at(failing, 14_999), "RUNNING");
    let failed = failing.render(add(failing.created_at, Duration::from_secs(15)));
    assert_eq!(failed.status, "FAIL");
    assert_eq!(failed.error_code, Some(Some("BMS.0102".to_owned())));
    assert_eq!(failed.fail_reason, Some(Some("Sub job fail!".to_owned())));

    assert_eq!(status_at(slow, 4_999), "INIT");
    assert_eq!(status_at(slow, 59_999), "RUNNING");
    assert_eq!(status_at(slow, 60_000), "SUCCESS");
}
