//! The executor's side of ExecutableTasks: the dependency graph, the ready heap, and
//! the tasks not yet started, under one lock.
//!
//! Invariants (under `inner`'s lock):
//! - Every submitted task that has not started is in `pending`: `Waiting(n)` while
//!   the graph has it waiting for dependencies, `Queued(entry)` once it is in the
//!   ready heap as a `Start` item. A task leaves `pending` when a worker pops its
//!   `Start` item (the graph then marks it running) or when it is doomed (cancelled,
//!   or a dependency failed): its `Notified` is then cancelled *outside* the lock,
//!   which drops the future without polling it.
//! - A started task that wakes goes back into the heap as a `Wake` item with its own
//!   key, so its priority and deadline boost survive wake-ups.
//! - `ready_len` mirrors the heap's length (a hint read without the lock, so plain
//!   `spawn` work pays one relaxed load per tick for all of this).
//! - After `close`, nothing enters the heap: what would is dropped, and the runtime's
//!   owned-task list cancels those tasks.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use taskweave_scheduler::{
    BatchOutcome, Completion, DependencyGraph, EntryId, FailureReason, GraphError, IdMap, ReadyKey,
    ReadyQueue, TaskId, TaskSpec, TaskState,
};

use crate::sync::Mutex;
use crate::task::Notified;

/// What the ready heap holds.
enum Item {
    /// The first run of a task.
    Start(TaskId, Notified),
    /// A started task that was woken.
    Wake(Notified),
}

enum Pending {
    Waiting(Notified),
    Queued(EntryId),
}

struct Inner {
    graph: DependencyGraph,
    ready: ReadyQueue<Item>,
    pending: IdMap<Pending>,
    /// Reused for completions (no allocation per completion).
    scratch: Completion,
    closed: bool,
    /// Finished-task records kept for dependency look-ups before they are forgotten.
    max_finished_records: usize,
}

/// The ExecutableTask state of one runtime.
pub(crate) struct Dispatch {
    inner: Mutex<Inner>,
    ready_len: AtomicUsize,
    limits: super::MachineLimits,
}

/// Tasks to cancel once the lock is released, each with the root cause when a
/// dependency's failure dooms it (`None`: cancelled itself, or shutdown).
pub(crate) type Doomed = Vec<(Notified, Option<TaskId>)>;

impl Dispatch {
    pub(crate) fn new(max_finished_records: usize, limits: super::MachineLimits) -> Dispatch {
        Dispatch {
            inner: Mutex::new(Inner {
                graph: DependencyGraph::new(),
                ready: ReadyQueue::new(),
                pending: IdMap::default(),
                scratch: Completion::default(),
                closed: false,
                max_finished_records,
            }),
            ready_len: AtomicUsize::new(0),
            limits,
        }
    }

    /// What this machine offers, for refusing impossible tasks.
    pub(crate) fn limits(&self) -> &super::MachineLimits {
        &self.limits
    }

    /// True if the heap may hold work (a hint).
    pub(crate) fn has_ready(&self) -> bool {
        self.ready_len.load(Relaxed) > 0
    }

