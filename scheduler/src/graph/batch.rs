//! Adding a batch of tasks: validation, cycle detection, ranks, initial states.
//!
//! The batch arrives column-wise ([`SpecBatch`]: ids, priorities and dependencies
//! dense, the rarely set fields as sparse lists), so each step streams only the
//! columns it needs; [`DependencyGraph::add_batch`] converts a slice of specs into a
//! reused `SpecBatch` first.
//!
//! Protocol (all or nothing):
//! 1. Reserve: each spec is checked (the batch noted which specs are invalid) and its
//!    id recorded in the graph's id index with a freshly reserved slot in state
//!    `Pending(batch index)`; a known id is a duplicate. If the batch's ids form one
//!    contiguous range of at least `ids::MIN_BLOCK` ids that meets no known id, they
//!    are recorded as one block (an array write per task; a duplicate within the batch
//!    is a cell already written); otherwise one hash operation per task. Either way
//!    the record also serves later dependency lookups. The priority goes straight into
//!    the slot; deadlines (into the cold parts) are scattered from their sparse list
//!    afterwards.
//! 2. Resolve dependencies: each dependency is either the task itself (error), a pending
//!    slot (an edge inside the batch), a live task (an external edge to wait for), a
//!    succeeded task (satisfied), a failed task (the newcomer fails), or unknown (error).
//!    With contiguous ids, a dependency inside the range is a batch task, found by
//!    subtraction (through `index_of` unless the batch is in id order), and its edge is
//!    not stored.
//! 3. Kahn's algorithm over the in-batch edges gives a topological order; leftovers mean
//!    a cycle, which is traced through the leftovers' dependencies and reported. Skipped
//!    if every in-batch dependency comes earlier in the batch (batches built in
//!    topological order, the common case): batch order is then topological.
//! 4. Ranks in reverse topological order (skipped, all zero, when no task has an
//!    estimate); failure roots pushed forward in topological order (skipped when no
//!    dependency had failed).
//! 5. Commit: states, counters, successor lists and the caller's report (`Commit`),
//!    in one pass in batch order. Any error in steps 1-3 first undoes step 1 (removes
//!    the ids or the block, frees the slots), so the graph is unchanged.
//!
//! Fast path (contiguous ids, every in-batch edge pointing the same way in batch
//! order, no estimate, no failed dependency: the common large batch): there can be no
//! cycle (a cycle needs an edge each way) and no rank or failure root to compute, so
//! steps 3 and 4 have nothing to do, step 2 stores nothing per task or edge, and the
//! commit walks the dependency column again, counting each task's in-batch
//! dependencies and adding it to their successor lists (in batch order, as the
//! general path does) as it goes. Batches built in topological order have every edge
//! forward; those built from the sinks (a tree from its root, say), every edge
//! backward. Other batches take the general path (`topo.rs`): the in-batch edge list
//! (rebuilt from the dependency column for contiguous ids), steps 3-4, then the
//! commit.
//!
//! Cost: O(tasks + dependency edges) time, with at most one id-index lookup per task
//! and per dependency (none per task for a block, none per in-range dependency); the
//! scratch vectors live in the graph and are reused between batches, and those the
//! fast path does not need are left empty.

use std::time::Instant;

use super::ids::Entry;
use super::{BatchOutcome, Cold, DependencyGraph, Released, Slot, SlotRef, SlotState, SuccRef};
use crate::{GraphError, SpecBatch, TaskId, TaskSpec};

mod topo;

/// Where the batch being added records its ids.
#[derive(Clone, Copy, Debug, Default)]
enum IdMode {
    /// One by one in the id index (scattered ids, a small batch, or a range that
    /// meets known ids).
    #[default]
    Map,
    /// As a block starting at this id, being filled by step 1.
    Filling(u64),
    /// As the block starting at this id, recorded at the end of step 1.
    Block(u64),
}

/// Per-batch working memory, kept between batches to avoid reallocating. The vectors
/// marked "lazily" stay empty unless the batch needs them (an empty one reads as all
/// zeros / `None`).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// Reserved slot of each batch task.
    slots: Vec<u32>,
    /// Whether the batch's ids are contiguous, from `lo`.
    contiguous: bool,
    lo: u64,
    /// With contiguous ids: whether the task with id `lo + k` is at batch index `k`
    /// (else `index_of` says where it is).
    identity: bool,
    /// With contiguous ids not in id order: batch index of the task with id `lo + k`.
    index_of: Vec<u32>,
    /// Where step 1 records the batch's ids.
    mode: IdMode,
    /// External live dependencies as (dependent index, dependency slot).
    external: Vec<(u32, u32)>,
    /// Live external dependency edges per task (lazily).
    external_count: Vec<u32>,
    /// Root cause for batch tasks that fail at once (lazily).
    fail_root: Vec<Option<TaskId>>,
    /// The general path's in-batch edges and critical paths (see `topo.rs`).
    topo: topo::Topo,
}

