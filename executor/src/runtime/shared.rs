//! State shared by all workers of one runtime, and how a task gets scheduled.
//!
//! Scheduling rule: a task woken or spawned *on one of this runtime's workers* goes to
//! that worker's deque (no shared write), and a sleeper is woken only if nobody is
//! searching and so could steal it. From anywhere else it goes to the injector and one
//! sleeper is woken (see `idle.rs`). After shutdown has begun, scheduled tasks are
//! dropped: the owned-task list cancels every task anyway.

use std::time::Duration;

use super::context;
use super::idle::Idle;
use super::metrics::WorkerStats;
use super::park::Parker;
use super::queue::{Injector, Steal, Stealer};
use crate::blocking::BlockingPool;
use crate::sync::{fence, Arc, AtomicBool, Condvar, Mutex, Ordering};
use crate::task::{Notified, OwnedTask, OwnedTasks, RawTask, Schedule};

/// Hooks run on each worker thread.
pub(crate) type Hook = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Tuning knobs fixed at build time.
pub(crate) struct Config {
    /// Every this many ticks a worker looks at the injector before its own deque.
    pub(crate) global_queue_interval: u32,
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
}

/// What other threads may touch of one worker.
pub(crate) struct Remote {
    pub(crate) stealer: Stealer<Notified>,
    pub(crate) parker: Parker,
}

/// The runtime's shared state.
pub(crate) struct Shared {
    pub(crate) injector: Injector<Notified>,
    pub(crate) remotes: Box<[Remote]>,
    pub(crate) idle: Idle,
    pub(crate) owned: OwnedTasks,
    /// ExecutableTasks: dependency graph and ready heap.
    pub(crate) dispatch: crate::graph::dispatch::Dispatch,
    /// The resource monitor: sampler and ExecutableTask gate.
    pub(crate) monitor: super::monitoring::Monitoring,
    pub(crate) shutdown: AtomicBool,
    pub(crate) stats: Box<[WorkerStats]>,
    /// The opt-in recorder of task polls (`trace.rs`).
    pub(crate) trace: super::trace::Recorder,
    pub(crate) config: Config,
    pub(crate) time: Arc<crate::time::Driver>,
    pub(crate) blocking: Arc<BlockingPool>,
    /// Workers that have left their loop, and a condvar to wait for them.
    pub(crate) exited: Mutex<usize>,
    pub(crate) exited_cv: Condvar,
}

impl Shared {
    /// Queues `task` where any worker may take it, and wakes a sleeper if needed.
    pub(crate) fn push_remote(&self, task: Notified) {
        if self.is_shutdown() {
            drop(task);
            return;
        }
        self.injector.push(task);
        // Shutdown may have drained the injector between our check and our push;
        // then nobody would ever drop this task (and its Arc<Shared>). Either we see
        // the flag here, or shutdown's drain (after its SeqCst swap) sees our push.
        fence(Ordering::SeqCst);
        if self.shutdown.load(Ordering::SeqCst) {
            self.drain_injector();
            return;
        }
        // The fence above also orders our push before reading the idle counters.
        if let Some(worker) = self.idle.worker_to_notify_fenced() {
            self.remotes[worker].parker.unpark();
        }
    }

    /// Drops every task in the injector (shutdown only).
    fn drain_injector(&self) {
        while let Some(task) = self.steal_injector() {
            drop(task);
        }
    }

    /// After `released` tasks entered the ready heap: a worker of this runtime takes
    /// the first one itself on its next tick, so only further ones need a helper;
    /// from any other thread, one sleeper is woken (idle.rs, rule 1).
    pub(crate) fn notify_ready_heap(&self, released: usize) {
        let on_own_worker = super::on_worker_of(self);
        if released > usize::from(on_own_worker) {
            self.notify_one();
        }
    }

    /// Wakes one sleeping worker if nobody is searching (idle.rs, rule 1).
    pub(crate) fn notify_one(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.remotes[worker].parker.unpark();
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// True if any queue holds a task (used by the last searcher before parking).
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.injector.is_empty()
            || self.dispatch.has_ready()
            || self.remotes.iter().any(|r| !r.stealer.is_empty())
    }

    /// Takes one task from the injector (used when a worker's own deque is set aside).
    pub(crate) fn steal_injector(&self) -> Option<Notified> {
        loop {
            match self.injector.steal() {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// Starts shutdown: no more tasks are scheduled; every worker is woken to exit.
    pub(crate) fn begin_shutdown(&self) {
        if self.shutdown.swap(true, Ordering::SeqCst) {
            return;
        }
        fence(Ordering::SeqCst);
        self.idle.take_all_sleepers();
        for remote in self.remotes.iter() {
            remote.parker.unpark();
        }
    }

    /// Called by each worker thread as it exits.
    pub(crate) fn worker_exited(&self) {
        *self.exited.lock() += 1;
        self.exited_cv.notify_all();
    }

    /// Waits until `count` workers have exited or `timeout` passes; true if they have.
    pub(crate) fn wait_workers_exited(&self, count: usize, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        let mut exited = self.exited.lock();
        while *exited < count {
            match deadline {
                None => crate::sync::wait(&self.exited_cv, &mut exited),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    crate::sync::wait_timeout(&self.exited_cv, &mut exited, deadline - now);
                }
            }
        }
        true
    }

    /// After the workers stopped: cancels every task and empties the injector.
    pub(crate) fn cancel_all_tasks(&self) {
        // Stop sampling and granting permits before tasks are dropped.
        self.monitor.shutdown();
        // Close the graph first so that nothing is submitted or queued during shutdown;
        // then cancel spawned tasks, and the ExecutableTasks the graph owned.
        let graph_tasks = self.dispatch.close();
        self.owned.close_and_shutdown();
        graph_tasks.shutdown();
        self.drain_injector();
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        context::with_worker(|worker| match worker {
            Some(worker) if worker.serves(self) => worker.schedule_local(task),
            _ => self.push_remote(task),
        });
    }

    fn yield_now(&self, task: Notified) {
        context::with_worker(|worker| match worker {
            Some(worker) if worker.serves(self) => worker.push_back(task),
            _ => self.push_remote(task),
        });
    }

    fn release(&self, task: &RawTask) -> Option<OwnedTask> {
        self.owned.remove(task)
    }
}