    /// Adds a batch. `tasks` pairs each spec with its not-yet-scheduled task, in the
    /// same order. On error nothing is added and the tasks are handed back.
    pub(crate) fn submit(
        &self,
        specs: &[TaskSpec],
        tasks: Vec<Notified>,
        doomed: &mut Doomed,
    ) -> Result<usize, (GraphError, Vec<Notified>)> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        if inner.graph.finished_len() > inner.max_finished_records {
            inner.graph.forget_all_finished();
        }
        let BatchOutcome { ready, failed } = match inner.graph.add_batch(specs) {
            Ok(outcome) => outcome,
            Err(e) => return Err((e, tasks)),
        };
        inner.pending.reserve(specs.len());
        for (spec, task) in specs.iter().zip(tasks) {
            inner.pending.insert(spec.id, Pending::Waiting(task));
        }
        for (id, root) in failed {
            if let Some(Pending::Waiting(task)) = inner.pending.remove(&id) {
                doomed.push((task, Some(root)));
            }
        }
        let released = ready.len();
        for id in ready {
            inner.release(id, now, doomed);
        }
        self.ready_len.store(inner.ready.len(), Relaxed);
        Ok(released)
    }

    /// The best ready item at `now`, if any. A `Start` item marks its task running.
    pub(crate) fn pop(&self, doomed: &mut Doomed) -> Option<Notified> {
        if !self.has_ready() {
            return None;
        }
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let found = inner.pop_best(now, doomed);
        self.ready_len.store(inner.ready.len(), Relaxed);
        found
    }

    /// Puts a started task that was woken back into the heap. Returns false (and
    /// drops it) after `close`.
    pub(crate) fn push_wake(&self, key: ReadyKey, task: Notified) -> bool {
        let mut inner = self.inner.lock();
        if inner.closed {
            drop(inner);
            drop(task);
            return false;
        }
        inner.ready.push(key, Item::Wake(task));
        self.ready_len.store(inner.ready.len(), Relaxed);
        true
    }

    /// Records the end of a started task and releases or dooms its dependents.
    /// Returns how many became ready, or `None` if the graph refused the completion
    /// (the task was already finished: a cancel won the race). With `next`, also
    /// takes the best ready item under the same lock (for the completing worker to run
    /// next, saving it a second trip through the lock).
    pub(crate) fn complete(
        &self,
        id: TaskId,
        outcome: Result<(), FailureReason>,
        doomed: &mut Doomed,
        next: Option<&mut Option<Notified>>,
    ) -> Option<usize> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        let mut done = std::mem::take(&mut inner.scratch);
        done.clear();
        if inner.graph.complete_into(id, outcome, &mut done).is_err() {
            // Already finished (a cancel raced the end): nothing to release.
            inner.scratch = done;
            return None;
        }
        let released = inner.apply(&done, now, doomed);
        inner.scratch = done;
        if let Some(next) = next {
            *next = inner.pop_best(now, doomed);
        }
        self.ready_len.store(inner.ready.len(), Relaxed);
        Some(released)
    }

    /// Cancels a task that has not started. Returns `Ok(true)` if it was cancelled
    /// here, `Ok(false)` if it is running (the caller aborts it), `Err` with its state
    /// if it already finished or is unknown.
    pub(crate) fn cancel(
        &self,
        id: TaskId,
        doomed: &mut Doomed,
    ) -> Result<bool, Option<TaskState>> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        match inner.graph.state(id) {
            Some(TaskState::Running) => return Ok(false),
            Some(TaskState::Waiting { .. } | TaskState::Ready) => {}
            other => return Err(other),
        }
        let done = inner.graph.cancel(id).map_err(|_| inner.graph.state(id))?;
        match inner.pending.remove(&id) {
            Some(Pending::Waiting(task)) => doomed.push((task, None)),
            Some(Pending::Queued(entry)) => match inner.ready.remove(entry) {
                Some(Item::Start(_, task) | Item::Wake(task)) => doomed.push((task, None)),
                None => {}
            },
            None => {}
        }
        inner.apply(&done, now, doomed);
        self.ready_len.store(inner.ready.len(), Relaxed);
        Ok(true)
    }

    /// The recorded state of a task (for error reporting).
    pub(crate) fn state(&self, id: TaskId) -> Option<TaskState> {
        self.inner.lock().graph.state(id)
    }

    /// Forgets the records of finished tasks; returns how many.
    pub(crate) fn forget_finished(&self) -> usize {
        self.inner.lock().graph.forget_all_finished()
    }

    /// Shutdown: nothing enters the heap any more; returns every task it held so the
    /// caller drops them outside the lock.
    pub(crate) fn close(&self) -> Vec<Notified> {
        let mut inner = self.inner.lock();
        inner.closed = true;
        let mut tasks = Vec::new();
        for (_, pending) in inner.pending.drain() {
            if let Pending::Waiting(task) = pending {
                tasks.push(task);
            }
        }
        let now = Instant::now();
        while let Some(item) = inner.ready.pop(now) {
            match item {
                Item::Start(_, task) | Item::Wake(task) => tasks.push(task),
            }
        }
        self.ready_len.store(0, Relaxed);
        tasks
    }
}

impl Inner {
    /// The best ready item at `now`; a `Start` item marks its task running.
    fn pop_best(&mut self, now: Instant, doomed: &mut Doomed) -> Option<Notified> {
        loop {
            match self.ready.pop(now)? {
                Item::Wake(task) => return Some(task),
                Item::Start(id, task) => {
                    self.pending.remove(&id);
                    if self.graph.mark_running(id).is_ok() {
                        return Some(task);
                    }
                    // Cancelled while queued (the graph already failed it).
                    doomed.push((task, None));
                }
            }
        }
    }

    /// Moves a task whose dependencies all succeeded into the ready heap.
    fn release(&mut self, id: TaskId, now: Instant, doomed: &mut Doomed) {
        let Some(Pending::Waiting(task)) = self.pending.remove(&id) else {
            return;
        };
        if self.closed {
            doomed.push((task, None));
            return;
        }
        let key = self
            .graph
            .ready_key(id, now)
            .expect("a ready task is live in the graph");
        let entry = self.ready.push(key, Item::Start(id, task));
        self.pending.insert(id, Pending::Queued(entry));
    }

    /// Applies a completion: releases the ready, dooms the failed. Returns how many
    /// were released.
    fn apply(&mut self, done: &Completion, now: Instant, doomed: &mut Doomed) -> usize {
        for &(id, root) in &done.failed {
            if let Some(Pending::Waiting(task)) = self.pending.remove(&id) {
                doomed.push((task, Some(root)));
            }
        }
        for &id in &done.ready {
            self.release(id, now, doomed);
        }
        done.ready.len()
    }
}