impl Scratch {
    /// The batch index of the task with id `lo + k` (contiguous ids only).
    fn index(&self, k: usize) -> u32 {
        if self.identity {
            k as u32
        } else {
            self.index_of[k]
        }
    }

    /// The root cause of task `i` if it fails at once.
    fn root(&self, i: usize) -> Option<TaskId> {
        self.fail_root.get(i).copied().flatten()
    }

    /// Marks task `i` (of `n`) failed at once because of `root`, unless it already is.
    fn fail(&mut self, i: usize, n: usize, root: TaskId) {
        if self.fail_root.is_empty() {
            reset(&mut self.fail_root, n, None);
        }
        self.fail_root[i].get_or_insert(root);
    }
}

/// Where the commit step reports each task of the batch, once, in batch order.
trait Commit<P> {
    /// The task in `at` (slot `s`) is live: ready or waiting, as `s.state` says.
    fn live(&mut self, at: SlotRef, s: &mut Slot<P>, cold: &[Cold]);
    /// The task `id` failed at once, with this root cause; `stale` is the reference
    /// its freed slot had.
    fn failed(&mut self, id: TaskId, root: TaskId, stale: SlotRef);
}

impl<P> Commit<P> for BatchOutcome {
    fn live(&mut self, _at: SlotRef, s: &mut Slot<P>, _cold: &[Cold]) {
        if s.state == SlotState::Ready {
            self.ready.push(s.id);
        }
    }

    fn failed(&mut self, id: TaskId, root: TaskId, _stale: SlotRef) {
        self.failed.push((id, root));
    }
}

/// The commit report of [`DependencyGraph::add_spec_batch_payloads`]: hands each task
/// its payload (in batch order) and reports into `out`.
struct WithPayloads<'a, P> {
    payloads: std::vec::IntoIter<P>,
    out: &'a mut Released<P>,
}

impl<P> Commit<P> for WithPayloads<'_, P> {
    fn live(&mut self, at: SlotRef, s: &mut Slot<P>, cold: &[Cold]) {
        s.payload = self.payloads.next();
        self.out.batch.push(at);
        if s.state == SlotState::Ready {
            let key = self.out.key(at.slot, s, cold);
            self.out.ready.push((at, key));
        }
    }

    fn failed(&mut self, _id: TaskId, root: TaskId, stale: SlotRef) {
        self.out.batch.push(stale);
        self.out.failed.push((self.payloads.next(), root));
    }
}

impl<P> DependencyGraph<P> {
    /// Adds a batch of tasks atomically: either every spec is added, or (on error)
    /// nothing is.
    ///
    /// Errors, checked in this order: an invalid spec or a duplicate id (in batch order;
    /// duplicates within the batch or with any task the graph knows, finished ones
    /// included until forgotten), a self-dependency or an unknown dependency (in batch
    /// order), a cycle within the batch (tasks already known cannot depend on
    /// newcomers, so no other cycle is possible).
    ///
    /// A dependency on a task that already succeeded is satisfied; on one that already
    /// failed, the newcomer fails at once with `DependencyFailed(root cause)`, and so do
    /// its dependents within the batch. Ranks are computed here, in O(tasks + edges).
    ///
    /// ```
    /// use taskweave_scheduler::{DependencyGraph, GraphError, TaskId, TaskSpec};
    ///
    /// let mut g = DependencyGraph::new();
    /// let (a, b) = (TaskId::new(1), TaskId::new(2));
    /// let err = g
    ///     .add_batch(&[
    ///         TaskSpec::new(a).name("a").dependency(b),
    ///         TaskSpec::new(b).name("b").dependency(a),
    ///     ])
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "dependency cycle: a (1) -> b (2) -> a (1) (each task depends on the next)"
    /// );
    /// assert!(g.is_empty()); // nothing was added
    /// ```
    pub fn add_batch(&mut self, specs: &[TaskSpec]) -> Result<BatchOutcome, GraphError> {
        let columns = self.columns(specs);
        let result = self.add_spec_batch(&columns);
        self.columns = columns;
        result
    }

