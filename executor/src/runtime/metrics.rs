//! Runtime metrics: per-worker counters and live gauges.
//!
//! Counters are plain statistics, part of no protocol, so they use std's atomics even
//! under loom. Each worker's counters are written only by that worker (load + store,
//! no read-modify-write), padded to their own cache line, and read by anyone.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::shared::Shared;
use crate::sync::Arc;

/// One worker's counters.
#[derive(Default)]
pub(crate) struct WorkerStats(CachePadded<Counters>);

#[derive(Default)]
struct Counters {
    polls: AtomicU64,
    steals: AtomicU64,
    parks: AtomicU64,
    busy_ns: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
}

impl WorkerStats {
    pub(crate) fn add_poll(&self) {
        bump(&self.0.polls, 1);
    }
    pub(crate) fn add_steal(&self, tasks: u64) {
        bump(&self.0.steals, tasks);
    }
    pub(crate) fn add_park(&self) {
        bump(&self.0.parks, 1);
    }
    pub(crate) fn add_busy(&self, d: Duration) {
        bump(&self.0.busy_ns, d.as_nanos() as u64);
    }
}

/// A view of a runtime's metrics; cheap to clone, reads live values.
///
/// ```
/// let rt = taskweave_executor::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .build()
///     .unwrap();
/// rt.block_on(async {
///     for i in 0..10 {
///         taskweave_executor::spawn(async move { i }).await.unwrap();
///     }
/// });
/// let m = rt.metrics();
/// assert_eq!(m.num_workers(), 2);
/// let polls: u64 = (0..2).map(|w| m.worker_poll_count(w)).sum();
/// assert!(polls >= 10);
/// ```
#[derive(Clone)]
pub struct RuntimeMetrics {
    shared: Arc<Shared>,
}

impl RuntimeMetrics {
    pub(crate) fn new(shared: Arc<Shared>) -> RuntimeMetrics {
        RuntimeMetrics { shared }
    }

    /// Number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.shared.remotes.len()
    }

    /// Tasks spawned or submitted and not yet completed (including blocking tasks and
    /// ExecutableTasks waiting for their dependencies).
    pub fn num_alive_tasks(&self) -> usize {
        let live = crate::graph::buffered::query(&self.shared, |d, r| d.live(r));
        self.shared.owned.len() + live
    }

    /// Tasks ever spawned on this runtime, ExecutableTasks submitted included.
    pub fn spawned_tasks_count(&self) -> u64 {
        let stats = crate::graph::buffered::query(&self.shared, |d, r| d.stats(r));
        self.shared.owned.bound_count() + stats.submitted()
    }

    /// Tasks waiting in the global injector.
    pub fn injector_queue_depth(&self) -> usize {
        self.shared.injector.len()
    }

    /// Tasks waiting in worker `worker`'s own deque.
    ///
    /// # Panics
    /// If `worker >= num_workers()`.
    pub fn worker_local_queue_depth(&self, worker: usize) -> usize {
        self.shared.remotes[worker].stealer.len()
    }

    /// Task polls done by worker `worker`.
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        self.shared.stats[worker].0.polls.load(Relaxed)
    }

    /// Tasks worker `worker` stole from other workers.
    pub fn worker_steal_count(&self, worker: usize) -> u64 {
        self.shared.stats[worker].0.steals.load(Relaxed)
    }

    /// Times worker `worker` parked for lack of work.
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        self.shared.stats[worker].0.parks.load(Relaxed)
    }

    /// Time worker `worker` spent out of park (running or looking for tasks), up to
    /// its last park.
    pub fn worker_total_busy_duration(&self, worker: usize) -> Duration {
        Duration::from_nanos(self.shared.stats[worker].0.busy_ns.load(Relaxed))
    }

    /// Threads in the blocking pool.
    pub fn num_blocking_threads(&self) -> usize {
        self.shared.blocking.num_threads()
    }

    /// Idle threads in the blocking pool.
    pub fn num_idle_blocking_threads(&self) -> usize {
        self.shared.blocking.num_idle_threads()
    }

    /// Blocking jobs waiting for a thread.
    pub fn blocking_queue_depth(&self) -> usize {
        self.shared.blocking.queue_depth()
    }
}

impl std::fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeMetrics")
            .field("workers", &self.num_workers())
            .field("alive_tasks", &self.num_alive_tasks())
            .field("injector_depth", &self.injector_queue_depth())
            .finish()
    }
}
