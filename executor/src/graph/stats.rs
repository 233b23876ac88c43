//! ExecutableTask counters: how many were submitted, started, and how each ended.
//!
//! The counters live in the dispatch state (`dispatch.rs`) and move under its lock,
//! which every point that changes them holds anyway — so counting costs no atomic
//! operation of its own (per-task shared atomics, bumped by both workers, cost more
//! than the rest of a trivial task's bookkeeping). Where each moves:
//! - `submitted`: a batch accepted by the graph;
//! - `started`: a task's first run taken from the ready heap (the graph marks it
//!   running there);
//! - `ended` and the outcome: the runner's report of its end (from `poll`, or from
//!   `Drop` when it is aborted while started); the outcome only if the graph accepted
//!   it. `started - ended` is the *running* gauge;
//! - `cancelled` / `dependency_failed` also count tasks doomed before they started,
//!   and a running task cancelled through its `TaskHandle`.
//!
//! A runner dropped by runtime shutdown off the runtime's threads cannot report, so
//! after shutdown the running gauge reads 0 instead of `started - ended`.

use taskweave_scheduler::FailureReason;

use crate::runtime::Handle;
use crate::sync::Arc;

/// The counters of one runtime (kept in its dispatch state, see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GraphStats {
    submitted: u64,
    started: u64,
    ended: u64,
    succeeded: u64,
    failed: u64,
    panicked: u64,
    timed_out: u64,
    cancelled: u64,
    dependency_failed: u64,
}

impl GraphStats {
    /// Tasks accepted by the graph so far.
    pub(crate) fn submitted(&self) -> u64 {
        self.submitted
    }

    pub(crate) fn add_submitted(&mut self, tasks: usize) {
        self.submitted += tasks as u64;
    }

    pub(crate) fn add_started(&mut self) {
        self.started += 1;
    }

    pub(crate) fn add_ended(&mut self) {
        self.ended += 1;
    }

    /// A completion the graph accepted.
    pub(crate) fn add_outcome(&mut self, outcome: Result<(), FailureReason>) {
        let counter = match outcome {
            Ok(()) => &mut self.succeeded,
            Err(FailureReason::Failed) => &mut self.failed,
            Err(FailureReason::Panicked) => &mut self.panicked,
            Err(FailureReason::TimedOut) => &mut self.timed_out,
            Err(FailureReason::Cancelled) => &mut self.cancelled,
            Err(FailureReason::DependencyFailed(_)) => &mut self.dependency_failed,
        };
        *counter += 1;
    }

    /// A task doomed before it started: by a failed dependency, or cancelled
    /// (itself, or by shutdown).
    pub(crate) fn add_doomed(&mut self, by_dependency: bool) {
        if by_dependency {
            self.dependency_failed += 1;
        } else {
            self.cancelled += 1;
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
    fn stats(&self) -> GraphStats {
        super::buffered::query(&self.shared, |d, r| d.stats(r))
    }

    /// Tasks accepted by `submit` or `TaskGraph::submit`.
    pub fn submitted_count(&self) -> u64 {
        self.stats().submitted
    }

    /// Tasks whose first poll happened.
    pub fn started_count(&self) -> u64 {
        self.stats().started
    }

    /// Tasks that produced a value.
    pub fn succeeded_count(&self) -> u64 {
        self.stats().succeeded
    }

    /// Tasks that returned an error (after their retries).
    pub fn failed_count(&self) -> u64 {
        self.stats().failed
    }

    /// Tasks that panicked (after their retries).
    pub fn panicked_count(&self) -> u64 {
        self.stats().panicked
    }

    /// Tasks that ran past their timeout (after their retries).
    pub fn timed_out_count(&self) -> u64 {
        self.stats().timed_out
    }

    /// Tasks cancelled, before or after they started.
    pub fn cancelled_count(&self) -> u64 {
        self.stats().cancelled
    }

    /// Tasks that never ran because a dependency did not succeed.
    pub fn dependency_failed_count(&self) -> u64 {
        self.stats().dependency_failed
    }

    /// Items waiting in the ready heap: tasks ready to start, and started tasks that
    /// were woken (an estimate: a task cancelled while queued counts until a worker
    /// skips its item).
    pub fn ready_queue_depth(&self) -> usize {
        self.shared.dispatch.ready_len()
    }

    /// Tasks started and not yet ended (0 once the runtime has shut down).
    pub fn running_count(&self) -> u64 {
        self.running(&self.stats())
    }

    /// The running tasks of `stats`: 0 once the runtime has shut down (shutdown
    /// cancels them without recording their ends).
    fn running(&self, stats: &GraphStats) -> u64 {
        if self.shared.is_shutdown() {
            return 0;
        }
        stats.started.saturating_sub(stats.ended)
    }
}

/// All of [`GraphMetrics`]' counts at one instant: read under one lock, so they agree
/// with each other (e.g. `started >= succeeded + failed + panicked + timed_out`).
///
/// ```
/// use taskweave_executor::graph::ExecutableTask;
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let ok = rt.submit(ExecutableTask::new(async { 1 })).unwrap();
/// rt.block_on(async { ok.await.unwrap() });
/// let counts = rt.graph_metrics().snapshot();
/// assert_eq!((counts.submitted, counts.started, counts.succeeded), (1, 1, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GraphCounts {
    /// See [`GraphMetrics::submitted_count`].
    pub submitted: u64,
    /// See [`GraphMetrics::started_count`].
    pub started: u64,
    /// See [`GraphMetrics::succeeded_count`].
    pub succeeded: u64,
    /// See [`GraphMetrics::failed_count`].
    pub failed: u64,
    /// See [`GraphMetrics::panicked_count`].
    pub panicked: u64,
    /// See [`GraphMetrics::timed_out_count`].
    pub timed_out: u64,
    /// See [`GraphMetrics::cancelled_count`].
    pub cancelled: u64,
    /// See [`GraphMetrics::dependency_failed_count`].
    pub dependency_failed: u64,
    /// See [`GraphMetrics::running_count`].
    pub running: u64,
    /// See [`GraphMetrics::ready_queue_depth`].
    pub ready_queue_depth: usize,
}

impl GraphMetrics {
    /// Every count at once (one trip to the dispatch lock instead of one per getter).
    pub fn snapshot(&self) -> GraphCounts {
        let stats = self.stats();
        GraphCounts {
            submitted: stats.submitted,
            started: stats.started,
            succeeded: stats.succeeded,
            failed: stats.failed,
            panicked: stats.panicked,
            timed_out: stats.timed_out,
            cancelled: stats.cancelled,
            dependency_failed: stats.dependency_failed,
            running: self.running(&stats),
            ready_queue_depth: self.ready_queue_depth(),
        }
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
