//! Ends of ExecutableTasks held back on the workers that ran them, for the graph to
//! record in batches, and what recording them leaves for the caller to do.
//!
//! Invariants:
//! - Each worker has its own buffer (its own lock, on its own cache lines): only that
//!   worker pushes to it (`WorkerCore::buffer_end`, see `ended.rs` for when).
//! - A buffer is drained only by a holder of the dispatch lock: its worker's exchange
//!   drains its own, and every query that reads what ends change (a task's state,
//!   counts, forgetting finished records, cancelling) drains them all first
//!   (`Dispatch::lock_recorded`). So an end pushed before a query begins (the push
//!   happens before its task's handle resolves) is recorded by the time the query
//!   reads the graph, even though it may still sit in a buffer when the handle
//!   resolves.
//! - Until a buffered end is recorded, the graph counts its task as running: its
//!   dependents wait, and a task submitted meanwhile that depends on it waits too
//!   (and is released or fails when the end is recorded, as it would have at once).

use crossbeam_utils::CachePadded;

use super::dispatch::{Doomed, ExecTask};
use super::ended::End;
use crate::runtime::shared::Shared;
use crate::sync::Mutex;

/// One buffer of ends per worker (see the module invariants).
pub(crate) struct BufferedEnds {
    per_worker: Box<[CachePadded<Mutex<Vec<End>>>]>,
}

impl BufferedEnds {
    pub(crate) fn new(workers: usize) -> BufferedEnds {
        BufferedEnds {
            per_worker: (0..workers)
                .map(|_| CachePadded::new(Mutex::new(Vec::new())))
                .collect(),
        }
    }

    /// Buffers `end` on `worker`'s behalf (called by that worker only). Returns how
    /// many ends its buffer holds now.
    pub(crate) fn push(&self, worker: usize, end: End) -> usize {
        let mut buffer = self.per_worker[worker].lock();
        buffer.push(end);
        buffer.len()
    }

    /// Moves `worker`'s buffered ends to the end of `ends`. Only under the dispatch
    /// lock (see the module invariants).
    pub(crate) fn drain_into(&self, worker: usize, ends: &mut Vec<End>) {
        let mut buffer = self.per_worker[worker].lock();
        if ends.is_empty() {
            // Trade vectors: both keep their capacity for the next batch.
            std::mem::swap(&mut *buffer, ends);
        } else {
            ends.append(&mut buffer);
        }
    }

    /// Moves every worker's buffered ends to the end of `ends`. Only under the
    /// dispatch lock.
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

impl Recorded {
    /// Does it (outside every lock: dropping or cancelling a task may run user code).
    pub(crate) fn settle(self, shared: &Shared) {
        drop(self.finished);
        shared.notify_ready_heap(self.released);
        super::cancel_doomed(self.doomed);
    }
}
