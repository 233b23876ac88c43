//! The runtime: worker threads with work-stealing deques, a global injector, a timer
//! thread and a blocking pool.
//!
//! Files by concern: `builder.rs` (configuration and start), `shared.rs` (state shared
//! by workers, scheduling), `worker.rs` (the worker loop), `idle.rs` (who sleeps, who
//! wakes whom), `park.rs` (thread parking), `queue.rs` (deques, loom-switchable),
//! `context.rs` (thread-locals), `block_on.rs`, `spawn_blocking.rs`, `metrics.rs`,
//! `trace.rs` (the opt-in recorder of task polls), `global.rs` (the process-wide
//! default runtime), `monitoring.rs` (the resource monitor's configuration, sampler
//! and status).
//!
//! Shutdown protocol (`Runtime::drop` / `shutdown_timeout`): (1) set the shutdown flag
//! and wake every worker; (2) wait for workers to leave their loop (each finishes the
//! poll it is in, then drops its queued tasks); (3) close the owned-task list and
//! cancel every task still in it — idle futures are dropped here, on the caller's
//! thread, and their JoinHandles resolve as cancelled; a task still inside a poll on a
//! worker that did not exit in time is cancelled by that worker after the poll;
//! (4) stop the timer thread (pending sleeps complete) and the blocking pool (queued
//! jobs are cancelled; running ones are not waited for beyond the timeout). The
//! resource monitor's sampler is stopped and its gate closed at the start of (3).

mod block_on;
mod builder;
mod context;
mod global;
mod handle;
pub(crate) mod idle;
mod metrics;
pub(crate) mod monitoring;
pub(crate) mod park;
pub(crate) mod queue;
pub(crate) mod shared;
mod spawn_blocking;
pub(crate) mod trace;
mod worker;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

pub use builder::Builder;
pub(crate) use global::global_handle;
pub use handle::Handle;
pub use metrics::RuntimeMetrics;
pub use trace::{DEFAULT_TRACE_CAPACITY, MAX_TRACE_CAPACITY};

use crate::sync::{thread, Arc, Mutex};
use crate::task::JoinHandle;
use shared::Shared;

