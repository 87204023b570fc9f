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
                state.auth_failures += 1;
                state.paused_until = Some(now + self.pause_after(state.auth_failures));
                state.last_auth_error = error.summary();
            }
            Err(error) if error.class() == ErrorClass::Throttled => {
                let wait = error.retry_after().unwrap_or(crate::schedule::THROTTLE_MIN);
                state.throttled_until = Some(now + wait);
            }
            Ok(_) => {
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
