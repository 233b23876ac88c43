//! The blocking pool handle: its shared state, `execute`, `shutdown` and metrics.
//!
//! Invariants and the wake-up protocol are stated in the parent module's docs
//! (`blocking/mod.rs`); this file implements the submitting and shutting-down
//! side, `worker.rs` the pool-thread side. All of `Shared` is read and written
//! only under `Inner::shared`'s lock; nothing here is lock-free.
//!
//! Code that may run user code — dropping a job, calling a hook, joining a thread
//! — never runs with the lock held, so user code may re-enter the pool. The one
//! exception is `thread_name`, called while spawning under the lock; it must not
//! touch the pool.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::mem;
use std::time::{Duration, Instant};

use super::worker;
use super::{BlockingConfig, Job, RejectReason, Rejected};
use crate::sync::{thread, wait, wait_timeout, Arc, Condvar, Mutex};

/// A pool of OS threads that run blocking [`Job`]s.
///
/// Created with [`BlockingPool::new`] and shared through an `Arc`. Threads are
/// spawned on demand, never more than `max_threads` at once, and exit after
/// `keep_alive` without work. Dropping the last reference shuts the pool down
/// without waiting: queued jobs are dropped, idle threads exit, running jobs
/// finish on their own.
pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

/// What the pool handle and every pool thread share.
pub(super) struct Inner {
    /// All mutable state of the protocol.
    pub(super) shared: Mutex<Shared>,
    /// Idle threads wait here for a token (`num_notify`) or shutdown.
    pub(super) work_available: Condvar,
    /// A `shutdown` caller waits here for `live` to empty.
    pub(super) all_exited: Condvar,
    /// Immutable configuration.
    pub(super) config: BlockingConfig,
}

/// The protocol state; see the invariants in `blocking/mod.rs`.
pub(super) struct Shared {
    /// Jobs accepted and not yet taken by a thread.
    pub(super) queue: VecDeque<Job>,
    /// Threads that will still take a job (busy or in the idle loop).
    pub(super) num_th: usize,
    /// Threads in the idle loop that no `execute` has claimed.
    pub(super) num_idle: usize,
    /// Wake-up tokens handed out by `execute`, not yet consumed.
    pub(super) num_notify: usize,
    /// Set once by `shutdown`; never cleared.
    pub(super) shutdown: bool,
    /// Index the next spawned thread gets.
    pub(super) next_index: usize,
    /// Spawned threads that have not finished their exit bookkeeping.
    pub(super) live: Vec<(usize, thread::Thread)>,
    /// Join handles of threads that have not begun exiting on keep-alive.
    pub(super) handles: HashMap<usize, thread::JoinHandle<()>>,
    /// The most recent keep-alive exiter, to be joined by the next one or by shutdown.
    pub(super) last_exiting: Option<thread::JoinHandle<()>>,
}

impl BlockingPool {
    /// Creates an empty pool; no thread is spawned until the first job.
    ///
    /// # Panics
    ///
    /// If `config.max_threads` is 0.
    pub(crate) fn new(config: BlockingConfig) -> Arc<Self> {
        assert!(
            config.max_threads > 0,
            "blocking pool needs max_threads >= 1"
        );
        Arc::new(Self {
            inner: Arc::new(Inner {
                shared: Mutex::new(Shared {
                    queue: VecDeque::new(),
                    num_th: 0,
                    num_idle: 0,
                    num_notify: 0,
                    shutdown: false,
                    next_index: 0,
                    live: Vec::new(),
                    handles: HashMap::new(),
                    last_exiting: None,
                }),
                work_available: Condvar::new(),
                all_exited: Condvar::new(),
                config,
            }),
        })
    }

