//! Pure decision of when to ask the cloud again.
//!
//! A running job is polled at its interval, then less often as it runs long (never later than a
//! tenth of its age, capped), with jitter so that a restart does not stampede. Errors back off
//! exponentially with jitter per object; a throttled answer waits at least what the cloud asked;
//! rejected credentials wait minutes, never seconds. A finished job is not polled again.

use std::time::Duration;

use crate::bms::ErrorClass;

/// A poll is late by at most this fraction of the job's age.
const LONG_RUN_FRACTION: u32 = 10;
/// Spread of each interval: ±10 %.
const JITTER_FRACTION: f64 = 0.1;
/// First retry after a cloud error.
pub const ERROR_BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest wait between retries after cloud errors.
pub const ERROR_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Longest wait between retries after rejected credentials.
pub const AUTH_RETRY_MAX: Duration = Duration::from_secs(1800);
/// Shortest wait after the cloud throttled us, when it did not say how long.
pub const THROTTLE_MIN: Duration = Duration::from_secs(5);
/// First re-check when a person must act (Secret missing, job not found).
pub const NEEDS_PERSON_BASE: Duration = Duration::from_secs(10);
/// Longest wait between re-checks when a person must act.
pub const NEEDS_PERSON_MAX: Duration = Duration::from_secs(120);

/// How often a job may be polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// `spec.pollInterval`, or the operator's default.
    pub interval: Duration,
    /// The longest interval, however long the job runs.
    pub max_interval: Duration,
    /// The least wait after the cloud rejected credentials.
    pub auth_retry: Duration,
}

/// What the last reconcile ended with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LastOutcome {
    /// The job is still going; it started this long ago.
    InProgress { running_for: Duration },
    /// The job succeeded or failed, or its deadline passed.
    Finished,
    /// The cloud call failed; `consecutive` counts failures in a row, this one included.
    CloudError {
        class: ErrorClass,
        consecutive: u32,
        retry_after: Option<Duration>,
    },
    /// A person must act before anything changes (Secret missing, key missing).
    NeedsPerson { consecutive: u32 },
}

/// Everything [`next_poll`] needs; `jitter` is a uniform sample in `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleInput {
    pub policy: PollPolicy,
    pub outcome: LastOutcome,
    /// Time left until `spec.timeout` passes, if set.
    pub until_deadline: Option<Duration>,
    pub jitter: f64,
}

/// When to reconcile next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextPoll {
    After(Duration),
    /// Only a change of the BmsJob brings it back.
    Never,
}

fn exponential(base: Duration, max: Duration, consecutive: u32) -> Duration {
    let doublings = consecutive.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(max)
}

/// `value` spread by ±[`JITTER_FRACTION`].
fn spread(value: Duration, jitter: f64) -> Duration {
    value.mul_f64(1.0 + JITTER_FRACTION * (2.0 * jitter.clamp(0.0, 1.0) - 1.0))
}

