//! Shutdown tests: queued jobs dropped, running ones awaited, rejection after,
//! races with submitters, shutdown from a pool thread, and dropping the pool.

use std::sync::mpsc;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use super::{config, eventually, DropCount, Gate, DEADLINE};
use crate::blocking::{BlockingConfig, BlockingPool, Job, RejectReason};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};

#[test]
fn shutdown_drops_queued_jobs_and_waits_for_running_ones() {
    let pool = BlockingPool::new(config(1, Duration::from_secs(60)));
    let (gate, started) = (Arc::new(Gate::default()), Arc::new(AtomicBool::new(false)));
    let (g, s) = (gate.clone(), started.clone());
    pool.execute(Box::new(move || {
        s.store(true, Ordering::SeqCst);
        g.wait();
    }))
    .unwrap();
    eventually("first job started", || started.load(Ordering::SeqCst));

    let (ran, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    for _ in 0..10 {
        let (ran, guard) = (ran.clone(), DropCount(dropped.clone()));
        pool.execute(Box::new(move || {
            let _guard = guard;
            ran.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    }
    assert_eq!(pool.queue_depth(), 10);

    // The running job holds its thread, so a zero timeout cannot succeed...
    assert!(!pool.shutdown(Some(Duration::ZERO)));
    // ...but the queue was dropped unrun, synchronously.
    assert_eq!(dropped.load(Ordering::SeqCst), 10);
    assert_eq!(pool.queue_depth(), 0);
    gate.open();
    assert!(pool.shutdown(None));
    assert!(pool.shutdown(Some(Duration::ZERO)), "idempotent");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(pool.num_threads(), 0);
}

#[test]
fn shutdown_wakes_idle_threads() {
    // With a keep-alive of an hour, only the shutdown wake-up lets them go.
    let pool = BlockingPool::new(config(8, Duration::from_secs(3600)));
    let barrier = Arc::new(Barrier::new(3));
    for _ in 0..3 {
        let barrier = barrier.clone();
        pool.execute(Box::new(move || {
            barrier.wait();
        }))
        .unwrap();
    }
    eventually("3 idle threads", || pool.num_idle_threads() == 3);
    assert!(pool.shutdown(Some(DEADLINE)));
    assert_eq!((pool.num_threads(), pool.num_idle_threads()), (0, 0));
}

#[test]
fn execute_after_shutdown_is_rejected_with_the_job() {
    let pool = BlockingPool::new(BlockingConfig::default());
    assert!(pool.shutdown(None));
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let rejected = pool
        .execute(Box::new(move || r.store(true, Ordering::SeqCst)))
        .unwrap_err();
    assert!(matches!(rejected.reason, RejectReason::Shutdown));
    assert_eq!(rejected.to_string(), "blocking pool is shut down");
    assert!(!ran.load(Ordering::SeqCst));
    (rejected.job)();
    assert!(
        ran.load(Ordering::SeqCst),
        "the rejected job is the one submitted"
    );
    assert_eq!(pool.num_threads(), 0);
}

#[test]
fn shutdown_from_a_pool_thread_does_not_deadlock() {
    let pool = BlockingPool::new(config(4, Duration::from_secs(60)));
    let barrier = Arc::new(Barrier::new(3));
    for _ in 0..3 {
        let barrier = barrier.clone();
        pool.execute(Box::new(move || {
            barrier.wait();
        }))
        .unwrap();
    }
    eventually("3 idle threads", || pool.num_idle_threads() == 3);
    let (tx, rx) = mpsc::channel();
    let p = pool.clone();
    pool.execute(Box::new(move || tx.send(p.shutdown(None)).unwrap()))
        .unwrap();
    assert!(rx
        .recv_timeout(DEADLINE)
        .expect("shutdown from a pool thread hung"));
    // The caller's own thread is joined by a later shutdown.
    assert!(pool.shutdown(None));
    assert_eq!(pool.num_threads(), 0);
}

/// Submissions racing a shutdown: every job is run or dropped, exactly once.
#[test]
fn racing_shutdown_never_loses_or_duplicates_a_job() {
    let pool = BlockingPool::new(config(4, Duration::from_millis(1)));
    let (ran, dropped, accepted) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let submitters: Vec<_> = (0..4)
        .map(|_| {
            let (pool, ran, dropped, accepted) =
                (pool.clone(), ran.clone(), dropped.clone(), accepted.clone());
            thread::spawn(move || {
                for _ in 0..2_000 {
                    let (ran, guard) = (ran.clone(), DropCount(dropped.clone()));
                    let job: Job = Box::new(move || {
                        let _guard = guard;
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                    if pool.execute(job).is_ok() {
                        accepted.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    eventually("some jobs accepted", || {
        accepted.load(Ordering::SeqCst) > 100
    });
    assert!(pool.shutdown(None));
    submitters.into_iter().for_each(|s| s.join().unwrap());
    // Each job's guard drops exactly once: run, dropped from the queue, or rejected.
    assert_eq!(dropped.load(Ordering::SeqCst), 8_000);
    assert!(ran.load(Ordering::SeqCst) <= accepted.load(Ordering::SeqCst));
    assert_eq!(pool.num_threads(), 0);
}

#[test]
fn dropping_the_pool_drops_queued_jobs() {
    let pool = BlockingPool::new(config(1, Duration::from_secs(60)));
    let gate = Arc::new(Gate::default());
    let g = gate.clone();
    pool.execute(Box::new(move || g.wait())).unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCount(dropped.clone());
    pool.execute(Box::new(move || drop(guard))).unwrap();
    eventually("first job taken", || pool.queue_depth() == 1);
    drop(pool);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    gate.open();
}
