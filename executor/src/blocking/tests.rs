//! Tests of the blocking pool against real threads (not built under loom).
//!
//! No test asserts on elapsed time: waits use generous deadlines and only the
//! reached state is asserted. Shutdown tests live in `tests/shutdown.rs`.

use std::sync::mpsc;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use super::{BlockingConfig, BlockingPool, RejectReason};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};

mod shutdown;

/// Far longer than any wait should take; only hit when a test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// The default config with the given thread cap and keep-alive.
fn config(max_threads: usize, keep_alive: Duration) -> BlockingConfig {
    BlockingConfig {
        max_threads,
        keep_alive,
        ..BlockingConfig::default()
    }
}

/// Polls `cond` until it holds, panicking with `what` after [`DEADLINE`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "never reached: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A latch jobs block on until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock();
        while !*open {
            crate::sync::wait(&self.cv, &mut open);
        }
    }
    fn open(&self) {
        *self.open.lock() = true;
        self.cv.notify_all();
    }
}

/// Counts how many times it was dropped: the evidence a job was cancelled.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn pool_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<BlockingPool>();
    check::<BlockingConfig>();
}

#[test]
fn no_threads_until_needed() {
    let pool = BlockingPool::new(BlockingConfig::default());
    assert_eq!(
        (
            pool.num_threads(),
            pool.num_idle_threads(),
            pool.queue_depth()
        ),
        (0, 0, 0)
    );
    assert!(pool.shutdown(None));
}

#[test]
fn every_job_runs_exactly_once() {
    const JOBS: usize = 10_000;
    let pool = BlockingPool::new(config(16, Duration::from_millis(50)));
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..JOBS).map(|_| AtomicUsize::new(0)).collect());
    let (tx, rx) = mpsc::channel();
    for i in 0..JOBS {
        let (runs, tx) = (Arc::clone(&runs), tx.clone());
        pool.execute(Box::new(move || {
            runs[i].fetch_add(1, Ordering::SeqCst);
            tx.send(i).unwrap();
        }))
        .unwrap();
    }
    for _ in 0..JOBS {
        rx.recv_timeout(DEADLINE).expect("a job never ran");
    }
    assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
    assert!(pool.num_threads() <= 16);
    assert!(pool.shutdown(None));
    assert_eq!(pool.num_threads(), 0);
}

