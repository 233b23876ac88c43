//! A batch of task specs stored column by column, for submitting many tasks at once.
//!
//! A [`TaskSpec`] is about 130 bytes, most of them fields that few tasks set (deadline,
//! estimate, name, resources). Adding a large batch to the
//! [`DependencyGraph`](crate::DependencyGraph) reads only a few of them per task, so a
//! slice of specs makes it stream (and keep) far more memory than it uses.
//! [`SpecBatch`] keeps only what the graph reads, densely where every task has a value
//! and sparsely where few do.
//!
//! Invariants:
//! - `ids`, `priorities` and `dep_ends` have one element per task, in push order.
//! - The dependencies of task `i` are `deps[dep_ends[i - 1]..dep_ends[i]]` (from 0 for
//!   the first task), in the order the spec listed them; `dep_ends` never decreases.
//! - The sparse columns (`deadlines`, `estimates`, `names`, `invalid`) hold
//!   `(task index, value)` pairs with strictly increasing indices, only for tasks whose
//!   value is not the default (no deadline, zero estimate, no name, a valid spec).
//! - Resources are not kept: the batch remembers only whether each spec passed
//!   [`TaskSpec::validate`] (the graph's only use of them), as `invalid`.

use std::borrow::Borrow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Priority, SpecError, TaskId, TaskSpec};

/// Task specs stored column-wise: what [`DependencyGraph`](crate::DependencyGraph)
/// needs of a batch, in a few dense arrays (ids, priorities, all dependencies in one
/// array) plus sparse lists for the rarely set fields. Build it with
/// [`push`](Self::push) (from a spec or a reference to one) and add it with
/// [`DependencyGraph::add_spec_batch`](crate::DependencyGraph::add_spec_batch) or
/// [`add_spec_batch_payloads`](crate::DependencyGraph::add_spec_batch_payloads);
/// [`clear`](Self::clear) keeps the memory for the next batch.
///
/// ```
/// use std::time::Duration;
/// use taskweave_scheduler::{DependencyGraph, Priority, SpecBatch, TaskId, TaskSpec};
///
/// let (a, b, c) = (TaskId::new(1), TaskId::new(2), TaskId::new(3));
/// let mut batch = SpecBatch::new();
/// batch.push(TaskSpec::new(a).name("fetch"));
/// batch.push(&TaskSpec::new(b).dependency(a).priority(Priority::HIGH));
/// batch.push(TaskSpec::new(c).dependencies([a, b]).estimated_duration(Duration::from_millis(2)));
/// assert_eq!(batch.len(), 3);
/// assert_eq!(batch.dependencies(2), &[a, b]);
/// assert_eq!(batch.priority(1), Priority::HIGH);
/// assert_eq!(batch.name(0).map(|n| &**n), Some("fetch"));
/// assert_eq!(batch.estimated_duration(1), Duration::ZERO);
///
/// let mut g = DependencyGraph::new();
/// let out = g.add_spec_batch(&batch).unwrap();
/// assert_eq!(out.ready, vec![a]);
/// batch.clear(); // ready for the next batch, keeping its memory
/// assert!(batch.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpecBatch {
    ids: Vec<TaskId>,
    priorities: Vec<Priority>,
    /// End offset in `deps` of each task's dependencies.
    dep_ends: Vec<u32>,
    deps: Vec<TaskId>,
    deadlines: Vec<(u32, Instant)>,
    estimates: Vec<(u32, Duration)>,
    names: Vec<(u32, Arc<str>)>,
    invalid: Vec<(u32, SpecError)>,
}

