//! Asks the cloud for a job, kindly: one pooled client per endpoint, a shared rate limit per
//! endpoint and access key, a pause after throttling, and a breaker that stops using rejected
//! credentials long before Huawei's five-failure lockout.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::bms::{BmsClient, ClientOptions, CloudError, Credentials, ErrorClass, JobResponse};

/// Where and what to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQuery {
    pub endpoint: String,
    pub project_id: String,
    pub job_id: String,
}

/// The reconciler's view of the cloud; tests replace it to script call sequences.
pub trait JobFetcher: Send + Sync {
    fn fetch<'a>(
        &'a self,
        query: &'a JobQuery,
        credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<JobResponse, CloudError>>;

    /// How many access keys are paused after authentication failures.
    fn paused_keys(&self) -> usize {
        0
    }
}

/// Limits that protect the cloud account.
#[derive(Debug, Clone)]
pub struct CloudLimits {
    /// Requests per second per endpoint and access key.
    pub rate_per_second: NonZeroU32,
    pub burst: NonZeroU32,
    /// Pause after the first and second consecutive authentication failure (times their count).
    pub auth_retry: Duration,
    /// Pause after the third consecutive authentication failure, doubling after each further one.
    pub auth_pause: Duration,
    pub client: ClientOptions,
}

/// Consecutive authentication failures before the long pause.
pub const AUTH_FAILURES_BEFORE_PAUSE: u32 = 3;
/// Longest pause of a key whose credentials keep being rejected.
pub const AUTH_PAUSE_MAX: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
struct KeyState {
    auth_failures: u32,
    paused_until: Option<Instant>,
    last_auth_error: String,
    throttled_until: Option<Instant>,
    /// The cloud accepted these credentials last time it judged them.
    trusted: bool,
    /// Held by the one request in flight while the credentials are not trusted.
    probe: Arc<tokio::sync::Mutex<()>>,
}

type LimitKey = (String, String);

/// The production [`JobFetcher`].
pub struct CloudFetcher {
    limits: CloudLimits,
    clients: Mutex<HashMap<String, BmsClient>>,
    keys: Mutex<HashMap<LimitKey, KeyState>>,
    limiter: DefaultKeyedRateLimiter<LimitKey>,
}

impl CloudFetcher {
    pub fn new(limits: CloudLimits) -> Self {
        let quota = Quota::per_second(limits.rate_per_second).allow_burst(limits.burst);
        Self {
            limits,
            clients: Mutex::default(),
            keys: Mutex::default(),
            limiter: RateLimiter::keyed(quota),
        }
    }

    fn client(&self, endpoint: &str) -> Result<BmsClient, CloudError> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(client) = clients.get(endpoint) {
            return Ok(client.clone());
        }
        let client = BmsClient::new(endpoint, self.limits.client.clone())?;
        clients.insert(endpoint.to_owned(), client.clone());
        Ok(client)
    }

    fn with_key<T>(&self, key: &LimitKey, action: impl FnOnce(&mut KeyState) -> T) -> T {
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        action(keys.entry(key.clone()).or_default())
    }

    fn count_paused_keys(&self) -> usize {
        let now = Instant::now();
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        keys.values()
            .filter(|state| state.paused_until.is_some_and(|until| until > now))
            .count()
    }

    fn pause_after(&self, failures: u32) -> Duration {
        if failures < AUTH_FAILURES_BEFORE_PAUSE {
            return self.limits.auth_retry.saturating_mul(failures.max(1));
        }
        let doublings = (failures - AUTH_FAILURES_BEFORE_PAUSE).min(16);
        self.limits
            .auth_pause
            .saturating_mul(1 << doublings)
            .min(AUTH_PAUSE_MAX.max(self.limits.auth_pause))
    }

    fn record(&self, key: &LimitKey, result: &Result<JobResponse, CloudError>) {
        let now = Instant::now();
        self.with_key(key, |state| match result {
            Err(error) if error.class() == ErrorClass::Auth => {
                state.trusted = false;
                state.auth_failures += 1;
                state.paused_until = Some(now + self.pause_after(state.auth_failures));
                state.last_auth_error = error.summary();
            }
            Err(error) if error.class() == ErrorClass::Throttled => {
                let wait = error.retry_after().unwrap_or(crate::schedule::THROTTLE_MIN);
                state.throttled_until = Some(now + wait);
            }
            Ok(_) => {
                state.trusted = true;
                state.auth_failures = 0;
                state.paused_until = None;
            }
            Err(_) => {}
        });
    }

    async fn fetch_job(
        &self,
        query: &JobQuery,
        credentials: &Credentials,
    ) -> Result<JobResponse, CloudError> {
        let key = (
            query.endpoint.clone(),
            credentials.fingerprint_with_secret(),
        );
        // Credentials the cloud has not accepted yet (new, or rejected last time) are tried by
        // one request at a time: BmsJobs sharing a wrong key must not send the cloud more
        // failures in a row than the breaker allows, however many are due at once.
        let probe = self.with_key(&key, |state| (!state.trusted).then(|| state.probe.clone()));
        let _probe = match probe {
            Some(probe) => {
                let guard = probe.lock_owned().await;
                (!self.with_key(&key, |state| state.trusted)).then_some(guard)
            }
            None => None,
        };
        loop {
            let now = Instant::now();
            let (paused_until, throttled_until, last) = self.with_key(&key, |state| {
                (
                    state.paused_until.filter(|until| *until > now),
                    state.throttled_until.filter(|until| *until > now),
                    state.last_auth_error.clone(),
                )
            });
            if let Some(until) = paused_until {
                return Err(CloudError::AuthPaused {
                    remaining: until - now,
                    last,
                });
            }
            if let Some(until) = throttled_until {
                tokio::time::sleep_until(until).await;
            }
            self.limiter.until_key_ready(&key).await;
            // A request that waited for its turn while the cloud throttled (or rejected) the
            // key meanwhile waits again rather than go out at once.
            let now = Instant::now();
            let held_back = self.with_key(&key, |state| {
                state.throttled_until.is_some_and(|until| until > now)
                    || state.paused_until.is_some_and(|until| until > now)
            });
            if !held_back {
                break;
            }
        }
        let client = self.client(&query.endpoint)?;
        let result = client
            .get_job(&query.project_id, &query.job_id, credentials)
            .await;
        self.record(&key, &result);
        result
    }
}

