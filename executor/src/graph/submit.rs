//! Submitting ExecutableTasks: one at a time (`Handle::submit`) or as a batch
//! (`TaskGraph`), with every check done before anything runs.
//!
//! Order of a submission: (1) validate each spec and its resource needs against the
//! machine (and, with the resource monitor on, its budget; a task that declared no
//! resources passes as is), and refuse if the runtime shut down; (2) count the task in
//! the monitor's backlog of pending tasks (`try_submit` refuses when it is full,
//! `submit_wait` waits for room; a `TaskGraph` counts its batch when it submits) and
//! give it a ticket for the monitor's gate (and start the monitor's sampler if it has
//! not started: per task, or once per `TaskGraph` when it submits); (3) allocate each
//! task (one allocation: runner + scheduler key); (4) add the batch to the dependency
//! graph atomically, which from then on owns the tasks until they end (shutdown cancels
//! them there; they are not in the runtime's owned-task list) — on error, or if the
//! runtime shut down meanwhile, every task of the batch is cancelled unpolled; (5)
//! tasks whose dependencies already succeeded go into the ready heap, and a worker is
//! woken.

use std::fmt;
use std::mem::ManuallyDrop;

use taskweave_scheduler::{FailureReason, GraphError, SpecBatch, SpecError, TaskId, TaskSpec};

use super::admit::{self, Pending, Ticket};
use super::backlog::{self, Reservation};
use super::body::TaskBody;
use super::buffered;
use super::dispatch::{Doomed, ExecTask, Refused, Specs};
use super::ended;
use super::executable::ExecutableTask;
use super::handle::TaskHandle;
use super::run;
use crate::runtime::shared::Shared;
use crate::runtime::Handle;
use crate::sync::Arc;
use crate::task::{Notified, OwnedTask, RawTask, Schedule};

/// Why a submission was refused. Nothing of a refused submission runs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SubmitError {
    /// The batch does not form a valid graph: a duplicate id, an unknown dependency, a
    /// self-dependency or a cycle (named in the message).
    Graph(GraphError),
    /// A spec field is out of range.
    InvalidSpec {
        /// The task.
        task: TaskId,
        /// What is wrong.
        reason: SpecError,
    },
    /// The task needs more than this machine has, so it could never run.
    Unsatisfiable {
        /// The task.
        task: TaskId,
        /// What it asked for and what the machine has.
        reason: String,
    },
    /// The resource monitor's bound on pending (submitted, not yet started)
    /// ExecutableTasks is reached. Only `try_submit` reports this: retry later, or
    /// use `submit_wait`, which waits for room.
    QueueFull {
        /// The bound ([`MonitorConfig::pending_capacity`](crate::monitor::MonitorConfig::pending_capacity)).
        capacity: usize,
    },
    /// The runtime has shut down.
    Shutdown,
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Graph(e) => write!(f, "invalid task graph: {e}"),
            SubmitError::InvalidSpec { task, reason } => write!(f, "task {task}: {reason}"),
            SubmitError::Unsatisfiable { task, reason } => {
                write!(f, "task {task} can never run on this machine: {reason}")
            }
            SubmitError::QueueFull { capacity } => write!(
                f,
                "the runtime already has {capacity} pending ExecutableTasks (its bound): \
                 retry later or use submit_wait"
            ),
            SubmitError::Shutdown => f.write_str("the taskweave runtime has shut down"),
        }
    }
}

impl std::error::Error for SubmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubmitError::Graph(e) => Some(e),
            SubmitError::InvalidSpec { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl From<GraphError> for SubmitError {
    fn from(e: GraphError) -> Self {
        SubmitError::Graph(e)
    }
}

/// What the machine has, for refusing tasks that could never run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MachineLimits {
    pub(crate) cores: usize,
    pub(crate) memory_bytes: Option<u64>,
}

impl MachineLimits {
    pub(crate) fn detect() -> MachineLimits {
        MachineLimits {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes: total_memory(),
        }
    }

