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
//!    are recorded as one block (an array write per task, duplicates within the batch
//!    found through `index_of`); otherwise one hash operation per task. Either way the
//!    record also serves later dependency lookups. The priority goes straight into the
//!    slot; deadlines (into the cold parts) and estimates (into scratch) are scattered
//!    from their sparse lists afterwards.
//! 2. Resolve dependencies: each dependency is either the task itself (error), a pending
//!    slot (an edge inside the batch), a live task (an external edge to wait for), a
//!    succeeded task (satisfied), a failed task (the newcomer fails), or unknown (error).
//! 3. Kahn's algorithm over the in-batch edges gives a topological order; leftovers mean
//!    a cycle, which is traced through the leftovers' dependencies and reported. Fast
//!    path: if every in-batch dependency comes earlier in the batch (batches built in
//!    topological order, the common case), batch order is already topological and
//!    this step is skipped.
//! 4. Ranks in reverse topological order; failure roots pushed forward in topological
//!    order.
//! 5. Commit: states, counters and successor lists. Any error in steps 1-3 first undoes
//!    step 1 (removes the ids or the block, frees the slots), so the graph is
//!    unchanged.
//!
//! Cost: O(tasks + dependency edges) time, with at most one id-index lookup per task
//! and per dependency; the scratch vectors live in the graph and are reused between
//! batches. Fast path: when the batch's ids form one contiguous range (ids numbered by
//! the caller, or fresh ids taken by one thread), the ids are one block (no hash
//! operation per task) and a dependency inside that range is found by subtraction.

use std::time::{Duration, Instant};

use super::{BatchOutcome, Cold, DependencyGraph, Entry, Released, SlotRef, SlotState, SuccRef};
use crate::{FailureReason, GraphError, SpecBatch, TaskId, TaskSpec};

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

/// `Scratch::index_of` of an id step 1 has not met yet.
const NOT_SEEN: u32 = u32::MAX;

