//! Work stealing and fairness: work spawned on one worker spreads over the others,
//! bursts from outside reach every worker, and tasks injected from outside run even
//! while every worker is kept busy by tasks that never leave its local queue.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use common::{runtime, wait_until, watchdog, yield_until_stopped};
use taskweave::{Handle, JoinHandle};

/// A few microseconds of CPU work.
fn spin(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..1000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = std::hint::black_box(x);
    }
    x
}

#[test]
fn work_spawned_by_one_task_spreads_over_workers() {
    watchdog("stealing spreads work", || {
        let workers = 2;
        let rt = runtime(workers);
        let handle = rt.handle().clone();
        let threads = Arc::new(Mutex::new(HashMap::<ThreadId, usize>::new()));
        let done = Arc::new(AtomicUsize::new(0));
        let (t, d) = (threads.clone(), done.clone());
        // One task spawns everything, so all of it lands on that worker's own deque;
        // the other worker only gets work by stealing.
        let root = rt.spawn(async move {
            let handles: Vec<JoinHandle<u64>> = (0..10_000u64)
                .map(|i| {
                    let (t, d) = (t.clone(), d.clone());
                    handle.spawn(async move {
                        let v = spin(i);
                        *t.lock()
                            .unwrap()
                            .entry(std::thread::current().id())
                            .or_default() += 1;
                        d.fetch_add(1, SeqCst);
                        v
                    })
                })
                .collect();
            let mut checks = 0u64;
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), spin(i as u64));
                checks += 1;
            }
            checks
        });
        assert_eq!(rt.block_on(root).unwrap(), 10_000);
        assert_eq!(done.load(SeqCst), 10_000);

        let per_thread = threads.lock().unwrap().clone();
        assert_eq!(per_thread.values().sum::<usize>(), 10_000);
        assert_eq!(
            per_thread.len(),
            workers,
            "the spawned tasks did not spread over the workers: {per_thread:?}"
        );
        let m = rt.metrics();
        assert_eq!(m.num_workers(), workers);
        for w in 0..workers {
            assert!(m.worker_poll_count(w) > 0, "worker {w} polled nothing");
        }
        let polls: u64 = (0..workers).map(|w| m.worker_poll_count(w)).sum();
        assert!(polls >= 10_001, "only {polls} polls for 10001 tasks");
        let steals: u64 = (0..workers).map(|w| m.worker_steal_count(w)).sum();
        assert!(steals > 0, "no worker stole anything: {m:?}");
        assert_eq!(m.spawned_tasks_count(), 10_001);
        wait_until("completed tasks to leave the runtime", || {
            m.num_alive_tasks() == 0
        });
        for w in 0..workers {
            assert_eq!(m.worker_local_queue_depth(w), 0);
        }
        assert_eq!(m.injector_queue_depth(), 0);
    });
}

#[test]
fn a_burst_from_outside_reaches_every_worker() {
    watchdog("injected burst spreads", || {
        let workers = 2;
        let rt = runtime(workers);
        let threads = Arc::new(Mutex::new(HashMap::<ThreadId, usize>::new()));
        let handles: Vec<_> = (0..5_000u64)
            .map(|i| {
                let t = threads.clone();
                rt.spawn(async move {
                    let v = spin(i);
                    *t.lock()
                        .unwrap()
                        .entry(std::thread::current().id())
                        .or_default() += 1;
                    v
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(rt.block_on(h).unwrap(), spin(i as u64));
        }
        let per_thread = threads.lock().unwrap().clone();
        assert_eq!(per_thread.values().sum::<usize>(), 5_000);
        assert_eq!(
            per_thread.len(),
            workers,
            "an injected burst ran on fewer workers than there are: {per_thread:?}"
        );
    });
}

/// A task that spawns its successor on `handle` (from the worker, so onto the
/// worker's own deque) and completes, forever, until `stop`.
fn respawn_chain(handle: Handle, stop: Arc<AtomicBool>, links: Arc<AtomicUsize>) {
    let h = handle.clone();
    drop(handle.spawn(async move {
        links.fetch_add(1, SeqCst);
        if !stop.load(SeqCst) {
            respawn_chain(h, stop, links);
        }
    }));
}

#[test]
fn injected_tasks_run_while_workers_are_busy_with_local_work() {
    watchdog("injector fairness", || {
        let workers = 2;
        let rt = runtime(workers);
        let stop = Arc::new(AtomicBool::new(false));
        let links = Arc::new(AtomicUsize::new(0));
        let spins = Arc::new(AtomicUsize::new(0));
        // Keep every worker busy: self-respawning chains and forever-yielding tasks,
        // all of which stay in the workers' own deques.
        let starters: Vec<_> = (0..workers)
            .map(|_| {
                let (h, s, l) = (rt.handle().clone(), stop.clone(), links.clone());
                rt.spawn(async move { respawn_chain(h, s, l) })
            })
            .collect();
        for s in starters {
            rt.block_on(s).unwrap();
        }
        let yielders: Vec<_> = (0..workers)
            .map(|_| rt.spawn(yield_until_stopped(stop.clone(), spins.clone())))
            .collect();
        wait_until("the chains and yielders to run", || {
            links.load(SeqCst) > 1000 && spins.load(SeqCst) > 1000
        });

        // Tasks injected from this thread and from other threads all run.
        let ran = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..500u64 {
            let ran = ran.clone();
            handles.push(rt.spawn(async move {
                ran.fetch_add(1, SeqCst);
                i
            }));
        }
        let remote: Vec<_> = (0..2u64)
            .map(|t| {
                let (handle, ran) = (rt.handle().clone(), ran.clone());
                std::thread::spawn(move || {
                    (0..250u64)
                        .map(|i| {
                            let ran = ran.clone();
                            handle.spawn(async move {
                                ran.fetch_add(1, SeqCst);
                                500 + t * 250 + i
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for r in remote {
            handles.extend(r.join().unwrap());
        }
        let mut values: Vec<u64> = handles
            .into_iter()
            .map(|h| rt.block_on(h).unwrap())
            .collect();
        values.sort_unstable();
        values.dedup();
        let missing: Vec<u64> = (0..1000u64)
            .filter(|v| values.binary_search(v).is_err())
            .collect();
        assert!(missing.is_empty(), "injected tasks lost: {missing:?}");
        assert_eq!(values.len(), 1000);
        assert_eq!(ran.load(SeqCst), 1000);

        // The busy work was not starved either, and everything stops cleanly.
        let links_before = links.load(SeqCst);
        wait_until("the chains to keep going", || {
            links.load(SeqCst) > links_before + 100
        });
        stop.store(true, SeqCst);
        for y in yielders {
            rt.block_on(y).unwrap();
        }
    });
}
