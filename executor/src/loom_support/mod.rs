//! Thin public handles on crate-private internals, for the loom models in
//! `loom-tests/`. Compiled only under `--cfg taskweave_loom`; not part of the API.
//!
//! `gate.rs` has the monitor gate's and the supervisor run slot's handles;
//! `end_report.rs` a task reporting its end as an ExecutableTask does; `buffered.rs`
//! the workers' held-back ends and the queries that record them; `claim.rs` a chain
//! a worker claims, runs and gives back while others cancel its links.
//!
//! Nothing here adds behaviour: every method forwards to the executor's own code
//! (task state machine, owned-task list, `Parker`, `Idle`, the injector model), except
//! [`TestScheduler`], the smallest possible `Schedule`:
//!
//! - one run queue, `Mutex<VecDeque<Notified>>`. After [`TestScheduler::shutdown`]
//!   began, a scheduled `Notified` is dropped instead of queued, as
//!   `Shared::push_remote` does. [`TestScheduler::new`] decides that under the queue's
//!   lock (a `closed` flag), so no push can follow the final drain;
//!   [`TestScheduler::like_shared`] decides it as `Shared::push_remote` does: it
//!   reads a shutdown flag, pushes with nothing held, then fences and re-reads the
//!   flag, draining the queue if shutdown began meanwhile;
//! - an [`OwnedTasks`] list with one shard (task ids are process-global, so more shards
//!   would make loom executions depend on the id, i.e. not replayable);
//! - `spawn` = `new_task` + bind + schedule, or cancel when the list is closed, as
//!   `Handle::bind_and_schedule` does;
//! - `shutdown` = stop queueing, `OwnedTasks::close_and_shutdown`, drop what was
//!   queued: steps (1) and (3) of the runtime's shutdown protocol (`runtime/mod.rs`).
//!
//! It also counts task allocations and frees (each task's scheduler handle lives in
//! the task cell and counts its own drop), so a model can assert that every task was
//! freed exactly once.

mod buffered;
mod claim;
mod end_report;
mod gate;

use std::collections::VecDeque;
use std::future::Future;

use crate::runtime::{idle, park, queue};
use crate::sync::{
    fence, Arc, AtomicBool, AtomicUsize, Mutex,
    Ordering::{Acquire, SeqCst},
};
use crate::task::{self, JoinHandle, Notified, OwnedTask, OwnedTasks, RawTask, Schedule};

pub use buffered::BufferedEndsModel;
pub use claim::{Canceller, ClaimModel};
pub use end_report::{EndReportModel, Owned, PickedRun, Reporter};
pub use gate::{BacklogModel, GateModel, RunPermit, RunSlotModel, TicketModel};

/// A single-queue scheduler for task-protocol models. Clones share one scheduler.
#[derive(Clone)]
pub struct TestScheduler {
    inner: Arc<Inner>,
}

struct Inner {
    run_queue: Mutex<RunQueue>,
    /// `Some` for `like_shared`: `Shared::shutdown`, read before an unlocked push.
    shutdown_flag: Option<AtomicBool>,
    owned: OwnedTasks,
    /// Task allocations made by `spawn`.
    allocated: AtomicUsize,
    /// Task allocations freed (the cell's `TaskScheduler` was dropped).
    freed: AtomicUsize,
}

struct RunQueue {
    tasks: VecDeque<Notified>,
    closed: bool,
}

/// The scheduler handle stored inside each task cell; its drop marks the cell freed.
struct TaskScheduler {
    inner: Arc<Inner>,
}

impl Drop for TaskScheduler {
    fn drop(&mut self) {
        self.inner.freed.fetch_add(1, SeqCst);
    }
}

impl Inner {
    /// Queues `task`, or drops it once shutdown has begun.
    fn schedule(&self, task: Notified) {
        if let Some(flag) = &self.shutdown_flag {
            // Shared::push_remote: check, push, fence, check again and drain.
            if flag.load(Acquire) {
                drop(task);
                return;
            }
            self.run_queue.lock().tasks.push_back(task);
            fence(SeqCst);
            if flag.load(SeqCst) {
                let queued: Vec<Notified> = self.run_queue.lock().tasks.drain(..).collect();
                drop(queued);
            }
            return;
        }
        let mut queue = self.run_queue.lock();
        if queue.closed {
            drop(queue);
            // Dropping may free the task (and run destructors): outside the lock.
            drop(task);
        } else {
            queue.tasks.push_back(task);
        }
    }
}

impl Schedule for TaskScheduler {
    fn schedule(&self, task: Notified) {
        self.inner.schedule(task);
    }

    fn release(&self, task: &RawTask) -> Option<OwnedTask> {
        self.inner.owned.remove(task)
    }
}

impl TestScheduler {
    /// An empty, open scheduler whose queue closes under its lock at shutdown.
    pub fn new() -> TestScheduler {
        TestScheduler::with_flag(None)
    }

    /// A scheduler that decides "shutdown began, drop the task" the way
    /// `Shared::push_remote` does: an `Acquire` load of a flag that `shutdown` sets
    /// (SeqCst swap and fence, as `Shared::begin_shutdown`), an unlocked push, a SeqCst
    /// fence, a second look at the flag and, if set, a drain.
    pub fn like_shared() -> TestScheduler {
        TestScheduler::with_flag(Some(AtomicBool::new(false)))
    }

    fn with_flag(shutdown_flag: Option<AtomicBool>) -> TestScheduler {
        TestScheduler {
            inner: Arc::new(Inner {
                shutdown_flag,
                run_queue: Mutex::new(RunQueue {
                    tasks: VecDeque::new(),
                    closed: false,
                }),
                owned: OwnedTasks::new(1),
                allocated: AtomicUsize::new(0),
                freed: AtomicUsize::new(0),
            }),
        }
    }

