//! Errors and failure reasons.
//!
//! Invariants:
//! - Every error's `Display` names the task(s) involved and says what is wrong in words
//!   a user of `rt.submit` understands; none of them ends with a period, so callers can
//!   embed them.
//! - [`GraphError`]s are returned before anything changes: a rejected batch leaves the
//!   graph exactly as it was.
//! - [`FailureReason::DependencyFailed`] always carries the *root cause*: the task whose
//!   own failure (panic, error, cancel, timeout) started the chain, never an
//!   intermediate dependent.

use std::fmt;
use std::sync::Arc;

use crate::TaskId;

/// An invalid field in a [`TaskSpec`](crate::TaskSpec) or
/// [`ResourceRequirements`](crate::ResourceRequirements).
///
/// ```
/// use taskweave_scheduler::{ResourceRequirements, SpecError};
///
/// let err = ResourceRequirements::new().cpu_cores(-1.0).validate().unwrap_err();
/// assert_eq!(err, SpecError::InvalidCpuCores(-1.0));
/// assert_eq!(err.to_string(), "cpu_cores must be a finite number >= 0, got -1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SpecError {
    /// `cpu_cores` is negative, NaN or infinite.
    InvalidCpuCores(f32),
    /// `io_intensity` is outside `0.0..=1.0` or NaN.
    InvalidIoIntensity(f32),
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::InvalidCpuCores(v) => {
                write!(f, "cpu_cores must be a finite number >= 0, got {v}")
            }
            SpecError::InvalidIoIntensity(v) => {
                write!(f, "io_intensity must be between 0 and 1, got {v}")
            }
        }
    }
}

impl std::error::Error for SpecError {}

/// Why [`DependencyGraph::add_batch`](crate::DependencyGraph::add_batch) rejected a
/// batch. Nothing of a rejected batch is added.
///
/// ```
/// use taskweave_scheduler::{DependencyGraph, GraphError, TaskId, TaskSpec};
///
/// let mut g = DependencyGraph::new();
/// let err = g
///     .add_batch(&[TaskSpec::new(TaskId::new(1)).dependency(TaskId::new(9))])
///     .unwrap_err();
/// assert_eq!(
///     err,
///     GraphError::UnknownDependency { task: TaskId::new(1), dependency: TaskId::new(9) }
/// );
/// assert_eq!(
///     err.to_string(),
///     "task 1 depends on task 9, which is neither submitted before nor in this batch"
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum GraphError {
    /// The id is used twice in the batch, or by a task the graph already knows
    /// (waiting, ready, running or finished and not forgotten).
    DuplicateId(TaskId),
    /// `task` depends on `dependency`, which is neither known to the graph nor in the
    /// batch.
    UnknownDependency {
        /// The task whose dependency list is wrong.
        task: TaskId,
        /// The id that nobody has.
        dependency: TaskId,
    },
    /// The task lists itself as a dependency.
    SelfDependency(TaskId),
    /// The batch contains a dependency cycle, listed in "depends on" order: each task
    /// depends on the next, and the last depends on the first. Each entry carries the
    /// task's name if it has one.
    Cycle(Vec<(TaskId, Option<Arc<str>>)>),
    /// A task's specification has an invalid field.
    InvalidSpec {
        /// The task whose spec is invalid.
        task: TaskId,
        /// What is wrong.
        reason: SpecError,
    },
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::DuplicateId(id) => write!(
                f,
                "task id {id} is used more than once (in this batch, or by a task submitted before)"
            ),
            GraphError::UnknownDependency { task, dependency } => write!(
                f,
                "task {task} depends on task {dependency}, which is neither submitted before nor in this batch"
            ),
            GraphError::SelfDependency(id) => write!(f, "task {id} depends on itself"),
            GraphError::Cycle(cycle) => {
                f.write_str("dependency cycle: ")?;
                for (i, (id, name)) in cycle.iter().chain(cycle.first()).enumerate() {
                    if i > 0 {
                        f.write_str(" -> ")?;
                    }
                    write_task(f, *id, name.as_deref())?;
                }
                f.write_str(" (each task depends on the next)")
            }
            GraphError::InvalidSpec { task, reason } => {
                write!(f, "task {task} has an invalid specification: {reason}")
            }
        }
    }
}

/// Writes `name (id)` for a named task, `task id` otherwise.
fn write_task(f: &mut fmt::Formatter<'_>, id: TaskId, name: Option<&str>) -> fmt::Result {
    match name {
        Some(name) => write!(f, "{name} ({id})"),
        None => write!(f, "task {id}"),
    }
}

