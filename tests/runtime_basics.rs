//! Runtime basics: block_on, spawning from inside and outside, JoinHandle (value,
//! detach, abort, is_finished), panic isolation, nested block_on, the runtime context,
//! builder errors, hooks and thread names.

mod common;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{pending_holding, runtime, wait_until, watchdog, DropCounter};
use taskweave::runtime::{BlockOnError, Builder};
use taskweave::task::yield_now;
use taskweave::{Handle, Runtime};

/// A runtime with `n` workers named `name`.
fn named_runtime(n: usize, name: &str) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(n)
        .thread_name(name)
        .build()
        .expect("build runtime")
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_string()
}

#[test]
fn block_on_returns_the_futures_value() {
    watchdog("block_on values", || {
        let rt = runtime(2);
        assert_eq!(rt.block_on(async { 40 + 2 }), 42);
        assert_eq!(
            rt.block_on(async { String::from("owned") + " value" }),
            "owned value"
        );
        // block_on may be called many times, and awaits spawned work.
        for i in 0..50u64 {
            let v = rt.block_on(async move { taskweave::spawn(async move { i * 3 }).await });
            assert_eq!(v.unwrap(), i * 3);
        }
        // Handle::block_on and try_block_on from a plain thread work too.
        assert_eq!(rt.handle().block_on(async { 7 }), 7);
        assert_eq!(rt.try_block_on(async { 8 }), Ok(8));
    });
}

#[test]
fn join_handle_yields_the_tasks_output() {
    watchdog("join handle value", || {
        let rt = runtime(2);
        let (s, v, t) = rt.block_on(async {
            let s = taskweave::spawn(async { String::from("hello") });
            let v = taskweave::spawn(async { (0..100u32).collect::<Vec<_>>() });
            let t = taskweave::spawn(async {
                yield_now().await;
                (1u8, 'x')
            });
            (s.await.unwrap(), v.await.unwrap(), t.await.unwrap())
        });
        assert_eq!(s, "hello");
        assert_eq!(v, (0..100u32).collect::<Vec<_>>());
        assert_eq!(t, (1, 'x'));

        // A JoinHandle can also be awaited from outside the runtime.
        let h = rt.spawn(async { 99u64 });
        assert_eq!(futures::executor::block_on(h).unwrap(), 99);

        // Ids are unique and a JoinError carries the id of its task.
        let a = rt.spawn(std::future::pending::<()>());
        let b = rt.spawn(async {});
        assert_ne!(a.id(), b.id());
        let a_id = a.id();
        a.abort();
        let err = futures::executor::block_on(a).unwrap_err();
        assert_eq!(err.id(), a_id);
        futures::executor::block_on(b).unwrap();
    });
}

#[test]
fn tasks_spawned_from_tasks_run_on_the_same_runtime() {
    // Each task spawns children with `taskweave::spawn`; every task must run on this
    // runtime's workers (named), and the runtime must count them all as its own.
    watchdog("spawn from inside tasks", || {
        let rt = named_runtime(2, "tw-basics-tree");
        let names = Arc::new(Mutex::new(Vec::new()));
        let names2 = names.clone();
        let total = rt.block_on(async move {
            let root = taskweave::spawn(async move {
                let mut children = Vec::new();
                for i in 0..10u64 {
                    let names = names2.clone();
                    children.push(taskweave::spawn(async move {
                        names.lock().unwrap().push(thread_name());
                        let mut grandchildren = Vec::new();
                        for j in 0..10u64 {
                            let names = names.clone();
                            grandchildren.push(taskweave::spawn(async move {
                                names.lock().unwrap().push(thread_name());
                                i * 10 + j
                            }));
                        }
                        let mut sum = 0;
                        for g in grandchildren {
                            sum += g.await.unwrap();
                        }
                        sum
                    }));
                }
                let mut sum = 0;
                for c in children {
                    sum += c.await.unwrap();
                }
                sum
            });
            root.await.unwrap()
        });
        assert_eq!(total, (0..100u64).sum::<u64>());
        let names = names.lock().unwrap();
        assert_eq!(names.len(), 110);
        let foreign: HashSet<&String> = names.iter().filter(|n| *n != "tw-basics-tree").collect();
        assert!(
            foreign.is_empty(),
            "tasks spawned with taskweave::spawn from inside a task ran on other threads \
             (another runtime?): {foreign:?}"
        );
        assert_eq!(rt.metrics().spawned_tasks_count(), 111);
    });
}

