//! The bound on pending ExecutableTasks (backpressure): how many submitted tasks have
//! not started yet, and the submitters waiting for room.
//!
//! The pending count shares one atomic word, the *state*, with the gate's in-flight
//! count (`admit.rs`), so that a task's start — take an in-flight slot and leave the
//! backlog — is one compare-and-swap; the word and the gate's completion count sit on
//! one cache line of their own ([`Counts`]), the only gate line every task writes.
//! Layout of the state, low bits first:
//!
//! | bits     | what                                   | owner        |
//! |----------|----------------------------------------|--------------|
//! | 0..24    | permits held (`in_flight`)             | `admit.rs`   |
//! | 24       | `QUEUED`: the gate's wait queue is not empty | `admit.rs` |
//! | 25       | `ROOM`: a submitter waits for room     | this file    |
//! | 26..64   | pending tasks                          | this file    |
//!
//! Invariants:
//! - `pending` is +n when tasks are handed to the runtime (`reserve`, or a successful
//!   `try_reserve`) and −1 when each of them starts or is dropped unstarted
//!   (`unreserve`, or the gate's start, called by its ticket, see `admit.rs`). `submit`
//!   counts without checking; `try_submit` refuses past `capacity`; `submit_wait` waits
//!   for room. A batch larger than the capacity is let in when nothing is pending, so
//!   it cannot wait forever. Pending sits in the top bits: it cannot overflow into the
//!   rest of the word (2^38 unstarted tasks would not fit in any machine's memory).
//! - `ROOM` is set exactly while the room waiters' list is not empty: it is changed
//!   only under the list's lock.
//! - No lost wake-up, with no fence: a waiting submitter sets `ROOM` (an RMW on the
//!   state, under the lock) and then checks for room once more; whoever lowers
//!   `pending` does it with an RMW on the state and reads `ROOM` in the value that RMW
//!   returned. All of these are read-modify-writes of one word, so they are totally
//!   ordered (its modification order): either the lowering comes first, and the
//!   submitter's second check sees the room, or it comes second, and it sees `ROOM` and
//!   wakes the submitter. (The `backlog_*` models in `loom-tests/tests/gate.rs` check
//!   it.) Every registered submitter is woken when room appears (they are few:
//!   producers); the ones that lose the race register again.
//! - After `close` (shutdown) waiting submitters are woken and get `Shutdown`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use super::admit::Gate;
use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, Ordering};

use Ordering::{AcqRel, Acquire, Relaxed};

/// The state's in-flight count: its low bits (`admit.rs` is the only user).
pub(super) const IN_FLIGHT_MASK: u64 = (1 << 24) - 1;
/// The most permits the state can count; a higher in-flight limit acts as this one.
pub(super) const IN_FLIGHT_MAX: u64 = IN_FLIGHT_MASK;
/// The state's flag: the gate's wait queue holds entries (`admit.rs`).
pub(super) const QUEUED: u64 = 1 << 24;
/// The state's flag: submitters wait for room in the backlog.
pub(super) const ROOM: u64 = 1 << 25;
/// Where the state's pending count starts.
const PENDING_SHIFT: u32 = 26;
/// One pending task in the state.
pub(super) const PENDING_ONE: u64 = 1 << PENDING_SHIFT;

/// `n` pending tasks in the state (a count that large cannot be pending anyway: see
/// the module invariants).
fn pending_units(n: usize) -> u64 {
    (n as u64) << PENDING_SHIFT
}

/// The one cache line every ExecutableTask writes, at its start and at its end.
pub(crate) struct Counts {
    /// The state: in-flight count, `QUEUED`, `ROOM`, pending count (module docs).
    pub(super) state: AtomicU64,
    /// The gate's completions since the runtime started (cumulative; each monitor tick
    /// takes the difference).
    pub(super) completed: AtomicU64,
}

/// Submitters waiting for room in the backlog.
#[derive(Default)]
struct RoomWaiters {
    wakers: Vec<(u64, Waker)>,
    next_id: u64,
}

/// Submitted ExecutableTasks not yet started, with a bound for `try_*` submissions.
pub(crate) struct Backlog {
    pub(super) counts: CachePadded<Counts>,
    capacity: usize,
    room: Mutex<RoomWaiters>,
    closed: AtomicBool,
}

impl Backlog {
    pub(crate) fn new(capacity: usize) -> Backlog {
        Backlog {
            counts: CachePadded::new(Counts {
                state: AtomicU64::new(0),
                completed: AtomicU64::new(0),
            }),
            capacity,
            room: Mutex::new(RoomWaiters::default()),
            closed: AtomicBool::new(false),
        }
    }

    /// Pending tasks now.
    pub(crate) fn len(&self) -> usize {
        (self.counts.state.load(Relaxed) >> PENDING_SHIFT) as usize
    }

    /// The most pending tasks `try_*` submissions allow.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    // ---- Backlog ---------------------------------------------------------------------

    /// Counts `n` more pending tasks, whatever the capacity.
    pub(crate) fn reserve(&self, n: usize) {
        self.counts.state.fetch_add(pending_units(n), AcqRel);
    }

