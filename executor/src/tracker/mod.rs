//! `TaskTracker`: spawn tasks with a name and a kind, and see what they are doing —
//! live counts (spawned, running, completed, failed, panicked, cancelled), the list
//! of live tasks, and cancellation of every task of a kind.
//!
//! How it is kept cheap:
//! - The live-task table is split into shards (a power of two: 8 per core, 16 to
//!   64), each a hash table by task id under its own lock. A task goes to the shard
//!   its id names (the id is taken before the task is allocated), so consecutive
//!   spawns spread over the shards and a worker spawning and workers ending tasks
//!   rarely meet on one lock (as in the runtime's owned-task list).
//! - Counters live next to the entries, under the same lock, so a spawn costs one
//!   short critical section (file the entry, bump a counter) and an end another, and
//!   each shard's counts always add up (see `shard.rs`). No lock is held while a
//!   task is allocated, polled or dropped.
//! - A tracked task is the user's future inside a small wrapper (no extra allocation:
//!   it lives in the task's own allocation). The wrapper reports the task's end from
//!   inside its poll (an output, classified as completed or failed; a panic, caught
//!   and resumed so the `JoinHandle` still sees it) or from its destructor
//!   (cancelled). So outcomes are counted even for detached tasks whose `JoinHandle`
//!   nobody awaits.
//! - Memory is bounded by the tasks alive at once: an entry is removed when its task
//!   ends, and an emptied shard whose table grew past 64 entries frees it. Per-kind
//!   counters grow with the number of distinct kinds, which are `&'static str`
//!   labels (like metric label values), not per-task data.

mod shard;
mod stats;

use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Poll;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::runtime::Handle;
use crate::sync::{Arc, Mutex};
use crate::task::{self, JoinHandle, Schedule, TaskName};
use shard::{Entry, KindMap, Outcome, ShardState};
pub use stats::{KindStats, TaskInfo, TrackerStats};

/// One shard of the live-task table.
struct Shard(CachePadded<Mutex<ShardState>>);

impl Shard {
    fn lock(&self) -> crate::sync::MutexGuard<'_, ShardState> {
        self.0.lock()
    }
}

struct Inner {
    shards: Box<[Arc<Shard>]>,
    /// The runtime to spawn on; `None`: the current one at each spawn.
    handle: Option<Handle>,
}

