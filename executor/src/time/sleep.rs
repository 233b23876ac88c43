//! [`Sleep`]: a future that completes once its deadline has passed.
//!
//! Invariants:
//! - `key` is `Some` iff this sleep may have a live timer in the driver; that timer wakes
//!   `waker`, the waker of the last poll (or its equivalent by `Waker::will_wake`).
//! - Completion is decided by the clock, not by the timer: `poll` is `Ready` iff
//!   `Instant::now() >= deadline` (or the driver is shut down). The driver fires a timer
//!   only after its deadline, so a woken sleep completes on its next poll — no re-arm
//!   loop. A deadline already past completes without registering anything.
//!
//! Poll protocol: take one unit of cooperative budget (`Pending` when the task has used
//! its budget up); if elapsed or shut down, cancel any timer and return `Ready`; else
//! register on the first poll, or re-point the timer at the new waker when the task's
//! waker changed, and return `Pending`. `reset` moves the deadline and, if the sleep was
//! polled before, re-arms the timer at once with the last waker (as tokio does, so the
//! task is woken at the new deadline even if it does not poll in between). Dropping a
//! sleep cancels its timer, which frees the timer's memory in the wheel at once.

use super::driver::Driver;
use super::wheel::TimerKey;
use crate::sync::Arc;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use std::time::Instant;

/// A future that completes at (or soon after) a deadline.
///
/// Created by [`sleep`](super::sleep) and [`sleep_until`](super::sleep_until). It is
/// `Send`, `Sync` and `Unpin`, and costs no allocation beyond its timer entry.
///
/// If the runtime that owns the timer is shut down (dropped) before the deadline, the
/// sleep completes at once instead of hanging: code waiting on it gets to run and notice
/// the shutdown by other means.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_executor::time::sleep;
///
/// let start = Instant::now();
/// futures::executor::block_on(sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    driver: Arc<Driver>,
    deadline: Instant,
    key: Option<TimerKey>,
    waker: Option<Waker>,
}

impl Sleep {
    /// A sleep until `deadline` on `driver`; registers nothing until first polled.
    pub(crate) fn new_with(driver: Arc<Driver>, deadline: Instant) -> Sleep {
        Sleep {
            driver,
            deadline,
            key: None,
            waker: None,
        }
    }

    /// The instant this sleep completes at.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use taskweave_executor::time::sleep_until;
    ///
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(sleep_until(deadline).deadline(), deadline);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed (a sleep completed by a runtime shutdown is not
    /// elapsed).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskweave_executor::time::sleep;
    ///
    /// assert!(sleep(Duration::ZERO).is_elapsed());
    /// assert!(!sleep(Duration::from_secs(60)).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline to `deadline`, earlier or later, whether or not the sleep has
    /// completed; a completed sleep becomes pending again if the new deadline is in the
    /// future. If the sleep was polled before, the task that polled it last is woken at
    /// the new deadline even if it does not poll again in between.
    ///
    /// Takes `&mut self`; since `Sleep` is `Unpin`, `pinned.as_mut().reset(d)` works too.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use taskweave_executor::time::sleep;
    ///
    /// let mut delay = sleep(Duration::from_secs(3600));
    /// let soon = Instant::now() + Duration::from_millis(5);
    /// delay.reset(soon);
    /// futures::executor::block_on(&mut delay);
    /// assert!(Instant::now() >= soon);
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        if let Some(waker) = &self.waker {
            self.key = self.driver.reregister(self.key, deadline, waker);
        }
    }

    /// Moves the deadline without arming a timer (the next poll does); used by
    /// `Interval` right after a tick, when the sleep has just completed.
    pub(super) fn reset_unarmed(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    /// [`Future::poll`] without taking cooperative budget (see [`Timeout`]'s poll).
    ///
    /// [`Timeout`]: super::Timeout
    pub(super) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_elapsed() || self.driver.is_shutdown() {
            self.cancel();
            return Poll::Ready(());
        }
        let waker = cx.waker();
        let armed = self.key.is_some() && self.waker.as_ref().is_some_and(|w| w.will_wake(waker));
        if !armed {
            self.key = match self.key {
                Some(key) if self.driver.update_waker(key, waker) => Some(key),
                _ => self.driver.register(self.deadline, waker),
            };
            self.waker = Some(waker.clone());
            if self.key.is_none() {
                return Poll::Ready(()); // The driver shut down meanwhile.
            }
        }
        Poll::Pending
    }

