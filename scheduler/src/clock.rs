//! Time sources.
//!
//! Invariants:
//! - Every scheduling decision that depends on time takes the time as an argument
//!   (`pop(now)`); a [`Clock`] is only where the caller gets `now` from, so tests and the
//!   simulator substitute a [`FakeClock`].
//! - A [`FakeClock`] never goes backwards through [`FakeClock::advance`]; only
//!   [`FakeClock::set`] can move it back, which tests may do on purpose.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source of the current time.
///
/// ```
/// use taskweave_scheduler::{Clock, SystemClock};
///
/// let a = SystemClock.now();
/// let b = SystemClock.now();
/// assert!(b >= a);
/// ```
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Instant;
}

/// The real monotonic clock, [`Instant::now`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A manual clock for tests and simulations: a fixed base [`Instant`] plus an offset in
/// nanoseconds kept in an atomic, so it can be shared across threads (`&FakeClock` and
/// `Arc<FakeClock>` are clocks too).
///
/// ```
/// use std::time::Duration;
/// use taskweave_scheduler::{Clock, FakeClock};
///
/// let clock = FakeClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now() - t0, Duration::from_millis(5));
/// clock.set(Duration::from_secs(1));
/// assert_eq!(clock.elapsed(), Duration::from_secs(1));
/// ```
#[derive(Debug)]
pub struct FakeClock {
    base: Instant,
    offset_nanos: AtomicU64,
}

impl FakeClock {
    /// A clock standing at the current real time, which it will never leave by itself.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    /// A clock standing at `base`.
    pub fn starting_at(base: Instant) -> Self {
        FakeClock {
            base,
            offset_nanos: AtomicU64::new(0),
        }
    }

    /// The instant the clock started at.
    pub fn base(&self) -> Instant {
        self.base
    }

    /// Moves the clock forward by `d` (saturating at about 584 years past the base).
    pub fn advance(&self, d: Duration) {
        let add = duration_nanos(d);
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some(cur.saturating_add(add))
            });
    }

    /// Puts the clock at `base + offset` (may move it backwards).
    pub fn set(&self, offset: Duration) {
        self.offset_nanos
            .store(duration_nanos(offset), Ordering::Release);
    }

    /// How far the clock is past its base.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::Acquire))
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// `d` in nanoseconds, saturating at `u64::MAX`.
fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_advances_and_sets() {
        let base = Instant::now();
        let c = FakeClock::starting_at(base);
        assert_eq!(c.now(), base);
        c.advance(Duration::from_micros(3));
        c.advance(Duration::from_micros(4));
        assert_eq!(c.now(), base + Duration::from_micros(7));
        c.set(Duration::from_micros(1));
        assert_eq!(c.now(), base + Duration::from_micros(1));
        assert_eq!(c.base(), base);
    }

    #[test]
    fn fake_clock_is_shared_across_threads() {
        let c = Arc::new(FakeClock::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        c.advance(Duration::from_nanos(1));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(c.elapsed(), Duration::from_nanos(400));
        let dynamic: &dyn Clock = &c;
        assert_eq!(dynamic.now(), c.base() + Duration::from_nanos(400));
    }
}
