//! [`Interval`]: ticks at a fixed period, with tokio's [`MissedTickBehavior`]s.
//!
//! Invariants:
//! - `delay.deadline()` is the instant the next tick is scheduled for; a tick resolves
//!   to that scheduled instant (not to the instant it was observed).
//! - `period > 0` (the constructor refuses zero with [`ZeroPeriod`]).
//!
//! When a tick completes, the next deadline is computed by the pure function
//! [`next_deadline`] from (behaviour, scheduled, now, period): a tick observed within
//! [`MISSED_AFTER`] of its schedule is on time and the next one is `scheduled + period`;
//! a later one is *missed* and the behaviour decides. Then the sleep is moved without
//! arming a timer: the next `poll_tick` arms it, so an interval nobody polls wakes
//! nobody.

use super::driver::Driver;
use super::far_future;
use super::sleep::Sleep;
use crate::sync::Arc;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

/// A tick observed more than this after its scheduled instant counts as missed.
pub(crate) const MISSED_AFTER: Duration = Duration::from_millis(5);

/// What an [`Interval`] does when ticks were missed (the task polled late).
///
/// Same semantics as tokio's. Each variant says what follows when, with period `p` and
/// ticks scheduled at `0, p, 2p, …`, the tick at `p` is observed only at `3.5p`. A tick
/// observed at most 5 ms late counts as on time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::time::{interval, MissedTickBehavior};
///
/// let mut every = interval(Duration::from_millis(100)).unwrap();
/// assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Burst);
/// every.set_missed_tick_behavior(MissedTickBehavior::Skip);
/// assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Skip);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MissedTickBehavior {
    /// Catch up: the missed ticks (`2p`, `3p`) complete at once, then `4p`, `5p`, … —
    /// the schedule is kept and the average rate preserved.
    #[default]
    Burst,
    /// Start over from now: the next ticks are `4.5p`, `5.5p`, … — at least `p` apart.
    Delay,
    /// Drop the missed ticks: the next tick is the next one on the original schedule
    /// after now, `4p`, then `5p`, …
    Skip,
}

/// The error of constructing an [`Interval`] with a zero period (which would tick
/// infinitely often); returned instead of panicking.
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::time::interval;
///
/// let err = interval(Duration::ZERO).unwrap_err();
/// assert_eq!(err.to_string(), "interval period must be non-zero");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZeroPeriod(());

impl fmt::Display for ZeroPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interval period must be non-zero")
    }
}

impl Error for ZeroPeriod {}

/// The deadline of the tick after the one scheduled at `scheduled` and observed at
/// `now`; `period` must be non-zero.
pub(crate) fn next_deadline(
    behavior: MissedTickBehavior,
    scheduled: Instant,
    now: Instant,
    period: Duration,
) -> Instant {
    let on_time = scheduled
        .checked_add(MISSED_AFTER)
        .is_none_or(|limit| now <= limit);
    let base = match behavior {
        _ if on_time => scheduled,
        MissedTickBehavior::Burst => scheduled,
        MissedTickBehavior::Delay => now,
        MissedTickBehavior::Skip => {
            // The last scheduled instant at or before now: scheduled + k * period.
            let behind = (now - scheduled).as_nanos() % period.as_nanos();
            now - nanos_to_duration(behind)
        }
    };
    base.checked_add(period).unwrap_or_else(far_future)
}

/// A `u128` count of nanoseconds below `Duration::MAX`, as a `Duration`.
fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).expect("below a Duration's period");
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// A stream of ticks, `period` apart, created by [`interval`](super::interval) and
/// [`interval_at`](super::interval_at).
///
/// The first tick completes at `start` — at once for [`interval`](super::interval).
/// Each tick resolves to the instant it was scheduled for. If the runtime's timer is
/// shut down, every tick completes at once (like [`Sleep`]): give loops over an interval
/// another way out.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::time::interval;
///
/// futures::executor::block_on(async {
///     let mut every = interval(Duration::from_millis(5)).unwrap();
///     let first = every.tick().await; // completes immediately
///     let second = every.tick().await;
///     assert_eq!(second - first, Duration::from_millis(5));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    delay: Sleep,
    period: Duration,
    missed_tick_behavior: MissedTickBehavior,
}

impl Interval {
    /// An interval on `driver` whose first tick is at `start`; errs on a zero `period`.
    pub(crate) fn new_with(
        driver: Arc<Driver>,
        start: Instant,
        period: Duration,
    ) -> Result<Interval, ZeroPeriod> {
        if period.is_zero() {
            return Err(ZeroPeriod(()));
        }
        let delay = Sleep::new_with(driver, start);
        Ok(Interval {
            delay,
            period,
            missed_tick_behavior: MissedTickBehavior::default(),
        })
    }

    /// Completes at the next tick, with the instant that tick was scheduled for.
    /// Cancel-safe: dropping the future loses no tick.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: `Ready(scheduled instant)` once it is due, otherwise
    /// `Pending` with `cx`'s waker woken when it is. Takes one unit of cooperative budget.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(Pin::new(&mut self.delay).poll(cx));
        let scheduled = self.delay.deadline();
        let next = next_deadline(
            self.missed_tick_behavior,
            scheduled,
            Instant::now(),
            self.period,
        );
        self.delay.reset_unarmed(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.reset_at(
            Instant::now()
                .checked_add(self.period)
                .unwrap_or_else(far_future),
        );
    }

    /// Restarts the schedule: the next tick completes at once.
    pub fn reset_immediately(&mut self) {
        self.reset_at(Instant::now());
    }

    /// Restarts the schedule: the next tick is `after` from now.
    pub fn reset_after(&mut self, after: Duration) {
        self.reset_at(Instant::now().checked_add(after).unwrap_or_else(far_future));
    }

    /// Restarts the schedule: the next tick is at `deadline`.
    pub fn reset_at(&mut self, deadline: Instant) {
        self.delay.reset(deadline);
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What happens when ticks are missed.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets what happens when ticks are missed (from the next completed tick on).
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }
}

#[cfg(test)]
#[path = "interval_tests.rs"]
mod tests;