/// A running work-stealing runtime. Dropping it shuts it down (see the module docs):
/// pending futures are dropped, their JoinHandles resolve as cancelled, and it does
/// not wait for blocking-pool threads.
///
/// ```
/// use taskweave_executor::Runtime;
///
/// let rt = Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let handle = taskweave_executor::spawn(async { 40 + 2 });
///     handle.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Runtime {
    /// A runtime with default settings (one worker per available core).
    ///
    /// # Errors
    /// If a thread cannot be started.
    pub fn new() -> std::io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    pub(crate) fn from_parts(shared: Arc<Shared>, threads: Vec<thread::JoinHandle<()>>) -> Runtime {
        Runtime {
            handle: Handle { shared },
            threads: Mutex::new(threads),
        }
    }

    /// Runs `future` to completion on the current thread, inside this runtime's
    /// context (so `spawn` and the time functions use this runtime). Tasks it spawns
    /// run on the workers.
    ///
    /// # Panics
    /// When called on a thread that already drives a runtime (a worker thread, or
    /// inside another `block_on`): that would stall the tasks it runs. Use
    /// [`Runtime::try_block_on`] to get an error instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Like [`Runtime::block_on`], returning [`BlockOnError`] instead of panicking.
    pub fn try_block_on<F: Future>(&self, future: F) -> Result<F::Output, BlockOnError> {
        self.handle.try_block_on(future)
    }

    /// Spawns a task on this runtime.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on the blocking pool.
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// Submits an ExecutableTask; see [`Handle::submit`].
    ///
    /// # Errors
    /// See [`Handle::submit`].
    pub fn submit<B: crate::graph::TaskBody>(
        &self,
        task: crate::graph::ExecutableTask<B>,
    ) -> Result<crate::graph::TaskHandle<B::Output>, crate::graph::SubmitError> {
        self.handle.submit(task)
    }

    /// The resource monitor's status (in-flight limit, running, waiting and pending
    /// ExecutableTasks, budget, sampler); `None` if the monitor is disabled.
    pub fn monitor_status(&self) -> Option<crate::monitor::MonitorStatus> {
        self.handle.monitor_status()
    }

    /// Submits an ExecutableTask unless the monitor's bound on pending tasks is
    /// reached; see [`Handle::try_submit`].
    ///
    /// # Errors
    /// See [`Handle::try_submit`].
    pub fn try_submit<B: crate::graph::TaskBody>(
        &self,
        task: crate::graph::ExecutableTask<B>,
    ) -> Result<crate::graph::TaskHandle<B::Output>, crate::graph::SubmitError> {
        self.handle.try_submit(task)
    }

    /// Waits for room under the monitor's bound on pending tasks, then submits; see
    /// [`Handle::submit_wait`].
    ///
    /// # Errors
    /// See [`Handle::submit_wait`].
    pub async fn submit_wait<B: crate::graph::TaskBody>(
        &self,
        task: crate::graph::ExecutableTask<B>,
    ) -> Result<crate::graph::TaskHandle<B::Output>, crate::graph::SubmitError> {
        self.handle.submit_wait(task).await
    }

    /// This runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Makes this runtime current on this thread until the guard drops.
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// This runtime's metrics.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.handle.metrics()
    }

    /// This runtime's ExecutableTask counters; see [`Handle::graph_metrics`].
    pub fn graph_metrics(&self) -> crate::graph::GraphMetrics {
        self.handle.graph_metrics()
    }

    /// Starts recording task polls; see [`Handle::start_trace`].
    ///
    /// # Errors
    /// See [`Handle::start_trace`].
    pub fn start_trace(&self) -> Result<(), crate::export::trace::TraceError> {
        self.handle.start_trace()
    }

    /// Starts recording task polls, keeping at most `capacity` per worker; see
    /// [`Handle::start_trace_with_capacity`].
    ///
    /// # Errors
    /// See [`Handle::start_trace_with_capacity`].
    pub fn start_trace_with_capacity(
        &self,
        capacity: usize,
    ) -> Result<(), crate::export::trace::TraceError> {
        self.handle.start_trace_with_capacity(capacity)
    }

    /// Stops recording and returns the trace; see [`Handle::stop_trace`].
    pub fn stop_trace(&self) -> crate::export::trace::Trace {
        self.handle.stop_trace()
    }

    /// Shuts down, waiting at most `timeout` for workers to finish the poll they are
    /// in and for blocking-pool threads to finish their jobs. Returns true if every
    /// thread stopped in time.
    pub fn shutdown_timeout(self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let remaining = move || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        self.shutdown(remaining(), remaining)
    }

    /// Shuts down without waiting for any thread.
    pub fn shutdown_background(self) {
        self.shutdown(Some(Duration::ZERO), || Some(Duration::ZERO));
    }

    /// The shutdown protocol of the module docs. `worker_wait: None` waits for the
    /// workers as long as it takes; `blocking_wait` is asked after the workers stopped.
    fn shutdown(
        &self,
        worker_wait: Option<Duration>,
        blocking_wait: impl Fn() -> Option<Duration>,
    ) -> bool {
        let shared = &self.handle.shared;
        shared.begin_shutdown();
        let threads = std::mem::take(&mut *self.threads.lock());
        let me = thread::current().id();
        // A worker dropping its own runtime cannot wait for itself.
        let (others, own): (Vec<_>, Vec<_>) =
            threads.into_iter().partition(|t| t.thread().id() != me);
        let mut stopped = shared.wait_workers_exited(others.len(), worker_wait);
        if stopped {
            for t in others {
                let _ = t.join();
            }
        }
        shared.cancel_all_tasks();
        shared.time.shutdown();
        stopped &= shared.blocking.shutdown(blocking_wait());
        stopped && own.is_empty()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Workers finish their current poll; blocking threads are not waited for.
        self.shutdown(None, || Some(Duration::ZERO));
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .finish()
    }
}

/// Keeps a runtime current on this thread; see [`Runtime::enter`].
pub struct EnterGuard<'a> {
    _inner: context::EnterGuard,
    _handle: PhantomData<&'a Handle>,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnterGuard")
    }
}

/// `Handle::try_current` outside any runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryCurrentError(pub(crate) ());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no taskweave runtime on this thread: call this from a task, from \
             inside `Runtime::block_on`, or after `Runtime::enter`",
        )
    }
}