#[test]
fn handle_current_inside_a_task_is_its_runtime() {
    watchdog("Handle::current in a task", || {
        let rt = named_runtime(3, "tw-basics-current");
        let (has_current, spawned_on) = rt.block_on(async {
            taskweave::spawn(async {
                let current = Handle::try_current();
                let has = current.is_ok();
                let on = match current {
                    Ok(h) => h.spawn(async { thread_name() }).await.unwrap(),
                    Err(_) => String::new(),
                };
                (has, on)
            })
            .await
            .unwrap()
        });
        assert!(
            has_current,
            "Handle::try_current() failed inside a task running on a worker thread"
        );
        assert_eq!(spawned_on, "tw-basics-current");
    });
}

#[test]
fn spawn_from_other_threads_through_a_handle() {
    watchdog("spawn via Handle from std threads", || {
        let rt = named_runtime(2, "tw-basics-remote");
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let handle = rt.handle().clone();
                std::thread::spawn(move || {
                    (0..100u64)
                        .map(|i| handle.spawn(async move { (t * 1000 + i, thread_name()) }))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let handles: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let results = rt.block_on(async {
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        });
        let values: HashSet<u64> = results.iter().map(|(v, _)| *v).collect();
        let expected: HashSet<u64> = (0..4u64)
            .flat_map(|t| (0..100).map(move |i| t * 1000 + i))
            .collect();
        assert_eq!(values, expected);
        assert!(results.iter().all(|(_, name)| name == "tw-basics-remote"));
        assert_eq!(rt.metrics().spawned_tasks_count(), 400);
    });
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    watchdog("detach on drop", || {
        let rt = runtime(2);
        let (tx, rx) = mpsc::channel();
        for i in 0..100 {
            let tx = tx.clone();
            let h = rt.spawn(async move {
                for _ in 0..3 {
                    yield_now().await;
                }
                tx.send(i).unwrap();
            });
            drop(h);
        }
        drop(tx);
        let mut got: Vec<i32> = (0..100)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("a detached task did not run to completion")
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    });
}

#[test]
fn abort_cancels_a_pending_task_and_drops_its_future() {
    watchdog("abort pending", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let (started_tx, started_rx) = mpsc::channel();
        let guard = drops.guard();
        let h = rt.spawn(async move {
            let _guard = guard;
            started_tx.send(()).unwrap();
            std::future::pending::<u32>().await
        });
        started_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("task did not start");
        assert!(!h.is_finished());
        h.abort();
        let err = rt.block_on(h).unwrap_err();
        assert!(err.is_cancelled(), "expected cancellation, got {err:?}");
        assert!(!err.is_panic());
        assert_eq!(drops.dropped(), 1, "the aborted future was not dropped");

        // Through an AbortHandle, with the JoinHandle kept elsewhere; and many at once.
        let handles: Vec<_> = (0..200)
            .map(|_| rt.spawn(pending_holding(drops.guard())))
            .collect();
        for h in &handles {
            h.abort_handle().abort();
        }
        for h in handles {
            let err = rt.block_on(h).unwrap_err();
            assert!(err.is_cancelled());
            // try_into_panic hands a cancellation back.
            assert!(err.try_into_panic().unwrap_err().is_cancelled());
        }
        assert_eq!(drops.dropped(), drops.created());
        assert_eq!(rt.metrics().num_alive_tasks(), 0);
    });
}

#[test]
fn abort_after_completion_keeps_the_value() {
    watchdog("abort after completion", || {
        let rt = runtime(2);
        let h = rt.spawn(async { String::from("kept") });
        wait_until("task to finish", || h.is_finished());
        h.abort();
        h.abort_handle().abort();
        assert!(h.is_finished());
        assert_eq!(rt.block_on(h).unwrap(), "kept");
    });
}

#[test]
fn is_finished_tracks_completion() {
    watchdog("is_finished", || {
        let rt = runtime(2);
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let h = rt.spawn(async move { rx.await.unwrap() + 1 });
        let abort = h.abort_handle();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!h.is_finished());
        assert!(!abort.is_finished());
        tx.send(41).unwrap();
        wait_until("task to finish", || h.is_finished());
        assert!(abort.is_finished());
        assert_eq!(rt.block_on(h).unwrap(), 42);
    });
}