    fn check(&self, spec: &TaskSpec) -> Result<(), SubmitError> {
        spec.validate().map_err(|reason| SubmitError::InvalidSpec {
            task: spec.id,
            reason,
        })?;
        let needs = spec.resources;
        if needs.cpu_cores > self.cores as f32 {
            return Err(SubmitError::Unsatisfiable {
                task: spec.id,
                reason: format!(
                    "it needs {} CPU cores, the machine has {}",
                    needs.cpu_cores, self.cores
                ),
            });
        }
        if let Some(total) = self.memory_bytes {
            if needs.memory_bytes > total {
                return Err(SubmitError::Unsatisfiable {
                    task: spec.id,
                    reason: format!(
                        "it needs {} bytes of memory, the machine has {total}",
                        needs.memory_bytes
                    ),
                });
            }
        }
        Ok(())
    }
}

/// Physical memory from `/proc/meminfo` (Linux); `None` where unknown.
fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Schedules a started ExecutableTask's wake-ups through the ready heap, with the
/// task's own priority and deadline (kept in its graph slot), so they survive
/// wake-ups.
pub(crate) struct ExecSchedule {
    /// Dropped by hand: a worker of this runtime keeps it for a batched release.
    shared: ManuallyDrop<Arc<Shared>>,
}

impl ExecSchedule {
    pub(crate) fn new(shared: Arc<Shared>) -> ExecSchedule {
        ExecSchedule {
            shared: ManuallyDrop::new(shared),
        }
    }

    /// The runtime's shared state (what the task's `TaskHandle` reaches it through).
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Drop for ExecSchedule {
    fn drop(&mut self) {
        // SAFETY: `shared` is not used after this, the only place that takes it.
        let shared = unsafe { ManuallyDrop::take(&mut self.shared) };
        // Freed on one of this runtime's workers (the usual place), the reference goes
        // to the worker, which releases them in batches (`keep_runtime_reference`).
        drop(crate::runtime::keep_runtime_reference(shared));
    }
}

impl Schedule for ExecSchedule {
    fn schedule(&self, task: Notified) {
        if buffered::query(&self.shared, |dispatch, recorded| {
            dispatch.push_wake(task, recorded)
        }) {
            self.shared.notify_ready_heap(1);
        }
    }

