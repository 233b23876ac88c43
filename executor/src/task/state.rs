//! The task state word: lifecycle flags and the reference count in one atomic.
//!
//! ```text
//!  bit 0 RUNNING        a thread holds the right to touch the future (poll or drop it)
//!  bit 1 COMPLETE       the stage holds the output (or it was consumed); the future is gone
//!  bit 2 NOTIFIED       the task must be polled (again); whoever sets it on an idle task
//!                       owns a reference that becomes a `Notified` in a run queue
//!  bit 3 CANCELLED      abort was requested; the next owner of RUNNING drops the future
//!  bit 4 JOIN_INTEREST  a JoinHandle exists and wants the output
//!  bit 5 JOIN_WAKER     the join waker slot is written and owned by the task side
//!  bits 6.. REFCOUNT    one reference per JoinHandle, Notified, owned-list entry, Waker,
//!                       and the running thread
//! ```
//!
//! Invariants (checked in the loom models of `loom-tests/`):
//! - RUNNING and COMPLETE are never both set.
//! - At most one `Notified` for a task sits in a run queue while it is idle; a wake while
//!   RUNNING only sets NOTIFIED and the poller reschedules after the poll, reusing its
//!   own reference.
//! - The join waker slot is written only by the JoinHandle while JOIN_WAKER is clear, and
//!   read (to wake) only by the completer while JOIN_WAKER is set and COMPLETE has just
//!   been set. So the slot is never accessed by both sides at once.
//! - The output is read only by the JoinHandle after it observes COMPLETE (Acquire),
//!   or dropped by the completer when JOIN_INTEREST was already clear.
//! - Memory is freed exactly once, by whoever drops the reference count to zero.

use crate::sync::{AtomicUsize, Ordering::*};

const RUNNING: usize = 0b00_0001;
const COMPLETE: usize = 0b00_0010;
const NOTIFIED: usize = 0b00_0100;
const CANCELLED: usize = 0b00_1000;
const JOIN_INTEREST: usize = 0b01_0000;
const JOIN_WAKER: usize = 0b10_0000;
const LIFECYCLE_MASK: usize = RUNNING | COMPLETE;
const REF_SHIFT: usize = 6;
const REF_ONE: usize = 1 << REF_SHIFT;

/// Three references at birth: the owned-task list, the first `Notified`, the JoinHandle.
const INITIAL_STATE: usize = (REF_ONE * 3) | JOIN_INTEREST | NOTIFIED;

/// The atomic state word of one task.
pub(crate) struct State {
    val: AtomicUsize,
}

/// A copy of the state word at one instant.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

/// What the holder of a `Notified` may do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToRunning {
    /// Poll the future.
    Success,
    /// Drop the future: abort was requested.
    Cancelled,
    /// The task is running or finished elsewhere; the reference was released.
    Failed,
    /// As `Failed`, and it was the last reference: free the task.
    Dealloc,
}

/// What the poller must do after a `Pending` poll.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToIdle {
    /// Idle; the poller's reference was released.
    Ok,
    /// Woken during the poll: the poller's reference is now a `Notified` to schedule.
    OkNotified,
    /// Idle and that was the last reference: free the task.
    OkDealloc,
    /// Abort was requested during the poll: the poller keeps RUNNING and must cancel.
    Cancelled,
}

