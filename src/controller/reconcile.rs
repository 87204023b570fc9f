//! One reconcile of a BmsJob: decide whether a poll is due, read credentials, ask the cloud,
//! build the status with the pure mapping, write it only when it changed, and schedule the next
//! poll with the pure schedule.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};
use rand::Rng;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::context::{Context, ObjectKey, PollMemory, RECONCILE_NOW_ANNOTATION};
use super::credentials;
use super::fetcher::JobQuery;
use super::status_writer::write_status;
use crate::api::conditions::Reason;
use crate::api::{BmsJob, BmsJobStatus, Phase};
use crate::bms::{CloudError, ErrorClass};
use crate::schedule::{LastOutcome, NextPoll, PollPolicy, ScheduleInput, next_poll};
use crate::status::{Observation, StatusInput, next_status, same_apart_from_poll_time};

/// Why a reconcile could not finish; the controller retries it with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("BmsJob has no namespace")]
    MissingNamespace,
    #[error("reading Secret {name:?}: {source}")]
    ReadSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing status: {0}")]
    WriteStatus(#[source] kube::Error),
}

impl ReconcileError {
    pub fn class(&self) -> &'static str {
        match self {
            Self::MissingNamespace => "invalid_object",
            Self::ReadSecret { .. } => "read_secret",
            Self::WriteStatus(_) => "write_status",
        }
    }
}

fn parse_duration(text: Option<&str>) -> Option<Duration> {
    text.and_then(|text| humantime::parse_duration(text).ok())
}

fn policy(job: &BmsJob, ctx: &Context) -> PollPolicy {
    PollPolicy {
        interval: parse_duration(job.spec.poll_interval.as_deref())
            .unwrap_or(ctx.settings.default_interval),
        max_interval: ctx.settings.max_interval,
        auth_retry: ctx.settings.auth_retry,
    }
}

fn creation_time(job: &BmsJob) -> Option<jiff::Timestamp> {
    job.meta().creation_timestamp.as_ref().map(|time| time.0)
}

