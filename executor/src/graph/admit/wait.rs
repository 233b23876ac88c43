//! The gate's wait queue: tasks that found no permit wait here, ordered by base
//! priority (higher first), FIFO within a priority; only the head is granted, in place
//! (into its waiter slot), and then woken. See the module docs of `admit.rs` for the
//! invariants (`QUEUED`, hand-off, lock order).

use std::collections::BinaryHeap;
use std::task::Waker;

use taskweave_monitor::Requirements;

use super::super::backlog::QUEUED;
use super::{Gate, Running};
use crate::sync::{Arc, Mutex, Ordering};

use Ordering::{AcqRel, Acquire, Relaxed};

/// A waiting task's slot: how the grant reaches it.
pub(super) enum WaitState {
    /// Not yet granted; the waker to wake when it is (`None` after `close`).
    Waiting(Option<Waker>),
    /// Granted; the task takes it on its next poll.
    Granted(Running),
    /// The task was dropped; the queue entry is skipped.
    Abandoned,
}

pub(super) struct Waiter {
    pub(super) state: Mutex<WaitState>,
}

pub(super) struct Entry {
    pub(super) priority: u8,
    pub(super) seq: u64,
    pub(super) need: Requirements,
    pub(super) waiter: Arc<Waiter>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Max-heap order: higher priority, then older (smaller `seq`).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
pub(super) struct WaitQueue {
    pub(super) heap: BinaryHeap<Entry>,
    pub(super) next_seq: u64,
}

impl Gate {
    /// Grants permits to waiting tasks, head first, while they fit.
    #[cold]
    pub(super) fn grant_waiting(&self) {
        let woken = {
            let mut queue = self.queue.lock();
            self.grant_locked(&mut queue)
        };
        for (_, waker) in woken {
            waker.wake();
        }
    }

    /// Under the queue lock: takes the head off the queue, clearing `QUEUED` if it was
    /// the last entry.
    pub(super) fn pop_head(&self, queue: &mut WaitQueue) -> Entry {
        let entry = queue.heap.pop().expect("a head");
        if queue.heap.is_empty() {
            self.state().fetch_and(!QUEUED, AcqRel);
        }
        entry
    }

    /// Under the queue lock: pops granted heads (and abandoned ones) and returns the
    /// wakers to wake once the lock is released.
    pub(super) fn grant_locked(&self, queue: &mut WaitQueue) -> Vec<(Arc<Waiter>, Waker)> {
        let mut woken = Vec::new();
        while let Some(head) = queue.heap.peek() {
            let abandoned = matches!(*head.waiter.state.lock(), WaitState::Abandoned);
            if !abandoned {
                if self.closed.load(Acquire) {
                    break;
                }
                let Some(running) = self.try_acquire(&head.need, true) else {
                    break;
                };
                let entry = self.pop_head(queue);
                let mut state = entry.waiter.state.lock();
                match std::mem::replace(&mut *state, WaitState::Granted(running)) {
                    WaitState::Waiting(waker) => {
                        drop(state);
                        self.waiting.fetch_sub(1, Relaxed);
                        if let Some(waker) = waker {
                            woken.push((entry.waiter.clone(), waker));
                        }
                    }
                    // Dropped between the check above and now: take the grant back.
                    WaitState::Abandoned | WaitState::Granted(_) => {
                        let granted = std::mem::replace(&mut *state, WaitState::Abandoned);
                        drop(state);
                        if let WaitState::Granted(running) = granted {
                            self.give_back(running, false);
                        }
                    }
                }
                continue;
            }
            self.pop_head(queue);
        }
        woken
    }

    /// Queues a task for a permit (and grants what fits at once, possibly to it).
    pub(super) fn enqueue(
        &self,
        need: Requirements,
        priority: u8,
        waker: &Waker,
    ) -> Result<Running, Arc<Waiter>> {
        let waiter = Arc::new(Waiter {
            state: Mutex::new(WaitState::Waiting(Some(waker.clone()))),
        });
        let woken = {
            let mut queue = self.queue.lock();
            if self.closed.load(Acquire) {
                // Shutting down: never granted; shutdown cancels the task.
                *waiter.state.lock() = WaitState::Waiting(None);
                return Err(waiter);
            }
            let seq = queue.next_seq;
            queue.next_seq += 1;
            queue.heap.push(Entry {
                priority,
                seq,
                need,
                waiter: waiter.clone(),
            });
            if queue.heap.len() == 1 {
                // Before the grant below: a release after this RMW sees `QUEUED` and
                // grants; one before it left its slot where `grant_locked` now finds it
                // (see the module invariants).
                self.state().fetch_or(QUEUED, AcqRel);
            }
            self.waiting.fetch_add(1, Relaxed);
            self.grant_locked(&mut queue)
        };
        for (granted, waker) in woken {
            if !Arc::ptr_eq(&granted, &waiter) {
                waker.wake();
            }
        }
        let mut state = waiter.state.lock();
        if matches!(*state, WaitState::Granted(_)) {
            if let WaitState::Granted(running) =
                std::mem::replace(&mut *state, WaitState::Abandoned)
            {
                return Ok(running);
            }
        }
        drop(state);
        Err(waiter)
    }
}
