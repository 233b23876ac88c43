//! What the current thread is doing for which runtime.
//!
//! - `CURRENT`: the runtime entered on this thread (worker threads, `block_on`,
//!   `Runtime::enter`, blocking-pool jobs). `spawn`, `Handle::current` and the time
//!   functions read it.
//! - `WORKER`: on a worker thread, a pointer to its `WorkerCore`, so scheduling from a
//!   task goes to the worker's own deque without touching shared state.
//! - `BLOCKING_ON`: set while this thread drives a runtime (worker loop or `block_on`);
//!   a nested `block_on` is refused instead of deadlocking.
//!
//! Invariant: `WORKER` is non-null only inside `WorkerCore::run`, which outlives every
//! use of the pointer (uses are synchronous calls from tasks it polls).

// loom's `thread_local!` has no `const { }` initialisers, so these stay plain.
#![allow(clippy::missing_const_for_thread_local)]

use std::cell::{Cell, RefCell};

use super::worker::WorkerCore;
use super::Handle;

crate::sync::thread_local! {
    static CURRENT: RefCell<Option<Handle>> = RefCell::new(None);
    static WORKER: Cell<*const WorkerCore> = Cell::new(std::ptr::null());
    static BLOCKING_ON: Cell<bool> = Cell::new(false);
}

/// Restores the previously entered runtime when dropped.
pub(crate) struct EnterGuard {
    previous: Option<Handle>,
}

/// Makes `handle` the current runtime until the guard drops.
pub(crate) fn enter(handle: Handle) -> EnterGuard {
    let previous = CURRENT.with(|c| c.replace(Some(handle)));
    EnterGuard { previous }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // During thread teardown the slot may be gone; then there is nothing to restore.
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// Runs `f` with the current runtime's handle, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let mut f = Some(f);
    match CURRENT.try_with(|c| (f.take().expect("called once"))(c.borrow().as_ref())) {
        Ok(r) => r,
        Err(_) => (f.take().expect("called once"))(None),
    }
}

/// Runs `f` with this thread's worker, if it is a worker thread.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&WorkerCore>) -> R) -> R {
    let ptr = WORKER.try_with(Cell::get).unwrap_or(std::ptr::null());
    // SAFETY: non-null only while `WorkerCore::run` is on this thread's stack (see the
    // module invariant), and we are on this thread.
    f(unsafe { ptr.as_ref() })
}

/// Marks this thread as a worker for the duration of the guard.
pub(crate) struct WorkerGuard(());

pub(crate) fn set_worker(core: &WorkerCore) -> WorkerGuard {
    WORKER.with(|w| w.set(core as *const WorkerCore));
    WorkerGuard(())
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let _ = WORKER.try_with(|w| w.set(std::ptr::null()));
    }
}

/// Marks this thread as driving a runtime; `None` if it already is.
pub(crate) struct BlockingGuard(());

pub(crate) fn try_enter_blocking() -> Option<BlockingGuard> {
    let was = BLOCKING_ON.with(|b| b.replace(true));
    if was {
        None
    } else {
        Some(BlockingGuard(()))
    }
}

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        let _ = BLOCKING_ON.try_with(|b| b.set(false));
    }
}
