//! A handle on the held-back ends protocol (`graph/buffered.rs`), for loom: the real
//! per-worker buffers, with the dispatch lock played by a mutex over the log of what
//! the graph recorded. Ends are drained under that lock, as `Dispatch` does: a
//! worker's exchange drains its own buffer, a query drains them all.

use taskweave_scheduler::SlotRef;

use crate::graph::buffered::BufferedEnds;
use crate::graph::ended::End;
use crate::sync::Mutex;

/// Per-worker buffers of held-back ends and the graph's record of ends; a task is a
/// number (its end's slot bits).
pub struct BufferedEndsModel {
    buffers: BufferedEnds,
    /// The dispatch lock, guarding what the graph recorded, in order.
    recorded: Mutex<Vec<u64>>,
}

impl BufferedEndsModel {
    pub fn new(workers: usize) -> BufferedEndsModel {
        BufferedEndsModel {
            buffers: BufferedEnds::new(workers),
            recorded: Mutex::new(Vec::new()),
        }
    }

    /// `worker` holds back the end of `task` (as `WorkerCore::buffer_end` does: fewer
    /// than `MAX_BUFFERED_ENDS` times between two of its exchanges).
    pub fn hold_back(&self, worker: usize, task: u64) {
        let end = End::new(SlotRef::from_bits(task), Ok(()));
        self.buffers.push(worker, end);
    }

    /// `worker`'s exchange: under the lock, records the ends it held back.
    pub fn exchange(&self, worker: usize) {
        let mut recorded = self.recorded.lock();
        let mut ends: Vec<End> = Vec::new();
        self.buffers.drain_into(worker, &mut ends);
        recorded.extend(ends.iter().map(|end| end.at.to_bits()));
    }

    /// A query (`Dispatch::lock_recorded`): under the lock, records every held-back
    /// end, then reads what the graph recorded.
    pub fn query(&self) -> Vec<u64> {
        let mut recorded = self.recorded.lock();
        let mut ends: Vec<End> = Vec::new();
        self.buffers.drain_all_into(&mut ends);
        recorded.extend(ends.iter().map(|end| end.at.to_bits()));
        recorded.clone()
    }
}
