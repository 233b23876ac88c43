//! ExecutableTask counters: how many were submitted, started, and how each ended.
//!
//! Where each counter moves (one call at each point, no other bookkeeping):
//! - `submitted`: `submit.rs`, once a batch is accepted by the graph.
//! - `started` / `ended`: `run.rs`, at the runner's first poll and when it reports its
//!   end (from `poll`, or from `Drop` when it is aborted while started). Their
//!   difference is the *running* gauge.
//! - outcomes: `graph/mod.rs` — a completion the graph accepted (succeeded, failed,
//!   panicked, timed out, cancelled while started), and each task doomed before it
//!   started (cancelled, or a dependency failed).
//!
//! Counters are statistics, part of no protocol: std atomics (even under loom),
//! relaxed, each bumped once per task. A runner dropped by runtime shutdown off the
//! runtime's threads cannot report, so after shutdown the running gauge reads 0
//! instead of `started - ended`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use taskweave_scheduler::FailureReason;

use crate::runtime::Handle;
use crate::sync::Arc;

/// The counters; one per runtime, in its shared state.
#[derive(Default)]
pub(crate) struct GraphStats {
    submitted: AtomicU64,
    started: AtomicU64,
    ended: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    timed_out: AtomicU64,
    cancelled: AtomicU64,
    dependency_failed: AtomicU64,
}

impl GraphStats {
    pub(crate) fn add_submitted(&self, tasks: usize) {
        self.submitted.fetch_add(tasks as u64, Relaxed);
    }

    pub(crate) fn add_started(&self) {
        self.started.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_ended(&self) {
        self.ended.fetch_add(1, Relaxed);
    }

    /// A completion the graph accepted.
    pub(crate) fn add_outcome(&self, outcome: Result<(), FailureReason>) {
        let counter = match outcome {
            Ok(()) => &self.succeeded,
            Err(FailureReason::Failed) => &self.failed,
            Err(FailureReason::Panicked) => &self.panicked,
            Err(FailureReason::TimedOut) => &self.timed_out,
            Err(FailureReason::Cancelled) => &self.cancelled,
            Err(FailureReason::DependencyFailed(_)) => &self.dependency_failed,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// Tasks doomed before they started, each with its root cause if a dependency
    /// failed (see `dispatch::Doomed`).
    pub(crate) fn add_doomed(&self, doomed: &super::dispatch::Doomed) {
        let by_dependency = doomed.iter().filter(|(_, root)| root.is_some()).count() as u64;
        let cancelled = doomed.len() as u64 - by_dependency;
        if by_dependency > 0 {
            self.dependency_failed.fetch_add(by_dependency, Relaxed);
        }
        if cancelled > 0 {
            self.cancelled.fetch_add(cancelled, Relaxed);
        }
    }
}

/// A live view of a runtime's ExecutableTask counters; cheap to clone.
///
/// Every submitted task ends in exactly one of succeeded, failed, panicked,
/// timed out, cancelled or dependency-failed (unless runtime shutdown cut it off).
///
/// ```
/// use taskweave_executor::graph::ExecutableTask;
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let ok = rt.submit(ExecutableTask::new(async { 1 })).unwrap();
/// let bad = rt.submit(ExecutableTask::try_new(async { Err::<u8, _>("no") })).unwrap();
/// rt.block_on(async {
///     assert_eq!(ok.await.unwrap(), 1);
///     assert!(bad.await.is_err());
/// });
/// let m = rt.graph_metrics();
/// assert_eq!(m.submitted_count(), 2);
/// assert_eq!(m.started_count(), 2);
/// assert_eq!(m.succeeded_count(), 1);
/// assert_eq!(m.failed_count(), 1);
/// ```
#[derive(Clone)]
pub struct GraphMetrics {
    shared: Arc<crate::runtime::shared::Shared>,
}

impl GraphMetrics {
    fn stats(&self) -> &GraphStats {
        &self.shared.graph_stats
    }

    /// Tasks accepted by `submit` or `TaskGraph::submit`.
    pub fn submitted_count(&self) -> u64 {
        self.stats().submitted.load(Relaxed)
    }

    /// Tasks whose first poll happened.
    pub fn started_count(&self) -> u64 {
        self.stats().started.load(Relaxed)
    }

    /// Tasks that produced a value.
    pub fn succeeded_count(&self) -> u64 {
        self.stats().succeeded.load(Relaxed)
    }

    /// Tasks that returned an error (after their retries).
    pub fn failed_count(&self) -> u64 {
        self.stats().failed.load(Relaxed)
    }

    /// Tasks that panicked (after their retries).
    pub fn panicked_count(&self) -> u64 {
        self.stats().panicked.load(Relaxed)
    }

    /// Tasks that ran past their timeout (after their retries).
    pub fn timed_out_count(&self) -> u64 {
        self.stats().timed_out.load(Relaxed)
    }

    /// Tasks cancelled, before or after they started.
    pub fn cancelled_count(&self) -> u64 {
        self.stats().cancelled.load(Relaxed)
    }

    /// Tasks that never ran because a dependency did not succeed.
    pub fn dependency_failed_count(&self) -> u64 {
        self.stats().dependency_failed.load(Relaxed)
    }

    /// Items waiting in the ready heap: tasks ready to start, and started tasks that
    /// were woken (an estimate: a task cancelled while queued counts until a worker
    /// skips its item).
    pub fn ready_queue_depth(&self) -> usize {
        self.shared.dispatch.ready_len()
    }

    /// Tasks started and not yet ended (0 once the runtime has shut down).
    pub fn running_count(&self) -> u64 {
        if self.shared.is_shutdown() {
            return 0;
        }
        let stats = self.stats();
        // Read `ended` first: a task counted there was counted in `started` before.
        let ended = stats.ended.load(Relaxed);
        stats.started.load(Relaxed).saturating_sub(ended)
    }
}

impl std::fmt::Debug for GraphMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphMetrics")
            .field("submitted", &self.submitted_count())
            .field("started", &self.started_count())
            .field("succeeded", &self.succeeded_count())
            .field("running", &self.running_count())
            .finish()
    }
}

impl Handle {
    /// This runtime's ExecutableTask counters; see [`GraphMetrics`].
    pub fn graph_metrics(&self) -> GraphMetrics {
        GraphMetrics {
            shared: self.shared.clone(),
        }
    }
}