    /// The task completed. It is never in the owned-task list: the graph holds its
    /// ownership until its end is applied there. If the runner did not report the end
    /// (the task was aborted before or while running, or shut down), it is reported
    /// here, as cancelled (`ended.rs`).
    fn release(&self, task: &RawTask) -> Option<OwnedTask> {
        if let Some(at) = ended::claim(*task) {
            let outcome = Err(FailureReason::Cancelled);
            ended::report(&self.shared, ended::End::new(at, outcome));
        }
        None
    }
}

/// How a new task is counted in the monitor's backlog of pending tasks.
enum Count {
    /// Now, whatever the bound (`submit`).
    Always,
    /// Now if there is room, else `QueueFull` (`try_submit`).
    IfRoom,
    /// Room the caller reserved (`submit_wait`).
    Reserved(Reservation),
    /// When its batch is submitted (`TaskGraph`; see `TaskGraph::drop`).
    Batch,
}

/// Refuses what could never run: invalid specs, needs beyond the machine or the
/// monitor's budget. Returns what the task holds while it runs (for the gate).
fn check<B>(handle: &Handle, task: &ExecutableTask<B>) -> Result<admit::Needs, SubmitError> {
    if !task.declared {
        // The default resources (one core, no memory; only `resources` changes them)
        // are valid, fit any machine, and hold nothing at the gate but a slot.
        debug_assert!(handle.shared.dispatch.limits().check(&task.spec).is_ok());
        return Ok(admit::Needs::default());
    }
    handle.shared.dispatch.limits().check(&task.spec)?;
    match handle.shared.monitor.gate() {
        None => Ok(admit::Needs::default()),
        Some(gate) => gate
            .requirements(&task.spec, task.declared)
            .map_err(|reason| SubmitError::Unsatisfiable {
                task: task.spec.id,
                reason,
            }),
    }
}

/// Checks, counts (see [`Count`]), allocates and binds one task; returns its handle.
/// Its spec goes to `keep_spec` once the checks passed, in place (a spec is large:
/// returning it would copy it out and back); `keep_spec` may take it.
#[inline]
fn prepare<B: TaskBody>(
    handle: &Handle,
    task: ExecutableTask<B>,
    count: Count,
    keep_spec: impl FnOnce(&mut TaskSpec),
) -> Result<(ExecTask, TaskHandle<B::Output>), SubmitError> {
    let needs = check(handle, &task)?;
    if handle.shared.is_shutdown() {
        // Before anything is counted or allocated, so there is nothing to undo. (If
        // shutdown begins after this check, `commit` refuses the task.)
        return Err(SubmitError::Shutdown);
    }
    let batch = matches!(count, Count::Batch);
    let ticket = match handle.shared.monitor.gate() {
        None => None,
        Some(gate) => {
            let pending = match count {
                Count::Always => {
                    gate.backlog.reserve(1);
                    Pending::Counted
                }
                Count::IfRoom => {
                    if !gate.try_reserve(1) {
                        return Err(SubmitError::QueueFull {
                            capacity: gate.backlog.capacity(),
                        });
                    }
                    Pending::Counted
                }
                Count::Reserved(reservation) => {
                    reservation.keep();
                    Pending::Counted
                }
                // Its batch starts the sampler when it is submitted (`commit_counted`).
                Count::Batch => Pending::Counted,
            };
            if !batch {
                handle.shared.monitor.ensure_sampling();
            }
            Some(Ticket::new(needs, task.spec.priority.get(), pending))
        }
    };
    let ExecutableTask {
        mut spec,
        timeout,
        retry,
        body,
        declared: _,
    } = task;
    let (owned, notified, join) = run::bind(
        &handle.shared,
        spec.id,
        spec.name.clone(),
        body,
        timeout,
        retry,
        ticket,
    );
    let task = ExecTask::new(notified, owned);
    let id = spec.id;
    keep_spec(&mut spec);
    Ok((task, TaskHandle::new(id, join)))
}

/// Adds prepared tasks to the graph; on error cancels them all unpolled.
fn commit(handle: &Handle, specs: Specs<'_>, tasks: Vec<ExecTask>) -> Result<(), SubmitError> {
    let shared = &handle.shared;
    let mut doomed: Doomed = Vec::new();
    match shared.dispatch.submit(specs, tasks, &mut doomed) {
        Ok(released) => {
            shared.notify_ready_heap(released);
            super::cancel_doomed(doomed);
            Ok(())
        }
        Err((refused, tasks)) => {
            for task in tasks {
                task.shutdown();
            }
            Err(match refused {
                Refused::Graph(error) if !shared.is_shutdown() => SubmitError::Graph(error),
                Refused::Graph(_) | Refused::Closed => SubmitError::Shutdown,
            })
        }
    }
}

impl Handle {
    /// Submits one ExecutableTask. It runs once its dependencies (submitted before)
    /// have succeeded, in priority/deadline order — and, with the resource monitor on,
    /// once it gets an in-flight permit (see [`crate::monitor`]).
    ///
    /// Never refused for backpressure: the task counts as pending, but the bound is
    /// only enforced by [`try_submit`](Self::try_submit) and
    /// [`submit_wait`](Self::submit_wait).
    ///
    /// # Errors
    /// [`SubmitError`] for an unknown or duplicate id, a self-dependency, an invalid
    /// spec, needs beyond the machine or the monitor's budget, or a shut-down runtime.
    pub fn submit<B: TaskBody>(
        &self,
        task: ExecutableTask<B>,
    ) -> Result<TaskHandle<B::Output>, SubmitError> {
        self.submit_counted(task, Count::Always)
    }

    /// Like [`submit`](Self::submit), but refuses with [`SubmitError::QueueFull`]
    /// when the monitor's bound on pending ExecutableTasks is reached (the task is
    /// handed back as dropped: nothing of it runs). With the monitor off, the same as
    /// `submit`.
    ///
    /// ```
    /// use taskweave_executor::graph::{ExecutableTask, SubmitError};
    /// use taskweave_executor::monitor::MonitorConfig;
    ///
    /// let rt = taskweave_executor::runtime::Builder::new_multi_thread()
    ///     .monitor(MonitorConfig::new().pending_capacity(1))
    ///     .build()
    ///     .unwrap();
    /// let (tx, rx) = futures::channel::oneshot::channel::<()>();
    /// let first = ExecutableTask::new(async { rx.await.ok(); });
    /// let first_id = first.id();
    /// let first = rt.submit(first).unwrap();
    /// // Waits for `first`, so it stays pending: the bound (1) is reached.
    /// let second = rt.submit(ExecutableTask::new(async {}).depends_on(first_id)).unwrap();
    /// let third = rt.handle().try_submit(ExecutableTask::new(async {}));
    /// assert_eq!(third.unwrap_err(), SubmitError::QueueFull { capacity: 1 });
    /// tx.send(()).unwrap();
    /// rt.block_on(async { first.await.unwrap(); second.await.unwrap() });
    /// // Nothing is pending any more.
    /// let fourth = rt.handle().try_submit(ExecutableTask::new(async { 4 })).unwrap();
    /// assert_eq!(rt.block_on(fourth).unwrap(), 4);
    /// ```
    ///
    /// # Errors
    /// [`SubmitError::QueueFull`], and those of [`submit`](Self::submit).
    pub fn try_submit<B: TaskBody>(
        &self,
        task: ExecutableTask<B>,
    ) -> Result<TaskHandle<B::Output>, SubmitError> {
        self.submit_counted(task, Count::IfRoom)
    }