fn elapsed_since(start: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Duration {
    start
        .and_then(|start| Duration::try_from(now.duration_since(start)).ok())
        .unwrap_or_default()
}

/// Time left before `spec.timeout` passes; zero once it has.
fn until_deadline(job: &BmsJob, now: jiff::Timestamp) -> Option<Duration> {
    let timeout = parse_duration(job.spec.timeout.as_deref())?;
    Some(timeout.saturating_sub(elapsed_since(creation_time(job), now)))
}

fn is_finished(status: Option<&BmsJobStatus>) -> bool {
    status
        .and_then(|status| status.phase)
        .is_some_and(Phase::is_terminal)
}

fn reason_for(error: &CloudError) -> Reason {
    match error.class() {
        ErrorClass::Auth => Reason::CredentialsRejected,
        ErrorClass::NotFound => Reason::JobNotFound,
        ErrorClass::Config => Reason::InvalidConfiguration,
        ErrorClass::Throttled => Reason::CloudThrottled,
        ErrorClass::InvalidResponse => Reason::InvalidCloudResponse,
        ErrorClass::Transient => Reason::CloudUnavailable,
    }
}

fn problem_message(error: &CloudError, job: &BmsJob) -> String {
    let summary = error.summary();
    let secret = job
        .spec
        .credentials_secret_ref
        .as_ref()
        .map(|secret| format!("Secret {:?}", secret.name))
        .unwrap_or_else(|| "the operator's default credentials".to_owned());
    match error.class() {
        ErrorClass::Auth => format!(
            "The cloud rejected the credentials ({summary}): check the access key and secret key in {secret}; retried only after a pause, so that the key is not locked"
        ),
        ErrorClass::NotFound => format!(
            "No job {:?} in project {:?} ({summary}): check spec.jobId and spec.projectId",
            job.spec.job_id, job.spec.project_id
        ),
        ErrorClass::Config => format!(
            "The cloud refused the request ({summary}): check spec.projectId, spec.endpoint or spec.region, and that the credentials belong to that project"
        ),
        ErrorClass::Throttled => {
            format!("The cloud asked to slow down ({summary}); retrying later")
        }
        ErrorClass::InvalidResponse | ErrorClass::Transient => {
            format!("The cloud could not be asked ({summary}); retrying with backoff")
        }
    }
}

/// Asks the cloud (or finds why it cannot be asked) and says what came of it.
async fn observe(
    job: &BmsJob,
    ctx: &Context,
    namespace: &str,
    previous_failures: u32,
) -> Result<(Observation, LastOutcome), ReconcileError> {
    let secret_name = job
        .spec
        .credentials_secret_ref
        .as_ref()
        .map(|secret| secret.name.as_str());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let resolved = credentials::resolve(
        &secrets,
        namespace,
        secret_name,
        ctx.settings.default_credentials.as_ref(),
    )
    .await
    .map_err(|source| ReconcileError::ReadSecret {
        name: secret_name.unwrap_or_default().to_owned(),
        source,
    })?;
    let failed = LastOutcome::NeedsPerson {
        consecutive: previous_failures + 1,
    };
    let credentials = match resolved {
        Ok(credentials) => credentials,
        Err(problem) => return Ok((problem, failed)),
    };
    let Some(endpoint) = job.spec.endpoint_url() else {
        let problem = credentials::problem(
            Reason::InvalidConfiguration,
            "exactly one of spec.region or spec.endpoint must be set".into(),
        );
        return Ok((problem, failed));
    };
    let query = JobQuery {
        endpoint,
        project_id: job.spec.project_id.clone(),
        job_id: job.spec.job_id.clone(),
    };
    let started = Instant::now();
    let result = ctx.fetcher.fetch(&query, &credentials).await;
    let paused = matches!(result, Err(CloudError::AuthPaused { .. }));
    if !paused {
        let outcome = match &result {
            Ok(_) => "success",
            Err(error) => error.class().as_str(),
        };
        let code = result.as_ref().err().and_then(CloudError::code);
        ctx.metrics.cloud_request(outcome, code, started.elapsed());
    }
    Ok(match result {
        Ok(response) => {
            let finished = response.state().is_some_and(|state| state.is_terminal());
            let running_for = elapsed_since(
                response
                    .begin_time
                    .as_deref()
                    .and_then(|text| text.parse().ok())
                    .or_else(|| creation_time(job)),
                jiff::Timestamp::now(),
            );
            let outcome = if finished {
                LastOutcome::Finished
            } else {
                LastOutcome::InProgress { running_for }
            };
            (Observation::Job(Box::new(response)), outcome)
        }
        Err(error) => {
            if paused {
                debug!(error = %error, "credentials paused; no cloud request");
            } else {
                warn!(class = error.class().as_str(), error = %error, "cloud request failed");
            }
            // Rejected credentials: the access key's breaker spaces out what the cloud sees, so
            // the BmsJob itself re-reads its Secret every --auth-retry (no growing backoff) and
            // a rotated key is used at once.
            let consecutive = if error.class() == ErrorClass::Auth {
                1
            } else {
                previous_failures + 1
            };
            let outcome = LastOutcome::CloudError {
                class: error.class(),
                consecutive,
                retry_after: error.retry_after(),
            };
            let problem = credentials::problem(reason_for(&error), problem_message(&error, job));
            (problem, outcome)
        }
    })
}

/// Records first-status and detection-lag figures for a status about to be written.
fn observe_latencies(ctx: &Context, job: &BmsJob, status: &BmsJobStatus, now: jiff::Timestamp) {
    let previous = job.status.as_ref();
    if previous.and_then(|status| status.phase).is_none() {
        let age = elapsed_since(creation_time(job), now);
        ctx.metrics.time_to_first_status.observe(age.as_secs_f64());
    }
    if is_finished(Some(status)) && !is_finished(previous) {
        let ended = status
            .end_time
            .as_deref()
            .and_then(|text| text.parse::<jiff::Timestamp>().ok());
        if let Some(ended) = ended {
            let lag = elapsed_since(Some(ended), now);
            ctx.metrics.detection_lag.observe(lag.as_secs_f64());
        }
    }
}

/// Publishes the Events of a status transition; a failure to publish is only logged.
async fn publish_events(
    ctx: &Context,
    job: &BmsJob,
    previous: Option<&BmsJobStatus>,
    status: &BmsJobStatus,
) {
    let Some(recorder) = &ctx.recorder else {
        return;
    };
    let reference = job.object_ref(&());
    for event in super::events::transition_events(previous, status) {
        let published = recorder
            .publish(
                &kube::runtime::events::Event {
                    type_: event.event_type(),
                    reason: event.reason.to_owned(),
                    note: Some(event.note.chars().take(1000).collect()),
                    action: "Poll".to_owned(),
                    secondary: None,
                },
                &reference,
            )
            .await;
        if let Err(error) = published {
            warn!(%error, reason = event.reason, "publishing an Event");
        }
    }
}

/// Reconciles one BmsJob.
#[tracing::instrument(skip_all, fields(namespace = job.namespace(), bmsjob = job.name_any()))]
pub async fn reconcile(job: Arc<BmsJob>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    ctx.metrics.reconciles.inc();
    let result = reconcile_inner(&job, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics
        .auth_breaker_open
        .set(i64::try_from(ctx.fetcher.paused_keys()).unwrap_or(i64::MAX));
    result
}

async fn reconcile_inner(job: &BmsJob, ctx: &Context) -> Result<Action, ReconcileError> {
    let namespace = job.namespace().ok_or(ReconcileError::MissingNamespace)?;
    let name = job.name_any();
    let key = ObjectKey {
        namespace: namespace.clone(),
        name: name.clone(),
    };
    let generation = job.meta().generation;
    let previous = job.status.as_ref();
    let reconcile_now = job.annotations().get(RECONCILE_NOW_ANNOTATION).cloned();
    let uid = job.uid();
    let memory = ctx.recall(&key).filter(|memory| memory.uid == uid);
    let forced = memory
        .as_ref()
        .is_some_and(|memory| memory.reconcile_now != reconcile_now);
    let observed = previous.and_then(|status| status.observed_generation) == generation;
    let policy = policy(job, ctx);
    let now_instant = Instant::now();
    ctx.metrics
        .set_phase(&namespace, &name, previous.and_then(|status| status.phase));

    if !forced {
        if is_finished(previous) && observed {
            debug!("job finished; not polling");
            ctx.forget(&key);
            return Ok(Action::await_change());
        }
        match &memory {
            Some(memory)
                if memory.generation == generation && memory.next_poll_at > now_instant =>
            {
                return Ok(Action::requeue(memory.next_poll_at - now_instant));
            }
            None if observed && previous.is_some() => {
                // Picked up after a start: spread the catch-up over one interval.
                let delay = policy.interval.mul_f64(rand::rng().random::<f64>());
                debug!(?delay, "catching up after start");
                ctx.remember(
                    key,
                    PollMemory {
                        uid,
                        generation,
                        next_poll_at: now_instant + delay,
                        consecutive_failures: 0,
                        reconcile_now,
                    },
                );
                return Ok(Action::requeue(delay));
            }
            _ => {}
        }
    }

    let previous_failures = memory
        .as_ref()
        .map(|memory| memory.consecutive_failures)
        .unwrap_or(0);
    let (observation, outcome) = observe(job, ctx, &namespace, previous_failures).await?;
    let now = jiff::Timestamp::now();
    let left = until_deadline(job, now);
    let deadline_passed = left
        .filter(|left| left.is_zero())
        .and(job.spec.timeout.as_deref());
    let status = next_status(&StatusInput {
        previous,
        generation,
        observation: &observation,
        deadline_passed,
        now,
    });
    let changed = previous.is_none_or(|previous| !same_apart_from_poll_time(previous, &status));
    if changed {
        observe_latencies(ctx, job, &status, now);
        let api: Api<BmsJob> = Api::namespaced(ctx.client.clone(), &namespace);
        write_status(&api, &name, &status)
            .await
            .map_err(ReconcileError::WriteStatus)?;
        ctx.metrics.status_writes.inc();
        publish_events(ctx, job, previous, &status).await;
        info!(
            phase = status.phase.map(Phase::as_str),
            job_status = status.job_status.as_deref(),
            message = status.message.as_deref(),
            "status changed"
        );
    }
    ctx.metrics.set_phase(&namespace, &name, status.phase);

    let outcome = if is_finished(Some(&status)) {
        LastOutcome::Finished
    } else {
        outcome
    };
    let consecutive_failures = match outcome {
        LastOutcome::CloudError { consecutive, .. } | LastOutcome::NeedsPerson { consecutive } => {
            consecutive
        }
        _ => 0,
    };
    let next = next_poll(&ScheduleInput {
        policy,
        outcome,
        until_deadline: left,
        jitter: rand::rng().random::<f64>(),
    });
    Ok(match next {
        NextPoll::Never => {
            ctx.forget(&key);
            Action::await_change()
        }
        NextPoll::After(wait) => {
            debug!(?wait, "next poll");
            ctx.remember(
                key,
                PollMemory {
                    uid,
                    generation,
                    next_poll_at: Instant::now() + wait,
                    consecutive_failures,
                    reconcile_now,
                },
            );
            Action::requeue(wait)
        }
    })
}

/// Retry policy for reconciles that failed on the Kubernetes side.
pub fn error_policy(job: Arc<BmsJob>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    warn!(
        namespace = job.namespace(),
        name = job.name_any(),
        error = %error,
        "reconcile failed"
    );
    ctx.metrics
        .reconcile_errors
        .get_or_create(&crate::metrics::ClassLabels {
            class: error.class().to_owned(),
        })
        .inc();
    let wait = crate::schedule::ERROR_BACKOFF_BASE.mul_f64(1.0 + rand::rng().random::<f64>());
    Action::requeue(wait)
}
