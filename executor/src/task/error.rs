//! `JoinError`: why a task produced no value.

use std::any::Any;
use std::fmt;

use super::Id;

/// A task failed to complete: it was cancelled (aborted, or its runtime shut down)
/// or it panicked.
///
/// ```
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let err = rt.block_on(async {
///     taskweave_executor::spawn(async { panic!("boom") }).await.unwrap_err()
/// });
/// assert!(err.is_panic());
/// assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// ```
pub struct JoinError {
    id: Id,
    repr: Repr,
    /// For cancellations by the runtime: why (see `Notified::cancel`).
    cause: Option<u64>,
}

enum Repr {
    Cancelled,
    Panic(PanicPayload),
}

/// A panic payload that is `Sync` because it is only reachable through `&mut`/by value.
struct PanicPayload(Box<dyn Any + Send + 'static>);

// SAFETY: the payload is never accessed through a shared reference (only moved out by
// `into_panic`/`try_into_panic`), so sharing `&PanicPayload` across threads is sound.
unsafe impl Sync for PanicPayload {}

impl JoinError {
    pub(crate) fn cancelled_with(id: Id, cause: Option<u64>) -> JoinError {
        JoinError {
            id,
            repr: Repr::Cancelled,
            cause,
        }
    }

    pub(crate) fn panic(id: Id, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            id,
            repr: Repr::Panic(PanicPayload(payload)),
            cause: None,
        }
    }

    /// The runtime's reason for cancelling a task that never ran, if it gave one.
    pub(crate) fn cancel_cause(&self) -> Option<u64> {
        self.cause
    }

    /// True if the task was cancelled (aborted or its runtime shut down).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking; use
    /// [`try_into_panic`](Self::try_into_panic) to avoid that.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("`JoinError::into_panic` called on a cancellation error")
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.0),
            Repr::Cancelled => Err(self),
        }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> Id {
        self.id
    }

    fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(p) => {
                p.0.downcast_ref::<&'static str>()
                    .copied()
                    .or_else(|| p.0.downcast_ref::<String>().map(String::as_str))
            }
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "task {} was cancelled", self.id),
            (Repr::Panic(_), Some(msg)) => {
                write!(f, "task {} panicked with message {msg:?}", self.id)
            }
            (Repr::Panic(_), None) => write!(f, "task {} panicked", self.id),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => write!(f, "JoinError::Cancelled({:?})", self.id),
            (Repr::Panic(_), Some(msg)) => {
                write!(f, "JoinError::Panic({:?}, {msg:?}, ...)", self.id)
            }
            (Repr::Panic(_), None) => write!(f, "JoinError::Panic({:?}, ...)", self.id),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err.to_string())
    }
}
