//! Tasks: one heap allocation per spawned future, reference counted, type-erased.
//!
//! A task is created with three references: the owned-task list's (so runtime shutdown
//! can find and cancel it), the first `Notified` (queued to run), and the JoinHandle's.
//! Wakers add references. The lifecycle lives in one atomic word (`state.rs`); the
//! layout in `core.rs`; the transitions' effects (poll, complete, cancel, join) in
//! `harness.rs`.
//!
//! Handles to a task:
//! - `Notified`: "this task must be polled"; owned by a run queue. Running it
//!   consumes it.
//! - `OwnedTask`: the owned list's reference, used only to cancel at shutdown.
//! - [`JoinHandle`] / [`AbortHandle`]: the user's.

mod alloc;
mod core;
mod error;
mod harness;
mod join;
mod list;
mod name;
mod state;
mod waker;
mod yield_now;

use std::fmt;
use std::future::Future;
use std::ptr::NonNull;

pub use error::JoinError;
pub use join::{AbortHandle, JoinHandle};
pub(crate) use list::OwnedTasks;
pub use name::TaskName;
pub use yield_now::yield_now;

/// Spawns a task on the current runtime; see [`crate::spawn`].
pub use crate::spawn;
/// Runs a blocking closure; see [`crate::spawn_blocking`].
pub use crate::spawn_blocking;

pub(crate) use self::core::NO_END_REPORT;
use self::core::{Cell, Header};

/// A task's identifier, unique among all tasks of the process.
#[derive(Copy, Clone, Debug, Hash, Eq, PartialEq, Ord, PartialOrd)]
pub struct Id(u64);

impl Id {
    #[inline]
    pub(crate) fn next() -> Id {
        // Not part of any concurrency protocol (a unique counter), so it uses std's
        // atomic directly. Each thread reserves ids in blocks, so spawning on several
        // workers does not contend on one shared counter.
        use std::cell::Cell;
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        const BLOCK: u64 = 1024;
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            // (next id, end of the reserved block)
            static RESERVED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        let take = |(next, end): (u64, u64)| {
            if next < end {
                (next, (next + 1, end))
            } else {
                let start = NEXT_BLOCK.fetch_add(BLOCK, Relaxed);
                (start, (start + 1, start + BLOCK))
            }
        };
        let from_block = RESERVED.try_with(|r| {
            let (id, rest) = take(r.get());
            r.set(rest);
            id
        });
        // During thread teardown the thread-local is gone: take a block of one.
        Id(from_block.unwrap_or_else(|_| NEXT_BLOCK.fetch_add(1, Relaxed)))
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a task needs from whoever runs it.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Puts a task that must be polled into a run queue.
    fn schedule(&self, task: Notified);

    /// Requeues a task that was woken while it was being polled (it yielded): it
    /// goes behind the work already queued.
    fn yield_now(&self, task: Notified) {
        self.schedule(task);
    }

    /// Removes a completed task from the owned list, returning the list's reference
    /// (or `None` if shutdown already took it out).
    fn release(&self, task: &RawTask) -> Option<OwnedTask>;
}

/// An untyped, non-owning pointer to a task.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a task may be touched from any thread; its futures and outputs are Send
// (enforced at spawn), and all shared state is synchronized through the state word.
unsafe impl Send for RawTask {}
// SAFETY: as above.
unsafe impl Sync for RawTask {}

impl RawTask {
    #[inline]
    fn header(&self) -> &Header {
        // SAFETY: a RawTask is only used while some reference keeps the task alive.
        unsafe { self.ptr.as_ref() }
    }

    #[inline]
    pub(crate) fn id(&self) -> Id {
        self.header().id
    }

    #[inline]
    pub(crate) fn state(&self) -> &state::State {
        &self.header().state
    }

    /// The owned-list slot key. Only the owned list reads or writes it, under its lock.
    pub(crate) fn owned_key(&self) -> &crate::sync::UnsafeCell<usize> {
        &self.header().owned_key
    }

    /// ExecutableTasks: the word their end is reported through (see
    /// [`core::Header::end_report`]).
    #[inline]
    pub(crate) fn end_report(&self) -> &crate::sync::AtomicU64 {
        &self.header().end_report
    }

