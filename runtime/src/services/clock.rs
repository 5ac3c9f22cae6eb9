//! The one notion of "now" the engine, the store and the host share: the system's wall clock in
//! production, a [`ManualClock`] that only moves when a test moves it.
//!
//! Every decision that depends on time reads a [`Clock`]: whether a delivery is due, whether a
//! lease has expired, how long a job has been pending, whether a confirmation deadline has
//! passed, when the next attempt goes, when an access token is renewed, what `now()` a guest
//! sees. Sleeps that only pace a loop (how often the delivery loop looks for due work) stay on
//! tokio's timer: they decide nothing, so a test that moves the clock does not need to move them.
//! Sandbox deadlines (a guest's CPU and call timeouts) and latency measurements stay on the
//! monotonic clock too: they bound and measure real work, not business time.
//!
//! Self-contained on purpose: this file depends on nothing else in the crate.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC, from the system or from a [`ManualClock`]. Cheap to
/// clone; clones read the same time.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system clock. `Some`: the manual clock's shared time.
    manual: Option<Arc<AtomicI64>>,
    /// Added to the system clock ([`ShiftedClock`]); unused by a manual clock.
    shift: Option<Arc<AtomicI64>>,
}

fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Now, in milliseconds since the Unix epoch (UTC). A system clock set before 1970 reads 0.
    pub fn now_ms(&self) -> i64 {
        match (&self.manual, &self.shift) {
            (Some(ms), _) => ms.load(Ordering::SeqCst),
            (None, Some(shift)) => system_ms().saturating_add(shift.load(Ordering::SeqCst)),
            (None, None) => system_ms(),
        }
    }

    /// Now as a duration since the Unix epoch (what `wasi:clocks/wall-clock` reports).
    pub fn since_epoch(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.now_ms()).unwrap_or(0))
    }

    /// Whether this is a [`ManualClock`]'s clock (only tests make one).
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.manual, &self.shift) {
            (Some(ms), _) => write!(f, "Clock::Manual({})", ms.load(Ordering::SeqCst)),
            (None, Some(_)) => write!(f, "Clock::Shifted({})", self.now_ms()),
            (None, None) => f.write_str("Clock::System"),
        }
    }
}

/// A clock that stands still until it is set or advanced: for tests of timers, deadlines and
/// back-off without sleeping. Clones (and every [`Clock`] made from it) share one time.
#[derive(Clone)]
pub struct ManualClock {
    ms: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock that reads `start_ms` (milliseconds since the Unix epoch) until moved.
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock {
            ms: Arc::new(AtomicI64::new(start_ms)),
        }
    }

    /// A [`Clock`] that reads this clock's time, for the engine, the store and the host.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: Some(self.ms.clone()),
            shift: None,
        }
    }

    /// What the clock reads.
    pub fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }

    /// Sets the time. It may go backwards: tests of a clock that jumps back need that.
    pub fn set(&self, ms: i64) {
        self.ms.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `by`; returns the new time.
    pub fn advance(&self, by: Duration) -> i64 {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ms.fetch_add(by, Ordering::SeqCst).saturating_add(by)
    }
}

/// A clock that runs at the system clock's pace from a chosen start, and jumps when a test
/// moves it: for end-to-end tests against simulators whose own clocks are moved to a date
/// (a renewal on 16 May), where retries and job polls must still come due as time passes.
#[derive(Clone)]
pub struct ShiftedClock {
    shift: Arc<AtomicI64>,
}

impl ShiftedClock {
    /// A clock that reads `start_ms` now and runs on from there.
    pub fn new(start_ms: i64) -> ShiftedClock {
        ShiftedClock {
            shift: Arc::new(AtomicI64::new(start_ms.saturating_sub(system_ms()))),
        }
    }

    /// A [`Clock`] that reads this clock's time.
    pub fn clock(&self) -> Clock {
        Clock {
            manual: None,
            shift: Some(self.shift.clone()),
        }
    }

    /// What the clock reads.
    pub fn now_ms(&self) -> i64 {
        self.clock().now_ms()
    }

    /// Jumps forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.shift.fetch_add(by, Ordering::SeqCst);
    }
}

impl From<&ManualClock> for Clock {
    fn from(manual: &ManualClock) -> Clock {
        manual.clock()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManualClock({})", self.now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_moved_and_its_clones_agree() {
        let manual = ManualClock::new(1_000);
        let clock = manual.clock();
        let copy = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        assert_eq!(manual.advance(Duration::from_millis(1_500)), 2_500);
        assert_eq!((clock.now_ms(), copy.now_ms()), (2_500, 2_500));
        manual.clone().set(500);
        assert_eq!(copy.now_ms(), 500);
        assert_eq!(copy.since_epoch(), Duration::from_millis(500));
        assert!(clock.is_manual());
        assert_eq!(format!("{copy:?}"), "Clock::Manual(500)");
    }

    #[test]
    fn the_system_clock_reads_the_wall_time() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let read = Clock::system().now_ms();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(before <= read && read <= after, "{before} {read} {after}");
        assert!(!Clock::default().is_manual());
    }
}
