//! Access-key lockout, as the API gateway does it: a number of consecutive authentication
//! failures locks the access key for a while; a locked key is refused even with a correct
//! signature until the lock expires; a success resets the count.
//!
//! Refusals of a locked key do not extend the lock. When a lock expires the count starts again
//! from zero.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::clock::{add, format_time};

/// When to lock and for how long; `failures == 0` disables locking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub failures: u32,
    pub duration: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            failures: 5,
            duration: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct KeyState {
    failures: u32,
    locked_until: Option<Timestamp>,
}

/// What the lockout knows about one access key, for counters and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    /// Failures in a row that count towards the next lock.
    pub failures_towards_lock: u32,
    /// When the current lock ends, if the key is locked.
    #[serde(serialize_with = "serialize_optional_time")]
    pub locked_until: Option<Timestamp>,
}

fn serialize_optional_time<S: serde::Serializer>(
    at: &Option<Timestamp>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&format_time(*at)),
        None => serializer.serialize_none(),
    }
}

/// The lock state of every access key seen.
#[derive(Debug, Default)]
pub struct Lockout {
    policy: LockoutPolicy,
    keys: HashMap<String, KeyState>,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            keys: HashMap::new(),
        }
    }

    pub fn policy(&self) -> LockoutPolicy {
        self.policy
    }

    fn expire(&mut self, access_key: &str, now: Timestamp) {
        if let Some(state) = self.keys.get_mut(access_key)
            && state.locked_until.is_some_and(|until| now >= until)
        {
            *state = KeyState::default();
        }
    }

    /// `Err(until)` while the key is locked.
    pub fn check(&mut self, access_key: &str, now: Timestamp) -> Result<(), Timestamp> {
        self.expire(access_key, now);
        match self
            .keys
            .get(access_key)
            .and_then(|state| state.locked_until)
        {
            Some(until) => Err(until),
            None => Ok(()),
        }
    }

    /// Records a failed authentication; returns when the key is locked until, if this failure
    /// locked it.
    pub fn record_failure(&mut self, access_key: &str, now: Timestamp) -> Option<Timestamp> {
        self.expire(access_key, now);
        let policy = self.policy;
        let state = self.keys.entry(access_key.to_owned()).or_default();
        if state.locked_until.is_some() {
            return None;
        }
        state.failures = state.failures.saturating_add(1);
        if policy.failures > 0 && state.failures >= policy.failures {
            let until = add(now, policy.duration);
            state.locked_until = Some(until);
            return Some(until);
        }
        None
    }

    /// Records a successful authentication: the count starts again.
    pub fn record_success(&mut self, access_key: &str) {
        self.keys.remove(access_key);
    }

    /// The key's state at `now`.
    pub fn status(&self, access_key: &str, now: Timestamp) -> KeyStatus {
        match self.keys.get(access_key) {
            Some(state) if state.locked_until.is_some_and(|until| now >= until) => KeyStatus {
                failures_towards_lock: 0,
                locked_until: None,
            },
            Some(state) => KeyStatus {
                failures_towards_lock: state.failures,
                locked_until: state.locked_until,
            },
            None => KeyStatus {
                failures_towards_lock: 0,
                locked_until: None,
            },
        }
    }

    /// Every access key with a state.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: u64) -> Timestamp {
        let start: Timestamp = "2026-12-04T10:00:00Z".parse().expect("timestamp");
        add(start, Duration::from_secs(seconds))
    }

    fn lockout() -> Lockout {
        Lockout::new(LockoutPolicy {
            failures: 5,
            duration: Duration::from_secs(300),
        })
    }

    #[test]
    fn five_failures_lock_for_five_minutes() {
        let mut lockout = lockout();
        for attempt in 1..=4 {
            assert_eq!(lockout.record_failure("AK", t(attempt)), None);
            assert!(lockout.check("AK", t(attempt)).is_ok());
        }
        assert_eq!(lockout.status("AK", t(4)).failures_towards_lock, 4);
        assert_eq!(lockout.record_failure("AK", t(5)), Some(t(305)));
        assert_eq!(lockout.check("AK", t(6)), Err(t(305)));
        assert_eq!(lockout.check("AK", t(304)), Err(t(305)));
        assert_eq!(lockout.status("AK", t(100)).locked_until, Some(t(305)));
        assert!(lockout.check("AK", t(305)).is_ok());
        assert_eq!(lockout.status("AK", t(305)).failures_towards_lock, 0);
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lock() {
        let mut lockout = lockout();
        for attempt in 0..5 {
            lockout.record_failure("AK", t(attempt));
        }
        assert_eq!(lockout.record_failure("AK", t(200)), None);
        assert_eq!(lockout.check("AK", t(299)), Err(t(304)));
        assert!(lockout.check("AK", t(304)).is_ok());
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut lockout = lockout();
        for attempt in 0..4 {
            lockout.record_failure("AK", t(attempt));
        }
        lockout.record_success("AK");
        for attempt in 10..14 {
            assert_eq!(lockout.record_failure("AK", t(attempt)), None);
        }
        assert!(lockout.check("AK", t(15)).is_ok());
    }

    #[test]
    fn keys_are_counted_apart() {
        let mut lockout = lockout();
        for attempt in 0..5 {
            lockout.record_failure("AK1", t(attempt));
        }
        assert!(lockout.check("AK1", t(6)).is_err());
        assert!(lockout.check("AK2", t(6)).is_ok());
        assert_eq!(lockout.keys().count(), 1);
    }

    #[test]
    fn zero_failures_disables_locking() {
        let mut lockout = Lockout::new(LockoutPolicy {
            failures: 0,
            duration: Duration::from_secs(300),
        });
        for attempt in 0..50 {
            assert_eq!(lockout.record_failure("AK", t(attempt)), None);
        }
        assert!(lockout.check("AK", t(60)).is_ok());
    }
}