    /// [`add_batch`](Self::add_batch) for specs stored column-wise (see [`SpecBatch`]):
    /// the same checks, errors and outcome, reading only what the graph needs.
    pub fn add_spec_batch(&mut self, specs: &SpecBatch) -> Result<BatchOutcome, GraphError> {
        let mut outcome = BatchOutcome::default();
        let mut sc = std::mem::take(&mut self.scratch);
        let result = self.add_batch_with(specs, &mut sc, &mut outcome);
        self.scratch = sc;
        result.map(|()| outcome)
    }

    /// [`add_batch`](Self::add_batch) with one payload per spec (same order), kept in
    /// each task's slot until [`start`](Self::start) hands it out or the task is doomed.
    /// Ready tasks (with keys stamped `now`) and tasks failed at once (with their
    /// payloads) are appended to `out`, in batch order. On error nothing is added and
    /// the payloads are handed back.
    ///
    /// # Panics
    /// If `payloads` and `specs` differ in length.
    pub fn add_batch_payloads(
        &mut self,
        specs: &[TaskSpec],
        payloads: Vec<P>,
        now: Instant,
        out: &mut Released<P>,
    ) -> Result<(), (GraphError, Vec<P>)> {
        assert_eq!(specs.len(), payloads.len(), "one payload per spec");
        let columns = self.columns(specs);
        let result = self.add_spec_batch_payloads(&columns, payloads, now, out);
        self.columns = columns;
        result
    }

    /// [`add_batch_payloads`](Self::add_batch_payloads) for specs stored column-wise
    /// (see [`SpecBatch`]).
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{DependencyGraph, Released, SpecBatch, TaskId, TaskSpec};
    ///
    /// let (a, b) = (TaskId::new(1), TaskId::new(2));
    /// let batch: SpecBatch = [TaskSpec::new(a), TaskSpec::new(b).dependency(a)].into_iter().collect();
    /// let mut g = DependencyGraph::with_payloads();
    /// let mut out = Released::default();
    /// g.add_spec_batch_payloads(&batch, vec!["a", "b"], Instant::now(), &mut out).unwrap();
    /// assert_eq!(out.batch.len(), 2);
    /// assert_eq!(g.start(out.ready[0].0), Some("a"));
    /// ```
    ///
    /// # Panics
    /// If `payloads` and `specs` differ in length.
    pub fn add_spec_batch_payloads(
        &mut self,
        specs: &SpecBatch,
        payloads: Vec<P>,
        now: Instant,
        out: &mut Released<P>,
    ) -> Result<(), (GraphError, Vec<P>)> {
        assert_eq!(specs.len(), payloads.len(), "one payload per spec");
        out.now = Some(now);
        out.batch.reserve(specs.len());
        let mut commit = WithPayloads {
            payloads: payloads.into_iter(),
            out,
        };
        let mut sc = std::mem::take(&mut self.scratch);
        let result = self.add_batch_with(specs, &mut sc, &mut commit);
        self.scratch = sc;
        // On error no payload was taken: the vector comes back whole.
        result.map_err(|e| (e, commit.payloads.collect()))
    }

    /// The graph's reused column store, filled with `specs` (give it back to
    /// `self.columns` after use).
    fn columns(&mut self, specs: &[TaskSpec]) -> SpecBatch {
        let mut columns = std::mem::take(&mut self.columns);
        columns.clear();
        columns.extend(specs);
        columns
    }

    fn add_batch_with<C: Commit<P>>(
        &mut self,
        specs: &SpecBatch,
        sc: &mut Scratch,
        commit: &mut C,
    ) -> Result<(), GraphError> {
        let n = specs.len();
        assert!(u32::try_from(n).is_ok(), "batch of more than 2^32 tasks");
        self.reserve_ids(specs, sc)?;
        for &(i, deadline) in specs.deadlines() {
            let slot = sc.slots[i as usize];
            self.slots[slot as usize].has_deadline = true;
            self.cold[slot as usize].deadline = Some(deadline);
        }
        let (forward, backward) = self.resolve(specs, sc)?;
        if sc.contiguous
            && (forward || backward)
            && sc.fail_root.is_empty()
            && specs.estimates().is_empty()
        {
            self.commit_acyclic(specs, sc, commit);
            return Ok(());
        }
        self.order_and_commit(specs, sc, forward, commit)
    }

