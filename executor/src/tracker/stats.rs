//! What a tracker reports: counters ([`TrackerStats`], per kind [`KindStats`]) and its
//! live tasks ([`TaskInfo`]).

use std::time::{Duration, Instant};

use crate::task::{Id, TaskName};

/// Counts of tracked tasks. `spawned == running + completed + failed + panicked +
/// cancelled` always holds.
///
/// ```
/// use taskweave_executor::tracker::TaskTracker;
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let tracker = TaskTracker::with_handle(rt.handle());
/// rt.block_on(async {
///     tracker.spawn("ok", "demo", async {}).await.unwrap();
///     let _ = tracker.spawn_fallible("bad", "demo", async { Err::<(), _>("no") }).await;
/// });
/// let stats = tracker.stats();
/// assert_eq!((stats.spawned, stats.completed, stats.failed, stats.running), (2, 1, 1, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Tasks spawned.
    pub spawned: u64,
    /// Tasks spawned and not yet ended (waiting or being polled).
    pub running: u64,
    /// Tasks that produced an output (an `Ok` one, for fallible tasks).
    pub completed: u64,
    /// Fallible tasks whose output was an `Err`.
    pub failed: u64,
    /// Tasks that panicked.
    pub panicked: u64,
    /// Tasks dropped before they ended: aborted, cancelled by kind, or cut off by
    /// runtime shutdown.
    pub cancelled: u64,
}

impl TrackerStats {
    /// Tasks that ended, however they did.
    pub fn finished(&self) -> u64 {
        self.completed + self.failed + self.panicked + self.cancelled
    }

    pub(crate) fn add(&mut self, other: &TrackerStats) {
        self.spawned += other.spawned;
        self.running += other.running;
        self.completed += other.completed;
        self.failed += other.failed;
        self.panicked += other.panicked;
        self.cancelled += other.cancelled;
    }
}

/// The counts of one kind of tracked task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindStats {
    /// The kind given at spawn.
    pub kind: &'static str,
    /// Its counts.
    pub stats: TrackerStats,
}

/// A live tracked task.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// The task's runtime id (the same as its `JoinHandle::id`).
    pub id: Id,
    /// The name given at spawn.
    pub name: TaskName,
    /// The kind given at spawn.
    pub kind: &'static str,
    /// When it was spawned.
    pub spawned_at: Instant,
}

impl TaskInfo {
    /// How long ago it was spawned.
    pub fn age(&self) -> Duration {
        self.spawned_at.elapsed()
    }
}
