//! The blocking thread pool behind `spawn_blocking`.
//!
//! A [`BlockingPool`] runs boxed closures ([`Job`]s) on OS threads that are
//! spawned on demand, up to [`BlockingConfig::max_threads`], and that exit after
//! sitting idle for [`BlockingConfig::keep_alive`]. The runtime wraps each
//! `spawn_blocking` call in a job; dropping a job without running it is how the
//! runtime's task gets cancelled.
//!
//! The module is split by concern:
//! - `pool.rs`: the pool handle, its shared state, `execute`, `shutdown`, metrics;
//! - `worker.rs`: the body of one pool thread (busy loop, idle wait, exit);
//! - this file: configuration, the rejection error, and the protocol below.
//!
//! # State
//!
//! Everything the protocol reads or writes lives in one `Shared` struct behind
//! one [`crate::sync::Mutex`]; there are no lock-free fast paths, so every
//! transition below is atomic with respect to every other. Two condition
//! variables hang off that mutex: `work_available` (idle threads wait on it) and
//! `all_exited` (a `shutdown` caller waits on it).
//!
//! # Invariants (whenever the mutex is unlocked)
//!
//! 1. `num_idle + num_notify` equals the number of threads inside the idle wait
//!    loop. `num_idle` counts sleepers nobody has claimed yet; `num_notify` counts
//!    wake-up tokens handed out by `execute` and not yet consumed.
//! 2. `num_th <= max_threads`, and `num_th` counts the threads that will still
//!    take a job: those in the busy loop or in the idle wait loop. A thread leaves
//!    `num_th` in the same critical section in which it decides to exit.
//! 3. `live` lists every spawned thread that has not finished its exit
//!    bookkeeping (which includes the stop hook); `shutdown` waits on it.
//! 4. Once `shutdown` is set it is never cleared, no job is pushed afterwards,
//!    and the queue was emptied by the call that set it.
//! 5. Every thread's `JoinHandle` is in exactly one place: the `handles` map
//!    (running), `last_exiting` (exited on keep-alive, waiting to be joined), or
//!    owned by whoever joins it (the next keep-alive exiter, or `shutdown`).
//!
//! # Protocol: no lost wake-ups, no thundering herd
//!
//! `execute` pushes the job and then, in the same critical section:
//! - if `num_idle > 0`: moves one sleeper to a token (`num_idle -= 1`,
//!   `num_notify += 1`) and calls `notify_one` (one thread, not all);
//! - else if `num_th < max_threads`: spawns a thread, which starts in the busy loop;
//! - else: leaves the job queued. By invariants 1 and 2 every thread is then busy
//!   or holds a token, and each re-checks the queue under the lock before it
//!   sleeps again, so the job is picked up.
//!
//! An idle thread that wakes, for whatever reason (notify, spurious, timeout,
//! shutdown), checks in this order: (a) a token is available: consume it and go
//! busy; (b) shutdown: exit; (c) keep-alive elapsed: exit; (d) otherwise sleep
//! again. Checking tokens first is what makes a job queued while a thread is
//! timing out safe: either `execute` ran first and left a token (so the thread
//! stays), or the thread decided first and already left `num_idle`/`num_th` (so
//! `execute` sees no sleeper and spawns a replacement).
//!
//! If spawning fails while `num_th > 0`, the job stays queued for the running
//! threads (see above). If it fails while `num_th == 0`, nobody would ever run
//! it, so it is popped back out and returned in a [`Rejected`].
//!
//! # Shutdown
//!
//! `shutdown` sets the flag, takes the whole queue, `notify_all`s the sleepers,
//! and drops the taken jobs outside the lock (a job's destructor may re-enter the
//! runtime). It then waits on `all_exited` until `live` holds no thread but,
//! possibly, the caller's own (a job may shut down its own pool), and joins every
//! other handle. A job already started when shutdown begins runs to completion.
//!
//! # Joining threads that exit on keep-alive
//!
//! A thread exiting on keep-alive removes its own handle from `handles`, swaps it
//! into `last_exiting`, and joins the handle it swapped out (its predecessor) after
//! unlocking. So at most one exited thread is ever unjoined, and `shutdown` joins it.

mod pool;
mod worker;

#[cfg(all(test, not(taskweave_loom)))]
mod tests;

use std::fmt;
use std::io;
use std::time::Duration;

// Config callbacks are immutable and take part in no protocol, so they use std's
// `Arc`: loom's `Arc` cannot coerce a closure into `Arc<dyn Fn()>`.
use std::sync::Arc;

pub(crate) use pool::BlockingPool;

/// A unit of blocking work: run once on a pool thread, or dropped unrun.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// A thread hook (`on_thread_start` / `on_thread_stop`). A std `Arc` even under
/// `taskweave_loom`, since loom's `Arc` cannot hold a `dyn Fn`.
pub(crate) type ThreadHook = Arc<dyn Fn() + Send + Sync + 'static>;

/// How a [`BlockingPool`] sizes, names and instruments its threads.
#[derive(Clone)]
pub(crate) struct BlockingConfig {
    /// Most threads alive at once; must be at least 1. Default 512.
    pub(crate) max_threads: usize,
    /// How long an idle thread waits for a job before it exits. Default 10 s.
    pub(crate) keep_alive: Duration,
    /// Called to name each new thread, on the thread calling `execute` and with the
    /// pool's lock held, so it must not call into the pool.
    /// Default: `"taskweave-blocking"`.
    pub(crate) thread_name: Arc<dyn Fn() -> String + Send + Sync + 'static>,
    /// Stack size of each thread in bytes; `None` uses std's default.
    pub(crate) thread_stack_size: Option<usize>,
    /// Run on each pool thread when it starts, before it takes a job.
    pub(crate) on_thread_start: Option<ThreadHook>,
    /// Run on each pool thread when it stops, after its last job.
    pub(crate) on_thread_stop: Option<ThreadHook>,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        Self {
            max_threads: 512,
            keep_alive: Duration::from_secs(10),
            thread_name: Arc::new(|| "taskweave-blocking".to_owned()),
            thread_stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
        }
    }
}

impl fmt::Debug for BlockingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingConfig")
            .field("max_threads", &self.max_threads)
            .field("keep_alive", &self.keep_alive)
            .field("thread_stack_size", &self.thread_stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .finish_non_exhaustive()
    }
}

/// Why [`BlockingPool::execute`] refused a job.
#[derive(Debug)]
pub(crate) enum RejectReason {
    /// The pool has been shut down.
    Shutdown,
    /// No pool thread was alive and spawning one failed with this error.
    SpawnFailed(io::Error),
}

/// A job [`BlockingPool::execute`] did not accept, handed back unrun so the caller
/// can cancel (drop) it or run it some other way.
pub(crate) struct Rejected {
    /// The job, never started.
    pub(crate) job: Job,
    /// Why it was refused.
    pub(crate) reason: RejectReason,
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            RejectReason::Shutdown => f.write_str("blocking pool is shut down"),
            RejectReason::SpawnFailed(e) => {
                write!(f, "blocking pool could not spawn a thread: {e}")
            }
        }
    }
}

impl std::error::Error for Rejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.reason {
            RejectReason::Shutdown => None,
            RejectReason::SpawnFailed(e) => Some(e),
        }
    }
}