    /// Step 1: reserves a slot for each task and records its id (see the module
    /// docs); sets `sc.slots`, the id range and the id mode.
    fn reserve_ids(&mut self, specs: &SpecBatch, sc: &mut Scratch) -> Result<(), GraphError> {
        let n = specs.len();
        let ids = specs.ids();
        sc.slots.clear();
        // The batch's id range: if it has exactly `n` ids (they are distinct, or this
        // step refuses a duplicate), in-batch dependencies are found by subtraction,
        // and the ids are recorded as one block if no known id lies in the range.
        let (lo, hi) = ids.iter().fold((u64::MAX, 0), |(lo, hi), id| {
            (lo.min(id.as_u64()), hi.max(id.as_u64()))
        });
        sc.contiguous = n > 0 && hi - lo == n as u64 - 1;
        sc.lo = lo;
        let mut cells = Vec::new();
        if sc.contiguous && self.entries.block_fits(lo, n) {
            sc.mode = IdMode::Filling(lo);
            cells = self.entries.take_cells(n);
        } else {
            sc.mode = IdMode::Map;
            self.entries.reserve(n);
        }
        // Stops at the first invalid spec or duplicate, whichever comes first.
        let first_invalid = specs
            .invalid()
            .first()
            .map_or(usize::MAX, |&(i, _)| i as usize);
        let mut identity = sc.contiguous;
        for (i, (&id, &priority)) in ids.iter().zip(specs.priorities()).enumerate() {
            if i == first_invalid {
                self.unreserve(ids, sc, cells);
                return Err(GraphError::InvalidSpec {
                    task: id,
                    reason: specs.invalid()[0].1,
                });
            }
            let slot = reserve(&mut self.free, &mut self.slots, &mut self.cold);
            let k = id.as_u64().wrapping_sub(lo) as usize;
            identity &= k == i;
            // In a block, an id met earlier in the batch is the only possible duplicate
            // (no known id lies in its range).
            let fresh = match sc.mode {
                IdMode::Filling(_) => super::ids::fill(&mut cells[k], slot),
                _ => self.entries.insert_new(id, slot),
            };
            if !fresh {
                self.free.push(slot);
                self.unreserve(ids, sc, cells);
                return Err(GraphError::DuplicateId(id));
            }
            let s = &mut self.slots[slot as usize];
            s.state = SlotState::Pending(i as u32);
            s.id = id;
            s.priority = priority;
            s.has_deadline = false;
            sc.slots.push(slot);
        }
        if let IdMode::Filling(lo) = sc.mode {
            self.entries.push_block(lo, cells);
            sc.mode = IdMode::Block(lo);
        }
        sc.identity = identity;
        if sc.contiguous && !identity {
            reset(&mut sc.index_of, n, 0);
            for (i, id) in ids.iter().enumerate() {
                sc.index_of[(id.as_u64() - lo) as usize] = i as u32;
            }
        }
        Ok(())
    }

    /// Step 2: checks every dependency and sorts it (see the module docs). In-batch
    /// edges are stored (with in-degrees) only for ids that are not contiguous.
    /// Returns whether every in-batch edge points forward in batch order, and whether
    /// every one points backward.
    fn resolve(&mut self, specs: &SpecBatch, sc: &mut Scratch) -> Result<(bool, bool), GraphError> {
        let n = specs.len();
        let ids = specs.ids();
        let (lo, contiguous) = (sc.lo, sc.contiguous);
        sc.external.clear();
        sc.external_count.clear();
        sc.fail_root.clear();
        sc.topo.clear(if contiguous { 0 } else { n });
        let (mut forward, mut backward) = (true, true);
        let mut start = 0;
        for (i, (&id, &end)) in ids.iter().zip(specs.dependency_ends()).enumerate() {
            let deps = &specs.all_dependencies()[start as usize..end as usize];
            start = end;
            for &dep in deps {
                if dep == id {
                    self.unreserve(ids, sc, Vec::new());
                    return Err(GraphError::SelfDependency(id));
                }
                let k = dep.as_u64().wrapping_sub(lo);
                if contiguous && k < n as u64 {
                    let j = sc.index(k as usize) as usize;
                    forward &= j < i;
                    backward &= j > i;
                    continue;
                }
                match self.entries.get(dep) {
                    Some(Entry::Live(slot)) => match self.slots[slot as usize].state {
                        SlotState::Pending(j) => {
                            // Not contiguous (else the range holds every batch id).
                            forward &= (j as usize) < i;
                            backward &= (j as usize) > i;
                            sc.topo.edge(j, i as u32);
                        }
                        SlotState::Succeeded => {}
                        _ => {
                            sc.external.push((i as u32, slot));
                            if sc.external_count.is_empty() {
                                reset(&mut sc.external_count, n, 0);
                            }
                            sc.external_count[i] += 1;
                        }
                    },
                    Some(Entry::Failed(reason)) => sc.fail(i, n, reason.root_cause(dep)),
                    None => {
                        self.unreserve(ids, sc, Vec::new());
                        return Err(GraphError::UnknownDependency {
                            task: id,
                            dependency: dep,
                        });
                    }
                }
            }
        }
        Ok((forward, backward))
    }

