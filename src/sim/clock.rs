//! The simulator's time source: the system clock, or a manual clock that tests move by hand.
//!
//! Everything that depends on time (job timelines, `X-Sdk-Date` skew, lock expiry) reads it
//! from a [`Clock`], so tests can replay a signing vector at its own date or walk a job through
//! its life without sleeping.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        *super::lock(&self.now) = now;
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = super::lock(&self.now);
        *now = add(*now, by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *super::lock(&self.now)
    }
}

/// `at + by`, saturating at the largest timestamp.
pub fn add(at: Timestamp, by: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(by)
        .ok()
        .and_then(|by| at.checked_add(by).ok())
        .unwrap_or(Timestamp::MAX)
}

/// `later - earlier` as a non-negative duration (zero when `later` is earlier).
pub fn since(later: Timestamp, earlier: Timestamp) -> Duration {
    Duration::try_from(later.duration_since(earlier)).unwrap_or_default()
}

/// ISO-8601 UTC with milliseconds, as the job API writes times: `2016-04-25T20:04:47.591Z`.
pub fn format_time(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_a_z() {
        let at: Timestamp = "2016-04-25T20:04:47.591823Z".parse().expect("timestamp");
        assert_eq!(format_time(at), "2016-04-25T20:04:47.591Z");
        let whole: Timestamp = "2026-12-04T10:00:00Z".parse().expect("timestamp");
        assert_eq!(format_time(whole), "2026-12-04T10:00:00.000Z");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start: Timestamp = "2026-12-04T10:00:00Z".parse().expect("timestamp");
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(since(clock.now(), start), Duration::from_millis(1500));
        assert_eq!(since(start, clock.now()), Duration::ZERO);
    }
}