    /// Queues `job` to run once on a pool thread.
    ///
    /// Wakes one idle thread if there is one, else spawns a thread if fewer than
    /// `max_threads` are alive, else leaves the job queued for the next thread
    /// that finishes its current job.
    ///
    /// # Errors
    ///
    /// The job is handed back unrun in a [`Rejected`] when the pool is shut down
    /// ([`RejectReason::Shutdown`]), or when no thread is alive and spawning one
    /// failed ([`RejectReason::SpawnFailed`]).
    pub(crate) fn execute(&self, job: Job) -> Result<(), Rejected> {
        let mut shared = self.inner.shared.lock();
        if shared.shutdown {
            return Err(Rejected {
                job,
                reason: RejectReason::Shutdown,
            });
        }
        shared.queue.push_back(job);

        if shared.num_idle > 0 {
            // Hand the job to exactly one sleeper: it owns the token from now on.
            shared.num_idle -= 1;
            shared.num_notify += 1;
            self.inner.work_available.notify_one();
        } else if shared.num_th < self.inner.config.max_threads {
            // Spawning under the lock: the new thread's handle is registered before
            // the thread can take the lock, so `live`/`handles` are never stale.
            let index = shared.next_index;
            match worker::spawn(&self.inner, index) {
                Ok(handle) => {
                    shared.next_index += 1;
                    shared.num_th += 1;
                    shared.live.push((index, handle.thread().clone()));
                    shared.handles.insert(index, handle);
                }
                Err(error) if shared.num_th == 0 => {
                    // Nobody would ever run it. It is the job pushed above: the lock
                    // has been held since.
                    let job = shared.queue.pop_back().expect("job pushed above");
                    return Err(Rejected {
                        job,
                        reason: RejectReason::SpawnFailed(error),
                    });
                }
                // Busy threads re-check the queue before sleeping; they will run it.
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// Shuts the pool down; returns `true` once every pool thread has exited.
    ///
    /// Stops accepting jobs, drops every queued job that has not started (this is
    /// how their tasks get cancelled), wakes all idle threads, and waits up to
    /// `timeout` (`None`: forever) for the threads to exit, joining them. Jobs
    /// already running are not interrupted; if one outlives `timeout`, this
    /// returns `false` and a later call can wait again.
    ///
    /// Idempotent. Callable from a pool thread (e.g. inside a job): the calling
    /// thread is neither waited for nor joined, and cannot be, since it is still
    /// running; it exits once its job returns.
    pub(crate) fn shutdown(&self, timeout: Option<Duration>) -> bool {
        // An unrepresentable deadline is as good as none.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        drop_jobs(self.begin_shutdown());

        let inner = &*self.inner;
        let me = thread::current().id();
        let only_me_left = |shared: &Shared| shared.live.iter().all(|(_, t)| t.id() == me);

        let mut shared = inner.shared.lock();
        while !only_me_left(&shared) {
            match deadline {
                None => wait(&inner.all_exited, &mut shared),
                Some(deadline) => {
                    let remaining = deadline.saturating_duration_since(Instant::now());
                    let timed_out = remaining.is_zero()
                        || wait_timeout(&inner.all_exited, &mut shared, remaining);
                    if timed_out && !only_me_left(&shared) {
                        return false;
                    }
                }
            }
        }

        // Every other thread has finished its bookkeeping; joining only waits for
        // its last instructions. Our own handle (if any) stays for a later caller.
        let mut to_join: Vec<_> = shared.handles.drain().map(|(_, handle)| handle).collect();
        to_join.extend(shared.last_exiting.take());
        if let Some(pos) = to_join.iter().position(|h| h.thread().id() == me) {
            shared.last_exiting = Some(to_join.swap_remove(pos));
        }
        drop(shared);
        for handle in to_join {
            // Pool threads contain panics of jobs and hooks; an `Err` here could
            // only come from the pool's own bookkeeping, and there is no one to
            // report it to during shutdown.
            let _ = handle.join();
        }
        true
    }

    /// Sets the shutdown flag, wakes every sleeper, and takes the queue, which the
    /// caller must drop after this returns (outside the lock).
    fn begin_shutdown(&self) -> VecDeque<Job> {
        let mut shared = self.inner.shared.lock();
        shared.shutdown = true;
        self.inner.work_available.notify_all();
        mem::take(&mut shared.queue)
    }

    /// Threads alive that will still take a job (busy or idle).
    pub(crate) fn num_threads(&self) -> usize {
        self.inner.shared.lock().num_th
    }

    /// Threads sleeping for want of work that no queued job has claimed yet.
    pub(crate) fn num_idle_threads(&self) -> usize {
        self.inner.shared.lock().num_idle
    }

    /// Jobs accepted and not yet picked up by a thread.
    pub(crate) fn queue_depth(&self) -> usize {
        self.inner.shared.lock().queue.len()
    }
}

impl Drop for BlockingPool {
    /// Shuts down without waiting: no one can submit any more, so queued jobs are
    /// dropped and idle threads exit now instead of after `keep_alive`.
    fn drop(&mut self) {
        drop_jobs(self.begin_shutdown());
    }
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPool")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Drops jobs that will never run, one at a time, so a destructor that panics
/// neither leaks the rest nor unwinds into shutdown (often itself in a `Drop`).
fn drop_jobs(jobs: VecDeque<Job>) {
    for job in jobs {
        worker::contain_panic(move || drop(job));
    }
}
