//! [`Timeout`]: runs a future against a deadline, and its error [`Elapsed`].
//!
//! Invariants:
//! - `value` is structurally pinned: once a `Timeout` is pinned, `value` is never moved
//!   until it is dropped in place. Only `poll` projects to it; `get_mut` and
//!   `into_inner` take `&mut self` / `self`, which a pinned `!Unpin` `Timeout` cannot give;
//!   there is no `Drop` impl (that could move it) and no `#[repr(packed)]`. `Timeout<F>`
//!   is `Unpin` exactly when `F` is (auto trait; `Sleep` is `Unpin`).
//! - `delay` is not structurally pinned (`Sleep: Unpin`).
//!
//! Poll protocol: take one unit of cooperative budget, poll the inner future (its result
//! wins even when the deadline has passed too), then check the deadline *without* taking
//! more budget. Taking budget up front makes a loop of already-elapsed timeouts yield;
//! checking the deadline unbudgeted means an inner future that always exhausts the
//! budget cannot keep its own timeout from firing.

use super::driver::Driver;
use super::sleep::Sleep;
use crate::sync::Arc;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

/// A future that runs `F` until it completes or a deadline passes, whichever is first.
///
/// Created by [`timeout`](super::timeout) and [`timeout_at`](super::timeout_at).
/// Resolves to `Ok(output)` if the inner future completes (checked first on every poll),
/// or `Err(Elapsed)` once the deadline has passed; the inner future is then dropped with
/// the `Timeout`. No allocation beyond the timer entry: the future is stored inline.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::time::{sleep, timeout};
///
/// futures::executor::block_on(async {
///     assert_eq!(timeout(Duration::from_secs(60), async { 7 }).await, Ok(7));
///     let slow = sleep(Duration::from_secs(60));
///     assert!(timeout(Duration::from_millis(5), slow).await.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Timeout<F> {
    value: F,
    delay: Sleep,
}

/// The error of a [`Timeout`] whose deadline passed before its future completed.
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::time::timeout;
///
/// let result = futures::executor::block_on(timeout(Duration::ZERO, std::future::pending::<()>()));
/// let elapsed = result.unwrap_err();
/// assert_eq!(elapsed.to_string(), "deadline has elapsed");
/// assert_eq!(std::io::Error::from(elapsed).kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(elapsed: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, elapsed)
    }
}

impl<F> Timeout<F> {
    /// Runs `value` against `deadline` on `driver`.
    pub(crate) fn new_with(driver: Arc<Driver>, deadline: Instant, value: F) -> Timeout<F> {
        Timeout {
            value,
            delay: Sleep::new_with(driver, deadline),
        }
    }

