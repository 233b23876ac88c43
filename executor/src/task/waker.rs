//! `Waker`s that point straight at a task: no allocation per waker.
//!
//! A waker owns one task reference (cloning adds one, dropping releases one), except
//! the borrowed waker handed to the future during a poll, which leans on the poller's
//! running reference and is never dropped as a `Waker`. Waking a finished task does
//! nothing; waking a running task makes the poller reschedule it after the poll.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::core::Header;
use super::harness;
use super::RawTask;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that borrows a reference held elsewhere.
///
/// # Safety
/// The returned waker must not outlive that reference, and must not be dropped as a
/// `Waker` (wrap it in `ManuallyDrop`).
pub(super) unsafe fn borrowed_waker(ptr: NonNull<Header>) -> Waker {
    // SAFETY: VTABLE's functions expect a task header pointer, which `ptr` is.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)) }
}

/// The task `waker` points at, if it is one of ours.
pub(super) fn task_ptr(waker: &Waker) -> Option<NonNull<Header>> {
    std::ptr::eq(waker.vtable(), &VTABLE).then(|| header(waker.data()))
}

fn header(data: *const ()) -> NonNull<Header> {
    // SAFETY: every RawWaker with VTABLE was built from a non-null header pointer.
    unsafe { NonNull::new_unchecked(data as *mut Header) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    let raw = RawTask { ptr: header(data) };
    raw.ref_inc();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: this waker's reference is handed to wake_by_val.
    unsafe { harness::wake_by_val(header(data)) }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker's reference keeps the task alive during the call.
    unsafe { harness::wake_by_ref(header(data)) }
}

unsafe fn drop_waker(data: *const ()) {
    RawTask { ptr: header(data) }.drop_ref();
}
