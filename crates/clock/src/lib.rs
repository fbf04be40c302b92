//! The one place in the workspace that reads the wall clock.
//!
//! Engines (CA, store, orders, identity provider) never ask for the time: they take `now` as
//! an argument, so certificate validity, expiry of codes and tokens and CRL schedules can be
//! tested deterministically. The binary and the HTTP edge hold a [`Clock`] and pass its
//! reading down. `clippy.toml` forbids `SystemTime::now` and `OffsetDateTime::now_utc`
//! everywhere else.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // This is the one sanctioned reading of the wall clock.
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock {
    /// Unix time in nanoseconds.
    nanos: AtomicI64,
    /// Serialises `advance` so concurrent moves add up.
    lock: Mutex<()>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            nanos: AtomicI64::new(to_nanos(start)),
            lock: Mutex::new(()),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let _guard = self.lock.lock();
        let now = self.nanos.load(Ordering::SeqCst);
        let by = i64::try_from(by.whole_nanoseconds()).unwrap_or(i64::MAX);
        self.nanos.store(now.saturating_add(by), Ordering::SeqCst);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: OffsetDateTime) {
        self.nanos.store(to_nanos(at), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let nanos = self.nanos.load(Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

fn to_nanos(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2026-01-01 00:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-01-01 00:00 UTC));
        clock.advance(Duration::minutes(5));
        assert_eq!(clock.now(), datetime!(2026-01-01 00:05 UTC));
        clock.set(datetime!(2030-06-01 12:00 UTC));
        assert_eq!(clock.now(), datetime!(2030-06-01 12:00 UTC));
    }

    #[test]
    fn system_clock_is_after_2026() {
        assert!(SystemClock.now() > datetime!(2026-01-01 00:00 UTC));
    }
}
