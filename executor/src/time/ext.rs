//! [`TimeoutExt`]: `.with_timeout(d)` / `.with_deadline(t)` on every future.
//!
//! The methods are thin spellings of [`timeout`](super::timeout) and
//! [`timeout_at`](super::timeout_at): they build the same [`Timeout`] future on the
//! current runtime's timer (or the process-wide default runtime's), resolving to
//! `Ok(output)` or `Err(Elapsed)`.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use super::Timeout;

/// Puts a deadline on any future (anything [`IntoFuture`]): `fut.with_timeout(d)` is
/// [`timeout(d, fut)`](super::timeout).
///
/// Implemented for every `IntoFuture`, so importing the trait is all it takes.
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::time::{sleep, TimeoutExt};
///
/// taskweave_executor::block_on(async {
///     assert_eq!(async { 7 }.with_timeout(Duration::from_secs(60)).await, Ok(7));
///     let slow = sleep(Duration::from_secs(60)).with_timeout(Duration::from_millis(1));
///     assert!(slow.await.is_err());
/// });
/// ```
pub trait TimeoutExt: IntoFuture + Sized {
    /// Runs this future for at most `duration`; see [`timeout`](super::timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskweave_executor::time::{error::Elapsed, TimeoutExt};
    ///
    /// let never = std::future::pending::<()>().with_timeout(Duration::from_millis(2));
    /// let result: Result<(), Elapsed> = taskweave_executor::block_on(never);
    /// assert!(result.is_err());
    /// ```
    fn with_timeout(self, duration: Duration) -> Timeout<Self::IntoFuture> {
        super::timeout(duration, self)
    }

    /// Runs this future until `deadline` at the latest; see
    /// [`timeout_at`](super::timeout_at).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use taskweave_executor::time::TimeoutExt;
    ///
    /// let deadline = Instant::now() + Duration::from_secs(60);
    /// let v = taskweave_executor::block_on(async { 5 }.with_deadline(deadline));
    /// assert_eq!(v, Ok(5));
    /// ```
    fn with_deadline(self, deadline: Instant) -> Timeout<Self::IntoFuture> {
        super::timeout_at(deadline, self)
    }
}

impl<F: IntoFuture> TimeoutExt for F {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::error::Elapsed;
    use crate::time::sleep;
    use futures::executor::block_on;

    #[test]
    fn ready_futures_beat_the_deadline() {
        assert_eq!(
            block_on(async { 1 }.with_timeout(Duration::from_secs(3600))),
            Ok(1)
        );
        // Output first even when the deadline has already passed.
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(block_on(std::future::ready(2).with_deadline(past)), Ok(2));
    }

    #[test]
    fn slow_futures_elapse_and_are_dropped() {
        let slow = sleep(Duration::from_secs(3600));
        let result: Result<(), Elapsed> = block_on(slow.with_timeout(Duration::from_millis(2)));
        assert!(result.is_err());
        let deadline = Instant::now() + Duration::from_millis(3);
        let result = block_on(std::future::pending::<u8>().with_deadline(deadline));
        assert!(result.is_err());
        assert!(Instant::now() >= deadline, "never before the deadline");
    }

    #[test]
    fn works_on_into_future_values_and_keeps_the_inner_future() {
        struct Later;
        impl IntoFuture for Later {
            type Output = &'static str;
            type IntoFuture = std::future::Ready<&'static str>;
            fn into_future(self) -> Self::IntoFuture {
                std::future::ready("later")
            }
        }
        let t = Later.with_timeout(Duration::from_secs(60));
        assert_eq!(block_on(t.into_inner()), "later");
    }
}