    /// Cancels the timer, if any.
    fn cancel(&mut self) {
        if let Some(key) = self.key.take() {
            self.driver.cancel(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        ready!(crate::coop::poll_proceed(cx));
        self.get_mut().poll_elapsed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::test_util::{driver, Recorder};
    use futures::executor::block_on;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn poll_with(sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
        Pin::new(sleep).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn completes_no_earlier_than_its_deadline() {
        let driver = driver();
        for n in [0, 1, 5, 20] {
            let deadline = Instant::now() + ms(n);
            block_on(Sleep::new_with(driver.clone(), deadline));
            assert!(Instant::now() >= deadline);
        }
        assert_eq!(driver.pending_timers(), 0);
    }

    #[test]
    fn concurrent_sleeps_each_wait_their_own_deadline() {
        let driver = driver();
        let base = Instant::now();
        let sleeps = [30, 5, 15, 0, 25].map(|n| {
            let sleep = Sleep::new_with(driver.clone(), base + ms(n));
            async move {
                sleep.await;
                assert!(Instant::now() >= base + ms(n));
            }
        });
        block_on(futures::future::join_all(sleeps));
        assert_eq!(driver.pending_timers(), 0);
    }

    #[test]
    fn past_deadline_is_ready_without_registering() {
        let driver = driver();
        let mut sleep = Sleep::new_with(driver.clone(), Instant::now() - ms(1));
        assert!(sleep.is_elapsed());
        assert_eq!(
            poll_with(&mut sleep, &futures_task::noop_waker()),
            Poll::Ready(())
        );
        assert_eq!(driver.pending_timers(), 0);
    }

    #[test]
    fn registers_once_and_cancels_on_drop() {
        let driver = driver();
        let recorder = Recorder::default();
        let mut sleep = Sleep::new_with(driver.clone(), Instant::now() + ms(3_600_000));
        assert_eq!(driver.pending_timers(), 0, "nothing before the first poll");
        let waker = recorder.waker(1);
        for _ in 0..3 {
            assert_eq!(poll_with(&mut sleep, &waker), Poll::Pending);
            assert_eq!(driver.pending_timers(), 1);
        }
        drop(sleep);
        assert_eq!(driver.pending_timers(), 0);
        assert!(recorder.ids().is_empty());
    }

    #[test]
    fn a_new_waker_replaces_the_old_one() {
        let driver = driver();
        let recorder = Recorder::default();
        // Far enough away that a slow machine (valgrind) cannot reach it between the
        // polls; then moved close so the timer fires.
        let mut sleep = Sleep::new_with(driver.clone(), Instant::now() + ms(3_600_000));
        assert_eq!(poll_with(&mut sleep, &recorder.waker(1)), Poll::Pending);
        assert_eq!(poll_with(&mut sleep, &recorder.waker(2)), Poll::Pending);
        assert_eq!(driver.pending_timers(), 1);
        let deadline = Instant::now() + ms(10);
        sleep.reset(deadline);
        let woken = recorder.wait_for(1);
        assert_eq!(recorder.ids(), vec![2]);
        assert!(woken[0].at >= deadline);
        assert_eq!(poll_with(&mut sleep, &recorder.waker(2)), Poll::Ready(()));
    }

    #[test]
    fn reset_earlier_wakes_the_last_waker_without_a_poll() {
        let driver = driver();
        let recorder = Recorder::default();
        let mut sleep = Sleep::new_with(driver.clone(), Instant::now() + ms(3_600_000));
        assert_eq!(poll_with(&mut sleep, &recorder.waker(1)), Poll::Pending);
        // Earlier but still far (a slow machine, valgrind, cannot reach it before the
        // count is read): the one timer moves.
        let earlier = Instant::now() + ms(1_800_000);
        sleep.reset(earlier);
        assert_eq!(sleep.deadline(), earlier);
        assert_eq!(driver.pending_timers(), 1, "moved, not duplicated");
        // Close: it fires and wakes the last waker, though nothing polled since.
        let soon = Instant::now() + ms(10);
        sleep.reset(soon);
        assert_eq!(sleep.deadline(), soon);
        let woken = recorder.wait_for(1);
        assert!(woken[0].at >= soon);
        assert_eq!(poll_with(&mut sleep, &recorder.waker(1)), Poll::Ready(()));
    }

    #[test]
    fn reset_later_and_after_completion() {
        let driver = driver();
        let mut sleep = Sleep::new_with(driver.clone(), Instant::now());
        block_on(&mut sleep);
        let later = Instant::now() + ms(15);
        sleep.reset(later);
        assert!(!sleep.is_elapsed());
        block_on(&mut sleep);
        assert!(Instant::now() >= later);
        // Reset to far away: polls stay pending, with one timer.
        sleep.reset(Instant::now() + ms(3_600_000));
        assert_eq!(
            poll_with(&mut sleep, &futures_task::noop_waker()),
            Poll::Pending
        );
        assert_eq!(driver.pending_timers(), 1);
    }

    #[test]
    fn shutdown_completes_pending_and_new_sleeps() {
        let driver = driver();
        let recorder = Recorder::default();
        let mut sleep = Sleep::new_with(driver.clone(), Instant::now() + ms(3_600_000));
        assert_eq!(poll_with(&mut sleep, &recorder.waker(1)), Poll::Pending);
        driver.shutdown();
        assert_eq!(recorder.ids(), vec![1], "shutdown woke the sleeping task");
        assert_eq!(poll_with(&mut sleep, &recorder.waker(1)), Poll::Ready(()));
        assert!(!sleep.is_elapsed());
        let mut fresh = Sleep::new_with(driver.clone(), Instant::now() + ms(3_600_000));
        assert_eq!(poll_with(&mut fresh, &recorder.waker(2)), Poll::Ready(()));
        fresh.reset(Instant::now() + ms(3_600_000));
        assert_eq!(poll_with(&mut fresh, &recorder.waker(2)), Poll::Ready(()));
    }

    #[test]
    fn sleep_is_send_sync_unpin() {
        fn assert_traits<T: Send + Sync + Unpin>() {}
        assert_traits::<Sleep>();
    }
}
