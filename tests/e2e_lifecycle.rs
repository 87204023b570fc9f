//! End-to-end over a job's life: one status write per distinct status, no poll after the end,
//! and an operator restarted mid-job that loses nothing.

mod support;

use std::time::Duration;

use bms_job_operator::api::{BmsJob, BmsJobStatus};
use bms_job_operator::status::same_apart_from_poll_time;
use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use support::ControlPlane;
use support::bmsjobs::{
    condition_status, create_secret, job_requests, kubectl_apply, manifest, wait_for,
};
use support::operator_process::{OperatorProcess, test_flags};
use support::sim_process::{PROJECT_ID, SimProcess};

const WAIT: Duration = Duration::from_secs(90);

fn control_plane() -> &'static ControlPlane {
    support::bmsjobs::shared_control_plane_with_crd()
}

fn batch(durations: &[&str]) -> serde_json::Value {
    let sub_jobs: Vec<_> = durations
        .iter()
        .map(|duration| json!({"job_type": "baremetalSingleCreate", "duration": duration}))
        .collect();
    json!({"project_id": PROJECT_ID, "job_type": "baremetalBatchCreate", "init_for": "2s", "sub_jobs": sub_jobs})
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with([' ', '{']))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} not found in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_status_write_per_distinct_status_and_no_poll_after_the_end() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("writes").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let operator = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    operator.wait_ready().await;

    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    let config = watcher::Config::default().fields("metadata.name=life");
    let mut statuses: Vec<BmsJobStatus> = Vec::new();
    let watch = watcher(api.clone(), config).applied_objects().boxed();

    let job_id = sim.create_job(batch(&["3s", "7s", "11s"])).await;
    assert!(
        kubectl_apply(
            control_plane,
            &manifest(&namespace, "life", sim.url(), &job_id, "")
        )
        .status
        .success()
    );

    let collect = async {
        let mut watch = watch;
        while let Some(Ok(object)) = watch.next().await {
            let Some(status) = object.status.clone() else {
                continue;
            };
            if status.phase.is_none() {
                continue; // the CRD's default status, before the first write
            }
            if statuses.last() != Some(&status) {
                statuses.push(status);
            }
            if condition_status(&object, "Ready").as_deref() == Some("True") {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, collect)
        .await
        .expect("the job finished in time");

    for pair in statuses.windows(2) {
        assert!(
            !same_apart_from_poll_time(&pair[0], &pair[1]),
            "a status was written again without a change: {:?}",
            pair[1]
        );
    }
    let phases: Vec<_> = statuses
        .iter()
        .map(|status| status.sub_jobs.as_ref().map(|s| s.progress.clone()))
        .collect();
    assert!(
        statuses.len() >= 3,
        "the job's progress was followed: {phases:?}"
    );
    let (_, metrics) = operator.get("/metrics").await;
    assert_eq!(
        metric(&metrics, "bms_operator_status_writes_total") as usize,
        statuses.len(),
        "status writes equal the distinct statuses seen: {phases:?}"
    );
    let polls = job_requests(&sim.counters().await, &job_id);
    assert!(
        polls as usize > statuses.len(),
        "unchanged answers were polled but not written"
    );

    let finished_at = sim.counters().await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        job_requests(&sim.counters().await, &job_id),
        job_requests(&finished_at, &job_id),
        "no request reaches the cloud after the job finished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restarted_mid_job_picks_every_job_up_again() {
    let control_plane = control_plane();
    let namespace = control_plane.create_namespace("restart").await;
    let sim = SimProcess::start(&[]);
    create_secret(control_plane, &namespace, "bms-credentials", None);
    let mut first = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    let api: Api<BmsJob> = Api::namespaced(control_plane.client().await, &namespace);
    let mut names = Vec::new();
    for (index, durations) in [["6s", "10s"], ["8s", "14s"], ["4s", "16s"]]
        .iter()
        .enumerate()
    {
        let job_id = sim.create_job(batch(durations)).await;
        let name = format!("restart-{index}");
        assert!(
            kubectl_apply(
                control_plane,
                &manifest(&namespace, &name, sim.url(), &job_id, "")
            )
            .status
            .success()
        );
        names.push(name);
    }
    for name in &names {
        wait_for(&api, name, WAIT, "followed", |job| {
            job.status
                .as_ref()
                .and_then(|status| status.job_status.as_deref())
                == Some("RUNNING")
        })
        .await;
    }
    first.kill();

    let second = OperatorProcess::start(control_plane, None, &test_flags(&namespace), &[]);
    for name in &names {
        wait_for(&api, name, WAIT, "Ready after the restart", |job| {
            condition_status(job, "Ready").as_deref() == Some("True")
        })
        .await;
    }
    drop(second);
}
