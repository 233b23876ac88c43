//! What the state transitions do to the typed task: poll, complete, cancel, join.
//!
//! Every function here is reached through the task's `Vtable` with a pointer to a live
//! `Cell<F, S>` and a reference the caller hands over (see each function). Panics from
//! the user's future — in `poll` or in its destructor — are caught here and turned into
//! a `JoinError`, so they never unwind into a worker.

use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::core::{Cell, Header, Stage, Vtable};
use super::state::{TransitionToIdle, TransitionToNotified, TransitionToRunning};
use super::{JoinError, Notified, RawTask, Schedule};

/// The vtable for tasks of future type `F` scheduled by `S`.
pub(crate) fn vtable<F: Future, S: Schedule>() -> &'static Vtable {
    &Vtable {
        poll: poll::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_join_handle_slow: drop_join_handle_slow::<F, S>,
        shutdown: shutdown::<F, S>,
        scheduler: scheduler::<F, S>,
    }
}

/// # Safety
/// `ptr` must point to a live `Cell<F, S>`.
unsafe fn cell<'a, F: Future, S: Schedule>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: caller's contract; the header is the cell's first field.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

/// The task's scheduler. The caller holds a reference, and the returned pointer is
/// only valid while one is held (the scheduler is dropped when the cell is freed).
unsafe fn scheduler<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
) -> NonNull<dyn std::any::Any + Send + Sync> {
    // SAFETY: the caller's reference keeps the cell alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    NonNull::from(&cell.core.scheduler as &(dyn std::any::Any + Send + Sync))
}

/// Runs the task. The caller hands over one reference (its `Notified`).
unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the cell alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.transition_to_running() {
        TransitionToRunning::Success => {
            // SAFETY: we hold RUNNING and a reference.
            unsafe { poll_running(cell, ptr) }
        }
        TransitionToRunning::Cancelled => {
            // SAFETY: we hold RUNNING.
            unsafe { cancel_and_complete(cell, ptr) }
        }
        TransitionToRunning::Failed => {}
        TransitionToRunning::Dealloc => {
            // SAFETY: that was the last reference.
            unsafe { dealloc::<F, S>(ptr) }
        }
    }
}

/// # Safety
/// The caller holds RUNNING and one reference (the "running reference").
unsafe fn poll_running<F: Future, S: Schedule>(cell: &Cell<F, S>, ptr: NonNull<Header>) {
    // A waker that borrows the running reference: it must not be dropped as a Waker.
    // SAFETY: the raw waker's vtable expects a task header pointer with a reference
    // held elsewhere for the waker's lifetime, which the running reference provides.
    let waker = ManuallyDrop::new(unsafe { super::waker::borrowed_waker(ptr) });
    let mut cx = Context::from_waker(&waker);
    let polled = catch_unwind(AssertUnwindSafe(|| {
        let _guard = crate::coop::TaskBudget::enter();
        // SAFETY: RUNNING gives exclusive access to the future.
        unsafe { cell.core.poll(&mut cx) }
    }));
    let output = match polled {
        Ok(Poll::Pending) => {
            match cell.header.state.transition_to_idle() {
                TransitionToIdle::Ok => {}
                TransitionToIdle::OkNotified => {
                    // SAFETY: the running reference became this Notified.
                    let task = unsafe { Notified::from_raw(RawTask { ptr }) };
                    cell.core.scheduler.yield_now(task);
                }
                TransitionToIdle::OkDealloc => {
                    // SAFETY: that was the last reference.
                    unsafe { dealloc::<F, S>(ptr) }
                }
                TransitionToIdle::Cancelled => {
                    // SAFETY: transition_to_idle left RUNNING set for us.
                    unsafe { cancel_and_complete(cell, ptr) }
                }
            }
            return;
        }
        Ok(Poll::Ready(value)) => Ok(value),
        Err(payload) => Err(JoinError::panic(cell.header.id, payload)),
    };
    // Drop the future before storing the output; its destructor may panic too.
    // SAFETY: we hold RUNNING.
    let output = match drop_stage(cell) {
        Ok(()) => output,
        Err(payload) => Err(JoinError::panic(cell.header.id, payload)),
    };
    // SAFETY: we hold RUNNING.
    unsafe { cell.core.set_stage(Stage::Finished(output)) };
    // SAFETY: RUNNING and the running reference are handed to complete.
    unsafe { complete(cell, ptr) }
}

/// Drops whatever the stage holds, catching a panicking destructor.
fn drop_stage<F: Future, S: Schedule>(cell: &Cell<F, S>) -> Result<(), Box<dyn Any + Send>> {
    // SAFETY: every caller holds exclusive access to the stage.
    catch_unwind(AssertUnwindSafe(|| unsafe {
        cell.core.set_stage(Stage::Consumed)
    }))
}