/// Runs `workers` tasks that each wait (bounded) until all of them run at the same
/// time, so every worker must take one. Returns the distinct threads they ran on.
fn tasks_on_every_worker(rt: &Runtime, workers: usize) -> HashSet<std::thread::ThreadId> {
    let arrived = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let arrived = arrived.clone();
            rt.spawn(async move {
                arrived.fetch_add(1, SeqCst);
                let deadline = Instant::now() + Duration::from_secs(10);
                // Block this worker on purpose: the others must pick up the rest.
                while arrived.load(SeqCst) < workers && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::current().id()
            })
        })
        .collect();
    let ids: HashSet<_> = handles
        .into_iter()
        .map(|h| rt.block_on(h).unwrap())
        .collect();
    assert_eq!(
        arrived.load(SeqCst),
        workers,
        "not every task ran while the others were blocking their workers"
    );
    ids
}

#[test]
fn panics_are_isolated_and_workers_survive() {
    watchdog("panic isolation", || {
        let workers = 2;
        let rt = runtime(workers);

        let err = rt
            .block_on(rt.spawn(async { panic!("boom {}", 7) }))
            .unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert_eq!(panic_message(&*err.into_panic()), "boom 7");

        let err = rt
            .block_on(rt.spawn(async { std::panic::panic_any(1234u32) }))
            .unwrap_err();
        let payload = err.try_into_panic().expect("a panic");
        assert_eq!(*payload.downcast::<u32>().unwrap(), 1234);

        // Many panics in a row, interleaved with good tasks.
        let handles: Vec<_> = (0..200u32)
            .map(|i| {
                rt.spawn(async move {
                    yield_now().await;
                    if i % 2 == 0 {
                        panic!("panic number {i}");
                    }
                    i
                })
            })
            .collect();
        let mut ok = 0;
        for (i, h) in handles.into_iter().enumerate() {
            match rt.block_on(h) {
                Ok(v) => {
                    assert_eq!(v as usize, i);
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(i % 2, 0);
                    assert_eq!(panic_message(&*e.into_panic()), format!("panic number {i}"));
                }
            }
        }
        assert_eq!(ok, 100);

        // A panicking destructor (of the future, after it completed) is a panic too.
        struct PanicOnDrop;
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                panic!("drop panic");
            }
        }
        let err = rt
            .block_on(rt.spawn(async {
                let _p = PanicOnDrop;
                yield_now().await;
                5
            }))
            .unwrap_err();
        assert!(err.is_panic());

        // The runtime still has all its workers, and each of them still runs tasks.
        assert_eq!(rt.metrics().num_workers(), workers);
        let ids = tasks_on_every_worker(&rt, workers);
        assert_eq!(ids.len(), workers, "some worker no longer runs tasks");
        let sum: u64 = rt.block_on(async {
            let hs: Vec<_> = (0..1000u64)
                .map(|i| taskweave::spawn(async move { i }))
                .collect();
            let mut sum = 0;
            for h in hs {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 499_500);
    });
}

#[test]
fn nested_block_on_in_block_on_is_refused() {
    watchdog("nested block_on in block_on", || {
        let rt = runtime(2);
        let other = runtime(1);
        let (same, foreign) = rt.block_on(async {
            (
                rt.try_block_on(async { 1 }),
                other.handle().try_block_on(async { 2 }),
            )
        });
        let err: BlockOnError = same.expect_err("nested block_on of the same runtime");
        assert!(err.to_string().contains("cannot block_on"), "{err}");
        assert!(
            foreign.is_err(),
            "block_on of another runtime inside block_on"
        );
        let panicked = rt.block_on(async {
            catch_unwind(AssertUnwindSafe(|| rt.block_on(async { 3 }))).unwrap_err()
        });
        let msg = panic_message(&*panicked);
        assert!(msg.contains("cannot block_on"), "unexpected message: {msg}");
        // After the refusal the thread may block_on again.
        assert_eq!(rt.block_on(async { 4 }), 4);
    });
}

