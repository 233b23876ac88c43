//! What the graph reports: a task's state, and what adding a batch or ending a task
//! released or doomed.

use std::fmt;

use crate::{FailureReason, TaskId};

/// The state of a task the graph knows about.
///
/// ```
/// use taskweave_scheduler::{DependencyGraph, TaskId, TaskSpec, TaskState};
///
/// let mut g = DependencyGraph::new();
/// let (a, b) = (TaskId::new(1), TaskId::new(2));
/// g.add_batch(&[TaskSpec::new(a), TaskSpec::new(b).dependency(a)]).unwrap();
/// assert_eq!(g.state(a), Some(TaskState::Ready));
/// assert_eq!(g.state(b), Some(TaskState::Waiting { remaining: 1 }));
/// assert_eq!(g.state(b).unwrap().to_string(), "waiting for 1 dependency");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Some dependencies have not succeeded yet (`remaining` counts dependency edges).
    Waiting {
        /// Dependencies not yet succeeded.
        remaining: u32,
    },
    /// All dependencies succeeded; the task may be queued and run.
    Ready,
    /// The executor is running it.
    Running,
    /// It finished successfully.
    Succeeded,
    /// It will never run again, for this reason.
    Failed(FailureReason),
}

impl TaskState {
    /// Whether the task has finished (succeeded or failed).
    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed(_))
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskState::Waiting { remaining: 1 } => f.write_str("waiting for 1 dependency"),
            TaskState::Waiting { remaining } => {
                write!(f, "waiting for {remaining} dependencies")
            }
            TaskState::Ready => f.write_str("ready"),
            TaskState::Running => f.write_str("running"),
            TaskState::Succeeded => f.write_str("succeeded"),
            TaskState::Failed(reason) => write!(f, "failed ({reason})"),
        }
    }
}

/// What adding a batch changed at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Tasks of the batch that are ready now (no dependency left to wait for), in batch
    /// order.
    pub ready: Vec<TaskId>,
    /// Tasks of the batch that failed at once because a dependency had already failed
    /// (directly or through the batch), each with its root cause, in batch order.
    pub failed: Vec<(TaskId, TaskId)>,
}

/// What a completion or cancellation released or doomed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// Dependents that became ready.
    pub ready: Vec<TaskId>,
    /// Dependents (transitively) that failed, each with the root-cause task. The task
    /// that was completed or cancelled is not listed itself.
    pub failed: Vec<(TaskId, TaskId)>,
}

impl Completion {
    /// Whether nothing was released or doomed.
    pub fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.failed.is_empty()
    }

    /// Empties both lists, keeping their capacity.
    pub fn clear(&mut self) {
        self.ready.clear();
        self.failed.clear();
    }
}
