//! [`Supervisor`]: a set of named critical tasks managed at run time.
//!
//! Invariants:
//! - Names are unique and non-empty; an entry is never removed, so a name keeps
//!   meaning the same task (restarting a task that ended runs it again under its
//!   name).
//! - Each entry has one runner at a time (see `runner.rs`); restarting an ended task
//!   gives the entry a new runner and a new `Control`, and clears the old outcome. All
//!   incarnations share the entry's `RunSlot`, so their runs never overlap.
//! - `wait_all` polls the runners' handles in place under the lock, so it is
//!   cancel-safe, and it hands the outcomes out in the same critical section that
//!   finds nothing live.
//! - Lock order: the supervisor's state lock, then a task's `Control` lock. Nothing
//!   that can call back into the supervisor (status hooks, observers) runs under the
//!   state lock. Runners are spawned under it (so a name is checked and taken in one
//!   step); a spawn never polls, and a runner the runtime refuses is dropped without
//!   calling the hook.
//! - Once shut down (explicitly, by the dead-task threshold, by `wait_all`, or by
//!   dropping the supervisor), every live task is killed and `add`, `restart` and
//!   `kill` are refused; the queries keep working.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use super::control::{Control, StatusHook, TaskStatus};
use super::critical::spawn_runner;
use super::error::{CriticalError, SupervisorError};
use super::policy::RestartConfig;
use super::runner::{self, RunSlot};
use crate::runtime::Handle;
use crate::sync::Mutex;
use crate::task::{AbortHandle, JoinHandle};

type BoxRun<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;
type SharedFactory<T, E> = Arc<Mutex<Box<dyn FnMut() -> BoxRun<T, E> + Send + 'static>>>;

/// Why a [`Supervisor`] shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// [`Supervisor::shutdown`] was called (or the supervisor was dropped).
    Requested,
    /// This many tasks were [`Dead`](TaskStatus::Dead), reaching the threshold.
    DeadThreshold(usize),
    /// [`Supervisor::wait_all`] returned: every task had ended.
    AllEnded,
}

/// A supervised task's status and restart count, from [`Supervisor::info`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskInfo {
    /// The current status.
    pub status: TaskStatus,
    /// Automatic restarts of the current incarnation (a manual restart of an ended
    /// task starts counting again).
    pub restarts: u32,
}

/// One task's final outcome, from [`Supervisor::wait_all`].
#[derive(Debug)]
pub struct TaskOutcome<T, E> {
    /// The task's name.
    pub name: String,
    /// Its final status.
    pub status: TaskStatus,
    /// Its outcome: `Ok` for [`TaskStatus::Completed`].
    pub result: Result<T, CriticalError<E>>,
}

/// Named critical tasks, added, restarted and killed at run time, each restarted per
/// its own [`RestartConfig`]; see the module docs of [`supervise`](super).
///
/// All tasks of one supervisor produce `Result<T, E>` (use `()` and a boxed error for
/// tasks of different kinds). Methods take `&self`: share it in an `Arc` to manage it
/// from several tasks. Dropping it shuts it down.
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::supervise::{Backoff, RestartConfig, RestartPolicy, Supervisor, TaskStatus};
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// rt.block_on(async {
///     let sup = Supervisor::<u32, String>::new();
///     let retry = RestartConfig::builder(RestartPolicy::Always)
///         .backoff(Backoff::fixed(Duration::from_millis(1)))
///         .max_restarts(2)
///         .build()
///         .unwrap();
///     sup.add("ok", RestartConfig::never(), || async { Ok(1) }).unwrap();
///     sup.add("broken", retry, || async { Err("no".to_string()) }).unwrap();
///     assert!(sup.add("ok", RestartConfig::never(), || async { Ok(2) }).is_err());
///
///     let outcomes = sup.wait_all().await.unwrap();
///     assert_eq!(outcomes[0].result.as_ref().ok(), Some(&1));
///     assert_eq!(outcomes[1].status, TaskStatus::Dead);
///     assert_eq!(outcomes[1].result.as_ref().unwrap_err().restarts(), 2);
/// });
/// ```
pub struct Supervisor<T, E> {
    inner: Arc<Inner<T, E>>,
}

struct Inner<T, E> {
    runtime: Handle,
    dead_threshold: Option<usize>,
    observer: Option<StatusHook>,
    state: Mutex<State<T, E>>,
}

struct State<T, E> {
    entries: Vec<Entry<T, E>>,
    shutdown: Option<ShutdownReason>,
    waited: bool,
}

type Outcome<T, E> = Result<T, CriticalError<E>>;
/// The `JoinHandle` of a task's runner.
type RunnerJoin<T, E> = JoinHandle<Outcome<T, E>>;