    /// [`try_reserve_with`](Self::try_reserve_with) with no task started elsewhere.
    #[cfg(test)]
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        self.try_reserve_with(n, || 0)
    }

    /// Counts `n` more pending tasks if they fit the capacity (or nothing is pending),
    /// not counting `started()` tasks that started but are still counted in the state
    /// (the workers' ledgers, `admit/ledger.rs`), read after the state each time: a
    /// ledger takes its count off the state only after it zeroed it, so a task is never
    /// subtracted twice.
    pub(crate) fn try_reserve_with(&self, n: usize, started: impl Fn() -> usize) -> bool {
        let state = &self.counts.state;
        let mut current = state.load(Acquire);
        loop {
            let pending = ((current >> PENDING_SHIFT) as usize).saturating_sub(started());
            if pending != 0 && pending.saturating_add(n) > self.capacity {
                return false;
            }
            match state.compare_exchange_weak(
                current,
                current.wrapping_add(pending_units(n)),
                AcqRel,
                Acquire,
            ) {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Uncounts `n` pending tasks and wakes submitters waiting for room.
    pub(crate) fn unreserve(&self, n: usize) {
        let before = self.counts.state.fetch_sub(pending_units(n), AcqRel);
        debug_assert!(before >> PENDING_SHIFT >= n as u64, "backlog underflow");
        self.left(before);
    }

    /// After tasks left the backlog with an RMW that returned `before`: wakes the
    /// submitters waiting for room, if `before` says there are some.
    pub(super) fn left(&self, before: u64) {
        if before & ROOM != 0 {
            self.wake_room_waiters();
        }
    }

    #[cold]
    fn wake_room_waiters(&self) {
        let wakers = {
            let mut room = self.room.lock();
            if !room.wakers.is_empty() {
                self.counts.state.fetch_and(!ROOM, AcqRel);
            }
            std::mem::take(&mut room.wakers)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    /// [`poll_reserve_with`](Self::poll_reserve_with) with no task started elsewhere.
    #[cfg(any(test, taskweave_loom))]
    pub(crate) fn poll_reserve(
        &self,
        n: usize,
        cx: &mut Context<'_>,
        registration: &mut Option<u64>,
    ) -> Poll<bool> {
        self.poll_reserve_with(n, || 0, cx, registration)
    }

    /// Reserves room for `n` tasks, or registers to be woken when room may have
    /// appeared. `Ready(false)` once the runtime shuts down. `started` as in
    /// [`try_reserve_with`](Self::try_reserve_with).
    pub(crate) fn poll_reserve_with(
        &self,
        n: usize,
        started: impl Fn() -> usize,
        cx: &mut Context<'_>,
        registration: &mut Option<u64>,
    ) -> Poll<bool> {
        loop {
            if self.closed.load(Acquire) {
                self.deregister(registration);
                return Poll::Ready(false);
            }
            if self.try_reserve_with(n, &started) {
                self.deregister(registration);
                return Poll::Ready(true);
            }
            let fresh = {
                let mut room = self.room.lock();
                let listed =
                    registration.and_then(|id| room.wakers.iter_mut().find(|(i, _)| *i == id));
                match listed {
                    Some((_, waker)) => {
                        if !waker.will_wake(cx.waker()) {
                            *waker = cx.waker().clone();
                        }
                        false
                    }
                    None => {
                        let id = room.next_id;
                        room.next_id += 1;
                        if room.wakers.is_empty() {
                            // Before the second check below (see the module invariants).
                            self.counts.state.fetch_or(ROOM, AcqRel);
                        }
                        room.wakers.push((id, cx.waker().clone()));
                        *registration = Some(id);
                        true
                    }
                }
            };
            if !fresh {
                return Poll::Pending;
            }
            // Newly registered: check once more, since room may have appeared before
            // `ROOM` was set.
        }
    }

    /// Forgets a room registration (a waiting submitter that finished or was dropped).
    pub(crate) fn deregister(&self, registration: &mut Option<u64>) {
        if let Some(id) = registration.take() {
            let mut room = self.room.lock();
            let listed = !room.wakers.is_empty();
            room.wakers.retain(|(i, _)| *i != id);
            if listed && room.wakers.is_empty() {
                self.counts.state.fetch_and(!ROOM, AcqRel);
            }
        }
    }

    /// Shutdown: no more room; wakes every waiting submitter.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake_room_waiters();
    }
}

/// Room reserved in the backlog and not yet handed to a ticket; gives it back if
/// dropped.
pub(crate) struct Reservation {
    gate: Arc<Gate>,
    n: usize,
}

impl Reservation {
    /// Hands the reserved room over (to tickets that count themselves).
    pub(crate) fn keep(mut self) {
        self.n = 0;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.n > 0 {
            self.gate.backlog.unreserve(self.n);
        }
    }
}

/// Waits for room for `n` tasks in the backlog; `None` if the runtime shut down.
pub(crate) async fn room_for(gate: &Arc<Gate>, n: usize) -> Option<Reservation> {
    struct Wait<'a> {
        gate: &'a Arc<Gate>,
        n: usize,
        registration: Option<u64>,
    }
    impl Future for Wait<'_> {
        type Output = bool;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
            let this = &mut *self;
            this.gate.poll_reserve(this.n, cx, &mut this.registration)
        }
    }
    impl Drop for Wait<'_> {
        fn drop(&mut self) {
            self.gate.backlog.deregister(&mut self.registration);
        }
    }
    let reserved = Wait {
        gate,
        n,
        registration: None,
    }
    .await;
    reserved.then(|| Reservation {
        gate: gate.clone(),
        n,
    })
}