/// Spawns tasks with a name and a kind, and keeps live statistics about them.
/// Cloning is cheap; clones share the same table and counters.
///
/// ```
/// use taskweave_executor::tracker::TaskTracker;
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let tracker = TaskTracker::with_handle(rt.handle());
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let waiting = tracker.spawn("wait-for-signal", "io", async move {
///     while rx.try_recv().is_err() {
///         taskweave_executor::time::sleep(std::time::Duration::from_millis(1)).await;
///     }
/// });
/// let done = tracker.spawn(format!("job-{}", 1), "cpu", async { 6 * 7 });
/// assert_eq!(rt.block_on(done).unwrap(), 42);
///
/// let running = tracker.running();
/// assert_eq!(running.len(), 1);
/// assert_eq!((&*running[0].name, running[0].kind), ("wait-for-signal", "io"));
///
/// assert_eq!(tracker.cancel_kind("io"), 1);
/// assert!(rt.block_on(waiting).unwrap_err().is_cancelled());
/// drop(tx);
/// let stats = tracker.stats();
/// assert_eq!((stats.spawned, stats.completed, stats.cancelled, stats.running), (2, 1, 1, 0));
/// ```
#[derive(Clone)]
pub struct TaskTracker {
    inner: Arc<Inner>,
}

impl TaskTracker {
    /// A tracker whose tasks go to the current runtime at each spawn (the one whose
    /// task, `block_on` or `enter` the spawning thread is in), or to the process-wide
    /// default runtime outside any, like [`crate::spawn`].
    pub fn new() -> TaskTracker {
        TaskTracker::build(None)
    }

    /// A tracker whose tasks always go to `handle`'s runtime.
    pub fn with_handle(handle: &Handle) -> TaskTracker {
        TaskTracker::build(Some(handle.clone()))
    }

    fn build(handle: Option<Handle>) -> TaskTracker {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards = (cores * 8).next_power_of_two().clamp(16, 64);
        TaskTracker {
            inner: Arc::new(Inner {
                shards: (0..shards)
                    .map(|_| Arc::new(Shard(CachePadded::new(Mutex::new(ShardState::default())))))
                    .collect(),
                handle,
            }),
        }
    }

    /// Spawns a tracked task named `name`, of kind `kind`. It counts as *completed*
    /// when it produces its output, *panicked* if it panics, *cancelled* if it is
    /// dropped before that (aborted through its `JoinHandle`, [`cancel_kind`],
    /// runtime shutdown).
    ///
    /// `kind` is a label from a fixed set (counters are kept per kind, forever); put
    /// per-task detail in `name`.
    ///
    /// [`cancel_kind`]: TaskTracker::cancel_kind
    pub fn spawn<F>(
        &self,
        name: impl Into<TaskName>,
        kind: &'static str,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_classified(name.into(), kind, future, |_| false)
    }

    /// Like [`spawn`](TaskTracker::spawn) for a future returning a `Result`: an `Err`
    /// output counts as *failed* instead of *completed*.
    ///
    /// ```
    /// use taskweave_executor::tracker::TaskTracker;
    ///
    /// let rt = taskweave_executor::Runtime::new().unwrap();
    /// let tracker = TaskTracker::with_handle(rt.handle());
    /// let parsed = tracker.spawn_fallible("parse", "cpu", async { "x1".parse::<u32>() });
    /// assert!(rt.block_on(parsed).unwrap().is_err());
    /// assert_eq!(tracker.stats_of_kind("cpu").failed, 1);
    /// ```
    pub fn spawn_fallible<F, T, E>(
        &self,
        name: impl Into<TaskName>,
        kind: &'static str,
        future: F,
    ) -> JoinHandle<Result<T, E>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.spawn_classified(name.into(), kind, future, Result::is_err)
    }

    fn spawn_classified<F>(
        &self,
        name: TaskName,
        kind: &'static str,
        future: F,
        failed: fn(&F::Output) -> bool,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.inner.handle {
            Some(handle) => self.spawn_on(handle, name, kind, future, failed),
            None => crate::runtime::with_current_or_global(|handle| {
                self.spawn_on(handle, name, kind, future, failed)
            }),
        }
    }

    fn spawn_on<F>(
        &self,
        handle: &Handle,
        name: TaskName,
        kind: &'static str,
        future: F,
        failed: fn(&F::Output) -> bool,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // The task is filed under its id, taken first, so its end guard knows where
        // to find its entry; the entry is in the table before the task can run.
        let id = task::Id::next();
        let shard = self.inner.shard_of(id);
        let end = EndGuard {
            shard: shard.clone(),
            id,
            ended: false,
        };
        let tracked = track(future, end, name.clone(), failed);
        let (owned, notified, join) = task::new_task_with_id(tracked, handle.shared.clone(), id);
        let entry = Entry::new(name, kind, Instant::now(), join.abort_handle());
        shard.lock().insert(id, entry);
        // After shutdown this cancels the task, which ends its entry as cancelled.
        let _ = handle.bind_and_schedule(owned, notified, |n| handle.shared.schedule(n));
        join
    }

    /// Counts over every kind.
    pub fn stats(&self) -> TrackerStats {
        let mut total = TrackerStats::default();
        for shard in self.inner.shards.iter() {
            for (_, stats) in shard.lock().kinds() {
                total.add(&stats);
            }
        }
        total
    }

    /// Counts per kind, sorted by kind.
    pub fn stats_by_kind(&self) -> Vec<KindStats> {
        let mut merged: KindMap<TrackerStats> = KindMap::default();
        for shard in self.inner.shards.iter() {
            for (kind, stats) in shard.lock().kinds() {
                merged.entry(kind).or_default().add(&stats);
            }
        }
        let mut kinds: Vec<KindStats> = merged
            .into_iter()
            .map(|(kind, stats)| KindStats { kind, stats })
            .collect();
        kinds.sort_unstable_by_key(|k| k.kind);
        kinds
    }

    /// Counts of one kind (all zero for a kind never spawned).
    pub fn stats_of_kind(&self, kind: &str) -> TrackerStats {
        let mut total = TrackerStats::default();
        for shard in self.inner.shards.iter() {
            for (_, stats) in shard.lock().kinds().filter(|(k, _)| *k == kind) {
                total.add(&stats);
            }
        }
        total
    }

    /// The live tasks (spawned, not yet ended), oldest first.
    pub fn running(&self) -> Vec<TaskInfo> {
        self.collect_live(|_| true)
    }

    /// The live tasks of one kind, oldest first.
    pub fn running_of_kind(&self, kind: &str) -> Vec<TaskInfo> {
        self.collect_live(|entry| entry.kind == kind)
    }

    fn collect_live(&self, keep: impl Fn(&Entry) -> bool) -> Vec<TaskInfo> {
        let mut live = Vec::new();
        for shard in self.inner.shards.iter() {
            live.extend(shard.lock().entries().filter(|(_, entry)| keep(entry)).map(
                |(id, entry)| TaskInfo {
                    id,
                    name: entry.name.clone(),
                    kind: entry.kind,
                    spawned_at: entry.spawned_at,
                },
            ));
        }
        live.sort_unstable_by_key(|info| (info.spawned_at, info.id));
        live
    }

    /// Number of live tasks.
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().live()).sum()
    }

    /// True if no tracked task is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries the live-task table has room for: its memory, in entries. It follows
    /// the most tasks alive at once (hash-table growth at most doubles that), not
    /// the tasks ever spawned, and a shard's table is freed when it empties after
    /// growing past 64 entries.
    pub fn table_capacity(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().capacity()).sum()
    }

    /// Aborts every live task of kind `kind`; returns how many were asked to stop.
    /// Each ends as *cancelled* at its next scheduling point (at once if idle),
    /// unless it finishes first. Tasks spawned while this runs may be missed.
    pub fn cancel_kind(&self, kind: &str) -> usize {
        self.abort_where(|entry| entry.kind == kind)
    }

    /// Aborts every live task; returns how many were asked to stop.
    pub fn cancel_all(&self) -> usize {
        self.abort_where(|_| true)
    }

    fn abort_where(&self, doomed: impl Fn(&Entry) -> bool) -> usize {
        let mut count = 0;
        for shard in self.inner.shards.iter() {
            // Abort outside the lock: aborting may end a task, whose end locks it.
            let handles: Vec<task::AbortHandle> = shard
                .lock()
                .entries()
                .filter(|(_, entry)| doomed(entry))
                .map(|(_, entry)| entry.abort.clone())
                .collect();
            count += handles.len();
            for handle in handles {
                handle.abort();
            }
        }
        count
    }
}

