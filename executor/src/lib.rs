//! The taskweave runtime: a work-stealing async executor that can stand in for tokio's
//! multi-thread runtime.
//!
//! - [`Runtime`] / [`runtime::Builder`]: worker threads with per-worker deques
//!   (crossbeam-deque, FIFO stealing in batches) and a global injector.
//! - [`spawn`], [`JoinHandle`], [`JoinError`], [`spawn_blocking`], [`task::yield_now`].
//! - [`time`]: `sleep`, `sleep_until`, `timeout`, `interval`, driven by the runtime's
//!   own timer thread.
//! - [`block_on`]: run a future on the process-wide default runtime.
//! - [`supervise`]: [`spawn_critical`] (restart a task after a panic or error, per a
//!   policy, backoff, restart budget and stable window) and [`Supervisor`] (named
//!   tasks managed at run time); [`TimeoutExt`]: `.with_timeout(d)` on every future.
//! - [`graph`]: ExecutableTasks (dependencies, priorities, deadlines, retries) and
//!   [`monitor`]: the resource monitor gating them (adaptive concurrency, admission,
//!   backpressure).
//! - [`tracker::TaskTracker`]: spawn with a name and a kind; live counts, the list of
//!   live tasks, cancel by kind.
//! - [`export`]: Prometheus text of the runtime's, graph's and trackers' metrics, and
//!   a Chrome trace-event JSON of task polls ([`Handle::start_trace`]).
//!
//! ```
//! let rt = taskweave_executor::Runtime::new().unwrap();
//! let total: u64 = rt.block_on(async {
//!     let tasks: Vec<_> = (1..=10u64)
//!         .map(|i| taskweave_executor::spawn(async move { i * i }))
//!         .collect();
//!     let mut sum = 0;
//!     for t in tasks {
//!         sum += t.await.unwrap();
//!     }
//!     sum
//! });
//! assert_eq!(total, 385);
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod blocking;
mod coop;
pub mod export;
pub mod graph;
pub mod monitor {
    //! The resource monitor as the runtime uses it: [`MonitorConfig`] for
    //! [`Builder::monitor`](crate::runtime::Builder::monitor), [`MonitorStatus`] from
    //! [`Runtime::monitor_status`](crate::Runtime::monitor_status), and the
    //! `taskweave-monitor` crate's probes, snapshots and controller settings.
    //!
    //! On by default, for ExecutableTasks only (plain `spawn` is never gated): a
    //! sampling thread (started at the first submission) reads CPU, memory and Linux
    //! PSI; a controller adapts how many ExecutableTasks run at once; tasks whose
    //! declared resources do not fit wait, by priority; impossible ones are refused at
    //! submit; `try_submit` / `submit_wait` give backpressure on pending tasks.
    pub use crate::runtime::monitoring::{MonitorConfig, MonitorStatus, SamplerState};
    pub use taskweave_monitor::{
        system_probe, Budget, ConcurrencyController, ControllerConfig, Decision, FakeProbe,
        LoadAverage, Merged, Pressure, Probe, ProbeError, PsiProbe, PsiShares, Requirements,
        Sample, ShrinkReason, StallShare, SysinfoProbe, DEFAULT_INTERVAL, MIN_INTERVAL,
    };
}
#[cfg(taskweave_loom)]
#[doc(hidden)]
pub mod loom_support;
mod prefetch;
pub mod runtime;
pub mod supervise;
mod sync;
pub mod task;
pub mod time;
pub mod tracker;

use std::future::Future;

pub use runtime::{Builder, Handle, Runtime};
pub use supervise::{spawn_critical, CriticalHandle, Supervisor};
pub use task::{AbortHandle, JoinError, JoinHandle};
pub use time::TimeoutExt;

/// Spawns a task on the current runtime (the one whose task, `block_on` or
/// `Runtime::enter` this thread is in); outside any runtime, on the process-wide
/// default runtime.
///
/// ```
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// rt.block_on(async {
///     let h = taskweave_executor::spawn(async { "done" });
///     assert_eq!(h.await.unwrap(), "done");
/// });
/// ```
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime::spawn_current(future)
}

/// Runs a blocking closure on the current runtime's blocking pool (or the default
/// runtime's outside any runtime).
///
/// ```
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let n = rt.block_on(async {
///     taskweave_executor::spawn_blocking(|| std::fs::metadata(".").is_ok()).await.unwrap()
/// });
/// assert!(n);
/// ```
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    runtime::current_or_global().spawn_blocking(f)
}

/// Runs `future` to completion on this thread, inside the process-wide default
/// runtime's context.
///
/// # Panics
/// When called on a thread that already drives a runtime (see [`Runtime::block_on`]).
///
/// ```
/// let v = taskweave_executor::block_on(async {
///     taskweave_executor::spawn(async { 7 }).await.unwrap()
/// });
/// assert_eq!(v, 7);
/// ```
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime::global_handle().block_on(future)
}
