//! Submitting ExecutableTasks: one at a time (`Handle::submit`) or as a batch
//! (`TaskGraph`), with every check done before anything runs.
//!
//! Order of a submission: (1) validate each spec and its resource needs against the
//! machine; (2) allocate each task (one allocation: runner + scheduler key) and bind it
//! to the runtime's owned-task list (so shutdown can cancel it); (3) add the batch to
//! the dependency graph atomically — on error every task of the batch is taken back
//! out of the owned list and cancelled unpolled; (4) tasks whose dependencies already
//! succeeded go into the ready heap, and a worker is woken.

use std::fmt;
use std::time::{Duration, Instant};

use taskweave_scheduler::{GraphError, Priority, ReadyKey, SpecError, TaskId, TaskSpec};

use super::body::TaskBody;
use super::dispatch::Doomed;
use super::executable::ExecutableTask;
use super::handle::TaskHandle;
use super::run::Executable;
use crate::runtime::shared::Shared;
use crate::runtime::Handle;
use crate::sync::Arc;
use crate::task::{self, Notified, OwnedTask, RawTask, Schedule};

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
/// task's own priority and deadline, so they survive wake-ups.
pub(crate) struct ExecSchedule {
    shared: Arc<Shared>,
    priority: Priority,
    deadline: Option<Instant>,
    rank: Duration,
}

impl Schedule for ExecSchedule {
    fn schedule(&self, task: Notified) {
        let mut key = ReadyKey::new(self.priority, Instant::now()).rank(self.rank);
        key.deadline = self.deadline;
        if self.shared.dispatch.push_wake(key, task) {
            self.shared.notify_ready_heap(1);
        }
    }

    fn release(&self, task: &RawTask) -> Option<OwnedTask> {
        self.shared.owned.remove(task)
    }
}

/// A task allocated and bound but not yet in the graph.
struct Prepared {
    raw: RawTask,
    notified: Notified,
}

/// Allocates and binds one task; returns its handle.
fn prepare<B: TaskBody>(
    handle: &Handle,
    task: ExecutableTask<B>,
) -> Result<(TaskSpec, Prepared, TaskHandle<B::Output>), SubmitError> {
    handle.shared.dispatch.limits().check(&task.spec)?;
    let ExecutableTask {
        spec,
        timeout,
        retry,
        body,
    } = task;
    let runner = Executable::new(
        spec.id,
        spec.name.clone(),
        handle.identity(),
        body,
        timeout,
        retry,
    );
    let scheduler = ExecSchedule {
        shared: handle.shared.clone(),
        priority: spec.priority,
        deadline: spec.deadline,
        rank: spec.estimated_duration,
    };
    let (owned, notified, join) = task::new_task(runner, scheduler);
    let raw = owned.raw();
    if let Err(owned) = handle.shared.owned.bind(owned) {
        drop(notified);
        owned.shutdown();
        return Err(SubmitError::Shutdown);
    }
    let id = spec.id;
    Ok((
        spec,
        Prepared { raw, notified },
        TaskHandle::new(id, join, handle.clone()),
    ))
}

/// Adds prepared tasks to the graph; on error cancels them all unpolled.
fn commit(handle: &Handle, specs: &[TaskSpec], prepared: Vec<Prepared>) -> Result<(), SubmitError> {
    let shared = &handle.shared;
    let raws: Vec<RawTask> = prepared.iter().map(|p| p.raw).collect();
    let notifieds: Vec<Notified> = prepared.into_iter().map(|p| p.notified).collect();
    let mut doomed: Doomed = Vec::new();
    match shared.dispatch.submit(specs, notifieds, &mut doomed) {
        Ok(released) => {
            shared.graph_stats.add_submitted(specs.len());
            shared.graph_stats.add_doomed(&doomed);
            shared.notify_ready_heap(released);
            super::cancel_doomed(doomed);
            Ok(())
        }
        Err((error, notifieds)) => {
            drop(notifieds);
            for raw in raws {
                if let Some(owned) = shared.owned.remove(&raw) {
                    owned.shutdown();
                }
            }
            Err(if shared.is_shutdown() {
                SubmitError::Shutdown
            } else {
                SubmitError::Graph(error)
            })
        }
    }
}

impl Handle {
    /// Submits one ExecutableTask. It runs once its dependencies (submitted before)
    /// have succeeded, in priority/deadline order.
    ///
    /// # Errors
    /// [`SubmitError`] for an unknown or duplicate id, a self-dependency, an invalid
    /// spec, needs beyond the machine, or a shut-down runtime.
    pub fn submit<B: TaskBody>(
        &self,
        task: ExecutableTask<B>,
    ) -> Result<TaskHandle<B::Output>, SubmitError> {
        let (spec, prepared, handle) = prepare(self, task)?;
        commit(self, std::slice::from_ref(&spec), vec![prepared])?;
        Ok(handle)
    }

    /// Forgets the records of finished ExecutableTasks (kept so later tasks may
    /// depend on them; forgotten ids are "unknown" to later submissions). Returns how
    /// many were forgotten. The runtime also does this by itself past
    /// [`Builder::max_finished_task_records`](crate::runtime::Builder::max_finished_task_records).
    pub fn forget_finished_tasks(&self) -> usize {
        self.shared.dispatch.forget_finished()
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
    specs: Vec<TaskSpec>,
    prepared: Vec<Prepared>,
}

impl TaskGraph {
    /// An empty batch for the runtime of `handle`.
    pub fn new(handle: &Handle) -> TaskGraph {
        TaskGraph {
            handle: handle.clone(),
            specs: Vec::new(),
            prepared: Vec::new(),
        }
    }

    /// An empty batch with room for `n` tasks.
    pub fn with_capacity(handle: &Handle, n: usize) -> TaskGraph {
        TaskGraph {
            handle: handle.clone(),
            specs: Vec::with_capacity(n),
            prepared: Vec::with_capacity(n),
        }
    }

    /// Adds a task; its handle resolves once the batch is submitted and the task
    /// finishes (or as cancelled if the batch is refused or dropped unsubmitted).
    ///
    /// # Errors
    /// An invalid spec, needs beyond the machine, or a shut-down runtime.
    pub fn add<B: TaskBody>(
        &mut self,
        task: ExecutableTask<B>,
    ) -> Result<TaskHandle<B::Output>, SubmitError> {
        let (spec, prepared, handle) = prepare(&self.handle, task)?;
        self.specs.push(spec);
        self.prepared.push(prepared);
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

    /// Submits the batch atomically.
    ///
    /// # Errors
    /// [`SubmitError::Graph`] naming the duplicate, unknown dependency or cycle; or
    /// [`SubmitError::Shutdown`]. Then no task of the batch runs.
    pub fn submit(mut self) -> Result<(), SubmitError> {
        let specs = std::mem::take(&mut self.specs);
        let prepared = std::mem::take(&mut self.prepared);
        commit(&self.handle, &specs, prepared)
    }
}

impl Drop for TaskGraph {
    fn drop(&mut self) {
        // Dropped unsubmitted: cancel the tasks so their handles resolve.
        for prepared in self.prepared.drain(..) {
            drop(prepared.notified);
            if let Some(owned) = self.handle.shared.owned.remove(&prepared.raw) {
                owned.shutdown();
            }
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
