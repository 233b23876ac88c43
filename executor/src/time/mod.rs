//! Time: sleeps, timeouts and intervals, driven by one timer thread per runtime.
//!
//! Layout, one concern per file:
//! - `wheel.rs`: a hierarchical timing wheel (6 levels × 64 slots, 1 tick = 1 ms) over
//!   a generation-checked slab — O(1) insert and cancel, no threads, no clock.
//! - `driver.rs`: the wheel behind a mutex plus the timer thread that sleeps until the
//!   next expiration and fires wakers; its sleep/wake and shutdown protocol is described
//!   there.
//! - `sleep.rs`, `timeout.rs`, `interval.rs`: the futures users hold.
//! - `ext.rs`: [`TimeoutExt`], `.with_timeout(d)` on every future.
//!
//! Invariants across the module:
//! - A timer never fires before its deadline (deadlines round up to a tick, the clock
//!   rounds down), and futures decide completion by the clock, so a woken future never
//!   re-registers in a loop.
//! - No waker is called or dropped under the driver's lock.
//! - Once a runtime's timer driver is shut down, sleeps (and so timeout deadlines and
//!   interval ticks) complete at once instead of hanging.
//! - The free functions below use the driver of the current runtime, or of the
//!   process-global runtime outside any (`crate::runtime::current_time_driver`); every
//!   future keeps its driver alive while it exists.

mod driver;
mod ext;
mod interval;
mod sleep;
#[cfg(test)]
mod test_util;
mod timeout;
mod wheel;

pub(crate) use driver::Driver;
pub use ext::TimeoutExt;
pub use interval::{Interval, MissedTickBehavior};
pub use sleep::Sleep;
pub use std::time::{Duration, Instant};
pub use timeout::Timeout;

use std::future::IntoFuture;

/// Errors of the time module.
pub mod error {
    pub use super::interval::ZeroPeriod;
    pub use super::timeout::Elapsed;
}

/// An instant about 30 years from now, standing in for deadlines too far to represent.
pub(crate) fn far_future() -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(86_400 * 365 * 30);
    let now = Instant::now();
    now.checked_add(THIRTY_YEARS).unwrap_or(now)
}

/// `now + duration`, or [`far_future`] if that cannot be represented.
fn deadline_after(duration: Duration) -> Instant {
    Instant::now()
        .checked_add(duration)
        .unwrap_or_else(far_future)
}

/// Waits until `duration` has elapsed. Equivalent to `sleep_until(Instant::now() +
/// duration)`; a duration too large to add saturates to about 30 years.
///
/// The sleep completes no earlier than the deadline, at millisecond granularity.
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_executor::time::sleep;
///
/// let start = Instant::now();
/// futures::executor::block_on(sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// Waits until `deadline`; completes at once if it has passed.
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_executor::time::sleep_until;
///
/// let deadline = Instant::now() + Duration::from_millis(5);
/// futures::executor::block_on(sleep_until(deadline));
/// assert!(Instant::now() >= deadline);
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new_with(crate::runtime::current_time_driver(), deadline)
}

/// Runs `future` for at most `duration`: `Ok(output)` if it completes in time,
/// `Err(Elapsed)` otherwise (then the future is dropped with the [`Timeout`]).
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::time::{sleep, timeout};
///
/// futures::executor::block_on(async {
///     assert_eq!(timeout(Duration::from_secs(60), async { 1 }).await, Ok(1));
///     assert!(timeout(Duration::from_millis(1), sleep(Duration::from_secs(60))).await.is_err());
/// });
/// ```
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    timeout_at(deadline_after(duration), future)
}

/// Runs `future` until `deadline` at the latest; see [`timeout`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_executor::time::timeout_at;
///
/// let deadline = Instant::now() + Duration::from_millis(5);
/// let result = futures::executor::block_on(timeout_at(deadline, std::future::pending::<()>()));
/// assert!(result.is_err() && Instant::now() >= deadline);
/// ```
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new_with(
        crate::runtime::current_time_driver(),
        deadline,
        future.into_future(),
    )
}

/// Ticks every `period`, the first tick at once.
///
/// # Errors
///
/// A zero `period` gives [`error::ZeroPeriod`] (tokio panics instead).
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::time::interval;
///
/// futures::executor::block_on(async {
///     let mut every = interval(Duration::from_millis(2)).unwrap();
///     let a = every.tick().await;
///     let b = every.tick().await;
///     assert_eq!(b - a, Duration::from_millis(2));
/// });
/// assert!(interval(Duration::ZERO).is_err());
/// ```
pub fn interval(period: Duration) -> Result<Interval, error::ZeroPeriod> {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Errors
///
/// A zero `period` gives [`error::ZeroPeriod`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_executor::time::interval_at;
///
/// let start = Instant::now() + Duration::from_millis(3);
/// let mut every = interval_at(start, Duration::from_millis(2)).unwrap();
/// assert_eq!(futures::executor::block_on(every.tick()), start);
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Result<Interval, error::ZeroPeriod> {
    Interval::new_with(crate::runtime::current_time_driver(), start, period)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_future_is_far_and_deadlines_saturate() {
        let now = Instant::now();
        assert!(far_future() >= now + Duration::from_secs(86_400 * 365 * 29));
        assert!(deadline_after(Duration::MAX) >= now + Duration::from_secs(86_400 * 365 * 29));
        assert!(deadline_after(Duration::from_millis(3)) >= now + Duration::from_millis(3));
    }
}