    /// Like [`submit`](Self::submit), but first waits (without blocking a thread) for
    /// room under the monitor's bound on pending ExecutableTasks. Tasks that could
    /// never run are refused before waiting. With the monitor off, the same as
    /// `submit`.
    ///
    /// ```
    /// use taskweave_executor::graph::ExecutableTask;
    ///
    /// let rt = taskweave_executor::Runtime::new().unwrap();
    /// let handle = rt.handle().clone();
    /// let sum = rt.block_on(async move {
    ///     let mut tasks = Vec::new();
    ///     for i in 0..100u64 {
    ///         tasks.push(handle.submit_wait(ExecutableTask::new(async move { i })).await.unwrap());
    ///     }
    ///     let mut sum = 0;
    ///     for t in tasks {
    ///         sum += t.await.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 4950);
    /// ```
    ///
    /// # Errors
    /// Those of [`submit`](Self::submit); [`SubmitError::Shutdown`] if the runtime
    /// shuts down while waiting.
    pub async fn submit_wait<B: TaskBody>(
        &self,
        task: ExecutableTask<B>,
    ) -> Result<TaskHandle<B::Output>, SubmitError> {
        let Some(gate) = self.shared.monitor.gate().cloned() else {
            return self.submit(task);
        };
        check(self, &task)?;
        let reservation = backlog::room_for(&gate, 1)
            .await
            .ok_or(SubmitError::Shutdown)?;
        self.submit_counted(task, Count::Reserved(reservation))
    }

    fn submit_counted<B: TaskBody>(
        &self,
        task: ExecutableTask<B>,
        count: Count,
    ) -> Result<TaskHandle<B::Output>, SubmitError> {
        let mut kept = None;
        let (task, handle) = prepare(self, task, count, |spec| {
            kept = Some(std::mem::replace(spec, TaskSpec::new(spec.id)));
        })?;
        let spec = kept.expect("prepare keeps the spec of a task it prepared");
        commit(self, Specs::One(&spec), vec![task])?;
        Ok(handle)
    }

    /// Forgets the records of finished ExecutableTasks (kept so later tasks may
    /// depend on them; forgotten ids are "unknown" to later submissions). Returns how
    /// many were forgotten. The runtime also does this by itself past
    /// [`Builder::max_finished_task_records`](crate::runtime::Builder::max_finished_task_records).
    pub fn forget_finished_tasks(&self) -> usize {
        buffered::query(&self.shared, |d, r| d.forget_finished(r))
    }
}

/// A batch of ExecutableTasks submitted atomically: dependencies may point anywhere in
/// the batch (or at tasks submitted before); a cycle, a duplicate or an unknown id
/// refuses the whole batch.
///
/// ```
/// use taskweave_executor::graph::{ExecutableTask, TaskGraph};
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let mut graph = TaskGraph::new(rt.handle());
/// let a = ExecutableTask::new(async { 2 }).name("a");
/// let a_id = a.id();
/// let a = graph.add(a).unwrap();
/// let b = graph.add(ExecutableTask::new(async { 3 }).name("b").depends_on(a_id)).unwrap();
/// graph.submit().unwrap();
/// rt.block_on(async {
///     assert_eq!(a.await.unwrap() * b.await.unwrap(), 6);
/// });
/// ```
pub struct TaskGraph {
    handle: Handle,
    /// What the graph needs of each task's spec, column-wise (the rest of a spec went
    /// into its task as it was added).
    specs: SpecBatch,
    /// The tasks of `specs`, allocated and not yet submitted.
    tasks: Vec<ExecTask>,
}

impl TaskGraph {
    /// An empty batch for the runtime of `handle`.
    pub fn new(handle: &Handle) -> TaskGraph {
        TaskGraph {
            handle: handle.clone(),
            specs: SpecBatch::new(),
            tasks: Vec::new(),
        }
    }

