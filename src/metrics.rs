//! The operator's Prometheus metrics (`prometheus-client`), served on `/metrics`.
//!
//! Names follow Prometheus conventions: `_total` counters, `_seconds` durations, base units.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::Phase;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloudRequestLabels {
    /// `success`, or the error class.
    pub outcome: String,
    /// The cloud's error code, empty when none.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    pub class: String,
}

/// Classes of `reconcile_errors` (see `ReconcileError::class`) exported from the start.
const RECONCILE_ERROR_CLASSES: &[&str] = &["read_secret", "write_status"];

/// Phases of the `jobs` gauge.
const PHASES: [Phase; 5] = [
    Phase::Pending,
    Phase::Running,
    Phase::Succeeded,
    Phase::Failed,
    Phase::Unknown,
];

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn lag_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.5, 2.0, 14))
}

/// Every metric the operator exports; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Arc<Registry>,
    pub cloud_requests: Family<CloudRequestLabels, Counter>,
    pub cloud_request_duration: Histogram,
    pub jobs: Family<PhaseLabels, Gauge>,
    pub reconciles: Counter,
    pub reconcile_errors: Family<ClassLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub status_writes: Counter,
    pub detection_lag: Histogram,
    pub time_to_first_status: Histogram,
    pub auth_breaker_open: Gauge,
    phases: Arc<Mutex<HashMap<(String, String), Phase>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bms_operator");
        let metrics = Self {
            registry: Arc::new(Registry::default()),
            cloud_requests: Family::default(),
            cloud_request_duration: seconds_histogram(),
            jobs: Family::default(),
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: seconds_histogram(),
            status_writes: Counter::default(),
            detection_lag: lag_histogram(),
            time_to_first_status: lag_histogram(),
            auth_breaker_open: Gauge::default(),
            phases: Arc::default(),
        };
        registry.register(
            "cloud_requests",
            "Requests to the cloud job endpoint, by outcome and cloud error code",
            metrics.cloud_requests.clone(),
        );
        registry.register(
            "cloud_request_duration_seconds",
            "Latency of requests to the cloud job endpoint",
            metrics.cloud_request_duration.clone(),
        );
        registry.register("jobs", "BmsJobs by phase", metrics.jobs.clone());
        registry.register("reconciles", "Reconciles run", metrics.reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by error class",
            metrics.reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles",
            metrics.reconcile_duration.clone(),
        );
        registry.register(
            "status_writes",
            "Status writes to the Kubernetes API",
            metrics.status_writes.clone(),
        );
        registry.register(
            "detection_lag_seconds",
            "Time from a job's end_time in the cloud to the status that shows it",
            metrics.detection_lag.clone(),
        );
        registry.register(
            "time_to_first_status_seconds",
            "Time from a BmsJob's creation to its first status",
            metrics.time_to_first_status.clone(),
        );
        registry.register(
            "auth_breaker_open",
            "Access keys paused after authentication failures",
            metrics.auth_breaker_open.clone(),
        );
        // Known label values exist from the start, at zero: a series that appears only with
        // its first increment hides that increment from `increase()` and `rate()`.
        for class in RECONCILE_ERROR_CLASSES {
            metrics
                .reconcile_errors
                .get_or_create(&ClassLabels {
                    class: (*class).to_owned(),
                })
                .inc_by(0);
        }
        for phase in PHASES {
            metrics
                .jobs
                .get_or_create(&PhaseLabels {
                    phase: phase.as_str().to_owned(),
                })
                .set(0);
        }
        Self {
            registry: Arc::new(registry),
            ..metrics
        }
    }

    /// Records one cloud request.
    pub fn cloud_request(&self, outcome: &str, code: Option<&str>, elapsed: Duration) {
        self.cloud_requests
            .get_or_create(&CloudRequestLabels {
                outcome: outcome.to_owned(),
                code: code.unwrap_or_default().to_owned(),
            })
            .inc();
        self.cloud_request_duration.observe(elapsed.as_secs_f64());
    }

    /// Sets the phase of one BmsJob (`None` when it is gone) and refreshes the per-phase gauge.
    pub fn set_phase(&self, namespace: &str, name: &str, phase: Option<Phase>) {
        let mut phases = self
            .phases
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let key = (namespace.to_owned(), name.to_owned());
        match phase {
            Some(phase) => phases.insert(key, phase),
            None => phases.remove(&key),
        };
        for phase in PHASES {
            let count = phases.values().filter(|known| **known == phase).count();
            self.jobs
                .get_or_create(&PhaseLabels {
                    phase: phase.as_str().to_owned(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// The BmsJobs counted in the `jobs` gauge, as `(namespace, name)`.
    pub fn counted_jobs(&self) -> Vec<(String, String)> {
        let phases = self
            .phases
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        phases.keys().cloned().collect()
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_registry_exports_every_family_with_its_known_series_at_zero() {
        let text = Metrics::new().encode().expect("encodes");
        for family in [
            "cloud_request_duration_seconds",
            "jobs",
            "reconciles",
            "reconcile_errors",
            "reconcile_duration_seconds",
            "status_writes",
            "detection_lag_seconds",
            "time_to_first_status_seconds",
            "auth_breaker_open",
        ] {
            assert!(
                text.contains(&format!("# TYPE bms_operator_{family} ")),
                "{family} missing:\n{text}"
            );
        }
        for series in [
            r#"bms_operator_reconcile_errors_total{class="read_secret"} 0"#,
            r#"bms_operator_reconcile_errors_total{class="write_status"} 0"#,
            r#"bms_operator_jobs{phase="Pending"} 0"#,
            r#"bms_operator_jobs{phase="Succeeded"} 0"#,
        ] {
            assert!(text.contains(series), "{series} missing:\n{text}");
        }
    }
}
