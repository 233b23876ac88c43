//! The memory layout of a task: one allocation holding header, scheduler, future or
//! output, and the join waker.
//!
//! ```text
//! Cell<F, S> (repr(C))
//! ├── Header   state word, vtable, id, owned-list key, end-report word (type-erased)
//! ├── Core     Stage<F> = Running(F) | Finished(output) | Consumed, scheduler S
//! └── Trailer  join waker slot
//! ```
//!
//! Invariants: the header is at offset 0, so a `NonNull<Header>` is also a pointer to
//! the cell; `stage` is touched only by the holder of RUNNING, by the completer, and by
//! the JoinHandle after it observed COMPLETE (see `state.rs`); the trailer's waker only
//! as `state.rs` describes; the scheduler is only ever borrowed shared, and lives until
//! the cell is freed, so any holder of a task reference may borrow it (see
//! `JoinHandle::scheduler`); the future is always dropped before the scheduler (in
//! place by the task's completion, or first when the cell is freed: `Core` declares
//! `stage` before `scheduler`), so a future may rely on what its scheduler keeps alive
//! (an ExecutableTask's runner borrows its runtime so, see `graph/run.rs`).

use std::future::Future;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicU64, UnsafeCell};
use crate::task::state::State;
use crate::task::{Id, JoinError, Notified, Schedule};

/// The type-erased half of a task, at the start of every task allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) id: Id,
    /// Where the task sits in the owned-task list; written once before it is shared.
    pub(crate) owned_key: UnsafeCell<usize>,
    /// Why the runtime cancelled a never-run task (for ExecutableTasks: the root
    /// cause's id); written by the holder of its only `Notified` just before the
    /// cancelling run, read by that run.
    pub(crate) cancel_cause: UnsafeCell<Option<u64>>,
    /// ExecutableTasks only: the task's graph slot once it started, until its end is
    /// reported; [`NO_END_REPORT`] before and after. Whoever swaps the slot out reports
    /// the end, so it is reported exactly once (see `graph/ended.rs`).
    pub(crate) end_report: AtomicU64,
}

/// The value of [`Header::end_report`] when there is no end to report.
pub(crate) const NO_END_REPORT: u64 = u64::MAX;

// SAFETY: the header's mutable parts are atomics, or written under the protocols their
// docs state (owned_key under the owned list's lock, cancel_cause by the holder of the
// only Notified), so sharing `&Header` across threads is sound.
unsafe impl Send for Header {}
// SAFETY: as above.
unsafe impl Sync for Header {}

/// Functions that need the concrete future and scheduler types.
pub(crate) struct Vtable {
    /// Polls the task (the caller holds a `Notified` reference).
    pub(crate) poll: unsafe fn(NonNull<Header>),
    /// Schedules a `Notified` through the task's scheduler.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Frees the allocation.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst: Poll<Result<T, JoinError>>` if complete, else
    /// registers the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// Releases the JoinHandle's interest and reference.
    pub(crate) drop_join_handle_slow: unsafe fn(NonNull<Header>),
    /// Cancels the task at runtime shutdown.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
    /// The task's scheduler, type-erased (see [`JoinHandle::scheduler`](
    /// crate::task::JoinHandle::scheduler)); valid as long as the cell is.
    pub(crate) scheduler: unsafe fn(NonNull<Header>) -> NonNull<dyn std::any::Any + Send + Sync>,
}

/// Where the future is in its life.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The typed part: future/output and scheduler.
pub(crate) struct Core<F: Future, S> {
    /// Declared before `scheduler`, so it is dropped first when the cell is freed.
    pub(crate) stage: UnsafeCell<Stage<F>>,
    pub(crate) scheduler: S,
}

/// The join waker slot.
pub(crate) struct Trailer {
    pub(crate) waker: UnsafeCell<Option<Waker>>,
}

/// The whole task allocation.
#[repr(C)]
pub(crate) struct Cell<F: Future, S> {
    pub(crate) header: Header,
    pub(crate) core: Core<F, S>,
    pub(crate) trailer: Trailer,
}

impl<F: Future, S: Schedule> Cell<F, S> {
    /// Allocates a new task; the returned pointer carries the three initial references.
    pub(crate) fn allocate(future: F, scheduler: S, id: Id) -> NonNull<Header> {
        let cell = crate::task::alloc::allocate(|| Cell {
            header: Header {
                state: State::new(),
                vtable: crate::task::harness::vtable::<F, S>(),
                id,
                owned_key: UnsafeCell::new(usize::MAX),
                cancel_cause: UnsafeCell::new(None),
                end_report: AtomicU64::new(NO_END_REPORT),
            },
            core: Core {
                stage: UnsafeCell::new(Stage::Running(future)),
                scheduler,
            },
            trailer: Trailer {
                waker: UnsafeCell::new(None),
            },
        });
        // The header is the first field of a repr(C) struct, so the cell pointer is
        // also a header pointer.
        cell.cast::<Header>()
    }
}