/// Drops the future and completes the task with a cancellation error.
///
/// # Safety
/// The caller holds RUNNING and one reference, both handed over.
unsafe fn cancel_and_complete<F: Future, S: Schedule>(cell: &Cell<F, S>, ptr: NonNull<Header>) {
    let id = cell.header.id;
    // SAFETY: we hold RUNNING; the cause is only written before a cancelling run.
    let cause = cell.header.cancel_cause.with(|c| unsafe { *c });
    let output = match drop_stage(cell) {
        Ok(()) => Err(JoinError::cancelled_with(id, cause)),
        Err(payload) => Err(JoinError::panic(id, payload)),
    };
    // SAFETY: we hold RUNNING.
    unsafe { cell.core.set_stage(Stage::Finished(output)) };
    // SAFETY: handed over by the caller.
    unsafe { complete(cell, ptr) }
}

/// Publishes the output, wakes the joiner, leaves the owned list.
///
/// # Safety
/// The caller holds RUNNING and one reference, both handed over.
unsafe fn complete<F: Future, S: Schedule>(cell: &Cell<F, S>, ptr: NonNull<Header>) {
    // Leave the owned list before anyone can learn of the completion, so a joiner
    // never sees its finished task still counted as alive. (We hold RUNNING, so
    // shutdown no longer needs to find this task.)
    let raw = RawTask { ptr };
    let count = match cell.core.scheduler.release(&raw) {
        Some(owned) => {
            // Its reference is dropped together with the running one below.
            std::mem::forget(owned);
            2
        }
        None => 1,
    };
    if !cell.header.state.load().is_join_interested() {
        // The JoinHandle is gone (interest is never set again), so nobody reads the
        // output: drop it while we hold RUNNING, then complete and release our
        // references in one atomic step (one locked instruction instead of two).
        let _ = drop_stage(cell);
        if cell.header.state.transition_to_complete_and_terminal(count) {
            // SAFETY: those were the last references.
            unsafe { dealloc::<F, S>(ptr) }
        }
        return;
    }
    let snapshot = cell.header.state.transition_to_complete();
    if !snapshot.is_join_interested() {
        // Nobody will read the output: drop it here. The JoinHandle is gone, so we
        // have exclusive access.
        let _ = drop_stage(cell);
    } else if snapshot.is_join_waker_set() {
        // JOIN_WAKER with COMPLETE: the JoinHandle no longer writes the slot.
        cell.trailer.waker.with(|slot| {
            // SAFETY: see above; shared read of a slot nobody writes now.
            if let Some(waker) = unsafe { &*slot } {
                waker.wake_by_ref();
            }
        });
    }
    if cell.header.state.transition_to_terminal(count) {
        // SAFETY: those were the last references.
        unsafe { dealloc::<F, S>(ptr) }
    }
}

/// Schedules the task through its scheduler. The caller hands over one reference.
unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the handed-over reference keeps the cell alive and becomes the Notified.
    unsafe {
        let cell = cell::<F, S>(ptr);
        cell.schedule(Notified::from_raw(RawTask { ptr }));
    }
}

/// Frees the task.
unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    let cell = ptr.cast::<Cell<F, S>>();
    // A leftover output or future may panic in its destructor; do not unwind into
    // whichever thread happened to drop the last reference.
    // SAFETY: the caller dropped the last reference: nothing else reads the cell.
    let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
        std::ptr::drop_in_place(cell.as_ptr())
    }));
    // SAFETY: the cell came from `alloc::allocate` (`Cell::allocate`) and its
    // contents were dropped above; this was the last reference.
    unsafe { crate::task::alloc::free(cell) };
}

/// Reads the output into `dst` if complete; otherwise stores the join waker.
unsafe fn try_read_output<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: the JoinHandle's reference keeps the cell alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    if can_read_output(cell, waker) {
        // SAFETY: COMPLETE was observed with JOIN_INTEREST set, so the output is ours;
        // dst points to a `Poll<Result<F::Output, JoinError>>` (JoinHandle<F::Output>).
        unsafe {
            let output = cell.core.take_output();
            *(dst as *mut Poll<Result<F::Output, JoinError>>) = Poll::Ready(output);
        }
    }
}

