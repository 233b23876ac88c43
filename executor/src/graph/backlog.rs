//! The bound on pending ExecutableTasks (backpressure): how many submitted tasks have
//! not started yet, and the submitters waiting for room.
//!
//! Invariants:
//! - `pending` is +n when tasks are handed to the runtime (`reserve`, or a successful
//!   `try_reserve`) and −1 when each of them starts or is dropped unstarted
//!   (`unreserve`, called by its ticket, see `admit.rs`). `submit` counts without
//!   checking; `try_submit` refuses past `capacity`; `submit_wait` waits for room. A
//!   batch larger than the capacity is let in when nothing is pending, so it cannot
//!   wait forever.
//! - No lost wake-up: a waiting submitter registers its waker (under the lock,
//!   publishing the count `SeqCst`) and then checks for room once more; a releaser
//!   decrements `pending` and then reads the count (`SeqCst`). A `SeqCst` fence sits
//!   between each side's write and read (as in `admit.rs`: it is what lets loom check
//!   the pair; the `backlog_*` models in `loom-tests/tests/gate.rs` do). Every registered
//!   submitter is woken when room appears (they are few: producers); the ones that
//!   lose the race register again.
//! - After `close` (shutdown) waiting submitters are woken and get `Shutdown`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::admit::Gate;
use crate::sync::{fence, Arc, AtomicBool, AtomicUsize, Mutex, Ordering};

use Ordering::{Acquire, SeqCst};

/// Submitters waiting for room in the backlog.
#[derive(Default)]
struct RoomWaiters {
    wakers: Vec<(u64, Waker)>,
    next_id: u64,
}

/// Submitted ExecutableTasks not yet started, with a bound for `try_*` submissions.
pub(crate) struct Backlog {
    pending: AtomicUsize,
    capacity: usize,
    room: Mutex<RoomWaiters>,
    /// `room.wakers.len()`, readable without the lock.
    room_waiters: AtomicUsize,
    closed: AtomicBool,
}

impl Backlog {
    pub(crate) fn new(capacity: usize) -> Backlog {
        Backlog {
            pending: AtomicUsize::new(0),
            capacity,
            room: Mutex::new(RoomWaiters::default()),
            room_waiters: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Pending tasks now.
    pub(crate) fn len(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// The most pending tasks `try_*` submissions allow.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    // ---- Backlog ---------------------------------------------------------------------

    /// Counts `n` more pending tasks, whatever the capacity.
    pub(crate) fn reserve(&self, n: usize) {
        self.pending.fetch_add(n, SeqCst);
    }

    /// Counts `n` more pending tasks if they fit the capacity (or nothing is pending).
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        let mut current = self.pending.load(SeqCst);
        loop {
            if current != 0 && current.saturating_add(n) > self.capacity {
                return false;
            }
            match self
                .pending
                .compare_exchange_weak(current, current + n, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(now) => current = now,
            }
        }
    }

    /// Uncounts `n` pending tasks and wakes submitters waiting for room.
    pub(crate) fn unreserve(&self, n: usize) {
        self.pending.fetch_sub(n, SeqCst);
        // Pairs with the fence in `poll_reserve` (see the module invariants).
        fence(SeqCst);
        if self.room_waiters.load(SeqCst) > 0 {
            self.wake_room_waiters();
        }
    }

    fn wake_room_waiters(&self) {
        let wakers = {
            let mut room = self.room.lock();
            self.room_waiters.store(0, SeqCst);
            std::mem::take(&mut room.wakers)
        };
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    /// Reserves room for `n` tasks, or registers to be woken when room may have
    /// appeared. `Ready(false)` once the runtime shuts down.
    pub(crate) fn poll_reserve(
        &self,
        n: usize,
        cx: &mut Context<'_>,
        registration: &mut Option<u64>,
    ) -> Poll<bool> {
        loop {
            if self.closed.load(Acquire) {
                self.deregister(registration);
                return Poll::Ready(false);
            }
            if self.try_reserve(n) {
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
                        room.wakers.push((id, cx.waker().clone()));
                        self.room_waiters.store(room.wakers.len(), SeqCst);
                        *registration = Some(id);
                        true
                    }
                }
            };
            if !fresh {
                return Poll::Pending;
            }
            // Pairs with the fence in `unreserve`.
            fence(SeqCst);
            // Newly registered: check once more, since room may have appeared before
            // a releaser could see the registration.
        }
    }

    /// Forgets a room registration (a waiting submitter that finished or was dropped).
    pub(crate) fn deregister(&self, registration: &mut Option<u64>) {
        if let Some(id) = registration.take() {
            let mut room = self.room.lock();
            room.wakers.retain(|(i, _)| *i != id);
            self.room_waiters.store(room.wakers.len(), SeqCst);
        }
    }

    /// Shutdown: no more room; wakes every waiting submitter.
    pub(crate) fn close(&self) {
        self.closed.store(true, SeqCst);
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
            this.gate
                .backlog
                .poll_reserve(this.n, cx, &mut this.registration)
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