#[test]
fn nested_block_on_on_a_worker_is_refused() {
    watchdog("nested block_on on a worker", || {
        let rt = runtime(2);
        let handle = rt.handle().clone();
        let (tried, panicked) = rt.block_on(async move {
            taskweave::spawn(async move {
                // Both futures are immediately ready, so a wrongly accepted nested
                // block_on does not hang the test; it is just reported.
                let tried = handle.try_block_on(async { 1 });
                let panicked = catch_unwind(AssertUnwindSafe(|| handle.block_on(async { 2 })))
                    .err()
                    .map(|p| panic_message(&*p));
                (tried, panicked)
            })
            .await
            .unwrap()
        });
        assert!(
            tried.is_err(),
            "try_block_on on a worker thread returned {tried:?}, expected BlockOnError"
        );
        let msg = panicked.expect("block_on on a worker thread did not panic");
        assert!(msg.contains("cannot block_on"), "unexpected message: {msg}");
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string panic>".to_string())
}

#[test]
fn handle_try_current_outside_a_runtime_is_an_error() {
    watchdog("try_current outside", || {
        // A fresh thread has no runtime context.
        let (err, panicked) = std::thread::spawn(|| {
            let err = Handle::try_current().is_err();
            let panicked = catch_unwind(Handle::current)
                .err()
                .map(|p| panic_message(&*p));
            (err, panicked)
        })
        .join()
        .unwrap();
        assert!(err, "Handle::try_current() succeeded outside any runtime");
        let msg = panicked.expect("Handle::current() did not panic outside a runtime");
        assert!(
            msg.contains("no taskweave runtime"),
            "unexpected message: {msg}"
        );

        // enter() makes it current until the guard drops.
        let rt = runtime(1);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(Handle::try_current().is_err());
                {
                    let _guard = rt.enter();
                    let h = Handle::try_current().expect("current after enter");
                    assert_eq!(h.metrics().num_workers(), 1);
                }
                assert!(Handle::try_current().is_err());
            });
        });
    });
}

#[test]
fn zero_worker_threads_is_invalid_input() {
    let err = Builder::new_multi_thread()
        .worker_threads(0)
        .build()
        .expect_err("zero workers must be refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(0)
        .build()
        .expect_err("zero blocking threads must be refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn thread_hooks_run_once_per_worker() {
    watchdog("builder hooks", || {
        let workers = 3;
        let started = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(Mutex::new(Vec::new()));
        let (s1, s2) = (started.clone(), stopped.clone());
        let rt = Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("tw-basics-hooks")
            .on_thread_start(move || {
                s1.lock()
                    .unwrap()
                    .push((std::thread::current().id(), thread_name()))
            })
            .on_thread_stop(move || s2.lock().unwrap().push(std::thread::current().id()))
            .build()
            .unwrap();
        wait_until("every worker ran its start hook", || {
            started.lock().unwrap().len() >= workers
        });
        // Work on the runtime starts no new worker threads.
        let n = rt.block_on(async {
            let hs: Vec<_> = (0..100)
                .map(|i| taskweave::spawn(async move { i }))
                .collect();
            let mut n = 0;
            for h in hs {
                n += h.await.unwrap();
            }
            n
        });
        assert_eq!(n, 4950);
        drop(rt);
        let started = started.lock().unwrap().clone();
        let stopped = stopped.lock().unwrap().clone();
        assert_eq!(started.len(), workers, "start hook calls: {started:?}");
        let ids: HashSet<_> = started.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), workers, "a worker ran the start hook twice");
        assert!(started.iter().all(|(_, name)| name == "tw-basics-hooks"));
        assert_eq!(stopped.len(), workers, "stop hook calls: {stopped:?}");
        assert_eq!(stopped.iter().copied().collect::<HashSet<_>>(), ids);
    });
}

#[test]
fn thread_names_are_applied() {
    watchdog("thread names", || {
        let rt = named_runtime(2, "tw-basics-named");
        let names = rt.block_on(async {
            let hs: Vec<_> = (0..50)
                .map(|_| {
                    taskweave::spawn(async {
                        yield_now().await;
                        thread_name()
                    })
                })
                .collect();
            let mut names = Vec::new();
            for h in hs {
                names.push(h.await.unwrap());
            }
            names
        });
        assert!(
            names.iter().all(|n| n == "tw-basics-named"),
            "worker names: {names:?}"
        );
        let blocking = rt.block_on(rt.spawn_blocking(thread_name)).unwrap();
        assert!(
            blocking.starts_with("tw-basics-named"),
            "blocking thread name {blocking:?}"
        );

        // thread_name_fn names each thread as it starts.
        let counter = Arc::new(AtomicUsize::new(0));
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name_fn(move || format!("tw-fn-{}", counter.fetch_add(1, SeqCst)))
            .build()
            .unwrap();
        let ids = tasks_on_every_worker(&rt, 2);
        assert_eq!(ids.len(), 2);
        let names: HashSet<String> = rt.block_on(async {
            let hs: Vec<_> = (0..20)
                .map(|_| taskweave::spawn(async { thread_name() }))
                .collect();
            let mut names = HashSet::new();
            for h in hs {
                names.insert(h.await.unwrap());
            }
            names
        });
        assert!(names.iter().all(|n| n.starts_with("tw-fn-")), "{names:?}");
    });
}
