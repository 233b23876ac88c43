//! Helpers shared by the integration tests: a watchdog so a hang fails the test with
//! a clear message instead of stalling CI, and a drop guard counter.
#![allow(dead_code)]

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How long any single test body may run before it is declared hung.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread and waits at most [`WATCHDOG`] for it. A panic in `f`
/// is re-raised here (so assertion messages survive); a hang fails with `what`.
#[track_caller]
pub fn watchdog<T, F>(what: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    watchdog_for(what, WATCHDOG, f)
}

/// [`watchdog`] with an explicit limit.
#[track_caller]
pub fn watchdog_for<T, F>(what: &str, limit: Duration, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("watchdog-{what}"))
        .spawn(move || {
            let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
        })
        .expect("spawn watchdog thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => {
            let _ = thread.join();
            value
        }
        Ok(Err(payload)) => {
            let _ = thread.join();
            resume_unwind(payload)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("HANG: `{what}` did not finish within {limit:?} (the thread is leaked)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("`{what}`: the test thread died without reporting")
        }
    }
}

/// Counts how many guards were created and dropped.
#[derive(Clone, Default)]
pub struct DropCounter {
    created: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    /// A new guard; dropping it bumps the dropped count.
    pub fn guard(&self) -> DropGuard {
        self.created.fetch_add(1, Ordering::SeqCst);
        DropGuard {
            dropped: self.dropped.clone(),
        }
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

/// Bumps its counter's dropped count when dropped.
pub struct DropGuard {
    dropped: Arc<AtomicUsize>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A runtime with `n` workers.
pub fn runtime(n: usize) -> taskweave::Runtime {
    taskweave::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .build()
        .expect("build runtime")
}

/// Polls `cond` (sleeping 1 ms in between) until it holds; panics after 10 s with
/// `what`. For conditions that another thread makes true.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A future that holds `guard` and never completes: it ends only by being dropped
/// (abort, cancellation, runtime shutdown), which the guard's counter records.
pub async fn pending_holding(guard: DropGuard) {
    let _guard = guard;
    std::future::pending::<()>().await
}

/// Yields to the scheduler in a loop, counting each turn in `spins`, until `stop`.
pub async fn yield_until_stopped(stop: Arc<AtomicBool>, spins: Arc<AtomicUsize>) {
    while !stop.load(Ordering::SeqCst) {
        spins.fetch_add(1, Ordering::SeqCst);
        taskweave::task::yield_now().await;
    }
}
