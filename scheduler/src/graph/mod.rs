//! Dependency tracking: which submitted tasks may run, and what a completion releases
//! or dooms.
//!
//! # States
//! ```text
//!            add_batch                 last dependency succeeds
//!   ───────────────────▶ Waiting{n} ──────────────────────────▶ Ready ──mark_running──▶ Running
//!     (no pending deps) ───────────────────────────────────────▶ Ready                    │
//!                          │  a dependency fails / cancel         │ cancel       complete(ok / err)
//!                          ▼                                      ▼                      ▼
//!                      Failed(DependencyFailed(root) / Cancelled)            Succeeded / Failed(reason)
//! ```
//!
//! # Invariants
//! - A task is `Ready` exactly when every one of its dependencies has `Succeeded`. Each
//!   waiting task holds a counter of dependency edges not yet succeeded; a completion
//!   walks only the finished task's successor list, so `complete` is O(successors) and
//!   nothing is ever scanned.
//! - A task that fails (for any reason, including cancellation) fails every task that
//!   transitively depends on it; those never become ready. Each doomed task is reported
//!   exactly once, with the root cause (the task whose own failure started it) in both
//!   the report and its [`FailureReason::DependencyFailed`].
//! - Successor lists hold `(slot, generation)` references; a slot's generation changes
//!   when its slot is freed (its task failed or was cancelled, or the record of its
//!   success was forgotten), so a reference to such a task is recognised as stale and
//!   skipped instead of touching the slot's next occupant. The same holds for the
//!   [`SlotRef`]s handed to the caller.
//! - Every known id has one record in the id index (`ids.rs`: a hash map, plus blocks
//!   of cells for batches with contiguous ids). A task that succeeds keeps its slot
//!   (state `Succeeded`, generation unchanged) and its record `Live(slot)` until the
//!   record is forgotten: completing it touches neither the id index nor the free
//!   list. A task that fails (or is cancelled, or is doomed) frees its slot at once
//!   and its record becomes `Failed(reason)`. `len()` counts waiting, ready and running
//!   tasks; `finished_len()` is the number of records beyond those (succeeded slots
//!   plus failure records).
//! - Ranks (critical-path lengths) are fixed when the batch is added: a task's rank is
//!   its estimated duration plus the largest rank among its successors *in the same
//!   batch*. Later batches do not change earlier ranks (those tasks may already be
//!   queued).
//!
//! # Memory
//! A task's slot is split in two arrays indexed alike: the hot `Slot`, one 64-byte
//! cache line with a pointer-sized payload (state and counter, generation, id, the
//! first two successors, payload, priority, rank in nanoseconds), which is all that
//! `start`, a completion and the release of each dependent touch; and the cold part
//! (deadline, a rank too large for the hot part: 32 bytes), written and read only for
//! tasks that have one. Successors beyond two live in a pool of vectors, one per slot
//! that ever needed it, kept with their capacity for the slot's next occupants.
//!
//! A task occupies a slot (96 bytes plus spilled successors) from its batch until
//! it fails, or until the record of its success is forgotten, and a record in the id
//! index: a 4-byte cell if its batch was recorded as a block, else a hash-map entry of
//! about 25 bytes. A failed task keeps only its record (in a block: the cell plus an
//! id → reason entry). Either way later batches can still depend on
//! it (a dependency on a succeeded task is satisfied at once, one on a failed task fails
//! the newcomer). Long-running programs drop those records with
//! [`DependencyGraph::forget_finished`] or [`DependencyGraph::forget_all_finished`],
//! which also frees the succeeded tasks' slots; a forgotten id may be reused, and
//! depending on it is an unknown dependency.
//!
//! # Files
//! This file holds the types and the operations by id; `batch.rs` adds batches (its
//! general path in `batch/topo.rs`), `ids.rs` is the id index, `release.rs` what a
//! task's end releases or dooms (and the successor lists), `payload.rs` the operations
//! on tasks with payloads (by slot), `forget.rs` forgetting records, `outcome.rs` the
//! reported types, `free.rs` the free slots, `slot.rs` a task's record.

