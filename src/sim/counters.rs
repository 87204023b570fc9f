//! Request counters: per job and per access key, by outcome, with each key's run of
//! consecutive authentication failures. Readable as JSON (`GET /admin/counters`) and as
//! Prometheus metrics (`GET /metrics`). Access keys are not secret in a simulator, so they are
//! labels as they are; secret keys, tokens and signatures never appear.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use super::faults::FaultKind;
use super::lockout::KeyStatus;

/// Access-key label of a request that named none.
pub const NO_ACCESS_KEY: &str = "(none)";
/// Access-key label of a request authenticated by `X-Auth-Token`.
pub const TOKEN_ACCESS_KEY: &str = "(token)";

/// How a request to the job endpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// HTTP 200 with the job.
    Ok,
    /// HTTP 401: signature, date, token or access key rejected.
    AuthFailed,
    /// HTTP 401: the access key is locked.
    Locked,
    /// HTTP 400 `Common.0011`: no such job in that project.
    NotFound,
    /// HTTP 400 `Common.0018`: `X-Project-Id` differs from the URL's project.
    ProjectMismatch,
    /// HTTP 429 from the global rate limit.
    Throttled,
    /// An injected fault answered (or dropped) the request.
    Fault,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::AuthFailed => "auth_failed",
            Self::Locked => "locked",
            Self::NotFound => "not_found",
            Self::ProjectMismatch => "project_mismatch",
            Self::Throttled => "throttled",
            Self::Fault => "fault",
        }
    }

    fn is_auth_failure(self) -> bool {
        matches!(self, Self::AuthFailed | Self::Locked)
    }

    /// Whether the request passed authentication.
    fn is_authenticated(self) -> bool {
        matches!(
            self,
            Self::Ok | Self::NotFound | Self::ProjectMismatch | Self::Fault
        )
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    job_id: String,
    access_key: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    kind: String,
    job_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    access_key: String,
}

/// Requests counted, in total and by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub requests: u64,
    pub by_outcome: BTreeMap<Outcome, u64>,
}

impl Tally {
    fn add(&mut self, outcome: Outcome) {
        self.requests += 1;
        *self.by_outcome.entry(outcome).or_default() += 1;
    }

    /// Requests with this outcome.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.by_outcome.get(&outcome).copied().unwrap_or_default()
    }
}

/// One access key's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyTally {
    #[serde(flatten)]
    pub tally: Tally,
    /// Authentication failures (401s, locked refusals included) since the last success.
    pub consecutive_auth_failures: u64,
    /// The longest such run ever seen (since the last reset).
    pub longest_auth_failure_streak: u64,
    /// The lockout's view: failures counting towards the next lock, and the lock.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub lockout: Option<KeyStatus>,
}

/// Everything counted, as `GET /admin/counters` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub all: Tally,
    pub jobs: BTreeMap<String, Tally>,
    pub access_keys: BTreeMap<String, KeyTally>,
    pub faults_injected: BTreeMap<FaultKind, u64>,
}

#[derive(Debug, Default)]
struct Tallies {
    snapshot: Snapshot,
}

/// The counters and the Prometheus registry that exposes them.
#[derive(Debug)]
pub struct Counters {
    tallies: Mutex<Tallies>,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    faults: Family<FaultLabels, Counter>,
    consecutive: Family<KeyLabels, Gauge>,
    longest: Family<KeyLabels, Gauge>,
    locked: Family<KeyLabels, Gauge>,
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

impl Counters {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let faults = Family::<FaultLabels, Counter>::default();
        let consecutive = Family::<KeyLabels, Gauge>::default();
        let longest = Family::<KeyLabels, Gauge>::default();
        let locked = Family::<KeyLabels, Gauge>::default();
        registry.register(
            "bms_sim_requests",
            "Requests to the job endpoint, by job id, access key and outcome",
            requests.clone(),
        );
        registry.register(
            "bms_sim_faults_injected",
            "Requests answered or delayed by an injected fault, by kind and job id",
            faults.clone(),
        );
        registry.register(
            "bms_sim_auth_consecutive_failures",
            "Authentication failures in a row for an access key since its last success",
            consecutive.clone(),
        );
        registry.register(
            "bms_sim_auth_longest_failure_streak",
            "Longest run of consecutive authentication failures seen for an access key",
            longest.clone(),
        );
        registry.register(
            "bms_sim_access_key_locked",
            "1 while an access key is locked out, else 0",
            locked.clone(),
        );
        Self {
            tallies: Mutex::default(),
            registry,
            requests,
            faults,
            consecutive,
            longest,
            locked,
        }
    }