#[test]
fn threads_bounded_by_max_threads() {
    const MAX: usize = 4;
    const JOBS: usize = 40;
    let pool = BlockingPool::new(config(MAX, Duration::from_secs(60)));
    let gate = Arc::new(Gate::default());
    let (running, peak, done) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    for _ in 0..JOBS {
        let (gate, running, peak, done) =
            (gate.clone(), running.clone(), peak.clone(), done.clone());
        pool.execute(Box::new(move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            gate.wait();
            running.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    }
    eventually("MAX jobs running", || running.load(Ordering::SeqCst) == MAX);
    assert_eq!(pool.num_threads(), MAX);
    assert_eq!(pool.num_idle_threads(), 0);
    assert_eq!(pool.queue_depth(), JOBS - MAX);
    gate.open();
    eventually("all jobs done", || done.load(Ordering::SeqCst) == JOBS);
    assert_eq!(peak.load(Ordering::SeqCst), MAX);
    assert!(pool.num_threads() <= MAX);
    assert!(pool.shutdown(None));
}

#[test]
fn idle_thread_is_reused_and_one_sleeper_woken() {
    let pool = BlockingPool::new(config(8, Duration::from_secs(60)));
    let barrier = Arc::new(Barrier::new(4));
    for _ in 0..4 {
        let barrier = barrier.clone();
        pool.execute(Box::new(move || {
            barrier.wait();
        }))
        .unwrap();
    }
    eventually("4 idle threads", || pool.num_idle_threads() == 4);
    // The job holds its thread until the gate opens, so it cannot be idle again
    // by the time the counters are read.
    let (gate, (tx, rx)) = (Arc::new(Gate::default()), mpsc::channel());
    let g = gate.clone();
    pool.execute(Box::new(move || {
        tx.send(()).unwrap();
        g.wait();
    }))
    .unwrap();
    // Exactly one sleeper was claimed, synchronously, and no thread was spawned.
    assert_eq!(pool.num_idle_threads(), 3);
    assert_eq!(pool.num_threads(), 4);
    rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(pool.num_idle_threads(), 3);
    gate.open();
    eventually("back to 4 idle", || pool.num_idle_threads() == 4);
    assert_eq!(pool.num_threads(), 4);
    assert!(pool.shutdown(None));
}

#[test]
fn idle_threads_exit_after_keep_alive() {
    let pool = BlockingPool::new(config(8, Duration::from_millis(20)));
    let barrier = Arc::new(Barrier::new(4));
    for _ in 0..4 {
        let barrier = barrier.clone();
        pool.execute(Box::new(move || {
            barrier.wait();
        }))
        .unwrap();
    }
    eventually("threads exit", || pool.num_threads() == 0);
    assert_eq!(pool.num_idle_threads(), 0);
    // The pool spawns again afterwards.
    let (tx, rx) = mpsc::channel();
    pool.execute(Box::new(move || tx.send(()).unwrap()))
        .unwrap();
    rx.recv_timeout(DEADLINE).unwrap();
    assert!(pool.shutdown(None));
}

/// A job queued while its would-be runner is timing out must still run. Keep-alives
/// of 0 and a few µs put every submission inside an exit race.
#[test]
fn no_lost_wakeup_while_threads_exit() {
    for keep_alive_us in [0, 5, 50] {
        let pool = BlockingPool::new(config(4, Duration::from_micros(keep_alive_us)));
        let (tx, rx) = mpsc::channel();
        let submitters: Vec<_> = (0..3)
            .map(|s| {
                let (pool, tx) = (pool.clone(), tx.clone());
                thread::spawn(move || {
                    for round in 0..700u64 {
                        let tx = tx.clone();
                        pool.execute(Box::new(move || tx.send(()).unwrap()))
                            .unwrap();
                        thread::sleep(Duration::from_micros((round * 7 + s * 13) % 60));
                    }
                })
            })
            .collect();
        for _ in 0..3 * 700 {
            rx.recv_timeout(DEADLINE)
                .expect("lost wake-up: a queued job never ran");
        }
        submitters.into_iter().for_each(|s| s.join().unwrap());
        assert!(pool.shutdown(None));
    }
}

#[test]
fn spawn_failure_with_no_thread_returns_the_job() {
    // A stack no machine can map makes `pthread_create` fail.
    let pool = BlockingPool::new(BlockingConfig {
        thread_stack_size: Some(1 << 60),
        ..BlockingConfig::default()
    });
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let rejected = pool
        .execute(Box::new(move || r.store(true, Ordering::SeqCst)))
        .unwrap_err();
    assert!(
        matches!(rejected.reason, RejectReason::SpawnFailed(_)),
        "{rejected:?}"
    );
    assert!(std::error::Error::source(&rejected).is_some());
    assert_eq!((pool.num_threads(), pool.queue_depth()), (0, 0));
    (rejected.job)();
    assert!(ran.load(Ordering::SeqCst));
    assert!(pool.shutdown(None));
}

#[test]
fn hooks_and_name_apply_to_each_thread() {
    let (starts, stops, names) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (st, sp, n) = (starts.clone(), stops.clone(), names.clone());
    let pool = BlockingPool::new(BlockingConfig {
        max_threads: 8,
        thread_name: Arc::new(move || format!("bp-test-{}", n.fetch_add(1, Ordering::SeqCst))),
        thread_stack_size: Some(256 * 1024),
        on_thread_start: Some(Arc::new(move || {
            st.fetch_add(1, Ordering::SeqCst);
        })),
        on_thread_stop: Some(Arc::new(move || {
            sp.fetch_add(1, Ordering::SeqCst);
        })),
        ..BlockingConfig::default()
    });
    let barrier = Arc::new(Barrier::new(4));
    let (tx, rx) = mpsc::channel();
    for _ in 0..4 {
        let (barrier, tx) = (barrier.clone(), tx.clone());
        pool.execute(Box::new(move || {
            barrier.wait();
            tx.send(thread::current().name().map(str::to_owned))
                .unwrap();
        }))
        .unwrap();
    }
    let mut seen: Vec<String> = (0..4)
        .map(|_| rx.recv_timeout(DEADLINE).unwrap().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, ["bp-test-0", "bp-test-1", "bp-test-2", "bp-test-3"]);
    assert_eq!(starts.load(Ordering::SeqCst), 4);
    assert!(pool.shutdown(None));
    assert_eq!(
        stops.load(Ordering::SeqCst),
        4,
        "stop hook ran before shutdown returned"
    );
    assert_eq!(names.load(Ordering::SeqCst), 4);
}

#[test]
fn panicking_job_or_hook_leaves_pool_usable() {
    let pool = BlockingPool::new(BlockingConfig {
        max_threads: 1,
        on_thread_start: Some(Arc::new(|| panic!("start hook panics (expected)"))),
        ..BlockingConfig::default()
    });
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    pool.execute(Box::new(move || {
        tx2.send(thread::current().id()).unwrap();
        panic!("job panics (expected)");
    }))
    .unwrap();
    let first = rx.recv_timeout(DEADLINE).unwrap();
    pool.execute(Box::new(move || tx.send(thread::current().id()).unwrap()))
        .unwrap();
    let second = rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(first, second, "the same thread survived the panic");
    assert_eq!(pool.num_threads(), 1);
    assert!(pool.shutdown(None));
}