    /// The task a waker made by this runtime's tasks wakes, or `None` for any other
    /// waker. For a task to find itself while it is polled: the returned pointer is
    /// valid as long as the waker is.
    #[inline]
    pub(crate) fn of_waker(waker: &std::task::Waker) -> Option<RawTask> {
        waker::task_ptr(waker).map(|ptr| RawTask { ptr })
    }

    #[inline]
    fn drop_reference(self) {
        if self.state().ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (self.header().vtable.dealloc)(self.ptr) }
        }
    }
}

impl fmt::Debug for RawTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("id", &self.id()).finish()
    }
}

/// A reference meaning "poll this task"; lives in run queues.
pub(crate) struct Notified {
    raw: RawTask,
}

impl Notified {
    /// The task's id.
    #[inline]
    pub(crate) fn id(&self) -> Id {
        self.raw.id()
    }

    /// The task, not owned.
    #[inline]
    pub(crate) fn raw(&self) -> RawTask {
        self.raw
    }

    /// Hints the CPU to start loading the task's cell (its first few cache lines:
    /// the header, the scheduler and, for small futures, the future) ahead of
    /// [`run`](Self::run). Only a hint: it reads nothing and cannot fault.
    #[inline]
    pub(crate) fn prefetch(&self) {
        let at = self.raw.ptr.as_ptr().cast::<u8>().cast_const();
        for line in 0..4 {
            // An address past the cell is harmless: a prefetch never dereferences it.
            crate::prefetch::for_read(at.wrapping_add(line * 64));
        }
    }

    /// Polls the task (or cancels it, if aborted), consuming this reference.
    #[inline]
    pub(crate) fn run(self) {
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: the Notified's reference is handed to `poll`, which owns it now.
        unsafe { (raw.header().vtable.poll)(raw.ptr) }
    }

    /// Cancels a task that never ran: its future is dropped unpolled (on this thread)
    /// and its JoinHandle resolves as cancelled, carrying `cause` (see
    /// [`JoinError::cancel_cause`]).
    pub(crate) fn cancel(self, cause: Option<u64>) {
        // SAFETY: the task never ran and we hold its only Notified: nobody else reads
        // or writes the cause until the cancellation below completes the task.
        self.raw
            .header()
            .cancel_cause
            .with_mut(|c| unsafe { *c = cause });
        // Idle and notified (we hold its Notified): this only sets CANCELLED, and
        // running the Notified then drops the future instead of polling it.
        let must_schedule = self.raw.state().transition_to_notified_and_cancel();
        debug_assert!(!must_schedule, "a Notified exists, so the task is notified");
        self.run();
    }

    /// # Safety
    /// `raw` must carry one reference that is transferred to the new `Notified`.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Notified {
        Notified { raw }
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        self.raw.drop_reference();
    }
}

impl fmt::Debug for Notified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

/// The owned-task list's reference to a task.
pub(crate) struct OwnedTask {
    raw: RawTask,
}

impl OwnedTask {
    /// # Safety
    /// `raw` must carry the owned list's reference, transferred to this value.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> OwnedTask {
        OwnedTask { raw }
    }

    #[inline]
    pub(crate) fn raw(&self) -> RawTask {
        self.raw
    }

    /// Cancels the task at runtime shutdown, consuming the list's reference.
    pub(crate) fn shutdown(self) {
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: the list's reference is handed to `shutdown`.
        unsafe { (raw.header().vtable.shutdown)(raw.ptr) }
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.raw.drop_reference();
    }
}

/// The references the dependency graph holds on a submitted ExecutableTask, in one
/// word (so a graph slot stays one cache line): the ownership reference (an
/// `OwnedTask`'s), and — until [`take_notified`](Self::take_notified) hands it out —
/// the first `Notified` reference too.
///
/// Invariant: the pointer's low bit is set exactly while the `Notified` reference is
/// held; the rest is the task's header pointer (headers are 8-aligned, so the bit is
/// free). Each reference held is released exactly once: handed out as a `Notified` or
/// `OwnedTask`, or dropped.
pub(crate) struct HeldTask {
    tagged: NonNull<Header>,
}