struct Entry<T, E> {
    name: Arc<str>,
    config: RestartConfig<E>,
    factory: SharedFactory<T, E>,
    /// Shared by all incarnations: their runs never overlap.
    slot: Arc<RunSlot>,
    control: Arc<Control>,
    /// The runner's handle until `wait_all` has seen it finish.
    join: Option<RunnerJoin<T, E>>,
    abort: AbortHandle,
    /// Stored by `wait_all` when the runner finished.
    outcome: Option<Outcome<T, E>>,
}

/// Configures a [`Supervisor`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use taskweave_executor::supervise::{Supervisor, SupervisorError};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let sup = Supervisor::<(), ()>::builder()
///     .dead_threshold(2)
///     .on_status(move |name, status| log.lock().unwrap().push((name.to_owned(), status)))
///     .build()
///     .unwrap();
/// assert!(!sup.is_shut_down());
/// let zero = Supervisor::<(), ()>::builder().dead_threshold(0).build();
/// assert_eq!(zero.err(), Some(SupervisorError::ZeroDeadThreshold));
/// ```
pub struct SupervisorBuilder<T, E> {
    runtime: Option<Handle>,
    dead_threshold: Option<usize>,
    observer: Option<StatusHook>,
    _outcome: std::marker::PhantomData<fn() -> (T, E)>,
}