    /// The inner future.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskweave_executor::time::timeout;
    ///
    /// let t = timeout(Duration::from_secs(1), std::future::ready(3));
    /// let _inner: &std::future::Ready<i32> = t.get_ref();
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.value
    }

    /// The inner future, mutably (possible only while the `Timeout` is not pinned, or
    /// when it is `Unpin`).
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.value
    }

    /// The inner future, giving up the deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskweave_executor::time::timeout;
    ///
    /// let t = timeout(Duration::from_secs(1), async { 5 });
    /// assert_eq!(futures::executor::block_on(t.into_inner()), 5);
    /// ```
    pub fn into_inner(self) -> F {
        self.value
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        ready!(crate::coop::poll_proceed(cx));
        // SAFETY: `value` is structurally pinned (module invariants): it is never moved
        // out of a pinned `Timeout`; we only re-pin it in place. `delay` is `Unpin`, so
        // handing out `&mut` to it moves nothing that is pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.value` stays where it is for as long as `self` is pinned.
        let value = unsafe { Pin::new_unchecked(&mut this.value) };
        if let Poll::Ready(output) = value.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        this.delay.poll_elapsed(cx).map(|()| Err(Elapsed(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::test_util::driver;
    use futures::executor::block_on;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn inner_future_first() {
        let driver = driver();
        let far = Instant::now() + ms(3_600_000);
        assert_eq!(
            block_on(Timeout::new_with(driver.clone(), far, async { 5 })),
            Ok(5)
        );
        // Already-ready inner output wins over an already-passed deadline.
        let past = Instant::now() - ms(1);
        assert_eq!(
            block_on(Timeout::new_with(
                driver.clone(),
                past,
                std::future::ready(1)
            )),
            Ok(1)
        );
        // An inner future that sleeps a little still beats a far deadline.
        let inner = Sleep::new_with(driver.clone(), Instant::now() + ms(10));
        assert_eq!(
            block_on(Timeout::new_with(driver.clone(), far, inner)),
            Ok(())
        );
        assert_eq!(driver.pending_timers(), 0, "both timers are gone");
    }

    #[test]
    fn elapses_no_earlier_than_its_deadline() {
        let driver = driver();
        let deadline = Instant::now() + ms(20);
        let result = block_on(Timeout::new_with(
            driver.clone(),
            deadline,
            std::future::pending::<u8>(),
        ));
        assert_eq!(result, Err(Elapsed(())));
        assert!(Instant::now() >= deadline);
        let slow = Sleep::new_with(driver.clone(), Instant::now() + ms(3_600_000));
        assert!(block_on(Timeout::new_with(
            driver.clone(),
            Instant::now() + ms(5),
            slow
        ))
        .is_err());
        assert_eq!(
            driver.pending_timers(),
            0,
            "the inner sleep was dropped with the timeout"
        );
    }

    #[test]
    fn drives_a_not_unpin_future() {
        let driver = driver();
        let inner_driver = driver.clone();
        let inner = async move {
            let x = 41;
            let r = &x; // A borrow held across an await: the future is `!Unpin`.
            Sleep::new_with(inner_driver, Instant::now() + ms(1)).await;
            *r + 1
        };
        let far = Instant::now() + ms(3_600_000);
        assert_eq!(block_on(Timeout::new_with(driver, far, inner)), Ok(42));
    }

    #[test]
    fn dropping_a_pending_timeout_cancels_its_timer() {
        let driver = driver();
        let mut t = Box::pin(Timeout::new_with(
            driver.clone(),
            Instant::now() + ms(3_600_000),
            std::future::pending::<()>(),
        ));
        let waker = futures_task::noop_waker();
        assert!(t
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        assert_eq!(driver.pending_timers(), 1);
        drop(t);
        assert_eq!(driver.pending_timers(), 0);
    }

    /// Completes on its `ready_after`-th poll, counting polls.
    struct Counter {
        polls: u32,
        ready_after: u32,
    }

    impl Future for Counter {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls += 1;
            if self.polls >= self.ready_after {
                return Poll::Ready(self.polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn accessors_reach_the_inner_future() {
        let driver = driver();
        let far = Instant::now() + ms(3_600_000);
        let mut t = Timeout::new_with(
            driver.clone(),
            far,
            Counter {
                polls: 0,
                ready_after: 3,
            },
        );
        let waker = futures_task::noop_waker();
        assert!(Pin::new(&mut t)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        assert_eq!(t.get_ref().polls, 1);
        t.get_mut().ready_after = 10;
        let inner = t.into_inner();
        assert_eq!(
            driver.pending_timers(),
            0,
            "into_inner dropped the deadline"
        );
        assert_eq!(block_on(inner), 10);
    }

    #[test]
    fn elapsed_error() {
        let e = Elapsed(());
        assert_eq!(e.to_string(), "deadline has elapsed");
        let boxed: Box<dyn Error + Send + Sync> = Box::new(e);
        assert!(boxed.source().is_none());
        assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::TimedOut);
    }

    #[test]
    fn timeout_is_send_and_sync_when_the_future_is() {
        fn assert_traits<T: Send + Sync>() {}
        assert_traits::<Timeout<std::future::Pending<()>>>();
        fn assert_unpin<T: Unpin>() {}
        assert_unpin::<Timeout<std::future::Pending<()>>>();
    }
}
