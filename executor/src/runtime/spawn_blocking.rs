//! `spawn_blocking`: a task whose "future" runs a closure once on a blocking-pool
//! thread. It is an ordinary task (same JoinHandle, abort, shutdown), scheduled onto
//! the blocking pool instead of a worker. Abort cancels it only before it starts.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::context;
use super::shared::Shared;
use super::Handle;
use crate::sync::Arc;
use crate::task::{self, JoinHandle, Notified, OwnedTask, RawTask, Schedule};

/// The closure, run on its first poll.
struct BlockingTask<F>(Option<F>);

// The closure is never pinned structurally: it is moved out before being called.
impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self
            .0
            .take()
            .expect("blocking task polled after completion");
        Poll::Ready(f())
    }
}

/// Schedules tasks onto the blocking pool.
struct BlockingSchedule {
    shared: Arc<Shared>,
}

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: Notified) {
        let handle = Handle {
            shared: self.shared.clone(),
        };
        let job = Box::new(move || {
            let _entered = context::enter(handle);
            task.run();
        });
        if let Err(rejected) = self.shared.blocking.execute(job) {
            // After shutdown (or when no thread can be started): dropping the job drops
            // the Notified, and the owned list cancels the task, so its JoinHandle
            // resolves as cancelled instead of hanging.
            drop(rejected.job);
        }
    }

    fn release(&self, task: &RawTask) -> Option<OwnedTask> {
        self.shared.owned.remove(task)
    }
}

pub(crate) fn spawn_blocking<F, R>(handle: &Handle, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let scheduler = BlockingSchedule {
        shared: handle.shared.clone(),
    };
    let (owned, notified, join) = task::new_task(BlockingTask(Some(f)), scheduler);
    let shared = handle.shared.clone();
    // After shutdown the task is cancelled and the JoinHandle says so.
    let _ = handle.bind_and_schedule(owned, notified, move |n| {
        BlockingSchedule { shared }.schedule(n)
    });
    join
}