/// What a wake must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToNotified {
    /// Nothing (running, finished, or already queued).
    DoNothing,
    /// Schedule a `Notified` that owns one reference.
    Submit,
    /// Nothing to schedule, and the reference dropped was the last: free the task.
    Dealloc,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            val: AtomicUsize::new(INITIAL_STATE),
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.val.load(Acquire))
    }

    /// Applies `f` atomically; `f` returns the new state and a result, or `None` to
    /// leave the state unchanged with the given result.
    #[inline]
    fn fetch_update<T>(&self, mut f: impl FnMut(Snapshot) -> (Option<Snapshot>, T)) -> T {
        let mut curr = self.val.load(Acquire);
        loop {
            let (next, out) = f(Snapshot(curr));
            let Some(next) = next else { return out };
            match self
                .val
                .compare_exchange_weak(curr, next.0, AcqRel, Acquire)
            {
                Ok(_) => return out,
                Err(actual) => curr = actual,
            }
        }
    }

    /// Called by the holder of a `Notified` before polling.
    #[inline]
    pub(crate) fn transition_to_running(&self) -> TransitionToRunning {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_notified() || curr.is_running() || curr.is_complete());
            if !curr.is_idle() {
                // Someone else (shutdown) took the task; release the queue's reference.
                let next = curr.ref_dec();
                let action = if next.ref_count() == 0 {
                    TransitionToRunning::Dealloc
                } else {
                    TransitionToRunning::Failed
                };
                return (Some(next), action);
            }
            let next = Snapshot((curr.0 & !NOTIFIED) | RUNNING);
            let action = if curr.is_cancelled() {
                TransitionToRunning::Cancelled
            } else {
                TransitionToRunning::Success
            };
            (Some(next), action)
        })
    }

    /// Called by the poller after the future returned `Pending`.
    #[inline]
    pub(crate) fn transition_to_idle(&self) -> TransitionToIdle {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_running());
            if curr.is_cancelled() {
                return (None, TransitionToIdle::Cancelled);
            }
            let mut next = Snapshot(curr.0 & !RUNNING);
            let action = if next.is_notified() {
                // The running reference becomes the new Notified.
                TransitionToIdle::OkNotified
            } else {
                next = next.ref_dec();
                if next.ref_count() == 0 {
                    TransitionToIdle::OkDealloc
                } else {
                    TransitionToIdle::Ok
                }
            };
            (Some(next), action)
        })
    }

    /// Sets COMPLETE and clears RUNNING; returns the state just after.
    #[inline]
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = Snapshot(self.val.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        Snapshot(prev.0 ^ (RUNNING | COMPLETE))
    }

    /// Sets COMPLETE, clears RUNNING and drops `count` references in one step, for a
    /// task whose JoinHandle is gone (JOIN_INTEREST clear: nobody reads the output, so
    /// nothing waits between the two); returns true if they were the last.
    #[inline]
    pub(crate) fn transition_to_complete_and_terminal(&self, count: usize) -> bool {
        // RUNNING set and COMPLETE clear: adding one moves bit 0 into bit 1.
        const RUNNING_TO_COMPLETE: usize = COMPLETE - RUNNING;
        let prev = Snapshot(
            self.val
                .fetch_sub(count * REF_ONE - RUNNING_TO_COMPLETE, AcqRel),
        );
        debug_assert!(prev.is_running() && !prev.is_complete());
        debug_assert!(!prev.is_join_interested());
        debug_assert!(prev.ref_count() >= count);
        prev.ref_count() == count
    }

    /// Drops `count` references after completion; returns true if they were the last.
    #[inline]
    pub(crate) fn transition_to_terminal(&self, count: usize) -> bool {
        let prev = Snapshot(self.val.fetch_sub(count * REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= count);
        prev.ref_count() == count
    }

    /// A wake through a waker that owns a reference (the reference is consumed).
    #[inline]
    pub(crate) fn transition_to_notified_by_val(&self) -> TransitionToNotified {
        self.fetch_update(|curr| {
            let mut next = curr;
            let action = if curr.is_running() {
                // The poller will reschedule; our reference is not needed.
                next = Snapshot(next.0 | NOTIFIED).ref_dec();
                debug_assert!(next.ref_count() > 0, "the poller holds a reference");
                TransitionToNotified::DoNothing
            } else if curr.is_complete() || curr.is_notified() {
                next = next.ref_dec();
                if next.ref_count() == 0 {
                    TransitionToNotified::Dealloc
                } else {
                    TransitionToNotified::DoNothing
                }
            } else {
                // Our reference becomes the Notified.
                next = Snapshot(next.0 | NOTIFIED);
                TransitionToNotified::Submit
            };
            (Some(next), action)
        })
    }

    /// A wake through a borrowed waker (no reference is consumed).
    #[inline]
    pub(crate) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.fetch_update(|curr| {
            if curr.is_complete() || curr.is_notified() {
                (None, TransitionToNotified::DoNothing)
            } else if curr.is_running() {
                (
                    Some(Snapshot(curr.0 | NOTIFIED)),
                    TransitionToNotified::DoNothing,
                )
            } else {
                let next = Snapshot(curr.0 | NOTIFIED).ref_inc();
                (Some(next), TransitionToNotified::Submit)
            }
        })
    }

    /// Abort from a JoinHandle/AbortHandle. Returns true when the caller must schedule
    /// a new `Notified` (it then owns one added reference) so a worker cancels the task.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> bool {
        self.fetch_update(|curr| {
            if curr.is_cancelled() || curr.is_complete() {
                (None, false)
            } else if curr.is_running() || curr.is_notified() {
                // The poller, or the holder of the queued Notified, will cancel it.
                (Some(Snapshot(curr.0 | CANCELLED | NOTIFIED)), false)
            } else {
                let next = Snapshot(curr.0 | CANCELLED | NOTIFIED).ref_inc();
                (Some(next), true)
            }
        })
    }

    /// Abort of a task whose `Notified` someone holds (or that is running): marks it
    /// cancelled, as [`transition_to_notified_and_cancel`] does, without ever needing
    /// a new `Notified`. Returns false (changing nothing) if the task is idle and not
    /// notified, which then needs that abort.
    ///
    /// [`transition_to_notified_and_cancel`]: Self::transition_to_notified_and_cancel
    pub(crate) fn cancel_if_notified(&self) -> bool {
        self.fetch_update(|curr| {
            if curr.is_cancelled() || curr.is_complete() {
                (None, true)
            } else if curr.is_running() || curr.is_notified() {
                (Some(Snapshot(curr.0 | CANCELLED | NOTIFIED)), true)
            } else {
                (None, false)
            }
        })
    }

    /// Shutdown: marks the task cancelled; returns true when the caller now holds
    /// RUNNING (the task was idle) and must cancel it itself.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update(|curr| {
            let mut next = Snapshot(curr.0 | CANCELLED);
            let claimed = curr.is_idle();
            if claimed {
                next = Snapshot(next.0 | RUNNING);
            }
            (Some(next), claimed)
        })
    }

    /// JoinHandle drop, fast path: only when the state is exactly the initial one.
    #[inline]
    pub(crate) fn drop_join_handle_fast(&self) -> bool {
        self.val
            .compare_exchange(
                INITIAL_STATE,
                (INITIAL_STATE - REF_ONE) & !JOIN_INTEREST,
                Release,
                Relaxed,
            )
            .is_ok()
    }

    /// Clears JOIN_INTEREST (and JOIN_WAKER) unless complete. On success returns the
    /// state before, so the caller knows whether it now owns the join waker slot.
    #[inline]
    pub(crate) fn unset_join_interested(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested());
            if curr.is_complete() {
                return (None, Err(curr));
            }
            (
                Some(Snapshot(curr.0 & !(JOIN_INTEREST | JOIN_WAKER))),
                Ok(curr),
            )
        })
    }

    /// Publishes the join waker slot to the task side, unless complete.
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested() && !curr.is_join_waker_set());
            if curr.is_complete() {
                return (None, Err(curr));
            }
            let next = Snapshot(curr.0 | JOIN_WAKER);
            (Some(next), Ok(next))
        })
    }

    /// Takes the join waker slot back from the task side, unless complete.
    pub(crate) fn unset_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested() && curr.is_join_waker_set());
            if curr.is_complete() {
                return (None, Err(curr));
            }
            let next = Snapshot(curr.0 & !JOIN_WAKER);
            (Some(next), Ok(next))
        })
    }

    #[inline]
    pub(crate) fn ref_inc(&self) {
        let prev = self.val.fetch_add(REF_ONE, Relaxed);
        // A reference count this large means references leak: stop before overflow.
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops one reference; returns true if it was the last.
    #[inline]
    pub(crate) fn ref_dec(&self) -> bool {
        // The only reference is ours: nobody can make another (references come only
        // from references), so nothing races with us and no locked instruction is
        // needed. The Acquire load orders every earlier holder's accesses (each dropped
        // its reference with Release) before the caller frees the task.
        if Snapshot(self.val.load(Acquire)).ref_count() == 1 {
            return true;
        }
        let prev = Snapshot(self.val.fetch_sub(REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= 1);
        prev.ref_count() == 1
    }
}

impl Snapshot {
    #[inline]
    pub(crate) fn is_idle(self) -> bool {
        self.0 & LIFECYCLE_MASK == 0
    }
    #[inline]
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    #[inline]
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    #[inline]
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    #[inline]
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    #[inline]
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    #[inline]
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    #[inline]
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
    #[inline]
    fn ref_inc(self) -> Snapshot {
        Snapshot(self.0 + REF_ONE)
    }
    #[inline]
    fn ref_dec(self) -> Snapshot {
        debug_assert!(self.ref_count() > 0);
        Snapshot(self.0 - REF_ONE)
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interested", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("refs", &self.ref_count())
            .finish()
    }
}

#[cfg(all(test, not(taskweave_loom)))]
mod tests {
    use super::*;

    #[test]
    fn first_poll_then_idle_releases_the_running_reference() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
        assert_eq!(s.transition_to_idle(), TransitionToIdle::Ok);
        let snap = s.load();
        assert!(snap.is_idle() && !snap.is_notified());
        assert_eq!(snap.ref_count(), 2);
    }

    #[test]
    fn wake_during_poll_reschedules_with_the_running_reference() {
        let s = State::new();
        s.transition_to_running();
        assert_eq!(
            s.transition_to_notified_by_ref(),
            TransitionToNotified::DoNothing
        );
        assert_eq!(s.transition_to_idle(), TransitionToIdle::OkNotified);
        assert_eq!(s.load().ref_count(), 3);
        assert!(s.load().is_notified());
    }

    #[test]
    fn wake_of_idle_task_submits_once() {
        let s = State::new();
        s.transition_to_running();
        s.transition_to_idle();
        assert_eq!(
            s.transition_to_notified_by_ref(),
            TransitionToNotified::Submit
        );
        assert_eq!(
            s.transition_to_notified_by_ref(),
            TransitionToNotified::DoNothing
        );
        assert_eq!(s.load().ref_count(), 3);
    }

    #[test]
    fn wake_after_complete_is_a_no_op() {
        let s = State::new();
        s.transition_to_running();
        let after = s.transition_to_complete();
        assert!(after.is_complete() && !after.is_running());
        assert_eq!(
            s.transition_to_notified_by_ref(),
            TransitionToNotified::DoNothing
        );
    }

    #[test]
    fn abort_of_idle_task_requests_a_cancelling_poll() {
        let s = State::new();
        s.transition_to_running();
        s.transition_to_idle();
        assert!(s.transition_to_notified_and_cancel());
        assert_eq!(s.transition_to_running(), TransitionToRunning::Cancelled);
    }

    #[test]
    fn abort_during_poll_is_seen_at_idle() {
        let s = State::new();
        s.transition_to_running();
        assert!(!s.transition_to_notified_and_cancel());
        assert_eq!(s.transition_to_idle(), TransitionToIdle::Cancelled);
    }

    #[test]
    fn shutdown_claims_only_idle_tasks() {
        let s = State::new();
        assert!(s.transition_to_shutdown(), "notified but not running: idle");
        let r = State::new();
        r.transition_to_running();
        assert!(!r.transition_to_shutdown());
        assert_eq!(r.transition_to_idle(), TransitionToIdle::Cancelled);
    }

    #[test]
    fn stale_notified_after_shutdown_releases_its_reference() {
        let s = State::new();
        assert!(s.transition_to_shutdown());
        assert_eq!(s.transition_to_running(), TransitionToRunning::Failed);
        assert_eq!(s.load().ref_count(), 2);
    }

    #[test]
    fn join_interest_cannot_be_dropped_after_complete() {
        let s = State::new();
        s.transition_to_running();
        s.transition_to_complete();
        assert!(s.unset_join_interested().is_err());
        let t = State::new();
        assert!(t.unset_join_interested().is_ok());
        assert!(!t.load().is_join_interested());
    }
}