    /// Counts one request to `job_id` by `access_key` that ended with `outcome`.
    pub fn record(&self, job_id: &str, access_key: &str, outcome: Outcome) {
        self.requests
            .get_or_create(&RequestLabels {
                job_id: job_id.to_owned(),
                access_key: access_key.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
        let mut tallies = super::lock(&self.tallies);
        let snapshot = &mut tallies.snapshot;
        snapshot.all.add(outcome);
        snapshot
            .jobs
            .entry(job_id.to_owned())
            .or_default()
            .add(outcome);
        let key = snapshot
            .access_keys
            .entry(access_key.to_owned())
            .or_default();
        key.tally.add(outcome);
        if outcome.is_auth_failure() {
            key.consecutive_auth_failures += 1;
            key.longest_auth_failure_streak = key
                .longest_auth_failure_streak
                .max(key.consecutive_auth_failures);
        } else if outcome.is_authenticated() {
            key.consecutive_auth_failures = 0;
        }
        let labels = KeyLabels {
            access_key: access_key.to_owned(),
        };
        self.consecutive
            .get_or_create(&labels)
            .set(i64::try_from(key.consecutive_auth_failures).unwrap_or(i64::MAX));
        self.longest
            .get_or_create(&labels)
            .set(i64::try_from(key.longest_auth_failure_streak).unwrap_or(i64::MAX));
    }

    /// Counts a fault applied to a request for `job_id`.
    pub fn record_fault(&self, job_id: &str, kind: FaultKind) {
        self.faults
            .get_or_create(&FaultLabels {
                kind: kind.name().to_owned(),
                job_id: job_id.to_owned(),
            })
            .inc();
        *super::lock(&self.tallies)
            .snapshot
            .faults_injected
            .entry(kind)
            .or_default() += 1;
    }

    /// Everything counted; `lockout` gives each access key's lock state.
    pub fn snapshot(&self, lockout: impl Fn(&str) -> KeyStatus) -> Snapshot {
        let mut snapshot = super::lock(&self.tallies).snapshot.clone();
        for (access_key, tally) in &mut snapshot.access_keys {
            if access_key != NO_ACCESS_KEY && access_key != TOKEN_ACCESS_KEY {
                tally.lockout = Some(lockout(access_key));
            }
        }
        snapshot
    }

    /// Forgets every count (lock states are not counters and stay).
    pub fn reset(&self) {
        *super::lock(&self.tallies) = Tallies::default();
        self.requests.clear();
        self.faults.clear();
        self.consecutive.clear();
        self.longest.clear();
        self.locked.clear();
    }

    /// The metrics in the OpenMetrics text format; `locked` lists each access key with a lock
    /// state and whether it is locked now.
    pub fn encode(&self, locked: &[(String, bool)]) -> String {
        for (access_key, is_locked) in locked {
            self.locked
                .get_or_create(&KeyLabels {
                    access_key: access_key.clone(),
                })
                .set(i64::from(*is_locked));
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_lock(_: &str) -> KeyStatus {
        KeyStatus {
            failures_towards_lock: 0,
            locked_until: None,
        }
    }

    #[test]
    fn counts_by_job_key_and_outcome_with_failure_runs() {
        let counters = Counters::new();
        for outcome in [
            Outcome::AuthFailed,
            Outcome::AuthFailed,
            Outcome::Locked,
            Outcome::Throttled,
            Outcome::Ok,
            Outcome::AuthFailed,
        ] {
            counters.record("j1", "AK", outcome);
        }
        counters.record("j2", "AK2", Outcome::NotFound);
        counters.record_fault("j1", FaultKind::Throttle);
        let snapshot = counters.snapshot(no_lock);
        assert_eq!(snapshot.all.requests, 7);
        assert_eq!(snapshot.jobs["j1"].count(Outcome::AuthFailed), 3);
        assert_eq!(snapshot.jobs["j2"].count(Outcome::NotFound), 1);
        let key = &snapshot.access_keys["AK"];
        assert_eq!(key.tally.requests, 6);
        assert_eq!(key.consecutive_auth_failures, 1);
        assert_eq!(key.longest_auth_failure_streak, 3);
        assert_eq!(snapshot.faults_injected[&FaultKind::Throttle], 1);
        let json = serde_json::to_value(&snapshot).expect("json");
        assert_eq!(json["access_keys"]["AK"]["by_outcome"]["auth_failed"], 3);
        assert_eq!(json["access_keys"]["AK"]["longest_auth_failure_streak"], 3);
        assert_eq!(json["access_keys"]["AK"]["failures_towards_lock"], 0);
        assert_eq!(json["faults_injected"]["throttle"], 1);
    }

    #[test]
    fn metrics_carry_job_key_and_outcome_labels() {
        let counters = Counters::new();
        counters.record("j1", "AK", Outcome::Ok);
        counters.record("j1", "AK", Outcome::AuthFailed);
        let text = counters.encode(&[("AK".into(), true)]);
        assert!(
            text.contains(r#"bms_sim_requests_total{job_id="j1",access_key="AK",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"bms_sim_auth_longest_failure_streak{access_key="AK"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"bms_sim_access_key_locked{access_key="AK"} 1"#),
            "{text}"
        );
        counters.reset();
        assert_eq!(counters.snapshot(no_lock), Snapshot::default());
        assert!(!counters.encode(&[]).contains("j1"));
    }
}
