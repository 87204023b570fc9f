//! What every reconcile shares: the Kubernetes client, the cloud, settings and the memory of
//! when each BmsJob is due.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::fetcher::SharedFetcher;
use crate::bms::Credentials;
use crate::metrics::Metrics;

/// Field manager of every status write.
pub const FIELD_MANAGER: &str = "bms-job-operator";
/// Annotation whose new value forces one immediate poll.
pub const RECONCILE_NOW_ANNOTATION: &str = "bms.operator.dev/reconcile-now";

/// Operator-wide settings of the reconciler.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Poll interval when `spec.pollInterval` is absent.
    pub default_interval: Duration,
    /// Longest interval however long a job runs.
    pub max_interval: Duration,
    /// Least wait after rejected credentials.
    pub auth_retry: Duration,
    /// Credentials for BmsJobs that name no Secret.
    pub default_credentials: Option<Credentials>,
}

/// Identifies a BmsJob in the operator's memory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

/// What the operator remembers of a BmsJob between reconciles.
#[derive(Debug, Clone, PartialEq)]
pub struct PollMemory {
    /// The object remembered: a BmsJob deleted and created again under its name is another.
    pub uid: Option<String>,
    pub generation: Option<i64>,
    pub next_poll_at: Instant,
    /// Failures in a row (cloud errors or problems a person must fix).
    pub consecutive_failures: u32,
    pub reconcile_now: Option<String>,
}

pub struct Context {
    pub client: kube::Client,
    /// Publishes Events; `None` in tests that do not look at Events.
    pub recorder: Option<kube::runtime::events::Recorder>,
    pub fetcher: SharedFetcher,
    pub settings: Settings,
    pub metrics: Metrics,
    memory: Mutex<HashMap<ObjectKey, PollMemory>>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        fetcher: SharedFetcher,
        settings: Settings,
        metrics: Metrics,
    ) -> Self {
        Self {
            client,
            recorder: None,
            fetcher,
            settings,
            metrics,
            memory: Mutex::default(),
        }
    }

    /// Publishes Events as `reporter` (the operator's name and this replica's identity).
    pub fn with_events(mut self, reporter: kube::runtime::events::Reporter) -> Self {
        self.recorder = Some(kube::runtime::events::Recorder::new(
            self.client.clone(),
            reporter,
        ));
        self
    }

    pub fn recall(&self, key: &ObjectKey) -> Option<PollMemory> {
        let memory = self
            .memory
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        memory.get(key).cloned()
    }

    pub fn remember(&self, key: ObjectKey, value: PollMemory) {
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        memory.insert(key, value);
    }

    /// Every BmsJob remembered.
    pub fn remembered(&self) -> Vec<ObjectKey> {
        let memory = self
            .memory
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        memory.keys().cloned().collect()
    }

    pub fn forget(&self, key: &ObjectKey) {
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        memory.remove(key);
    }
}
