//! The general path of adding a batch (see `batch.rs`), for batches the fast path does
//! not cover: ids that are not contiguous, an in-batch edge pointing backwards, an
//! estimated duration, or a dependency that already failed.
//!
//! It works on the in-batch edge list (`(dependency index, dependent index)`, grouped
//! by dependent in increasing batch order: step 2 stores it for scattered ids, and it
//! is rebuilt from the dependency column for contiguous ones), orders the batch (Kahn's
//! algorithm, unless every edge points forward), computes ranks and failure roots only
//! if some task has an estimate or a failed dependency, then commits.

use std::time::Duration;

use super::{reset, Commit, Scratch};
use crate::graph::{DependencyGraph, SlotRef, SlotState, SuccRef};
use crate::{FailureReason, GraphError, SpecBatch, TaskId};

/// The general path's working memory (part of the batch scratch).
#[derive(Debug, Default)]
pub(super) struct Topo {
    /// In-batch edges as (dependency index, dependent index).
    edges: Vec<(u32, u32)>,
    /// In-batch dependency edges per task (Kahn's in-degree, then kept for counters).
    in_degree: Vec<u32>,
    /// CSR of in-batch successors: `succ[succ_start[i]..succ_start[i + 1]]`.
    succ_start: Vec<u32>,
    succ: Vec<u32>,
    cursor: Vec<u32>,
    /// Kahn's working in-degrees and the resulting topological order.
    pending: Vec<u32>,
    order: Vec<u32>,
    /// Each task's estimated duration and rank (both empty if no task has an
    /// estimate: every rank is then zero).
    estimate: Vec<Duration>,
    rank: Vec<Duration>,
}

impl Topo {
    /// Empties the edge list, with in-degrees for `n` tasks.
    pub(super) fn clear(&mut self, n: usize) {
        self.edges.clear();
        reset(&mut self.in_degree, n, 0);
    }

    /// Adds the in-batch edge from dependency `j` to dependent `i`.
    pub(super) fn edge(&mut self, j: u32, i: u32) {
        self.edges.push((j, i));
        self.in_degree[i as usize] += 1;
    }

    /// Step 3, Kahn's algorithm over the in-batch edges: fills `order` (complete unless
    /// there is a cycle, whose tasks keep `pending > 0`) and the successor CSR.
    fn order(&mut self, n: usize) {
        build_csr(
            n,
            &self.edges,
            &mut self.succ_start,
            &mut self.succ,
            &mut self.cursor,
        );
        self.pending.clear();
        self.pending.extend_from_slice(&self.in_degree);
        self.order.clear();
        self.order
            .extend((0..n as u32).filter(|&i| self.pending[i as usize] == 0));
        let mut head = 0;
        while head < self.order.len() {
            let i = self.order[head] as usize;
            head += 1;
            for k in self.succ_start[i]..self.succ_start[i + 1] {
                let j = self.succ[k as usize] as usize;
                self.pending[j] -= 1;
                if self.pending[j] == 0 {
                    self.order.push(j as u32);
                }
            }
        }
    }

    /// The in-batch successors of task `i` (after [`order`](Self::order)).
    fn successors(&self, i: usize) -> &[u32] {
        &self.succ[self.succ_start[i] as usize..self.succ_start[i + 1] as usize]
    }
}