impl JobFetcher for CloudFetcher {
    fn fetch<'a>(
        &'a self,
        query: &'a JobQuery,
        credentials: &'a Credentials,
    ) -> BoxFuture<'a, Result<JobResponse, CloudError>> {
        Box::pin(self.fetch_job(query, credentials))
    }

    fn paused_keys(&self) -> usize {
        self.count_paused_keys()
    }
}

/// Shared handle used by the reconciler.
pub type SharedFetcher = Arc<dyn JobFetcher>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::auth::SimCredential;
    use crate::sim::counters::Outcome;
    use crate::sim::faults::{FaultKind, FaultSpec};
    use crate::sim::{SimConfig, SimHandle, spawn};

    const AK: &str = "FETCHERTESTAK0000001";
    const SK: &str = "fetcherTestSecretKey000000000000000001";
    const PROJECT: &str = "0a8c7f3e2b1d4e5f9a6b7c8d9e0f1a2b";

    async fn sim_with_job() -> (SimHandle, JobQuery) {
        let sim = spawn(SimConfig {
            credentials: vec![SimCredential::parse(&format!("{AK}:{SK}")).expect("credential")],
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        let spec = serde_json::from_value(serde_json::json!({
            "project_id": PROJECT, "job_type": "baremetalReinstallOs", "duration": "1h"
        }))
        .expect("job spec");
        let job = sim.state().add_job(spec).expect("job");
        let query = JobQuery {
            endpoint: sim.url(),
            project_id: PROJECT.into(),
            job_id: job.job.job_id().to_owned(),
        };
        (sim, query)
    }

    fn fetcher(rate: u32) -> CloudFetcher {
        let rate = NonZeroU32::new(rate).expect("rate");
        CloudFetcher::new(CloudLimits {
            rate_per_second: rate,
            burst: rate,
            auth_retry: Duration::from_secs(60),
            auth_pause: Duration::from_secs(600),
            client: ClientOptions::default(),
        })
    }

    #[tokio::test]
    async fn unproven_credentials_are_tried_by_one_request_at_a_time() {
        let (sim, query) = sim_with_job().await;
        let fetcher = fetcher(100);
        let wrong = Credentials::new(AK, "not-the-secret-key");
        let results =
            futures::future::join_all((0..8).map(|_| fetcher.fetch(&query, &wrong))).await;
        let rejected = results
            .iter()
            .filter(|result| matches!(result, Err(CloudError::Api { .. })))
            .count();
        let paused = results
            .iter()
            .filter(|result| matches!(result, Err(CloudError::AuthPaused { .. })))
            .count();
        assert_eq!((rejected, paused), (1, 7), "{results:?}");
        let counters = sim.state().counters();
        assert_eq!(counters.access_keys[AK].longest_auth_failure_streak, 1);

        // Right credentials: the first answer proves them, and the rest go out together.
        let right = Credentials::new(AK, SK);
        let results =
            futures::future::join_all((0..8).map(|_| fetcher.fetch(&query, &right))).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(fetcher.paused_keys(), 1, "only the wrong key is paused");
    }

    #[tokio::test]
    async fn requests_waiting_for_their_turn_honour_a_throttle_that_came_meanwhile() {
        let (sim, query) = sim_with_job().await;
        let fetcher = Arc::new(fetcher(1));
        let credentials = Credentials::new(AK, SK);
        fetcher
            .fetch(&query, &credentials)
            .await
            .expect("credentials proven");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let mut throttle = FaultSpec::new(FaultKind::Throttle);
        throttle.count = Some(1);
        throttle.retry_after_seconds = Some(3);
        sim.state().add_fault(throttle).expect("fault");
        // One request goes out at once and is throttled; the others wait for the limiter (one
        // per second), then for the Retry-After of 3 s.
        let started = Instant::now();
        let requests = (0..3).map(|_| {
            let fetcher = fetcher.clone();
            let query = query.clone();
            let credentials = credentials.clone();
            tokio::spawn(async move { fetcher.fetch(&query, &credentials).await })
        });
        let handles: Vec<_> = requests.collect();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let counters = sim.state().counters();
        assert_eq!(
            (counters.all.requests, counters.all.count(Outcome::Fault)),
            (2, 1),
            "nothing but the throttled request within Retry-After"
        );
        for handle in handles {
            let _ = handle.await.expect("request task");
        }
        assert!(started.elapsed() >= Duration::from_secs(3));
        assert_eq!(sim.state().counters().all.requests, 4);
    }
}
