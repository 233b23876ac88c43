//! `JoinHandle` and `AbortHandle`: the user's side of a task.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{harness, Id, JoinError, RawTask, Schedule};

/// An owned permission to await a spawned task's output.
///
/// Awaiting it yields `Ok(output)`, or a [`JoinError`] if the task panicked or was
/// cancelled. Dropping it detaches the task: it keeps running and its output is
/// dropped when it finishes.
///
/// ```
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let sum = rt.block_on(async {
///     let a = taskweave_executor::spawn(async { 20 });
///     let b = taskweave_executor::spawn(async { 22 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(sum, 42);
/// ```
pub struct JoinHandle<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the output is only moved out (never shared), so T: Send suffices for both.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: as above; `&JoinHandle` exposes no access to T.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// `raw` must be a task whose output type is `T` and carry the JoinHandle's reference.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// Requests cancellation. The task's future is dropped at its next scheduling
    /// point (at once if it is idle); awaiting the handle then yields a cancelled
    /// [`JoinError`], unless the task had already completed.
    pub fn abort(&self) {
        harness::remote_abort(self.raw);
    }

    /// True once the task has completed (with a value, a panic or a cancellation).
    pub fn is_finished(&self) -> bool {
        self.raw.state().load().is_complete()
    }

    /// A handle that can abort the task without owning its output.
    pub fn abort_handle(&self) -> AbortHandle {
        self.raw.ref_inc();
        AbortHandle { raw: self.raw }
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.raw.id()
    }

    /// The task's scheduler, if it is an `S` (`None` for any other scheduler type). It
    /// lives as long as the task's cell, which this handle keeps alive: through it a
    /// handle reaches whatever its task's scheduler holds (an ExecutableTask's
    /// `TaskHandle` reaches its runtime) without a reference of its own.
    pub(crate) fn scheduler<S: Schedule>(&self) -> Option<&S> {
        // SAFETY: the JoinHandle's reference keeps the cell allocated for as long as
        // `&self` lives, and the scheduler is dropped only when the cell is freed (its
        // last reference gone), so the pointer is valid for the returned lifetime.
        // The scheduler is only ever accessed shared (`&S`; `Schedule: Sync`), so this
        // shared borrow aliases no `&mut`.
        let scheduler = unsafe { (self.raw.header().vtable.scheduler)(self.raw.ptr).as_ref() };
        scheduler.downcast_ref::<S>()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        ready!(crate::coop::poll_proceed(cx));
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `out` has the type the task's vtable writes for output type T.
        unsafe {
            self.raw.try_read_output(
                &mut out as *mut Poll<Result<T, JoinError>> as *mut (),
                cx.waker(),
            )
        };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.raw.drop_join_handle();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .finish()
    }
}

/// Aborts a task without owning its output. Dropping it does nothing to the task.
pub struct AbortHandle {
    raw: RawTask,
}

impl AbortHandle {
    /// Requests cancellation; see [`JoinHandle::abort`].
    pub fn abort(&self) {
        harness::remote_abort(self.raw);
    }

    /// True once the task has completed.
    pub fn is_finished(&self) -> bool {
        self.raw.state().load().is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.raw.id()
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> Self {
        self.raw.ref_inc();
        AbortHandle { raw: self.raw }
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        self.raw.drop_ref();
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .finish()
    }
}