    /// An empty batch with room for `n` tasks.
    pub fn with_capacity(handle: &Handle, n: usize) -> TaskGraph {
        TaskGraph {
            handle: handle.clone(),
            specs: SpecBatch::with_capacity(n, n),
            tasks: Vec::with_capacity(n),
        }
    }

    /// Adds a task; its handle resolves once the batch is submitted and the task
    /// finishes (or as cancelled if the batch is refused or dropped unsubmitted).
    ///
    /// # Errors
    /// An invalid spec, needs beyond the machine, or a shut-down runtime.
    #[inline]
    pub fn add<B: TaskBody>(
        &mut self,
        task: ExecutableTask<B>,
    ) -> Result<TaskHandle<B::Output>, SubmitError> {
        let specs = &mut self.specs;
        let (task, handle) = prepare(&self.handle, task, Count::Batch, |spec| {
            specs.push(&*spec);
        })?;
        self.tasks.push(task);
        Ok(handle)
    }

    /// Tasks added so far.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True if no task was added.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Submits the batch atomically. Like [`Handle::submit`], never refused for
    /// backpressure (its tasks count as pending from now on).
    ///
    /// # Errors
    /// [`SubmitError::Graph`] naming the duplicate, unknown dependency or cycle; or
    /// [`SubmitError::Shutdown`]. Then no task of the batch runs.
    pub fn submit(mut self) -> Result<(), SubmitError> {
        if let Some(gate) = self.handle.shared.monitor.gate() {
            gate.backlog.reserve(self.specs.len());
        }
        self.commit_counted()
    }

    /// Submits the batch if the monitor's bound on pending ExecutableTasks has room
    /// for all of it (a batch larger than the bound fits when nothing else is
    /// pending). On [`SubmitError::QueueFull`] the batch is left as it was, to retry;
    /// after any other outcome it is empty (and may be reused for a new batch).
    ///
    /// # Errors
    /// [`SubmitError::QueueFull`], and those of [`submit`](Self::submit).
    pub fn try_submit(&mut self) -> Result<(), SubmitError> {
        if let Some(gate) = self.handle.shared.monitor.gate() {
            if !self.specs.is_empty() && !gate.try_reserve(self.specs.len()) {
                return Err(SubmitError::QueueFull {
                    capacity: gate.backlog.capacity(),
                });
            }
        }
        self.commit_counted()
    }

    /// Waits (without blocking a thread) until the monitor's bound on pending
    /// ExecutableTasks has room for the whole batch (see
    /// [`try_submit`](Self::try_submit)), then submits it.
    ///
    /// # Errors
    /// Those of [`submit`](Self::submit).
    pub async fn submit_wait(mut self) -> Result<(), SubmitError> {
        if let Some(gate) = self.handle.shared.monitor.gate().cloned() {
            if !self.specs.is_empty() {
                backlog::room_for(&gate, self.specs.len())
                    .await
                    .ok_or(SubmitError::Shutdown)?
                    .keep();
            }
        }
        self.commit_counted()
    }

    /// Commits the batch whose room is already counted: its tasks count themselves
    /// out of the backlog as they start or are dropped.
    fn commit_counted(&mut self) -> Result<(), SubmitError> {
        if !self.specs.is_empty() {
            // Once per batch (its tasks' `prepare` leaves it to the batch).
            self.handle.shared.monitor.ensure_sampling();
        }
        let specs = std::mem::take(&mut self.specs);
        let tasks = std::mem::take(&mut self.tasks);
        commit(&self.handle, Specs::Batch(&specs), tasks)
    }
}

impl Drop for TaskGraph {
    fn drop(&mut self) {
        // Dropped unsubmitted: cancel the tasks so their handles resolve. Their tickets
        // leave the backlog as they drop, so count them in first.
        if let Some(gate) = self.handle.shared.monitor.gate() {
            if !self.tasks.is_empty() {
                gate.backlog.reserve(self.tasks.len());
            }
        }
        for task in self.tasks.drain(..) {
            task.shutdown();
        }
    }
}

impl fmt::Debug for TaskGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGraph")
            .field("tasks", &self.specs.len())
            .finish()
    }
}
