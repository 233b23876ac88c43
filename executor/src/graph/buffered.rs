//! Ends of ExecutableTasks held back on the workers that ran them, for the graph to
//! record in batches, and what recording them leaves for the caller to do.
//!
//! Invariants:
//! - Each worker has its own buffer, a ring of [`RING`] ends on its own cache lines:
//!   only that worker pushes to it (`WorkerCore::buffer_end`, see `ended.rs` for
//!   when), with plain stores (no lock, no read-modify-write): it writes the slot, then
//!   publishes it by storing `pushed` (release).
//! - A buffer is drained only by a holder of the dispatch lock: its worker's exchange
//!   drains its own, and every query that reads what ends change (a task's state,
//!   counts, forgetting finished records, cancelling) drains them all first
//!   (`Dispatch::lock_recorded`). A drain reads the slots from `taken` to `pushed`
//!   (acquire) and moves `taken` up. So an end pushed before a query begins (the push
//!   happens before its task's handle resolves) is recorded by the time the query
//!   reads the graph, even though it may still sit in a buffer when the handle
//!   resolves.
//! - A worker pushes fewer than `MAX_BUFFERED_ENDS` ends between two exchanges of its
//!   own that drain its buffer, so a buffer never holds more than that, fewer than
//!   [`RING`]: the slot a push writes is never one a drain may be reading. (A drain
//!   reads a slot only if the end in it is not taken yet; the worker writes that slot
//!   again only [`RING`] pushes later, so after an exchange of its own, which took
//!   the dispatch lock after that drain released it.)
//! - Until a buffered end is recorded, the graph counts its task as running: its
//!   dependents wait, and a task submitted meanwhile that depends on it waits too
//!   (and is released or fails when the end is recorded, as it would have at once).

use crossbeam_utils::CachePadded;
use taskweave_scheduler::SlotRef;

use super::dispatch::{Dispatch, Doomed, ExecTask};
use super::ended::End;
use crate::runtime::shared::Shared;
use crate::sync::{
    AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release, UnsafeCell,
};

/// The slots of a worker's buffer: more than a worker ever holds back (see the module
/// invariants).
#[cfg(not(taskweave_loom))]
const RING: usize = 128;
#[cfg(not(taskweave_loom))]
const _: () = assert!(RING > super::ended::MAX_BUFFERED_ENDS);
/// Under loom, a small ring, so that the models wrap it (they push fewer than 4 ends
/// between two exchanges of a worker).
#[cfg(taskweave_loom)]
const RING: usize = 4;

/// One worker's buffer (see the module invariants).
struct Ring {
    slots: [UnsafeCell<End>; RING],
    /// Ends pushed so far (written by the worker only).
    pushed: AtomicUsize,
    /// Ends drained so far (written under the dispatch lock only).
    taken: AtomicUsize,
}

// SAFETY: a slot is written by one thread (its worker) and read by holders of the
// dispatch lock, never both at once (module invariants); `End` is plain `Copy` data.
unsafe impl Sync for Ring {}

impl Ring {
    fn new() -> Ring {
        let placeholder = End::new(SlotRef::from_bits(0), Ok(()));
        Ring {
            slots: std::array::from_fn(|_| UnsafeCell::new(placeholder)),
            pushed: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
        }
    }
}

/// One buffer of ends per worker (see the module invariants).
pub(crate) struct BufferedEnds {
    per_worker: Box<[CachePadded<Ring>]>,
}

impl BufferedEnds {
    pub(crate) fn new(workers: usize) -> BufferedEnds {
        BufferedEnds {
            per_worker: (0..workers)
                .map(|_| CachePadded::new(Ring::new()))
                .collect(),
        }
    }

    /// Buffers `end` on `worker`'s behalf: called by that worker only, fewer than
    /// `MAX_BUFFERED_ENDS` times between two of its exchanges that drain its buffer.
    pub(crate) fn push(&self, worker: usize, end: End) {
        let ring = &self.per_worker[worker];
        let pushed = ring.pushed.load(Relaxed);
        ring.slots[pushed % RING].with_mut(|slot| {
            // SAFETY: only this worker writes slots, and no drain reads this one: the
            // end in it was taken at least `RING` pushes ago (module invariants).
            unsafe { *slot = end }
        });
        ring.pushed.store(pushed + 1, Release);
    }

    /// Moves `worker`'s buffered ends into `ends`, in the order they were pushed and
    /// before the ends already there (which came later: the graph records ends in the
    /// order tasks ended, so that their dependents become ready in that order). Only
    /// under the dispatch lock (see the module invariants).
    pub(crate) fn drain_into(&self, worker: usize, ends: &mut Vec<End>) {
        let ring = &self.per_worker[worker];
        let pushed = ring.pushed.load(Acquire);
        let taken = ring.taken.load(Relaxed);
        let held = (taken..pushed).map(|i| {
            ring.slots[i % RING].with(|slot| {
                // SAFETY: published by the worker's release store of `pushed`, read
                // above with acquire; not written again before a later exchange of
                // that worker (module invariants).
                unsafe { *slot }
            })
        });
        ends.splice(0..0, held);
        ring.taken.store(pushed, Release);
    }

    /// Moves every worker's buffered ends into `ends` (see
    /// [`drain_into`](Self::drain_into)). Only under the dispatch lock.
    pub(crate) fn drain_all_into(&self, ends: &mut Vec<End>) {
        for worker in 0..self.per_worker.len() {
            self.drain_into(worker, ends);
        }
    }
}

/// What recording ends under the dispatch lock leaves for its caller to do once the
/// lock is released: drop the graph's ownership of the tasks that ended, wake a
/// worker for the tasks they released, cancel the dependents they doomed.
#[derive(Default)]
pub(crate) struct Recorded {
    pub(crate) finished: Vec<ExecTask>,
    pub(crate) doomed: Doomed,
    pub(crate) released: usize,
}

/// Runs `query`, a [`Dispatch`] query that records the held-back ends first, and
/// does what recording them left (`Recorded::settle`) once its lock is released.
pub(crate) fn query<R>(shared: &Shared, query: impl FnOnce(&Dispatch, &mut Recorded) -> R) -> R {
    let mut recorded = Recorded::default();
    let answer = query(&shared.dispatch, &mut recorded);
    recorded.settle(shared);
    answer
}

impl Recorded {
    /// Does it (outside every lock: dropping or cancelling a task may run user code).
    pub(crate) fn settle(self, shared: &Shared) {
        drop(self.finished);
        shared.notify_ready_heap(self.released);
        super::cancel_doomed(self.doomed);
    }
}