    /// Steps 3-5 of the fast path (see the module docs): with contiguous ids, edges
    /// that cannot form a cycle, no estimate and no failed dependency, every rank is
    /// zero and every task goes live; one walk of the dependency column counts each
    /// task's in-batch dependencies and adds it to their successor lists.
    fn commit_acyclic<C: Commit<P>>(&mut self, specs: &SpecBatch, sc: &Scratch, commit: &mut C) {
        let n = specs.len() as u64;
        let all = specs.all_dependencies();
        let mut start = 0;
        for (i, &end) in specs.dependency_ends().iter().enumerate() {
            let slot = sc.slots[i];
            let me = SuccRef {
                slot,
                generation: self.slots[slot as usize].generation,
            };
            let mut remaining = sc.external_count.get(i).copied().unwrap_or(0);
            for &dep in &all[start as usize..end as usize] {
                let k = dep.as_u64().wrapping_sub(sc.lo);
                if k < n {
                    let j = sc.index(k as usize);
                    self.push_successor(sc.slots[j as usize], me);
                    remaining += 1;
                }
            }
            start = end;
            self.slots[slot as usize].rank_nanos = 0;
            self.make_live(slot, remaining, commit);
        }
        self.push_external(sc);
    }

    /// Step 5 for one batch task whose reserved slot already holds its rank: it is
    /// live from now on, ready or waiting for `remaining` dependencies.
    fn make_live<C: Commit<P>>(&mut self, slot: u32, remaining: u32, commit: &mut C) {
        let s = &mut self.slots[slot as usize];
        s.state = if remaining == 0 {
            SlotState::Ready
        } else {
            SlotState::Waiting(remaining)
        };
        self.live += 1;
        let at = SlotRef {
            slot,
            generation: s.generation,
        };
        commit.live(at, s, &self.cold);
    }

    /// Adds each live batch task to the successor lists of its live external
    /// dependencies (after the commit).
    fn push_external(&mut self, sc: &Scratch) {
        for &(i, dep_slot) in &sc.external {
            if sc.root(i as usize).is_none() {
                let slot = sc.slots[i as usize];
                let generation = self.slots[slot as usize].generation;
                self.push_successor(dep_slot, SuccRef { slot, generation });
            }
        }
    }

    /// Undoes step 1 for the tasks reserved so far (the first `sc.slots.len()` of
    /// `ids`; `cells` is the block being filled, if any).
    fn unreserve(&mut self, ids: &[TaskId], sc: &Scratch, cells: Vec<u32>) {
        match sc.mode {
            IdMode::Map => {
                for &id in &ids[..sc.slots.len()] {
                    self.entries.remove(id);
                }
            }
            IdMode::Filling(_) => self.entries.recycle(cells),
            IdMode::Block(lo) => self.entries.remove_block(lo),
        }
        for &slot in &sc.slots {
            self.slots[slot as usize].state = SlotState::Free;
            self.free.push(slot);
        }
    }
}

/// Takes a free slot or appends one (a free function so that it can run while the
/// graph's id index is borrowed).
fn reserve<P>(
    free: &mut super::free::FreeSlots,
    slots: &mut Vec<super::Slot<P>>,
    cold: &mut Vec<Cold>,
) -> u32 {
    if let Some(slot) = free.pop() {
        return slot;
    }
    let slot = u32::try_from(slots.len())
        .ok()
        .filter(|&slot| slot <= super::ids::MAX_SLOT)
        .expect("fewer than 2^32 - 2 tasks in slots");
    slots.push(super::Slot::vacant());
    cold.push(Cold::default());
    slot
}

/// Clears `v` and fills it with `n` copies of `value`.
fn reset<T: Clone>(v: &mut Vec<T>, n: usize, value: T) {
    v.clear();
    v.resize(n, value);
}
