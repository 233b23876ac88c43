//! What can go wrong under supervision: a run's [`Failure`], a supervised task's final
//! [`CriticalError`], and the refusals of [`RestartConfigError`] and
//! [`SupervisorError`].

use std::error::Error;
use std::fmt;

/// Why one run of a supervised task ended without a value.
///
/// ```
/// use taskweave_executor::supervise::Failure;
///
/// let f: Failure<&str> = Failure::Panic("boom".into());
/// assert!(f.is_panic() && f.error().is_none());
/// assert_eq!(f.to_string(), "the run panicked: boom");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<E> {
    /// The run's future returned `Err`.
    Error(E),
    /// The run's future panicked; the panic message (or a placeholder for a
    /// non-string payload).
    Panic(String),
    /// The factory itself panicked, so no run was made. Never restarted.
    FactoryPanic(String),
}

impl<E> Failure<E> {
    /// The returned error, if the run returned one.
    pub fn error(&self) -> Option<&E> {
        match self {
            Failure::Error(e) => Some(e),
            _ => None,
        }
    }

    /// The returned error, by value.
    pub fn into_error(self) -> Option<E> {
        match self {
            Failure::Error(e) => Some(e),
            _ => None,
        }
    }

    /// True if the run panicked (not the factory).
    pub fn is_panic(&self) -> bool {
        matches!(self, Failure::Panic(_))
    }

    /// True if the factory panicked.
    pub fn is_factory_panic(&self) -> bool {
        matches!(self, Failure::FactoryPanic(_))
    }

    /// The panic message of a run or factory panic.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Failure::Panic(m) | Failure::FactoryPanic(m) => Some(m),
            Failure::Error(_) => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => write!(f, "the run failed: {e}"),
            Failure::Panic(m) => write!(f, "the run panicked: {m}"),
            Failure::FactoryPanic(m) => write!(f, "the factory panicked: {m}"),
        }
    }
}

/// How a supervised task ended for good without a value. Every variant carries the
/// number of automatic restarts that happened before.
///
/// ```
/// use taskweave_executor::supervise::{CriticalError, Failure};
///
/// let e: CriticalError<&str> = CriticalError::Exhausted { failure: Failure::Error("down"), restarts: 3 };
/// assert_eq!(e.restarts(), 3);
/// assert_eq!(e.failure().and_then(Failure::error), Some(&"down"));
/// assert_eq!(e.to_string(), "gave up after 3 restart(s): the run failed: down");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CriticalError<E> {
    /// The last run failed and the policy does not restart that failure (status
    /// [`Failed`](super::TaskStatus::Failed)).
    Failed {
        /// The last run's failure.
        failure: Failure<E>,
        /// Automatic restarts before it.
        restarts: u32,
    },
    /// The policy would restart, but the restart budget is spent (status
    /// [`Dead`](super::TaskStatus::Dead)).
    Exhausted {
        /// The last run's failure.
        failure: Failure<E>,
        /// Automatic restarts before it.
        restarts: u32,
    },
    /// Aborted, killed, or cancelled by a supervisor or runtime shutdown (status
    /// [`Killed`](super::TaskStatus::Killed)).
    Cancelled {
        /// Automatic restarts before it.
        restarts: u32,
    },
}

impl<E> CriticalError<E> {
    /// Automatic restarts before the task ended.
    pub fn restarts(&self) -> u32 {
        match self {
            CriticalError::Failed { restarts, .. }
            | CriticalError::Exhausted { restarts, .. }
            | CriticalError::Cancelled { restarts } => *restarts,
        }
    }

    /// The last run's failure (none for a cancellation).
    pub fn failure(&self) -> Option<&Failure<E>> {
        match self {
            CriticalError::Failed { failure, .. } | CriticalError::Exhausted { failure, .. } => {
                Some(failure)
            }
            CriticalError::Cancelled { .. } => None,
        }
    }

    /// The last run's failure, by value.
    pub fn into_failure(self) -> Option<Failure<E>> {
        match self {
            CriticalError::Failed { failure, .. } | CriticalError::Exhausted { failure, .. } => {
                Some(failure)
            }
            CriticalError::Cancelled { .. } => None,
        }
    }

    /// True if the restart budget ran out.
    pub fn is_exhausted(&self) -> bool {
        matches!(self, CriticalError::Exhausted { .. })
    }

    /// True if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, CriticalError::Cancelled { .. })
    }
}

impl<E: fmt::Display> fmt::Display for CriticalError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CriticalError::Failed { failure, restarts } => {
                write!(f, "not restarted after {restarts} restart(s): {failure}")
            }
            CriticalError::Exhausted { failure, restarts } => {
                write!(f, "gave up after {restarts} restart(s): {failure}")
            }
            CriticalError::Cancelled { restarts } => {
                write!(f, "cancelled after {restarts} restart(s)")
            }
        }
    }
}

impl<E: fmt::Debug + fmt::Display> Error for CriticalError<E> {}

/// A [`RestartConfig`](super::RestartConfig) that cannot mean anything sensible.
///
/// ```
/// use taskweave_executor::supervise::RestartConfigError;
///
/// assert!(RestartConfigError::ZeroMaxRestarts.to_string().contains("RestartPolicy::Never"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestartConfigError {
    /// `max_restarts(0)` with a policy that restarts.
    ZeroMaxRestarts,
    /// `stable_after(Duration::ZERO)`.
    ZeroStableWindow,
}

impl fmt::Display for RestartConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartConfigError::ZeroMaxRestarts => f.write_str(
                "max_restarts(0) with a policy that restarts would never restart: \
                 use RestartPolicy::Never for that, or a budget of at least 1",
            ),
            RestartConfigError::ZeroStableWindow => f.write_str(
                "stable_after(0) would count every run as stable and reset the restart \
                 count each time: give a positive window, or none",
            ),
        }
    }
}

impl Error for RestartConfigError {}

/// Why a [`Supervisor`](super::Supervisor) refused a request.
///
/// ```
/// use taskweave_executor::supervise::SupervisorError;
///
/// let e = SupervisorError::DuplicateName("db".into());
/// assert_eq!(e.to_string(), "a task named \"db\" is already supervised");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisorError {
    /// `add` with a name already in use.
    DuplicateName(String),
    /// `add` with an empty name.
    EmptyName,
    /// No task has this name.
    UnknownTask(String),
    /// The supervisor was shut down (explicitly, by its dead-task threshold, or
    /// because `wait_all` returned).
    ShutDown,
    /// `wait_all` was already called: the outcomes were handed out once.
    AlreadyWaited,
    /// The runtime the supervisor spawns on has shut down.
    RuntimeShutDown,
    /// `dead_threshold(0)`: the supervisor would be shut down before it starts.
    ZeroDeadThreshold,
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisorError::DuplicateName(n) => {
                write!(f, "a task named {n:?} is already supervised")
            }
            SupervisorError::EmptyName => f.write_str("a supervised task needs a non-empty name"),
            SupervisorError::UnknownTask(n) => write!(f, "no supervised task is named {n:?}"),
            SupervisorError::ShutDown => f.write_str("the supervisor has shut down"),
            SupervisorError::AlreadyWaited => {
                f.write_str("wait_all was already called on this supervisor")
            }
            SupervisorError::RuntimeShutDown => {
                f.write_str("the supervisor's runtime has shut down")
            }
            SupervisorError::ZeroDeadThreshold => f.write_str(
                "dead_threshold(0) would shut the supervisor down at once: use at least 1",
            ),
        }
    }
}

impl Error for SupervisorError {}