impl SpecBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `tasks` tasks and `dependencies` dependency edges
    /// in all.
    pub fn with_capacity(tasks: usize, dependencies: usize) -> Self {
        SpecBatch {
            ids: Vec::with_capacity(tasks),
            priorities: Vec::with_capacity(tasks),
            dep_ends: Vec::with_capacity(tasks),
            deps: Vec::with_capacity(dependencies),
            ..Self::default()
        }
    }

    /// Appends a task (a [`TaskSpec`] or a reference to one). Its resources are only
    /// validated (see [`invalid`](Self::invalid)), not kept.
    ///
    /// # Panics
    /// If the batch would hold 2^32 tasks or dependency edges.
    pub fn push(&mut self, spec: impl Borrow<TaskSpec>) {
        let spec = spec.borrow();
        let i = u32::try_from(self.ids.len()).expect("a batch of fewer than 2^32 tasks");
        self.ids.push(spec.id);
        self.priorities.push(spec.priority);
        self.deps.extend_from_slice(&spec.dependencies);
        let end = u32::try_from(self.deps.len()).expect("fewer than 2^32 dependency edges");
        self.dep_ends.push(end);
        if let Some(deadline) = spec.deadline {
            self.deadlines.push((i, deadline));
        }
        if spec.estimated_duration != Duration::ZERO {
            self.estimates.push((i, spec.estimated_duration));
        }
        if let Some(name) = &spec.name {
            self.names.push((i, name.clone()));
        }
        if let Err(reason) = spec.validate() {
            self.invalid.push((i, reason));
        }
    }

    /// Removes every task, keeping the memory.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.priorities.clear();
        self.dep_ends.clear();
        self.deps.clear();
        self.deadlines.clear();
        self.estimates.clear();
        self.names.clear();
        self.invalid.clear();
    }

    /// The number of tasks.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the batch has no task.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every task's id, in push order.
    pub fn ids(&self) -> &[TaskId] {
        &self.ids
    }

    /// Every task's priority, in push order.
    pub fn priorities(&self) -> &[Priority] {
        &self.priorities
    }

    /// The id of task `i` (in push order).
    ///
    /// # Panics
    /// If `i >= len()` (so do the other per-task accessors).
    pub fn id(&self, i: usize) -> TaskId {
        self.ids[i]
    }

    /// The priority of task `i`.
    pub fn priority(&self, i: usize) -> Priority {
        self.priorities[i]
    }

    /// The dependencies of task `i`, as its spec listed them.
    pub fn dependencies(&self, i: usize) -> &[TaskId] {
        let start = if i == 0 { 0 } else { self.dep_ends[i - 1] };
        &self.deps[start as usize..self.dep_ends[i] as usize]
    }

    /// Every dependency edge of the batch: task `i`'s dependencies are
    /// `all_dependencies()[ends[i - 1]..ends[i]]` (from 0 for task 0), where `ends` is
    /// [`dependency_ends`](Self::dependency_ends).
    pub fn all_dependencies(&self) -> &[TaskId] {
        &self.deps
    }

    /// The end offset of each task's dependencies in
    /// [`all_dependencies`](Self::all_dependencies).
    pub fn dependency_ends(&self) -> &[u32] {
        &self.dep_ends
    }

    /// The deadline of task `i`, if it has one (a binary search).
    pub fn deadline(&self, i: usize) -> Option<Instant> {
        sparse_get(&self.deadlines, i).copied()
    }

    /// The estimated duration of task `i` (zero if unknown; a binary search).
    pub fn estimated_duration(&self, i: usize) -> Duration {
        sparse_get(&self.estimates, i)
            .copied()
            .unwrap_or(Duration::ZERO)
    }

    /// The name of task `i`, if it has one (a binary search).
    pub fn name(&self, i: usize) -> Option<&Arc<str>> {
        sparse_get(&self.names, i)
    }

    /// The tasks that have a deadline, as `(task index, deadline)` in push order.
    pub fn deadlines(&self) -> &[(u32, Instant)] {
        &self.deadlines
    }

    /// The tasks with a non-zero estimated duration, as `(task index, estimate)` in
    /// push order.
    pub fn estimates(&self) -> &[(u32, Duration)] {
        &self.estimates
    }

    /// The tasks that have a name, as `(task index, name)` in push order.
    pub fn names(&self) -> &[(u32, Arc<str>)] {
        &self.names
    }

    /// The tasks whose spec failed [`TaskSpec::validate`], as `(task index, what is
    /// wrong)` in push order (the graph refuses a batch with any).
    pub fn invalid(&self) -> &[(u32, SpecError)] {
        &self.invalid
    }
}

/// The value for task `i` in a sparse column.
fn sparse_get<T>(column: &[(u32, T)], i: usize) -> Option<&T> {
    let i = u32::try_from(i).ok()?;
    column
        .binary_search_by_key(&i, |&(j, _)| j)
        .ok()
        .map(|k| &column[k].1)
}

impl<S: Borrow<TaskSpec>> Extend<S> for SpecBatch {
    fn extend<I: IntoIterator<Item = S>>(&mut self, specs: I) {
        for spec in specs {
            self.push(spec);
        }
    }
}

impl<S: Borrow<TaskSpec>> FromIterator<S> for SpecBatch {
    fn from_iter<I: IntoIterator<Item = S>>(specs: I) -> Self {
        let mut batch = SpecBatch::new();
        batch.extend(specs);
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResourceRequirements;

    fn id(n: u64) -> TaskId {
        TaskId::new(n)
    }

    #[test]
    fn columns_round_trip_every_field_the_graph_reads() {
        let now = Instant::now();
        let ms = Duration::from_millis;
        let specs = [
            TaskSpec::new(id(10)),
            TaskSpec::new(id(11))
                .dependencies([id(10), id(10), id(3)])
                .priority(Priority::LOW)
                .deadline(now)
                .name("b"),
            TaskSpec::new(id(12)),
            TaskSpec::new(id(13))
                .dependency(id(11))
                .estimated_duration(ms(7))
                .resources(ResourceRequirements::new().io_intensity(2.0)),
        ];
        let batch: SpecBatch = specs.iter().collect();
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.ids(), &[id(10), id(11), id(12), id(13)]);
        for (i, spec) in specs.iter().enumerate() {
            assert_eq!(batch.id(i), spec.id);
            assert_eq!(batch.priority(i), spec.priority);
            assert_eq!(batch.dependencies(i), &spec.dependencies[..]);
            assert_eq!(batch.deadline(i), spec.deadline);
            assert_eq!(batch.estimated_duration(i), spec.estimated_duration);
            assert_eq!(batch.name(i), spec.name.as_ref());
        }
        assert_eq!(batch.all_dependencies().len(), 4);
        assert_eq!(batch.dependency_ends(), &[0, 3, 3, 4]);
        // Only the tasks that set a rare field appear in its sparse column.
        assert_eq!(batch.deadlines(), &[(1, now)]);
        assert_eq!(batch.estimates(), &[(3, ms(7))]);
        assert_eq!(batch.names().len(), 1);
        assert_eq!(batch.invalid(), &[(3, SpecError::InvalidIoIntensity(2.0))]);
    }

    #[test]
    fn owned_and_borrowed_pushes_agree_and_clear_empties_every_column() {
        let spec = TaskSpec::new(id(1)).dependency(id(0)).name("x");
        let mut by_ref = SpecBatch::with_capacity(2, 2);
        by_ref.push(&spec);
        let mut by_value = SpecBatch::new();
        by_value.push(spec.clone());
        assert_eq!(by_ref, by_value);
        by_ref.extend([spec.clone(), spec]);
        assert_eq!(by_ref.len(), 3);
        assert_eq!(by_ref.dependencies(2), &[id(0)]);
        by_ref.clear();
        assert_eq!(by_ref, SpecBatch::new());
    }
}