/// "Equal jitter": half the wait fixed, half random, so retries of many objects spread out.
fn equal_jitter(value: Duration, jitter: f64) -> Duration {
    value / 2 + (value / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

/// The interval for a job that has been running for `running_for`.
pub fn running_interval(policy: &PollPolicy, running_for: Duration) -> Duration {
    let by_age = running_for / LONG_RUN_FRACTION;
    let cap = policy.max_interval.max(policy.interval);
    by_age.clamp(policy.interval, cap)
}

/// When to poll next.
pub fn next_poll(input: &ScheduleInput) -> NextPoll {
    let wait = match input.outcome {
        LastOutcome::Finished => return NextPoll::Never,
        LastOutcome::InProgress { running_for } => {
            spread(running_interval(&input.policy, running_for), input.jitter)
        }
        LastOutcome::CloudError {
            class: ErrorClass::Auth,
            consecutive,
            ..
        } => {
            let backoff = exponential(input.policy.auth_retry, AUTH_RETRY_MAX, consecutive);
            backoff
                + input
                    .policy
                    .auth_retry
                    .mul_f64(JITTER_FRACTION * input.jitter)
        }
        LastOutcome::CloudError {
            class: ErrorClass::Throttled,
            consecutive,
            retry_after,
        } => {
            let backoff = equal_jitter(
                exponential(ERROR_BACKOFF_BASE, ERROR_BACKOFF_MAX, consecutive),
                input.jitter,
            );
            backoff.max(retry_after.unwrap_or(THROTTLE_MIN))
        }
        LastOutcome::CloudError {
            class: ErrorClass::NotFound | ErrorClass::Config,
            consecutive,
            ..
        }
        | LastOutcome::NeedsPerson { consecutive } => equal_jitter(
            exponential(NEEDS_PERSON_BASE, NEEDS_PERSON_MAX, consecutive),
            input.jitter,
        )
        .max(NEEDS_PERSON_BASE),
        LastOutcome::CloudError {
            consecutive,
            retry_after,
            ..
        } => {
            let backoff = equal_jitter(
                exponential(ERROR_BACKOFF_BASE, ERROR_BACKOFF_MAX, consecutive),
                input.jitter,
            );
            backoff.max(retry_after.unwrap_or_default())
        }
    };
    NextPoll::After(match input.until_deadline {
        Some(left) => wait.min(left),
        None => wait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PollPolicy = PollPolicy {
        interval: Duration::from_secs(15),
        max_interval: Duration::from_secs(300),
        auth_retry: Duration::from_secs(300),
    };

    fn after(outcome: LastOutcome, jitter: f64) -> Duration {
        match next_poll(&ScheduleInput {
            policy: POLICY,
            outcome,
            until_deadline: None,
            jitter,
        }) {
            NextPoll::After(wait) => wait,
            NextPoll::Never => panic!("expected a poll"),
        }
    }

    fn running(seconds: u64) -> LastOutcome {
        LastOutcome::InProgress {
            running_for: Duration::from_secs(seconds),
        }
    }

    fn error(class: ErrorClass, consecutive: u32) -> LastOutcome {
        LastOutcome::CloudError {
            class,
            consecutive,
            retry_after: None,
        }
    }

    #[test]
    fn a_finished_job_is_never_polled_again() {
        let input = ScheduleInput {
            policy: POLICY,
            outcome: LastOutcome::Finished,
            until_deadline: Some(Duration::from_secs(1)),
            jitter: 0.5,
        };
        assert_eq!(next_poll(&input), NextPoll::Never);
    }

    #[test]
    fn a_young_job_is_polled_at_its_interval_with_bounded_jitter() {
        assert_eq!(after(running(30), 0.5), Duration::from_secs(15));
        assert_eq!(after(running(30), 0.0), Duration::from_millis(13_500));
        assert!(after(running(30), 0.999) <= Duration::from_millis(16_500));
    }

    #[test]
    fn a_long_job_is_polled_less_often_up_to_the_cap() {
        assert_eq!(after(running(600), 0.5), Duration::from_secs(60));
        assert_eq!(after(running(3600), 0.5), Duration::from_secs(300));
        assert_eq!(after(running(86_400), 0.5), Duration::from_secs(300));
    }

    #[test]
    fn transient_errors_back_off_exponentially_with_jitter_and_a_cap() {
        let waits: Vec<Duration> = (1..=8)
            .map(|n| after(error(ErrorClass::Transient, n), 1.0))
            .collect();
        assert_eq!(waits[0], Duration::from_secs(5));
        assert_eq!(waits[1], Duration::from_secs(10));
        assert_eq!(waits[7], ERROR_BACKOFF_MAX);
        assert!(waits.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(
            after(error(ErrorClass::Transient, 1), 0.0),
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn throttling_honours_retry_after_and_a_floor() {
        let throttled = |retry_after| LastOutcome::CloudError {
            class: ErrorClass::Throttled,
            consecutive: 1,
            retry_after,
        };
        assert_eq!(
            after(throttled(Some(Duration::from_secs(42))), 0.5),
            Duration::from_secs(42)
        );
        assert!(after(throttled(None), 0.0) >= THROTTLE_MIN);
    }

    #[test]
    fn rejected_credentials_are_never_retried_quickly() {
        for consecutive in 1..=5 {
            for jitter in [0.0, 0.5, 0.999] {
                assert!(after(error(ErrorClass::Auth, consecutive), jitter) >= POLICY.auth_retry);
            }
        }
    }

    #[test]
    fn problems_for_a_person_are_rechecked_patiently() {
        assert!(after(LastOutcome::NeedsPerson { consecutive: 1 }, 0.0) >= NEEDS_PERSON_BASE);
        assert!(after(LastOutcome::NeedsPerson { consecutive: 9 }, 1.0) <= NEEDS_PERSON_MAX);
        assert!(after(error(ErrorClass::NotFound, 1), 0.0) >= NEEDS_PERSON_BASE);
    }

    #[test]
    fn the_deadline_brings_the_next_poll_forward() {
        let input = ScheduleInput {
            policy: POLICY,
            outcome: running(30),
            until_deadline: Some(Duration::from_secs(3)),
            jitter: 0.5,
        };
        assert_eq!(next_poll(&input), NextPoll::After(Duration::from_secs(3)));
    }
}