/// Per-batch working memory, kept between batches to avoid reallocating.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// Reserved slot of each batch task.
    slots: Vec<u32>,
    /// In-batch edges as (dependency index, dependent index).
    edges: Vec<(u32, u32)>,
    /// External live dependencies as (dependent index, dependency slot).
    external: Vec<(u32, u32)>,
    /// Root cause for batch tasks that fail at once.
    fail_root: Vec<Option<TaskId>>,
    /// In-batch dependency edges per task (Kahn's in-degree, then kept for counters).
    in_degree: Vec<u32>,
    /// Live external dependency edges per task.
    external_count: Vec<u32>,
    /// CSR of in-batch successors: `succ[succ_start[i]..succ_start[i + 1]]`.
    succ_start: Vec<u32>,
    succ: Vec<u32>,
    cursor: Vec<u32>,
    /// Kahn's working in-degrees and the resulting topological order.
    pending: Vec<u32>,
    order: Vec<u32>,
    rank: Vec<Duration>,
    /// With contiguous batch ids: batch index of the task with id `lo + k`
    /// (`NOT_SEEN` while step 1 has not met it).
    index_of: Vec<u32>,
    /// Where step 1 records the batch's ids.
    mode: IdMode,
    /// Each batch task's estimated duration (dense, from the batch's sparse list).
    estimate: Vec<Duration>,
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
        let mut sc = std::mem::take(&mut self.scratch);
        let result = self.add_batch_with(specs, &mut sc);
        self.scratch = sc;
        result
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
        let mut sc = std::mem::take(&mut self.scratch);
        let result = match self.add_batch_with(specs, &mut sc) {
            Ok(_) => {
                out.now = Some(now);
                out.batch.reserve(specs.len());
                for ((i, payload), &slot) in payloads.into_iter().enumerate().zip(&sc.slots) {
                    let s = &mut self.slots[slot as usize];
                    if let Some(root) = sc.fail_root[i] {
                        // Freed at commit: the generation moved on, so this is stale.
                        out.batch.push(SlotRef {
                            slot,
                            generation: s.generation.wrapping_sub(1),
                        });
                        out.failed.push((Some(payload), root));
                        continue;
                    }
                    s.payload = Some(payload);
                    let at = SlotRef {
                        slot,
                        generation: s.generation,
                    };
                    out.batch.push(at);
                    if s.state == SlotState::Ready {
                        let key = out.key(slot, s, &self.cold);
                        out.ready.push((at, key));
                    }
                }
                Ok(())
            }
            Err(e) => Err((e, payloads)),
        };
        self.scratch = sc;
        result
    }

    /// The graph's reused column store, filled with `specs` (give it back to
    /// `self.columns` after use).
    fn columns(&mut self, specs: &[TaskSpec]) -> SpecBatch {
        let mut columns = std::mem::take(&mut self.columns);
        columns.clear();
        columns.extend(specs);
        columns
    }

    fn add_batch_with(
        &mut self,
        specs: &SpecBatch,
        sc: &mut Scratch,
    ) -> Result<BatchOutcome, GraphError> {
        let n = specs.len();
        assert!(u32::try_from(n).is_ok(), "batch of more than 2^32 tasks");
        sc.slots.clear();
        let ids = specs.ids();

        // The batch's id range: if it has exactly `n` ids (they are distinct, or step 1
        // refuses a duplicate), in-batch dependencies are found by subtraction, and
        // the ids are recorded as one block if no known id lies in the range.
        let (lo, hi) = ids.iter().fold((u64::MAX, 0), |(lo, hi), id| {
            (lo.min(id.as_u64()), hi.max(id.as_u64()))
        });
        let contiguous = n > 0 && hi - lo == n as u64 - 1;
        let mut cells = Vec::new();
        if contiguous && self.entries.block_fits(lo, n) {
            sc.mode = IdMode::Filling(lo);
            cells = self.entries.take_cells(n);
        } else {
            sc.mode = IdMode::Map;
            self.entries.reserve(n);
        }
        if contiguous {
            reset(&mut sc.index_of, n, NOT_SEEN);
        }

        // 1. Reserve ids and slots, and copy priorities into the slots (deadlines
        //    after the loop, for the few tasks that have one). Step 1 stops at the
        //    first invalid spec or duplicate, whichever comes first in batch order.
        let first_invalid = specs
            .invalid()
            .first()
            .map_or(usize::MAX, |&(i, _)| i as usize);
        for (i, (&id, &priority)) in ids.iter().zip(specs.priorities()).enumerate() {
            if i == first_invalid {
                self.unreserve(ids, sc, cells);
                return Err(GraphError::InvalidSpec {
                    task: id,
                    reason: specs.invalid()[0].1,
                });
            }
            let slot = reserve(&mut self.free, &mut self.slots, &mut self.cold);
            // In a block, an id seen earlier in the batch is the only possible
            // duplicate (no known id lies in its range).
            let k = id.as_u64().wrapping_sub(lo) as usize;
            let fresh = match sc.mode {
                IdMode::Filling(_) if sc.index_of[k] == NOT_SEEN => {
                    cells[k] = slot;
                    true
                }
                IdMode::Filling(_) => false,
                _ => self.entries.insert_new(id, slot),
            };
            if !fresh {
                self.free.push(slot);
                self.unreserve(ids, sc, cells);
                return Err(GraphError::DuplicateId(id));
            }
            if contiguous {
                sc.index_of[k] = i as u32;
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
        for &(i, deadline) in specs.deadlines() {
            let slot = sc.slots[i as usize];
            self.slots[slot as usize].has_deadline = true;
            self.cold[slot as usize].deadline = Some(deadline);
        }
        reset(&mut sc.estimate, n, Duration::ZERO);
        for &(i, estimate) in specs.estimates() {
            sc.estimate[i as usize] = estimate;
        }

        // 2. Resolve dependencies.
        sc.edges.clear();
        sc.external.clear();
        reset(&mut sc.fail_root, n, None);
        reset(&mut sc.in_degree, n, 0);
        reset(&mut sc.external_count, n, 0);
        // Whether every in-batch edge points forward in batch order (batch order is then
        // a topological order: no cycle, and no need for Kahn's algorithm).
        let mut forward = true;
        let mut start = 0;
        for (i, (&id, &end)) in ids.iter().zip(specs.dependency_ends()).enumerate() {
            let deps = &specs.all_dependencies()[start as usize..end as usize];
            start = end;
            for &dep in deps {
                if dep == id {
                    self.unreserve(ids, sc, Vec::new());
                    return Err(GraphError::SelfDependency(id));
                }
                if contiguous && (lo..=hi).contains(&dep.as_u64()) {
                    let j = sc.index_of[(dep.as_u64() - lo) as usize];
                    forward &= (j as usize) < i;
                    sc.edges.push((j, i as u32));
                    sc.in_degree[i] += 1;
                    continue;
                }
                match self.entries.get(dep) {
                    Some(Entry::Live(slot)) => match self.slots[slot as usize].state {
                        SlotState::Pending(j) => {
                            forward &= (j as usize) < i;
                            sc.edges.push((j, i as u32));
                            sc.in_degree[i] += 1;
                        }
                        SlotState::Succeeded => {}
                        _ => {
                            sc.external.push((i as u32, slot));
                            sc.external_count[i] += 1;
                        }
                    },
                    Some(Entry::Failed(reason)) => {
                        sc.fail_root[i].get_or_insert(reason.root_cause(dep));
                    }
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

        reset(&mut sc.rank, n, Duration::ZERO);
        if forward {
            // 3-4 (fast path). `edges` is grouped by dependent in increasing batch order
            // and every dependency comes earlier, so walking it backwards finishes each
            // task's successors before the task itself.
            let mut k = sc.edges.len();
            for i in (0..n).rev() {
                sc.rank[i] = sc.rank[i].saturating_add(sc.estimate[i]);
                while k > 0 && sc.edges[k - 1].1 as usize == i {
                    k -= 1;
                    let j = sc.edges[k].0 as usize;
                    sc.rank[j] = sc.rank[j].max(sc.rank[i]);
                }
            }
            // `rank[j]` held the longest successor rank until `j`'s own turn added its
            // estimate above. Failure roots flow forward the same way.
            for &(j, i) in &sc.edges {
                if let Some(root) = sc.fail_root[j as usize] {
                    sc.fail_root[i as usize].get_or_insert(root);
                }
            }
        } else {
            self.order_batch(n, sc);
            if sc.order.len() < n {
                let cycle = self.trace_cycle(specs, &sc.pending);
                self.unreserve(ids, sc, Vec::new());
                return Err(GraphError::Cycle(cycle));
            }
            // 4. Ranks (reverse topological order), failure roots (topological order).
            for &i in sc.order.iter().rev() {
                let i = i as usize;
                let longest_after = (sc.succ_start[i]..sc.succ_start[i + 1])
                    .map(|k| sc.rank[sc.succ[k as usize] as usize])
                    .max()
                    .unwrap_or(Duration::ZERO);
                sc.rank[i] = sc.estimate[i].saturating_add(longest_after);
            }
            for &i in &sc.order {
                let i = i as usize;
                if let Some(root) = sc.fail_root[i] {
                    for k in sc.succ_start[i]..sc.succ_start[i + 1] {
                        sc.fail_root[sc.succ[k as usize] as usize].get_or_insert(root);
                    }
                }
            }
        }

        // 5. Commit (priority and deadline are in the slots since step 1).
        let mut outcome = BatchOutcome::default();
        for (i, &id) in ids.iter().enumerate() {
            let slot = sc.slots[i];
            if let Some(root) = sc.fail_root[i] {
                self.entries
                    .set_failed(id, FailureReason::DependencyFailed(root));
                let s = &mut self.slots[slot as usize];
                s.state = SlotState::Free;
                s.generation = s.generation.wrapping_add(1);
                self.free.push(slot);
                outcome.failed.push((id, root));
                continue;
            }
            let remaining = sc.in_degree[i] + sc.external_count[i];
            let s = &mut self.slots[slot as usize];
            s.rank_nanos = u64::try_from(sc.rank[i].as_nanos()).unwrap_or(u64::MAX);
            if s.rank_nanos == u64::MAX {
                self.cold[slot as usize].rank = sc.rank[i];
            }
            s.state = if remaining == 0 {
                outcome.ready.push(id);
                SlotState::Ready
            } else {
                SlotState::Waiting(remaining)
            };
            self.live += 1;
        }
        for &(i, dep_slot) in &sc.external {
            if sc.fail_root[i as usize].is_none() {
                let slot = sc.slots[i as usize];
                let generation = self.slots[slot as usize].generation;
                self.push_successor(dep_slot, SuccRef { slot, generation });
            }
        }
        for &(j, i) in &sc.edges {
            if sc.fail_root[i as usize].is_none() {
                let slot = sc.slots[i as usize];
                let generation = self.slots[slot as usize].generation;
                self.push_successor(sc.slots[j as usize], SuccRef { slot, generation });
            }
        }
        Ok(outcome)
    }

    /// Step 3, Kahn's algorithm over the in-batch edges: fills `order` (complete unless
    /// there is a cycle, whose tasks keep `pending > 0`) and the successor CSR.
    fn order_batch(&self, n: usize, sc: &mut Scratch) {
        build_csr(
            n,
            &sc.edges,
            &mut sc.succ_start,
            &mut sc.succ,
            &mut sc.cursor,
        );
        sc.pending.clear();
        sc.pending.extend_from_slice(&sc.in_degree);
        sc.order.clear();
        sc.order
            .extend((0..n as u32).filter(|&i| sc.pending[i as usize] == 0));
        let mut head = 0;
        while head < sc.order.len() {
            let i = sc.order[head] as usize;
            head += 1;
            for k in sc.succ_start[i]..sc.succ_start[i + 1] {
                let j = sc.succ[k as usize] as usize;
                sc.pending[j] -= 1;
                if sc.pending[j] == 0 {
                    sc.order.push(j as u32);
                }
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

    /// Finds a cycle among the batch tasks Kahn's algorithm could not order (those with
    /// `pending > 0`): every such task has an unordered in-batch dependency, so walking
    /// dependencies from one of them must revisit a task. Returns the cycle in "depends
    /// on" order, starting from the first task of the batch that is on it.
    fn trace_cycle(
        &self,
        specs: &SpecBatch,
        pending: &[u32],
    ) -> Vec<(TaskId, Option<std::sync::Arc<str>>)> {
        let batch_index = |id: TaskId| match self.entries.get(id) {
            Some(Entry::Live(slot)) => match self.slots[slot as usize].state {
                SlotState::Pending(j) => Some(j as usize),
                _ => None,
            },
            _ => None,
        };
        let start = pending
            .iter()
            .position(|&p| p > 0)
            .expect("a leftover task");
        let mut position = vec![usize::MAX; specs.len()];
        let mut path = Vec::new();
        let mut at = start;
        while position[at] == usize::MAX {
            position[at] = path.len();
            path.push(at);
            at = specs
                .dependencies(at)
                .iter()
                .filter_map(|&d| batch_index(d))
                .find(|&j| pending[j] > 0)
                .expect("a leftover task has a leftover dependency");
        }
        let mut cycle = path.split_off(position[at]);
        let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
        cycle.rotate_left(first);
        cycle
            .into_iter()
            .map(|i| (specs.id(i), specs.name(i).cloned()))
            .collect()
    }
}

/// Takes a free slot or appends one (a free function so that it can run while the
/// graph's id map is borrowed).
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

/// Builds the compressed successor lists of `n` nodes from `(from, to)` edges.
fn build_csr(
    n: usize,
    edges: &[(u32, u32)],
    start: &mut Vec<u32>,
    succ: &mut Vec<u32>,
    cursor: &mut Vec<u32>,
) {
    reset(start, n + 1, 0);
    for &(from, _) in edges {
        start[from as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    reset(succ, edges.len(), 0);
    cursor.clear();
    cursor.extend_from_slice(start);
    for &(from, to) in edges {
        succ[cursor[from as usize] as usize] = to;
        cursor[from as usize] += 1;
    }
}