    /// Spawns `future`: binds it to the owned list and queues it, or — if the list is
    /// closed — cancels it at once (its JoinHandle yields a cancelled error).
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.allocated.fetch_add(1, SeqCst);
        let scheduler = TaskScheduler {
            inner: self.inner.clone(),
        };
        let (owned, notified, join) = task::new_task(future, scheduler);
        match self.inner.owned.bind(owned) {
            Ok(()) => self.inner.schedule(notified),
            Err(owned) => {
                drop(notified);
                owned.shutdown();
            }
        }
        join
    }

    /// Pops the oldest queued task and runs it (poll, or cancel if aborted). Returns
    /// false if the queue was empty.
    pub fn run_one(&self) -> bool {
        let task = self.inner.run_queue.lock().tasks.pop_front();
        match task {
            Some(task) => {
                task.run();
                true
            }
            None => false,
        }
    }

    /// Shuts down: stops queueing (closes the run queue, or sets the flag for
    /// `like_shared`), cancels every task in the owned list
    /// (`OwnedTasks::close_and_shutdown`), then drops the queued `Notified`s. Returns
    /// how many tasks `close_and_shutdown` cancelled.
    pub fn shutdown(&self) -> usize {
        match &self.inner.shutdown_flag {
            Some(flag) => {
                // Shared::begin_shutdown: SeqCst swap, then a fence.
                flag.swap(true, SeqCst);
                fence(SeqCst);
            }
            None => self.inner.run_queue.lock().closed = true,
        }
        let cancelled = self.inner.owned.close_and_shutdown();
        let queued: Vec<Notified> = self.inner.run_queue.lock().tasks.drain(..).collect();
        drop(queued);
        cancelled
    }

    /// Task allocations not yet freed.
    pub fn alive(&self) -> usize {
        self.inner.allocated.load(SeqCst) - self.inner.freed.load(SeqCst)
    }

    /// Tasks in the owned list.
    pub fn owned_len(&self) -> usize {
        self.inner.owned.len()
    }

    /// `Notified`s waiting in the run queue.
    pub fn queued(&self) -> usize {
        self.inner.run_queue.lock().tasks.len()
    }
}

impl Default for TestScheduler {
    fn default() -> Self {
        TestScheduler::new()
    }
}

/// A worker's thread parker (`runtime::park::Parker`).
#[derive(Clone)]
pub struct Parker(park::Parker);

impl Parker {
    /// A parker with no token.
    pub fn new() -> Parker {
        Parker(park::Parker::new())
    }

    /// Blocks until unparked; returns at once if a token is pending (and takes it).
    pub fn park(&self) {
        self.0.park();
    }

    /// Blocks until unparked or `timeout` passes (under loom: may time out at once).
    pub fn park_timeout(&self, timeout: std::time::Duration) {
        self.0.park_timeout(timeout);
    }

    /// Wakes the owner, or leaves a token for its next `park`.
    pub fn unpark(&self) {
        self.0.unpark();
    }
}

impl Default for Parker {
    fn default() -> Self {
        Parker::new()
    }
}

/// The runtime's idle bookkeeping (`runtime::idle::Idle`): searching/unparked counts
/// and the sleeper list.
pub struct Idle(idle::Idle);

impl Idle {
    /// `num_workers` workers, all unparked and not searching.
    pub fn new(num_workers: usize) -> Idle {
        Idle(idle::Idle::new(num_workers))
    }

    /// The sleeper to unpark for new shared work, if one should be (counted as
    /// unparked and searching).
    pub fn worker_to_notify(&self) -> Option<usize> {
        self.0.worker_to_notify()
    }

    /// The hint used after a local push.
    pub fn wants_helper(&self) -> bool {
        self.0.wants_helper()
    }

    /// Tries to become a searcher.
    pub fn transition_worker_to_searching(&self) -> bool {
        self.0.transition_worker_to_searching()
    }

    /// A searcher found work; true if it was the last searcher.
    pub fn transition_worker_from_searching(&self) -> bool {
        self.0.transition_worker_from_searching()
    }

    /// The worker is about to park; true if it was the last searcher and must re-check.
    pub fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        self.0.transition_worker_to_parked(worker, is_searching)
    }

    /// After a wake-up: true if `worker` is still a listed sleeper.
    pub fn still_parked(&self, worker: usize, claim: bool) -> bool {
        self.0.still_parked(worker, claim)
    }

    /// Takes every sleeper off the list (shutdown).
    pub fn take_all_sleepers(&self) -> Vec<usize> {
        self.0.take_all_sleepers()
    }

    /// Workers counted as unparked.
    pub fn num_unparked(&self) -> usize {
        self.0.num_unparked()
    }

    /// Workers counted as searching.
    pub fn num_searching(&self) -> usize {
        self.0.num_searching()
    }
}

/// The global injector queue (`runtime::queue::Injector`, the loom model of
/// crossbeam's).
pub struct Injector<T>(queue::Injector<T>);

impl<T> Injector<T> {
    /// An empty injector.
    pub fn new() -> Injector<T> {
        Injector(queue::Injector::new())
    }

    /// Pushes to the back.
    pub fn push(&self, task: T) {
        self.0.push(task);
    }

    /// Takes from the front.
    pub fn steal(&self) -> Option<T> {
        loop {
            match self.0.steal() {
                queue::Steal::Success(task) => return Some(task),
                queue::Steal::Empty => return None,
                queue::Steal::Retry => continue,
            }
        }
    }

    /// True if no task is queued.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> Default for Injector<T> {
    fn default() -> Self {
        Injector::new()
    }
}