// SAFETY: it holds references to a task, which are Send and Sync like RawTask's.
unsafe impl Send for HeldTask {}
// SAFETY: as above.
unsafe impl Sync for HeldTask {}

const NOTIFIED_HELD: usize = 1;

impl HeldTask {
    /// Holds both references of a task (`owned` and `notified` must be the same task).
    #[inline]
    pub(crate) fn new(owned: OwnedTask, notified: Notified) -> HeldTask {
        assert_eq!(owned.raw, notified.raw, "one task's references");
        let ptr = owned.raw.ptr;
        debug_assert_eq!(
            ptr.as_ptr() as usize & NOTIFIED_HELD,
            0,
            "headers are aligned"
        );
        std::mem::forget(owned);
        std::mem::forget(notified);
        HeldTask {
            tagged: ptr.map_addr(|a| a | NOTIFIED_HELD),
        }
    }

    /// The task.
    #[inline]
    pub(crate) fn raw(&self) -> RawTask {
        let untagged = self.tagged.as_ptr().map_addr(|a| a & !NOTIFIED_HELD);
        RawTask {
            ptr: NonNull::new(untagged).expect("a task's header pointer is not null"),
        }
    }

    /// Whether it still holds the `Notified` reference (not handed out).
    #[inline]
    pub(crate) fn holds_notified(&self) -> bool {
        self.tagged.addr().get() & NOTIFIED_HELD != 0
    }

    /// Takes back the `Notified` reference [`take_notified`](Self::take_notified)
    /// handed out (one of this task's, not run since).
    pub(crate) fn restore_notified(&mut self, notified: Notified) {
        assert!(
            !self.holds_notified(),
            "a task's first Notified is held once"
        );
        assert_eq!(self.raw(), notified.raw, "one task's references");
        std::mem::forget(notified);
        self.tagged = self.tagged.map_addr(|a| a | NOTIFIED_HELD);
    }

    /// Hands out the `Notified` reference (once); the ownership reference stays.
    #[inline]
    pub(crate) fn take_notified(&mut self) -> Option<Notified> {
        if !self.holds_notified() {
            return None;
        }
        let raw = self.raw();
        self.tagged = raw.ptr;
        // SAFETY: the tag said we held the Notified reference; clearing it transfers
        // that reference to the new Notified.
        Some(unsafe { Notified::from_raw(raw) })
    }

    /// Splits into the ownership reference and the `Notified` one, if still held.
    #[inline]
    pub(crate) fn into_parts(self) -> (OwnedTask, Option<Notified>) {
        let raw = self.raw();
        let notified = self.holds_notified().then(|| {
            // SAFETY: the tag says we hold the Notified reference; it moves out here
            // (self is forgotten below, so it is not released twice).
            unsafe { Notified::from_raw(raw) }
        });
        std::mem::forget(self);
        // SAFETY: we always hold the ownership reference; it moves out here.
        (unsafe { OwnedTask::from_raw(raw) }, notified)
    }
}

impl Drop for HeldTask {
    fn drop(&mut self) {
        let raw = self.raw();
        if self.holds_notified() {
            raw.drop_reference();
        }
        raw.drop_reference();
    }
}

/// Allocates a task for `future`, scheduled by `scheduler`. Returns the owned-list
/// reference, the first `Notified`, and the JoinHandle.
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
) -> (OwnedTask, Notified, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // The id first: taken while `future` is an argument, it would make the future be
    // copied aside around the call (a memcpy of the whole future per task).
    let id = Id::next();
    new_task_with_id(future, scheduler, id)
}

/// [`new_task`] with an id the caller took from [`Id::next`] beforehand (the task
/// tracker files the task under its id before the task exists).
pub(crate) fn new_task_with_id<F, S>(
    future: F,
    scheduler: S,
    id: Id,
) -> (OwnedTask, Notified, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let ptr = Cell::allocate(future, scheduler, id);
    let raw = RawTask { ptr };
    // SAFETY: the task was born with three references, one for each handle.
    unsafe {
        (
            OwnedTask::from_raw(raw),
            Notified::from_raw(raw),
            JoinHandle::from_raw(raw),
        )
    }
}
