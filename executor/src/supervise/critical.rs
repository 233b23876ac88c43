//! [`spawn_critical`] and its [`CriticalHandle`]: one task kept alive by restarting it
//! per its [`RestartConfig`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::control::{Control, StatusHook, TaskStatus};
use super::error::CriticalError;
use super::policy::RestartConfig;
use super::runner::{self, RunSlot};
use crate::runtime::{Handle, SpawnError};
use crate::task::JoinHandle;

/// Spawns a critical task on the current runtime (or the process-wide default one):
/// `factory` makes a run — a future returning `Result<T, E>` — and the run is made
/// again after a failure (an `Err`, or a panic) as `config` says, with its backoff,
/// restart budget and stable window.
///
/// Returns at once with a [`CriticalHandle`]: await it for the final outcome —
/// `Ok(value)` of the first run that succeeds, or a [`CriticalError`] saying why
/// supervision ended (the policy declined, the budget ran out, or it was cancelled) —
/// or [`abort`](CriticalHandle::abort) it. Dropping the handle detaches the task: it
/// keeps being supervised.
///
/// Each run is its own task, so a panicking run never takes the supervision down. A
/// panicking *factory* ends supervision at once with [`Failure::FactoryPanic`]
/// (whatever the policy: there is nothing left to restart with).
///
/// [`Failure::FactoryPanic`]: super::Failure::FactoryPanic
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use taskweave_executor::supervise::{spawn_critical, Backoff, RestartConfig, RestartPolicy};
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let runs = Arc::new(AtomicU32::new(0));
/// let config = RestartConfig::builder(RestartPolicy::Always)
///     .backoff(Backoff::fixed(Duration::from_millis(1)))
///     .max_restarts(5)
///     .build()
///     .unwrap();
/// let counter = runs.clone();
/// let value = rt.block_on(spawn_critical("flaky", config, move || {
///     let run = counter.fetch_add(1, Ordering::SeqCst) + 1;
///     async move {
///         if run < 3 { Err("not yet") } else { Ok(run) }
///     }
/// }));
/// assert_eq!(value, Ok(3));
/// assert_eq!(runs.load(Ordering::SeqCst), 3);
/// ```
pub fn spawn_critical<M, F, T, E>(
    name: impl Into<String>,
    config: RestartConfig<E>,
    factory: M,
) -> CriticalHandle<T, E>
where
    M: FnMut() -> F + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    crate::runtime::current_or_global().spawn_critical(name, config, factory)
}

impl Handle {
    /// Spawns a critical task on this runtime; see [`spawn_critical`].
    ///
    /// ```
    /// use taskweave_executor::supervise::RestartConfig;
    ///
    /// let rt = taskweave_executor::Runtime::new().unwrap();
    /// let h = rt.handle().spawn_critical("once", RestartConfig::<()>::never(), || async { Ok(1) });
    /// assert_eq!(rt.block_on(h), Ok(1));
    /// ```
    pub fn spawn_critical<M, F, T, E>(
        &self,
        name: impl Into<String>,
        config: RestartConfig<E>,
        factory: M,
    ) -> CriticalHandle<T, E>
    where
        M: FnMut() -> F + Send + 'static,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        // After runtime shutdown the runner is cancelled at once and the handle
        // resolves to `CriticalError::Cancelled`, like `spawn`.
        let (handle, _spawned) = spawn_runner(
            self,
            name.into().into(),
            None,
            RunSlot::new(),
            config,
            factory,
        );
        handle
    }
}

/// Spawns the runner of a critical task on `runtime`, reporting whether the runtime
/// accepted it (the handle is usable either way). Runs of all runners given the same
/// `slot` never overlap.
pub(crate) fn spawn_runner<M, F, T, E>(
    runtime: &Handle,
    name: Arc<str>,
    hook: Option<StatusHook>,
    slot: Arc<RunSlot>,
    config: RestartConfig<E>,
    factory: M,
) -> (CriticalHandle<T, E>, Result<(), SpawnError>)
where
    M: FnMut() -> F + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let control = Control::new(name, hook);
    // Distinct per task, so jittered backoffs of tasks failing together spread out.
    let seed = crate::task::Id::next().as_u64();
    let (join, spawned) =
        match runtime.try_spawn(runner::run(control.clone(), slot, config, factory, seed)) {
            Ok(join) => (join, Ok(())),
            Err(e) => {
                // The runner was cancelled; a fresh handle to an already-cancelled task
                // keeps this path uniform.
                let join = runtime.spawn(std::future::ready(Err(CriticalError::Cancelled {
                    restarts: 0,
                })));
                (join, Err(e))
            }
        };
    (CriticalHandle { join, control }, spawned)
}

/// The handle of a task spawned with [`spawn_critical`]: await it for the final
/// outcome, abort it, or look at its status. Dropping it detaches the task.
///
/// ```
/// use taskweave_executor::supervise::{spawn_critical, RestartConfig, TaskStatus};
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// rt.block_on(async {
///     let h = spawn_critical("forever", RestartConfig::<()>::never(), || std::future::pending::<Result<(), ()>>());
///     assert_eq!(h.name(), "forever");
///     h.abort();
///     assert_eq!(h.status(), TaskStatus::Killed);
///     assert!(h.await.unwrap_err().is_cancelled());
/// });
/// ```
pub struct CriticalHandle<T, E> {
    join: JoinHandle<Result<T, CriticalError<E>>>,
    control: Arc<Control>,
}

impl<T, E> CriticalHandle<T, E> {
    /// The name given at spawn.
    pub fn name(&self) -> &str {
        self.control.name()
    }

    /// The current status.
    pub fn status(&self) -> TaskStatus {
        self.control.status()
    }

    /// Automatic restarts so far.
    pub fn restarts(&self) -> u32 {
        self.control.restarts()
    }

    /// Stops supervision: the status becomes [`TaskStatus::Killed`] at once (unless
    /// the task already ended), the current run is cancelled at its next scheduling
    /// point, no further run starts, and the handle resolves to
    /// [`CriticalError::Cancelled`].
    pub fn abort(&self) {
        if self.control.kill() {
            self.join.abort();
        }
    }

    /// True once the outcome is ready.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// The shared cell and the runner's handle (for the supervisor).
    pub(crate) fn into_parts(self) -> (Arc<Control>, JoinHandle<Result<T, CriticalError<E>>>) {
        (self.control, self.join)
    }
}

impl<T, E> Future for CriticalHandle<T, E> {
    type Output = Result<T, CriticalError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let joined = std::task::ready!(Pin::new(&mut self.join).poll(cx));
        Poll::Ready(runner::outcome(joined, &self.control))
    }
}

impl<T, E> fmt::Debug for CriticalHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CriticalHandle")
            .field("name", &self.name())
            .field("status", &self.status())
            .field("restarts", &self.restarts())
            .finish()
    }
}
