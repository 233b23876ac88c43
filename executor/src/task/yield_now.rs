//! `yield_now`: let other tasks run before continuing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields once to the scheduler: the task is rescheduled behind the tasks already
/// queued on its worker, then continues.
///
/// ```
/// taskweave_executor::block_on(async {
///     taskweave_executor::task::yield_now().await;
/// });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // A wake during the poll makes the worker requeue the task after this poll,
        // at the back of its deque.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
