//! `Handle`: a cloneable reference to a runtime, to spawn onto it from anywhere.

use std::fmt;
use std::future::Future;

use super::context;
use super::shared::Shared;
use super::{RuntimeMetrics, SpawnError, TryCurrentError};
use crate::sync::Arc;
use crate::task::{self, JoinHandle, Schedule};

/// A handle to a runtime: spawn tasks on it from any thread, enter its context.
///
/// ```
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let handle = rt.handle().clone();
/// let joined = std::thread::spawn(move || handle.spawn(async { 6 * 7 })).join().unwrap();
/// assert_eq!(rt.block_on(joined).unwrap(), 42);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    /// The handle of the runtime this thread is in (a worker, a `block_on`, a blocking
    /// task, or after `Runtime::enter`).
    ///
    /// # Panics
    /// Outside any runtime. Use [`Handle::try_current`] to get an error instead.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(e) => panic!("{e}"),
        }
    }

    /// The handle of the runtime this thread is in, or an error outside any runtime.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::with_current(|h| h.cloned()).ok_or(TryCurrentError(()))
    }

    /// Spawns a task on this runtime. After shutdown the returned handle resolves to a
    /// cancelled [`JoinError`](crate::JoinError); use [`Handle::try_spawn`] to be told
    /// up front.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // After shutdown the task is already cancelled and its JoinHandle says so.
        self.spawn_inner(future).0
    }

    /// Spawns a task, or tells why it cannot run (the runtime is shut down).
    pub fn try_spawn<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, spawned) = self.spawn_inner(future);
        spawned.map(|()| join)
    }

    fn spawn_inner<F>(&self, future: F) -> (JoinHandle<F::Output>, Result<(), SpawnError>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (owned, notified, join) = task::new_task(future, self.shared.clone());
        let spawned = self.bind_and_schedule(owned, notified, |n| self.shared.schedule(n));
        (join, spawned)
    }

    /// Adds a new task to the owned list and schedules it with `schedule`; after
    /// shutdown cancels it instead.
    pub(crate) fn bind_and_schedule(
        &self,
        owned: task::OwnedTask,
        notified: task::Notified,
        schedule: impl FnOnce(task::Notified),
    ) -> Result<(), SpawnError> {
        match self.shared.owned.bind(owned) {
            Ok(()) => {
                schedule(notified);
                Ok(())
            }
            Err(owned) => {
                drop(notified);
                owned.shutdown();
                Err(SpawnError::Shutdown)
            }
        }
    }

    /// Runs a closure that may block on a thread of the blocking pool.
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        super::spawn_blocking::spawn_blocking(self, f)
    }

    /// Runs `future` to completion on the current thread, inside this runtime's
    /// context. See [`Runtime::block_on`](crate::Runtime::block_on).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        super::block_on::block_on(self, future)
    }

    /// Like [`Handle::block_on`], but returns an error instead of panicking when
    /// called on a thread that is already driving a runtime.
    pub fn try_block_on<F: Future>(&self, future: F) -> Result<F::Output, super::BlockOnError> {
        super::block_on::try_block_on(self, future)
    }

    /// Makes this runtime the current one on this thread until the guard drops, so
    /// `spawn` and the time functions find it.
    pub fn enter(&self) -> super::EnterGuard<'_> {
        super::EnterGuard {
            _inner: context::enter(self.clone()),
            _handle: std::marker::PhantomData,
        }
    }

    /// This runtime's metrics.
    pub fn metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics::new(self.shared.clone())
    }

    /// The resource monitor's status; `None` if the monitor is disabled. See
    /// [`MonitorStatus`](crate::monitor::MonitorStatus).
    pub fn monitor_status(&self) -> Option<crate::monitor::MonitorStatus> {
        self.shared.monitor.status()
    }

    /// True once shutdown has begun.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.remotes.len())
            .finish()
    }
}