impl std::error::Error for GraphError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GraphError::InvalidSpec { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// Why a task did not succeed.
///
/// ```
/// use taskweave_scheduler::{FailureReason, TaskId};
///
/// let r = FailureReason::DependencyFailed(TaskId::new(3));
/// assert_eq!(r.to_string(), "dependency 3 failed");
/// assert_eq!(r.root_cause(TaskId::new(8)), TaskId::new(3));
/// assert_eq!(FailureReason::Panicked.root_cause(TaskId::new(8)), TaskId::new(8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The task's future panicked.
    Panicked,
    /// The task ran and reported an error.
    Failed,
    /// The task was cancelled before it finished.
    Cancelled,
    /// The task ran past its timeout.
    TimedOut,
    /// The task never ran because this dependency (the root cause, possibly several
    /// hops up) did not succeed.
    DependencyFailed(TaskId),
}

impl FailureReason {
    /// The task whose own failure is behind this one: the carried id for
    /// [`DependencyFailed`](FailureReason::DependencyFailed), `task` itself otherwise.
    pub fn root_cause(self, task: TaskId) -> TaskId {
        match self {
            FailureReason::DependencyFailed(root) => root,
            _ => task,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Panicked => f.write_str("panicked"),
            FailureReason::Failed => f.write_str("failed"),
            FailureReason::Cancelled => f.write_str("cancelled"),
            FailureReason::TimedOut => f.write_str("timed out"),
            FailureReason::DependencyFailed(id) => write!(f, "dependency {id} failed"),
        }
    }
}

/// A state transition asked of the [`DependencyGraph`](crate::DependencyGraph) that the
/// task's current state does not allow. These are executor bugs or benign races (a
/// cancel that arrives after the task finished); the graph is unchanged.
///
/// ```
/// use taskweave_scheduler::{DependencyGraph, StateError, TaskId, TaskSpec, TaskState};
///
/// let mut g = DependencyGraph::new();
/// g.add_batch(&[TaskSpec::new(TaskId::new(1))]).unwrap();
/// let err = g.complete(TaskId::new(1), true).unwrap_err();
/// assert_eq!(
///     err,
///     StateError::InvalidTransition {
///         task: TaskId::new(1),
///         state: TaskState::Ready,
///         operation: "complete",
///     }
/// );
/// assert_eq!(err.to_string(), "cannot complete task 1: it is ready");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    /// The graph has no such task (never added, or forgotten after it finished).
    UnknownTask(TaskId),
    /// The operation does not apply to a task in this state.
    InvalidTransition {
        /// The task.
        task: TaskId,
        /// Its state, unchanged.
        state: crate::TaskState,
        /// The refused operation: `"mark_running"`, `"complete"` or `"cancel"`.
        operation: &'static str,
    },
    /// A slot reference (see [`DependencyGraph::complete_at`](crate::DependencyGraph::complete_at))
    /// that no longer names a task: the task failed or was cancelled, or the record of
    /// its success was forgotten.
    StaleSlot(crate::SlotRef),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::UnknownTask(id) => write!(f, "no task {id} in the graph"),
            StateError::InvalidTransition {
                task,
                state,
                operation,
            } => write!(f, "cannot {operation} task {task}: it is {state}"),
            StateError::StaleSlot(at) => write!(
                f,
                "stale slot reference {at:?}: its task failed, was cancelled or forgotten"
            ),
        }
    }
}

impl std::error::Error for StateError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_message_names_tasks_in_order() {
        let err = GraphError::Cycle(vec![
            (TaskId::new(1), Some("a".into())),
            (TaskId::new(2), Some("b".into())),
            (TaskId::new(3), None),
        ]);
        assert_eq!(
            err.to_string(),
            "dependency cycle: a (1) -> b (2) -> task 3 -> a (1) (each task depends on the next)"
        );
    }

    #[test]
    fn messages() {
        assert_eq!(
            GraphError::DuplicateId(TaskId::new(4)).to_string(),
            "task id 4 is used more than once (in this batch, or by a task submitted before)"
        );
        assert_eq!(
            GraphError::SelfDependency(TaskId::new(4)).to_string(),
            "task 4 depends on itself"
        );
        let e = GraphError::InvalidSpec {
            task: TaskId::new(4),
            reason: SpecError::InvalidIoIntensity(2.0),
        };
        assert_eq!(
            e.to_string(),
            "task 4 has an invalid specification: io_intensity must be between 0 and 1, got 2"
        );
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(FailureReason::TimedOut.to_string(), "timed out");
        assert_eq!(
            StateError::UnknownTask(TaskId::new(2)).to_string(),
            "no task 2 in the graph"
        );
    }
}