impl<T, E> fmt::Debug for SupervisorBuilder<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorBuilder")
            .field("dead_threshold", &self.dead_threshold)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl<T: Send + 'static, E: Send + 'static> SupervisorBuilder<T, E> {
    /// Spawns the tasks on `runtime` instead of the current runtime (or the
    /// process-wide default one).
    pub fn runtime(mut self, runtime: Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Shuts the supervisor down once `n` of its tasks are
    /// [`Dead`](TaskStatus::Dead) at the same time (restart budget spent). Default:
    /// never. Zero is refused at `build`.
    pub fn dead_threshold(mut self, n: usize) -> Self {
        self.dead_threshold = Some(n);
        self
    }

    /// Calls `observer(name, status)` after every status change of every task (a task
    /// starts [`Healthy`](TaskStatus::Healthy), which is not reported). Called from
    /// the runtime's threads, in order per task; a panic in it is caught and ignored.
    pub fn on_status(
        mut self,
        observer: impl Fn(&str, TaskStatus) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Builds the supervisor.
    ///
    /// # Errors
    /// [`SupervisorError::ZeroDeadThreshold`] for `dead_threshold(0)`.
    pub fn build(self) -> Result<Supervisor<T, E>, SupervisorError> {
        if self.dead_threshold == Some(0) {
            return Err(SupervisorError::ZeroDeadThreshold);
        }
        Ok(Supervisor {
            inner: Arc::new(Inner {
                runtime: self
                    .runtime
                    .unwrap_or_else(crate::runtime::current_or_global),
                dead_threshold: self.dead_threshold,
                observer: self.observer,
                state: Mutex::new(State {
                    entries: Vec::new(),
                    shutdown: None,
                    waited: false,
                }),
            }),
        })
    }
}

impl<T: Send + 'static, E: Send + 'static> Default for Supervisor<T, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static, E: Send + 'static> Supervisor<T, E> {
    /// A supervisor on the current runtime (or the process-wide default one), without
    /// a dead-task threshold.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder.
    pub fn builder() -> SupervisorBuilder<T, E> {
        SupervisorBuilder {
            runtime: None,
            dead_threshold: None,
            observer: None,
            _outcome: std::marker::PhantomData,
        }
    }

    /// Starts supervising a task named `name`, made by `factory` and restarted per
    /// `config` (see [`spawn_critical`](super::spawn_critical) for the run semantics).
    ///
    /// # Errors
    /// [`EmptyName`](SupervisorError::EmptyName),
    /// [`DuplicateName`](SupervisorError::DuplicateName),
    /// [`ShutDown`](SupervisorError::ShutDown) once the supervisor shut down,
    /// [`RuntimeShutDown`](SupervisorError::RuntimeShutDown) if its runtime did.
    pub fn add<M, F>(
        &self,
        name: impl Into<String>,
        config: RestartConfig<E>,
        mut factory: M,
    ) -> Result<(), SupervisorError>
    where
        M: FnMut() -> F + Send + 'static,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let name: String = name.into();
        if name.is_empty() {
            return Err(SupervisorError::EmptyName);
        }
        let mut state = self.inner.state.lock();
        if state.shutdown.is_some() {
            return Err(SupervisorError::ShutDown);
        }
        if state.entries.iter().any(|e| *e.name == *name) {
            return Err(SupervisorError::DuplicateName(name));
        }
        let factory: SharedFactory<T, E> =
            Arc::new(Mutex::new(Box::new(move || -> BoxRun<T, E> {
                Box::pin(factory())
            })));
        let name: Arc<str> = name.into();
        let slot = RunSlot::new();
        let (control, join) = self.spawn(&name, &config, &factory, &slot)?;
        state.entries.push(Entry {
            slot,
            abort: join.abort_handle(),
            join: Some(join),
            name,
            config,
            factory,
            control,
            outcome: None,
        });
        Ok(())
    }

    /// Spawns a runner for one incarnation of a task.
    fn spawn(
        &self,
        name: &Arc<str>,
        config: &RestartConfig<E>,
        factory: &SharedFactory<T, E>,
        slot: &Arc<RunSlot>,
    ) -> Result<(Arc<Control>, RunnerJoin<T, E>), SupervisorError> {
        if self.inner.runtime.is_shutdown() {
            return Err(SupervisorError::RuntimeShutDown);
        }
        let factory = factory.clone();
        let (handle, spawned) = spawn_runner(
            &self.inner.runtime,
            name.clone(),
            Some(self.hook()),
            slot.clone(),
            config.clone(),
            move || {
                let mut make = factory.lock();
                make()
            },
        );
        spawned.map_err(|_| SupervisorError::RuntimeShutDown)?;
        Ok(handle.into_parts())
    }

    /// The status hook of this supervisor's tasks: the user's observer, then the
    /// dead-task threshold.
    fn hook(&self) -> StatusHook {
        let inner: Weak<Inner<T, E>> = Arc::downgrade(&self.inner);
        Arc::new(move |name, status| {
            let Some(inner) = inner.upgrade() else { return };
            if let Some(observer) = &inner.observer {
                observer(name, status);
            }
            if status == TaskStatus::Dead {
                inner.check_dead_threshold();
            }
        })
    }

    /// Restarts the task named `name`. A live task's current run is cancelled (or its
    /// backoff cut short) and a fresh run starts once it is gone, with a fresh restart
    /// budget and backoff sequence; a task that has ended — completed, failed, dead or
    /// killed — is started again from scratch. Either way the new run starts only
    /// once the previous one is gone (a killed run is dropped at its next scheduling
    /// point).
    ///
    /// # Errors
    /// [`UnknownTask`](SupervisorError::UnknownTask),
    /// [`ShutDown`](SupervisorError::ShutDown),
    /// [`RuntimeShutDown`](SupervisorError::RuntimeShutDown).
    pub fn restart(&self, name: &str) -> Result<(), SupervisorError> {
        let mut state = self.inner.state.lock();
        if state.shutdown.is_some() {
            return Err(SupervisorError::ShutDown);
        }
        let index = state.index_of(name)?;
        if state.entries[index].control.request_restart() {
            return Ok(());
        }
        let entry = &state.entries[index];
        let (control, join) =
            self.spawn(&entry.name, &entry.config, &entry.factory, &entry.slot)?;
        let entry = &mut state.entries[index];
        entry.abort = join.abort_handle();
        entry.join = Some(join);
        entry.control = control;
        entry.outcome = None;
        Ok(())
    }

    /// Kills the task named `name`: its status becomes [`TaskStatus::Killed`], its
    /// current run is cancelled at its next scheduling point and no further run
    /// starts. Killing a task that already ended changes nothing. Killed tasks do not
    /// count towards the dead-task threshold.
    ///
    /// # Errors
    /// [`UnknownTask`](SupervisorError::UnknownTask),
    /// [`ShutDown`](SupervisorError::ShutDown).
    pub fn kill(&self, name: &str) -> Result<(), SupervisorError> {
        let (control, abort) = {
            let state = self.inner.state.lock();
            if state.shutdown.is_some() {
                return Err(SupervisorError::ShutDown);
            }
            let entry = &state.entries[state.index_of(name)?];
            (entry.control.clone(), entry.abort.clone())
        };
        if control.kill() {
            abort.abort();
        }
        Ok(())
    }

    /// The status and restart count of the task named `name`.
    ///
    /// # Errors
    /// [`UnknownTask`](SupervisorError::UnknownTask).
    pub fn info(&self, name: &str) -> Result<TaskInfo, SupervisorError> {
        let state = self.inner.state.lock();
        let control = &state.entries[state.index_of(name)?].control;
        Ok(TaskInfo {
            status: control.status(),
            restarts: control.restarts(),
        })
    }

    /// Every task's name and status, in the order they were added.
    pub fn statuses(&self) -> Vec<(String, TaskStatus)> {
        let state = self.inner.state.lock();
        state
            .entries
            .iter()
            .map(|e| (e.name.to_string(), e.control.status()))
            .collect()
    }

    /// Shuts the supervisor down: every live task is killed (status
    /// [`Killed`](TaskStatus::Killed), outcome [`CriticalError::Cancelled`]) and
    /// `add`, `restart` and `kill` are refused from now on. Returns false if it was
    /// already shut down. Outcomes can still be collected with [`wait_all`](Self::wait_all).
    pub fn shutdown(&self) -> bool {
        self.inner.shutdown(ShutdownReason::Requested)
    }

    /// True once the supervisor has shut down.
    pub fn is_shut_down(&self) -> bool {
        self.inner.state.lock().shutdown.is_some()
    }

    /// Why the supervisor shut down, if it has.
    pub fn shutdown_reason(&self) -> Option<ShutdownReason> {
        self.inner.state.lock().shutdown
    }

    /// Waits until every task has ended — including tasks added or restarted while
    /// waiting — then shuts the supervisor down (nothing is left to cancel) and
    /// returns each task's final outcome, in the order the tasks were added. A task
    /// that never ends keeps this waiting until it is killed or the supervisor shuts
    /// down.
    ///
    /// Cancel-safe: dropping the future (say, under
    /// [`with_timeout`](crate::time::TimeoutExt::with_timeout)) loses no outcome, and
    /// a later call waits again.
    ///
    /// # Errors
    /// [`AlreadyWaited`](SupervisorError::AlreadyWaited) once a call has returned the
    /// outcomes: they are handed out once.
    pub async fn wait_all(&self) -> Result<Vec<TaskOutcome<T, E>>, SupervisorError> {
        std::future::poll_fn(|cx| self.poll_wait_all(cx)).await
    }

    /// One step of [`wait_all`](Self::wait_all): polls every live runner in place
    /// (so dropping the `wait_all` future loses nothing: it is cancel-safe), storing
    /// outcomes as they come; once none is live, hands the outcomes out.
    fn poll_wait_all(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<TaskOutcome<T, E>>, SupervisorError>> {
        let mut state = self.inner.state.lock();
        if state.waited {
            return Poll::Ready(Err(SupervisorError::AlreadyWaited));
        }
        let mut live = false;
        for entry in &mut state.entries {
            let Some(join) = entry.join.as_mut() else {
                continue;
            };
            match Pin::new(join).poll(cx) {
                Poll::Ready(joined) => {
                    entry.outcome = Some(runner::outcome(joined, &entry.control));
                    entry.join = None;
                }
                Poll::Pending => live = true,
            }
        }
        if live {
            return Poll::Pending;
        }
        // Under the same lock as the check: nothing can be added or restarted between.
        state.waited = true;
        if state.shutdown.is_none() {
            state.shutdown = Some(ShutdownReason::AllEnded);
        }
        let outcomes = state
            .entries
            .iter_mut()
            .map(|e| TaskOutcome {
                name: e.name.to_string(),
                status: e.control.status(),
                // Every entry without a runner handle has its outcome stored; the
                // fallback is not reached.
                result: e.outcome.take().unwrap_or(Err(CriticalError::Cancelled {
                    restarts: e.control.restarts(),
                })),
            })
            .collect();
        Poll::Ready(Ok(outcomes))
    }
}

impl<T, E> Drop for Supervisor<T, E> {
    fn drop(&mut self) {
        self.inner.shutdown(ShutdownReason::Requested);
    }
}

impl<T, E> fmt::Debug for Supervisor<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("Supervisor")
            .field("tasks", &state.entries.len())
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

impl<T, E> State<T, E> {
    fn index_of(&self, name: &str) -> Result<usize, SupervisorError> {
        self.entries
            .iter()
            .position(|e| *e.name == *name)
            .ok_or_else(|| SupervisorError::UnknownTask(name.to_owned()))
    }
}

impl<T, E> Inner<T, E> {
    /// Marks the supervisor shut down and kills every live task (outside the lock).
    /// False if it already was.
    fn shutdown(&self, reason: ShutdownReason) -> bool {
        let victims: Vec<(Arc<Control>, AbortHandle)> = {
            let mut state = self.state.lock();
            if state.shutdown.is_some() {
                return false;
            }
            state.shutdown = Some(reason);
            state
                .entries
                .iter()
                .map(|e| (e.control.clone(), e.abort.clone()))
                .collect()
        };
        for (control, abort) in victims {
            if control.kill() {
                abort.abort();
            }
        }
        true
    }

    /// Shuts down once the number of dead tasks reaches the threshold.
    fn check_dead_threshold(&self) {
        let Some(threshold) = self.dead_threshold else {
            return;
        };
        let dead = {
            let state = self.state.lock();
            if state.shutdown.is_some() {
                return;
            }
            state
                .entries
                .iter()
                .filter(|e| e.control.status() == TaskStatus::Dead)
                .count()
        };
        if dead >= threshold {
            self.shutdown(ShutdownReason::DeadThreshold(dead));
        }
    }
}