impl std::error::Error for TryCurrentError {}

/// `block_on` was called on a thread that already drives a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOnError(pub(crate) ());

impl fmt::Display for BlockOnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "cannot block_on from a thread that is already driving a taskweave runtime \
             (a worker thread, or inside another block_on): it would stall the tasks \
             this thread runs. `.await` the future instead, or use spawn_blocking",
        )
    }
}

impl std::error::Error for BlockOnError {}

/// Why a task could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// The runtime has shut down.
    Shutdown,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Shutdown => f.write_str("the taskweave runtime has shut down"),
        }
    }
}

impl std::error::Error for SpawnError {}

/// The time driver of the current runtime, or of the process-wide default runtime.
pub(crate) fn current_time_driver() -> Arc<crate::time::Driver> {
    context::with_current(|h| h.map(|h| h.shared.time.clone()))
        .unwrap_or_else(|| global_handle().shared.time.clone())
}

/// The index of this thread's worker, if it is a worker of the runtime whose shared
/// state is `shared`.
#[inline]
pub(crate) fn worker_of(shared: &shared::Shared) -> Option<usize> {
    context::with_worker(|w| w.filter(|w| w.serves(shared)).map(|w| w.index()))
}

/// True on a worker thread of the runtime whose shared state is `shared`.
#[inline]
pub(crate) fn on_worker_of(shared: &shared::Shared) -> bool {
    worker_of(shared).is_some()
}

/// Hands a reference to a runtime, given up by a task freed on this thread, to this
/// thread's worker if it is one of that runtime's (which releases them in batches);
/// otherwise returns it.
#[inline]
pub(crate) fn keep_runtime_reference(
    shared: crate::sync::Arc<shared::Shared>,
) -> Option<crate::sync::Arc<shared::Shared>> {
    context::with_worker(|w| match w {
        Some(w) => w.keep_runtime_reference(shared),
        None => Some(shared),
    })
}

/// Hands an ExecutableTask's end to this worker (see `graph/ended.rs`) if this is a
/// worker of the runtime whose shared state is `shared`; else hands it back.
#[inline]
pub(crate) fn buffer_end(
    shared: &shared::Shared,
    end: crate::graph::ended::End,
) -> Option<crate::graph::ended::End> {
    context::with_worker(|w| match w {
        Some(w) if w.serves(shared) => {
            w.buffer_end(end);
            None
        }
        _ => Some(end),
    })
}

/// Applies ExecutableTask ends reported off the runtime's workers, at once.
pub(crate) fn apply_ends(shared: &shared::Shared, ends: &mut Vec<crate::graph::ended::End>) {
    let mut recorded = crate::graph::buffered::Recorded::default();
    let mut done = Default::default();
    let mut none = std::collections::VecDeque::new();
    let pick = crate::graph::dispatch::Pick {
        into: &mut none,
        max: 0,
        spread: 1,
        max_claims: 0,
    };
    recorded.released = shared
        .dispatch
        .exchange(
            ends,
            None,
            pick,
            &mut crate::graph::dispatch::Claims::new(),
            &mut done,
            &mut recorded.finished,
            &mut recorded.doomed,
        )
        .released;
    recorded.settle(shared);
}

/// The current runtime's handle, or the process-wide default runtime's.
pub(crate) fn current_or_global() -> Handle {
    context::with_current(|h| h.cloned()).unwrap_or_else(|| global_handle().clone())
}

/// Runs `f` with the current runtime's handle, or the default runtime's; avoids
/// cloning the handle.
pub(crate) fn with_current_or_global<R>(f: impl FnOnce(&Handle) -> R) -> R {
    let mut f = Some(f);
    let done = context::with_current(|h| h.map(|h| (f.take().expect("once"))(h)));
    match done {
        Some(r) => r,
        None => (f.take().expect("once"))(global_handle()),
    }
}

/// Spawns on the current runtime, or the default one; avoids cloning the handle.
pub(crate) fn spawn_current<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Some(future);
    let spawned = context::with_current(|h| h.map(|h| h.spawn(future.take().expect("once"))));
    match spawned {
        Some(join) => join,
        None => global_handle().spawn(future.take().expect("once")),
    }
}