impl<P> DependencyGraph<P> {
    /// Steps 3-5 of the general path (see the module docs); `forward` says whether
    /// every in-batch edge points forward in batch order.
    pub(super) fn order_and_commit<C: Commit<P>>(
        &mut self,
        specs: &SpecBatch,
        sc: &mut Scratch,
        forward: bool,
        commit: &mut C,
    ) -> Result<(), GraphError> {
        let n = specs.len();
        if sc.contiguous {
            // Step 2 did not store the edges: every in-range dependency is one.
            sc.topo.clear(n);
            let all = specs.all_dependencies();
            let mut start = 0;
            for (i, &end) in specs.dependency_ends().iter().enumerate() {
                for &dep in &all[start as usize..end as usize] {
                    let k = dep.as_u64().wrapping_sub(sc.lo);
                    if k < n as u64 {
                        let j = sc.index(k as usize);
                        sc.topo.edge(j, i as u32);
                    }
                }
                start = end;
            }
        }
        let t = &mut sc.topo;
        t.rank.clear();
        if !specs.estimates().is_empty() {
            reset(&mut t.estimate, n, Duration::ZERO);
            for &(i, estimate) in specs.estimates() {
                t.estimate[i as usize] = estimate;
            }
            reset(&mut t.rank, n, Duration::ZERO);
        }
        let (ranked, failing) = (!t.rank.is_empty(), !sc.fail_root.is_empty());
        if forward {
            // 3-4. Batch order is topological. `edges` is grouped by dependent in
            // increasing batch order and every dependency comes earlier, so walking it
            // backwards finishes each task's successors before the task itself.
            if ranked {
                let mut k = t.edges.len();
                for i in (0..n).rev() {
                    // `rank[i]` held the longest rank among `i`'s successors.
                    t.rank[i] = t.rank[i].saturating_add(t.estimate[i]);
                    while k > 0 && t.edges[k - 1].1 as usize == i {
                        k -= 1;
                        let j = t.edges[k].0 as usize;
                        t.rank[j] = t.rank[j].max(t.rank[i]);
                    }
                }
            }
            if failing {
                for &(j, i) in &t.edges {
                    if let Some(root) = sc.fail_root[j as usize] {
                        sc.fail_root[i as usize].get_or_insert(root);
                    }
                }
            }
        } else {
            t.order(n);
            if t.order.len() < n {
                let cycle = self.trace_cycle(specs, &sc.topo.pending);
                self.unreserve(specs.ids(), sc, Vec::new());
                return Err(GraphError::Cycle(cycle));
            }
            // 4. Ranks (reverse topological order), failure roots (topological order).
            if ranked {
                for &i in t.order.iter().rev() {
                    let i = i as usize;
                    let longest_after = t
                        .successors(i)
                        .iter()
                        .map(|&j| t.rank[j as usize])
                        .max()
                        .unwrap_or(Duration::ZERO);
                    t.rank[i] = t.estimate[i].saturating_add(longest_after);
                }
            }
            if failing {
                for &i in &t.order {
                    if let Some(root) = sc.fail_root[i as usize] {
                        for &j in t.successors(i as usize) {
                            sc.fail_root[j as usize].get_or_insert(root);
                        }
                    }
                }
            }
        }
        self.commit_general(specs, sc, commit);
        Ok(())
    }

    /// Step 5 of the general path: states, counters, ranks, failures and successor
    /// lists, reported to `commit` in batch order.
    fn commit_general<C: Commit<P>>(&mut self, specs: &SpecBatch, sc: &Scratch, commit: &mut C) {
        let t = &sc.topo;
        for (i, &id) in specs.ids().iter().enumerate() {
            let slot = sc.slots[i];
            let s = &mut self.slots[slot as usize];
            if let Some(root) = sc.root(i) {
                let stale = SlotRef {
                    slot,
                    generation: s.generation,
                };
                s.state = SlotState::Free;
                s.generation = s.generation.wrapping_add(1);
                self.free.push(slot);
                self.entries
                    .set_failed(id, FailureReason::DependencyFailed(root));
                commit.failed(id, root, stale);
                continue;
            }
            let remaining = t.in_degree[i] + sc.external_count.get(i).copied().unwrap_or(0);
            let rank = t.rank.get(i).copied().unwrap_or(Duration::ZERO);
            s.rank_nanos = u64::try_from(rank.as_nanos()).unwrap_or(u64::MAX);
            if s.rank_nanos == u64::MAX {
                self.cold[slot as usize].rank = rank;
            }
            self.make_live(slot, remaining, commit);
        }
        self.push_external(sc);
        for &(j, i) in &t.edges {
            if sc.root(i as usize).is_none() {
                let slot = sc.slots[i as usize];
                let generation = self.slots[slot as usize].generation;
                self.push_successor(sc.slots[j as usize], SuccRef { slot, generation });
            }
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
            Some(crate::graph::ids::Entry::Live(slot)) => match self.slots[slot as usize].state {
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
