//! `TaskHandle` and `TaskError`: awaiting an ExecutableTask's result.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use taskweave_scheduler::{FailureReason, TaskId, TaskState};

use super::body::BoxError;
use super::buffered::Recorded;
use super::submit::ExecSchedule;
use crate::runtime::shared::Shared;
use crate::task::JoinHandle;

/// Why an ExecutableTask produced no value.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskError {
    /// The task returned an error (after its retries, if any).
    Failed(BoxError),
    /// The task panicked (after its retries, if any); the panic message.
    Panicked(String),
    /// The task ran past its timeout (after its retries, if any).
    TimedOut,
    /// The task was cancelled before it finished.
    Cancelled,
    /// The task never ran: this dependency (the root cause) did not succeed.
    DependencyFailed(TaskId),
    /// The runtime shut down before the task finished.
    Shutdown,
}

impl TaskError {
    /// The graph's record of this failure.
    pub(crate) fn reason(&self) -> FailureReason {
        match self {
            TaskError::Failed(_) => FailureReason::Failed,
            TaskError::Panicked(_) => FailureReason::Panicked,
            TaskError::TimedOut => FailureReason::TimedOut,
            TaskError::Cancelled | TaskError::Shutdown => FailureReason::Cancelled,
            TaskError::DependencyFailed(root) => FailureReason::DependencyFailed(*root),
        }
    }

    /// True for [`TaskError::DependencyFailed`].
    pub fn is_dependency_failure(&self) -> bool {
        matches!(self, TaskError::DependencyFailed(_))
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed(e) => write!(f, "task failed: {e}"),
            TaskError::Panicked(msg) => write!(f, "task panicked: {msg}"),
            TaskError::TimedOut => f.write_str("task timed out"),
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::DependencyFailed(root) => {
                write!(f, "task did not run: its dependency {root} failed")
            }
            TaskError::Shutdown => f.write_str("the runtime shut down before the task finished"),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Failed(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Awaits an ExecutableTask's result; [`cancel`](TaskHandle::cancel) stops it.
/// Dropping the handle does not stop the task.
///
/// It holds no reference to its runtime of its own: it reaches the runtime through its
/// task, whose cell (kept alive by `join`) holds the task's scheduler, and with it the
/// runtime's shared state, until the cell is freed. So cancelling and asking why the
/// task was cancelled work after the task finished and after the runtime shut down.
pub struct TaskHandle<T> {
    id: TaskId,
    join: JoinHandle<Result<T, TaskError>>,
}

impl<T> TaskHandle<T> {
    /// `join` must be the handle of an ExecutableTask's cell (scheduled by an
    /// `ExecSchedule`).
    pub(crate) fn new(id: TaskId, join: JoinHandle<Result<T, TaskError>>) -> Self {
        debug_assert!(join.scheduler::<ExecSchedule>().is_some());
        TaskHandle { id, join }
    }

    /// The task's runtime (`None` is not reached: every TaskHandle's task is
    /// scheduled by an `ExecSchedule`, see `new`).
    fn shared(&self) -> Option<&Shared> {
        self.join
            .scheduler::<ExecSchedule>()
            .map(ExecSchedule::shared)
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Cancels the task: if it has not started it never will (and its dependents fail
    /// with `DependencyFailed`); if it is running its future is dropped at its next
    /// await point. Awaiting the handle then gives [`TaskError::Cancelled`], unless the
    /// task had already finished.
    pub fn cancel(&self) {
        let Some(shared) = self.shared() else {
            self.join.abort();
            return;
        };
        let mut recorded = Recorded::default();
        match shared.dispatch.cancel(self.id, &mut recorded) {
            Ok(true) => {}
            Ok(false) => {
                // Running (or picked and about to run): stop the future. The task's
                // end is reported as cancelled when it stops (`ended.rs`), unless it
                // finished first: then its own result stands, for its handle and its
                // dependents alike.
                self.join.abort();
            }
            Err(_) => {} // finished already, or forgotten
        }
        recorded.settle(shared);
    }

    /// True once the task has finished (or will never run).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let joined = ready!(Pin::new(&mut self.join).poll(cx));
        Poll::Ready(match joined {
            Ok(result) => result,
            Err(join_error) if join_error.is_panic() => {
                // The runner catches the task's panics; this is a panicking destructor.
                Err(TaskError::Panicked(join_error.to_string()))
            }
            Err(cancelled) => Err(match cancelled.cancel_cause() {
                Some(root) => TaskError::DependencyFailed(TaskId::new(root)),
                None => self.why_cancelled(),
            }),
        })
    }
}

impl<T> TaskHandle<T> {
    /// The task's future was dropped without an output: ask the graph why.
    fn why_cancelled(&self) -> TaskError {
        let Some(shared) = self.shared() else {
            return TaskError::Cancelled;
        };
        match super::buffered::query(shared, |d, r| d.state(self.id, r)) {
            Some(TaskState::Failed(FailureReason::DependencyFailed(root))) => {
                TaskError::DependencyFailed(root)
            }
            _ if shared.is_shutdown() => TaskError::Shutdown,
            _ => TaskError::Cancelled,
        }
    }
}

impl<T> Unpin for TaskHandle<T> {}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle").field("id", &self.id).finish()
    }
}