mod batch;
#[cfg(test)]
mod block_tests;
mod forget;
mod free;
mod ids;
mod outcome;
mod payload;
mod release;
mod slot;
#[cfg(test)]
mod tests;

pub use outcome::{BatchOutcome, Completion, TaskState};
use slot::{free_succeeded, Cold, Slot, SlotState, SuccRef, Taken};

use std::time::{Duration, Instant};

use ids::Entry;

use crate::{FailureReason, ReadyKey, SpecBatch, StateError, TaskId};

/// Names a task's slot, for [`DependencyGraph::start`] and
/// [`DependencyGraph::complete_at`] without a hash lookup. It goes stale (and every
/// operation refuses it) once the task fails or is cancelled, or once the record of its
/// success is forgotten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SlotRef {
    slot: u32,
    generation: u32,
}

impl SlotRef {
    /// The reference as one number (to keep it in an atomic word). Never `u64::MAX`:
    /// slot indices stay below `u32::MAX`.
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{DependencyGraph, Released, SlotRef, TaskId, TaskSpec};
    ///
    /// let mut g = DependencyGraph::with_payloads();
    /// let mut out = Released::default();
    /// g.add_batch_payloads(&[TaskSpec::new(TaskId::new(1))], vec![()], Instant::now(), &mut out)
    ///     .unwrap();
    /// let at = out.batch[0];
    /// assert_ne!(at.to_bits(), u64::MAX);
    /// assert_eq!(SlotRef::from_bits(at.to_bits()), at);
    /// ```
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.slot)
    }

    /// The reference [`to_bits`](Self::to_bits) made `bits` from.
    pub fn from_bits(bits: u64) -> SlotRef {
        SlotRef {
            slot: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

/// What a payload-carrying operation released or doomed (see
/// [`DependencyGraph::add_batch_payloads`]).
#[derive(Debug)]
pub struct Released<P> {
    /// Tasks that became ready: their slot (for [`DependencyGraph::start`]) and their
    /// ready-heap key, stamped with the operation's `now`. Their payloads stay in the
    /// graph until started.
    pub ready: Vec<(SlotRef, ReadyKey)>,
    /// Tasks that failed without running (transitively), each with its payload (if it
    /// had one) and the root-cause task. The task completed or cancelled itself is not
    /// listed.
    pub failed: Vec<(Option<P>, TaskId)>,
    /// The slot of every task of the batch, in batch order (filled by
    /// [`DependencyGraph::add_batch_payloads`] and
    /// [`add_spec_batch_payloads`](DependencyGraph::add_spec_batch_payloads) only), for
    /// [`DependencyGraph::complete_at`]. A task that failed at once gets a reference
    /// that is already stale.
    pub batch: Vec<SlotRef>,
    now: Option<Instant>,
}

impl<P> Default for Released<P> {
    fn default() -> Self {
        Released {
            ready: Vec::new(),
            failed: Vec::new(),
            batch: Vec::new(),
            now: None,
        }
    }
}

impl<P> Released<P> {
    /// Empties the lists, keeping their capacity.
    pub fn clear(&mut self) {
        self.ready.clear();
        self.failed.clear();
        self.batch.clear();
    }

    fn key(&self, at: u32, s: &Slot<P>, cold: &[Cold]) -> ReadyKey {
        s.ready_key(at, cold, self.now.expect("stamped by the operation"))
    }
}

/// Where `finish` reports what it released or doomed.
trait Sink<P> {
    /// `cold` holds the task's cold part, read only if the slot says it is needed.
    fn ready(&mut self, at: SlotRef, slot: &Slot<P>, cold: &[Cold]);
    fn failed(&mut self, id: TaskId, root: TaskId, payload: Option<P>);
}

impl<P> Sink<P> for Completion {
    fn ready(&mut self, _at: SlotRef, slot: &Slot<P>, _cold: &[Cold]) {
        self.ready.push(slot.id);
    }

    fn failed(&mut self, id: TaskId, root: TaskId, _payload: Option<P>) {
        self.failed.push((id, root));
    }
}

impl<P> Sink<P> for Released<P> {
    fn ready(&mut self, at: SlotRef, slot: &Slot<P>, cold: &[Cold]) {
        let key = self.key(at.slot, slot, cold);
        self.ready.push((at, key));
    }

    fn failed(&mut self, _id: TaskId, root: TaskId, payload: Option<P>) {
        self.failed.push((payload, root));
    }
}

/// Tracks every submitted task's state and resolves dependencies with counters.
///
/// ```
/// use taskweave_scheduler::{DependencyGraph, TaskId, TaskSpec};
///
/// let mut g = DependencyGraph::new();
/// let (fetch, parse, store) = (TaskId::new(1), TaskId::new(2), TaskId::new(3));
/// let out = g
///     .add_batch(&[
///         TaskSpec::new(fetch),
///         TaskSpec::new(parse).dependency(fetch),
///         TaskSpec::new(store).dependency(parse),
///     ])
///     .unwrap();
/// assert_eq!(out.ready, vec![fetch]);
///
/// g.mark_running(fetch).unwrap();
/// assert_eq!(g.complete(fetch, true).unwrap().ready, vec![parse]);
///
/// g.mark_running(parse).unwrap();
/// let done = g.complete(parse, false).unwrap();
/// assert_eq!(done.failed, vec![(store, parse)]); // store never runs
/// ```
///
/// `P` is an optional per-task payload (for an executor: the task not yet started),
/// kept in the task's slot from [`add_batch_payloads`](Self::add_batch_payloads) until
/// [`start`](Self::start) or until the task is doomed, so the caller needs no map of its
/// own.
#[derive(Debug)]
pub struct DependencyGraph<P = ()> {
    /// Each known id's record (see [`ids`]).
    entries: ids::Ids,
    slots: Vec<Slot<P>>,
    /// The cold part of each slot (same index).
    cold: Vec<Cold>,
    /// Successor lists beyond a slot's inline two (see [`Successors`]).
    spills: Vec<Vec<SuccRef>>,
    free: free::FreeSlots,
    live: usize,
    /// Reused by `fail_from` (successor references still to fail).
    doomed: Vec<SuccRef>,
    scratch: batch::Scratch,
    /// Reused to store the specs of a slice batch column-wise.
    columns: SpecBatch,
}

/// Successor lists larger than this are not kept for the slot's next occupant.
const KEEP_SUCCESSOR_CAPACITY: usize = 64;

impl<P> Default for DependencyGraph<P> {
    fn default() -> Self {
        DependencyGraph {
            entries: ids::Ids::default(),
            slots: Vec::new(),
            cold: Vec::new(),
            spills: Vec::new(),
            free: free::FreeSlots::default(),
            live: 0,
            doomed: Vec::new(),
            scratch: batch::Scratch::default(),
            columns: SpecBatch::default(),
        }
    }
}

impl DependencyGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<P> DependencyGraph<P> {
    /// An empty graph carrying payloads of type `P`.
    pub fn with_payloads() -> Self {
        Self::default()
    }

    /// Tasks that have not finished (waiting, ready or running).
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no task is waiting, ready or running.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Finished tasks whose outcome is still remembered.
    pub fn finished_len(&self) -> usize {
        self.entries.len() - self.live
    }

    /// The state of `id`, or `None` if the graph does not know it (never added, or
    /// forgotten).
    pub fn state(&self, id: TaskId) -> Option<TaskState> {
        Some(match self.entries.get(id)? {
            Entry::Live(slot) => match self.slots[slot as usize].state {
                SlotState::Waiting(remaining) => TaskState::Waiting { remaining },
                SlotState::Ready => TaskState::Ready,
                SlotState::Running => TaskState::Running,
                SlotState::Succeeded => TaskState::Succeeded,
                SlotState::Free | SlotState::Pending(_) => unreachable!("occupied slot"),
            },
            Entry::Failed(reason) => TaskState::Failed(reason),
        })
    }

    /// The critical-path rank of a live task: its estimated duration plus the largest
    /// rank among its successors in its batch (the longest estimated path from its start
    /// to a sink). `None` once the task finished or if it is unknown.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskweave_scheduler::{DependencyGraph, TaskId, TaskSpec};
    ///
    /// let ms = Duration::from_millis;
    /// let (a, b, c) = (TaskId::new(1), TaskId::new(2), TaskId::new(3));
    /// let mut g = DependencyGraph::new();
    /// g.add_batch(&[
    ///     TaskSpec::new(a).estimated_duration(ms(1)),
    ///     TaskSpec::new(b).estimated_duration(ms(5)).dependency(a),
    ///     TaskSpec::new(c).estimated_duration(ms(2)).dependency(a),
    /// ])
    /// .unwrap();
    /// assert_eq!(g.rank(a), Some(ms(6)));
    /// assert_eq!(g.rank(c), Some(ms(2)));
    /// ```
    pub fn rank(&self, id: TaskId) -> Option<Duration> {
        self.live_slot(id).map(|(slot, s)| s.rank(slot, &self.cold))
    }

    /// The ready-heap key of a live task: its priority, deadline and rank, stamped with
    /// `enqueued_at` (normally now, when it is pushed).
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{DependencyGraph, Priority, ReadyQueue, TaskId, TaskSpec};
    ///
    /// let mut g = DependencyGraph::new();
    /// let id = TaskId::new(1);
    /// g.add_batch(&[TaskSpec::new(id).priority(Priority::HIGH)]).unwrap();
    /// let now = Instant::now();
    /// let key = g.ready_key(id, now).unwrap();
    /// assert_eq!(key.priority, Priority::HIGH);
    /// let mut q = ReadyQueue::new();
    /// q.push(key, id);
    /// assert_eq!(q.pop(now), Some(id));
    /// ```
    pub fn ready_key(&self, id: TaskId, enqueued_at: Instant) -> Option<ReadyKey> {
        self.live_slot(id)
            .map(|(slot, s)| s.ready_key(slot, &self.cold, enqueued_at))
    }

    /// The index and slot of a live (unfinished) task.
    fn live_slot(&self, id: TaskId) -> Option<(u32, &Slot<P>)> {
        match self.entries.get(id)? {
            Entry::Live(slot) => Some((slot, &self.slots[slot as usize]))
                .filter(|(_, s)| s.state != SlotState::Succeeded),
            Entry::Failed(_) => None,
        }
    }

    /// Marks a ready task as running. Fails (changing nothing) if the task is not ready,
    /// e.g. because it was cancelled after it was queued: the executor then drops it.
    pub fn mark_running(&mut self, id: TaskId) -> Result<(), StateError> {
        let slot = self.slot_in(id, "mark_running", |s| s == SlotState::Ready, None)?;
        self.slots[slot as usize].state = SlotState::Running;
        Ok(())
    }

    /// Records the end of a running task: `success` or [`FailureReason::Failed`].
    /// Successors whose last dependency this was become ready; on failure every
    /// transitive dependent fails. O(successors) on success, O(doomed tasks and their
    /// edges) on failure.
    ///
    /// Fails (changing nothing) unless the task is running.
    pub fn complete(&mut self, id: TaskId, success: bool) -> Result<Completion, StateError> {
        let outcome = if success {
            Ok(())
        } else {
            Err(FailureReason::Failed)
        };
        self.complete_with(id, outcome)
    }

    /// [`complete`](Self::complete) with a precise failure reason (panicked, timed out,
    /// cancelled while running, …).
    ///
    /// ```
    /// use taskweave_scheduler::{DependencyGraph, FailureReason, TaskId, TaskSpec, TaskState};
    ///
    /// let mut g = DependencyGraph::new();
    /// let (a, b) = (TaskId::new(1), TaskId::new(2));
    /// g.add_batch(&[TaskSpec::new(a), TaskSpec::new(b).dependency(a)]).unwrap();
    /// g.mark_running(a).unwrap();
    /// g.complete_with(a, Err(FailureReason::Panicked)).unwrap();
    /// assert_eq!(g.state(a), Some(TaskState::Failed(FailureReason::Panicked)));
    /// assert_eq!(g.state(b), Some(TaskState::Failed(FailureReason::DependencyFailed(a))));
    /// ```
    pub fn complete_with(
        &mut self,
        id: TaskId,
        outcome: Result<(), FailureReason>,
    ) -> Result<Completion, StateError> {
        let mut out = Completion::default();
        self.complete_into(id, outcome, &mut out)?;
        Ok(out)
    }

    /// [`complete_with`](Self::complete_with), appending to `out` instead of allocating
    /// (for the executor's hot path: clear and reuse one `Completion`).
    pub fn complete_into(
        &mut self,
        id: TaskId,
        outcome: Result<(), FailureReason>,
        out: &mut Completion,
    ) -> Result<(), StateError> {
        let record = outcome.err();
        let slot = self.slot_in(id, "complete", |s| s == SlotState::Running, record)?;
        self.finish(id, slot, outcome, out);
        Ok(())
    }

    /// Cancels a task that has not started (waiting or ready): it fails with
    /// [`FailureReason::Cancelled`] and its dependents with `DependencyFailed(id)`.
    ///
    /// A running task is refused (the executor must stop its future and then
    /// [`complete_with`](Self::complete_with) `Err(Cancelled)`); so is a finished one.
    ///
    /// ```
    /// use taskweave_scheduler::{DependencyGraph, TaskId, TaskSpec};
    ///
    /// let mut g = DependencyGraph::new();
    /// let (a, b) = (TaskId::new(1), TaskId::new(2));
    /// g.add_batch(&[TaskSpec::new(a), TaskSpec::new(b).dependency(a)]).unwrap();
    /// assert_eq!(g.cancel(a).unwrap().failed, vec![(b, a)]);
    /// assert!(g.mark_running(a).is_err()); // dropped from the run queue
    /// ```
    pub fn cancel(&mut self, id: TaskId) -> Result<Completion, StateError> {
        let mut out = Completion::default();
        self.cancel_into(id, &mut out)?;
        Ok(out)
    }

    /// Cancels `id` (waiting or ready), reporting its doomed dependents into `out`;
    /// returns the payload it held.
    fn cancel_into<S: Sink<P>>(
        &mut self,
        id: TaskId,
        out: &mut S,
    ) -> Result<Option<P>, StateError> {
        let slot = self.slot_in(
            id,
            "cancel",
            |s| matches!(s, SlotState::Waiting(_) | SlotState::Ready),
            Some(FailureReason::Cancelled),
        )?;
        let payload = self.slots[slot as usize].payload.take();
        self.finish(id, slot, Err(FailureReason::Cancelled), out);
        Ok(payload)
    }

    /// The live slot of `id` if its state passes `allowed` (then replacing its record
    /// with the failure `record` if given), else the matching error, changing nothing.
    fn slot_in(
        &mut self,
        id: TaskId,
        operation: &'static str,
        allowed: impl Fn(SlotState) -> bool,
        record: Option<FailureReason>,
    ) -> Result<u32, StateError> {
        let Some(entry) = self.entries.get(id) else {
            return Err(StateError::UnknownTask(id));
        };
        if let Entry::Live(slot) = entry {
            if allowed(self.slots[slot as usize].state) {
                if let Some(reason) = record {
                    self.entries.set_failed(id, reason);
                }
                return Ok(slot);
            }
        }
        Err(StateError::InvalidTransition {
            task: id,
            state: self.state(id).expect("known task"),
            operation,
        })
    }
}