fn can_read_output<F: Future, S: Schedule>(cell: &Cell<F, S>, waker: &Waker) -> bool {
    let state = &cell.header.state;
    let snapshot = state.load();
    if snapshot.is_complete() {
        return true;
    }
    let stored = if snapshot.is_join_waker_set() {
        // SAFETY: while JOIN_WAKER is set the slot is only read (by us and the completer).
        let same = cell
            .trailer
            .waker
            .with(|slot| unsafe { (*slot).as_ref().is_some_and(|w| w.will_wake(waker)) });
        if same {
            return false;
        }
        state
            .unset_waker()
            .and_then(|_| store_join_waker(cell, waker))
    } else {
        store_join_waker(cell, waker)
    };
    match stored {
        Ok(_) => false,
        Err(snapshot) => {
            debug_assert!(snapshot.is_complete());
            true
        }
    }
}

/// Writes the slot (we own it: JOIN_WAKER is clear) and publishes it.
fn store_join_waker<F: Future, S: Schedule>(
    cell: &Cell<F, S>,
    waker: &Waker,
) -> Result<super::state::Snapshot, super::state::Snapshot> {
    // SAFETY: JOIN_WAKER is clear, so the task side never touches the slot.
    cell.trailer
        .waker
        .with_mut(|slot| unsafe { *slot = Some(waker.clone()) });
    let res = cell.header.state.set_join_waker();
    if res.is_err() {
        // Completed meanwhile, without seeing our waker: the slot is still ours.
        // SAFETY: as above.
        cell.trailer.waker.with_mut(|slot| unsafe { *slot = None });
    }
    res
}

/// The JoinHandle is dropped (slow path). The caller hands over its reference.
unsafe fn drop_join_handle_slow<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the JoinHandle's reference keeps the cell alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.unset_join_interested() {
        Err(_complete) => {
            // The output is ours to drop.
            let _ = drop_stage(cell);
        }
        Ok(before) => {
            if before.is_join_waker_set() {
                // We cleared JOIN_WAKER before COMPLETE: the slot is ours again.
                // SAFETY: see above.
                cell.trailer.waker.with_mut(|slot| unsafe { *slot = None });
            }
        }
    }
    RawTask { ptr }.drop_reference();
}

/// Runtime shutdown. The caller hands over the owned list's reference, already removed
/// from the list.
unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the list's reference keeps the cell alive.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.state.transition_to_shutdown() {
        // We claimed RUNNING; the list's reference now plays the running reference.
        // SAFETY: both handed to cancel_and_complete.
        unsafe { cancel_and_complete(cell, ptr) }
    } else {
        // Running elsewhere (its poller will see CANCELLED) or already complete.
        RawTask { ptr }.drop_reference();
    }
}

/// A wake that consumes a reference.
pub(super) unsafe fn wake_by_val(ptr: NonNull<Header>) {
    let raw = RawTask { ptr };
    match raw.state().transition_to_notified_by_val() {
        TransitionToNotified::Submit => {
            // SAFETY: our reference becomes the Notified.
            unsafe { (raw.header().vtable.schedule)(ptr) }
        }
        TransitionToNotified::DoNothing => {}
        TransitionToNotified::Dealloc => {
            // SAFETY: that was the last reference.
            unsafe { (raw.header().vtable.dealloc)(ptr) }
        }
    }
}

/// A wake through a borrowed waker.
pub(super) unsafe fn wake_by_ref(ptr: NonNull<Header>) {
    let raw = RawTask { ptr };
    if raw.state().transition_to_notified_by_ref() == TransitionToNotified::Submit {
        // SAFETY: the transition added the reference the Notified owns.
        unsafe { (raw.header().vtable.schedule)(ptr) }
    }
}

/// Abort requested through a JoinHandle or AbortHandle.
pub(super) fn remote_abort(raw: RawTask) {
    if raw.state().transition_to_notified_and_cancel() {
        // SAFETY: the transition added the reference the Notified owns.
        unsafe { (raw.header().vtable.schedule)(raw.ptr) }
    }
}

impl RawTask {
    /// # Safety
    /// `dst` must point to a `Poll<Result<T, JoinError>>` where T is the task's output.
    pub(super) unsafe fn try_read_output(&self, dst: *mut (), waker: &Waker) {
        // SAFETY: caller's contract.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst, waker) }
    }

    /// Consumes the JoinHandle's reference.
    #[inline]
    pub(super) fn drop_join_handle(self) {
        if self.state().drop_join_handle_fast() {
            return;
        }
        // SAFETY: the JoinHandle's reference is handed over.
        unsafe { (self.header().vtable.drop_join_handle_slow)(self.ptr) }
    }

    #[inline]
    pub(super) fn ref_inc(&self) {
        self.state().ref_inc();
    }

    pub(super) fn drop_ref(self) {
        self.drop_reference();
    }
}