impl Inner {
    /// The shard of task `id`. Ids are handed out sequentially (per thread, in
    /// blocks), so consecutive spawns, and the ends of tasks running meanwhile on
    /// other workers, rarely meet on one lock.
    fn shard_of(&self, id: task::Id) -> &Arc<Shard> {
        &self.shards[(id.as_u64() as usize) & (self.shards.len() - 1)]
    }
}

impl Default for TaskTracker {
    fn default() -> Self {
        TaskTracker::new()
    }
}

impl std::fmt::Debug for TaskTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskTracker")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Ends a tracked task's entry exactly once: from the wrapper's poll with the
/// outcome, or from its destructor as cancelled.
struct EndGuard {
    shard: Arc<Shard>,
    id: task::Id,
    ended: bool,
}

impl EndGuard {
    fn end(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let entry = self.shard.lock().remove(self.id, outcome);
        drop(entry); // outside the lock
    }
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.end(Outcome::Cancelled);
    }
}

/// The tracked task: `future`, with its end reported through `end`.
///
/// `end` is a parameter and `future` a local, so when the task is dropped the user's
/// future is dropped first and the end (cancelled) counted after it.
async fn track<F: Future>(
    future: F,
    mut end: EndGuard,
    name: TaskName,
    failed: fn(&F::Output) -> bool,
) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        crate::runtime::trace::note_task_name(|| name.clone());
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => {
                end.end(if failed(&output) {
                    Outcome::Failed
                } else {
                    Outcome::Completed
                });
                Poll::Ready(output)
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                end.end(Outcome::Panicked);
                resume_unwind(payload)
            }
        }
    })
    .await
}