impl<F: Future, S: Schedule> Core<F, S> {
    /// Polls the future. The caller holds RUNNING.
    ///
    /// # Safety
    /// The caller must hold RUNNING for this task.
    pub(crate) unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.stage.with_mut(|stage| {
            // SAFETY: RUNNING gives exclusive access to the stage; the future lives
            // inside the heap cell and never moves until it is dropped in place.
            let future = match unsafe { &mut *stage } {
                Stage::Running(future) => unsafe { std::pin::Pin::new_unchecked(future) },
                _ => unreachable!("polled a task whose future is gone"),
            };
            future.poll(cx)
        })
    }

    /// Replaces the stage, dropping what was there.
    ///
    /// # Safety
    /// The caller must have exclusive access to the stage (RUNNING, or COMPLETE
    /// observed by the only reader).
    // Inlined so that a constant stage (`Consumed`) is written as its tag alone, and a
    // `Finished` one as tag and output: out of line, the whole stage (as large as the
    // future) was copied each time.
    #[inline(always)]
    pub(crate) unsafe fn set_stage(&self, stage: Stage<F>) {
        // SAFETY: exclusive access is the caller's contract.
        self.stage.with_mut(|ptr| unsafe { *ptr = stage });
    }

    /// Takes the output out of a finished stage.
    ///
    /// # Safety
    /// As `set_stage`; the task must be COMPLETE with its output not yet consumed.
    pub(crate) unsafe fn take_output(&self) -> Result<F::Output, JoinError> {
        self.stage.with_mut(|ptr| {
            // SAFETY: exclusive access is the caller's contract.
            match std::mem::replace(unsafe { &mut *ptr }, Stage::Consumed) {
                Stage::Finished(output) => output,
                _ => unreachable!("JoinHandle polled after its output was taken"),
            }
        })
    }
}

impl<F: Future, S: Schedule> Cell<F, S> {
    /// Schedules `Notified` through this task's scheduler.
    pub(crate) fn schedule(&self, notified: Notified) {
        self.core.scheduler.schedule(notified);
    }
}

#[cfg(all(test, not(taskweave_loom)))]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use crate::task::{self, Notified, OwnedTask, RawTask, Schedule};

    type Log = Arc<Mutex<Vec<&'static str>>>;

    struct Logged(Log, &'static str);

    impl Drop for Logged {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(self.1);
        }
    }

    impl Future for Logged {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }

    impl Schedule for Logged {
        fn schedule(&self, _: Notified) {}
        fn release(&self, _: &RawTask) -> Option<OwnedTask> {
            None
        }
    }

    #[test]
    fn a_freed_cell_drops_its_future_before_its_scheduler() {
        let log = Log::default();
        let future = Logged(log.clone(), "future");
        let (owned, notified, join) = task::new_task(future, Logged(log.clone(), "scheduler"));
        // Never run: the last reference frees the cell with the future still in it.
        drop(notified);
        drop(join);
        drop(owned);
        assert_eq!(*log.lock().unwrap(), ["future", "scheduler"]);
    }

    /// A future that is ready at once with a logged output.
    struct ReadyLogged(Log);

    impl Future for ReadyLogged {
        type Output = Logged;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Logged> {
            Poll::Ready(Logged(self.0.clone(), "output"))
        }
    }

    #[test]
    fn without_a_join_handle_the_output_is_dropped_when_the_task_completes() {
        let log = Log::default();
        let scheduler = Logged(log.clone(), "scheduler");
        let (owned, notified, join) = task::new_task(ReadyLogged(log.clone()), scheduler);
        drop(join);
        notified.run();
        // Dropped by the completion (nobody can read it); the owned reference keeps
        // the cell.
        assert_eq!(*log.lock().unwrap(), ["output"]);
        drop(owned);
        assert_eq!(*log.lock().unwrap(), ["output", "scheduler"]);
    }

    #[test]
    fn with_a_join_handle_the_output_waits_for_it() {
        let log = Log::default();
        let scheduler = Logged(log.clone(), "scheduler");
        let (owned, notified, join) = task::new_task(ReadyLogged(log.clone()), scheduler);
        notified.run();
        drop(owned);
        assert!(
            log.lock().unwrap().is_empty(),
            "the output waits for its reader"
        );
        let output = futures::executor::block_on(join).expect("completed");
        // The JoinHandle took the output and, as the last reference, freed the cell.
        assert_eq!(*log.lock().unwrap(), ["scheduler"]);
        drop(output);
        assert_eq!(*log.lock().unwrap(), ["scheduler", "output"]);
    }
}
