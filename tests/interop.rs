//! The ecosystem on our runtime, under stress with many tasks: tokio's sync
//! primitives, futures combinators and channels, async-channel, spawn_blocking, and
//! yield_now fairness.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{runtime, watchdog, yield_until_stopped};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use taskweave::runtime::Builder;
use taskweave::task::yield_now;
use taskweave::JoinHandle;

/// Awaits every handle, in order, collecting the outputs.
async fn join_all_ok<T>(handles: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task failed"));
    }
    out
}

#[test]
fn tokio_mutex_under_contention_counts_exactly() {
    watchdog("tokio Mutex", || {
        let rt = runtime(2);
        let counter = Arc::new(tokio::sync::Mutex::new(0u64));
        let c = counter.clone();
        rt.block_on(async move {
            let handles: Vec<_> = (0..1000)
                .map(|_| {
                    let c = c.clone();
                    taskweave::spawn(async move {
                        for _ in 0..10 {
                            let mut g = c.lock().await;
                            // A non-atomic read-modify-write across a yield: only
                            // mutual exclusion keeps the count exact.
                            let v = *g;
                            yield_now().await;
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            join_all_ok(handles).await;
        });
        assert_eq!(*rt.block_on(counter.lock()), 10_000);
    });
}

#[test]
fn tokio_rwlock_readers_never_see_a_torn_write() {
    watchdog("tokio RwLock", || {
        let rt = runtime(2);
        let lock = Arc::new(tokio::sync::RwLock::new((0u64, 0u64)));
        let torn = Arc::new(AtomicUsize::new(0));
        let l = lock.clone();
        let t = torn.clone();
        rt.block_on(async move {
            let mut handles = Vec::new();
            for _ in 0..50 {
                let l = l.clone();
                handles.push(taskweave::spawn(async move {
                    for _ in 0..20 {
                        let mut g = l.write().await;
                        g.0 += 1;
                        yield_now().await;
                        g.1 += 1;
                    }
                }));
            }
            for _ in 0..200 {
                let (l, t) = (l.clone(), t.clone());
                handles.push(taskweave::spawn(async move {
                    for _ in 0..20 {
                        let g = l.read().await;
                        let a = g.0;
                        yield_now().await;
                        if a != g.0 || g.0 != g.1 {
                            t.fetch_add(1, SeqCst);
                        }
                    }
                }));
            }
            join_all_ok(handles).await;
        });
        assert_eq!(torn.load(SeqCst), 0);
        assert_eq!(*rt.block_on(lock.read()), (1000, 1000));
    });
}

#[test]
fn tokio_mpsc_many_producers_every_message_once_in_order() {
    watchdog("tokio mpsc", || {
        let rt = runtime(2);
        let (producers, per) = (100u32, 1000u32);
        let received = rt.block_on(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<(u32, u32)>(64);
            for p in 0..producers {
                let tx = tx.clone();
                taskweave::spawn(async move {
                    for i in 0..per {
                        tx.send((p, i)).await.unwrap();
                    }
                });
            }
            drop(tx);
            let mut next: HashMap<u32, u32> = HashMap::new();
            let mut total = 0u64;
            while let Some((p, i)) = rx.recv().await {
                let expected = next.entry(p).or_insert(0);
                assert_eq!(i, *expected, "producer {p}: out of order or duplicated");
                *expected += 1;
                total += 1;
            }
            assert!(next.values().all(|&n| n == per));
            assert_eq!(next.len(), producers as usize);
            total
        });
        assert_eq!(received, u64::from(producers * per));
    });
}

#[test]
fn tokio_oneshot_pairs() {
    watchdog("tokio oneshot", || {
        let rt = runtime(2);
        let sum = rt.block_on(async {
            let mut receivers = Vec::new();
            for i in 0..1000u64 {
                let (tx, rx) = tokio::sync::oneshot::channel();
                taskweave::spawn(async move {
                    yield_now().await;
                    tx.send(i).unwrap();
                });
                receivers.push(taskweave::spawn(async move { rx.await.unwrap() }));
            }
            join_all_ok(receivers).await.into_iter().sum::<u64>()
        });
        assert_eq!(sum, 499_500);
        // A dropped sender is seen by the receiver.
        let closed = rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
            taskweave::spawn(async move { drop(tx) });
            rx.await.is_err()
        });
        assert!(closed);
    });
}

#[test]
fn tokio_semaphore_bounds_concurrency() {
    watchdog("tokio Semaphore", || {
        let rt = runtime(2);
        let permits = 8;
        let sem = Arc::new(tokio::sync::Semaphore::new(permits));
        let current = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let (s, c, m, d) = (sem.clone(), current.clone(), max.clone(), done.clone());
        rt.block_on(async move {
            let handles: Vec<_> = (0..1000)
                .map(|_| {
                    let (s, c, m, d) = (s.clone(), c.clone(), m.clone(), d.clone());
                    taskweave::spawn(async move {
                        let _permit = s.acquire().await.unwrap();
                        let now = c.fetch_add(1, SeqCst) + 1;
                        m.fetch_max(now, SeqCst);
                        yield_now().await;
                        yield_now().await;
                        c.fetch_sub(1, SeqCst);
                        d.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            join_all_ok(handles).await;
        });
        assert_eq!(done.load(SeqCst), 1000);
        let max = max.load(SeqCst);
        assert!(
            (1..=permits).contains(&max),
            "observed {max} holders of {permits} permits"
        );
        assert_eq!(sem.available_permits(), permits);
    });
}

#[test]
fn tokio_notify_wakes_every_registered_waiter_and_ping_pongs() {
    watchdog("tokio Notify", || {
        let rt = runtime(2);
        let notify = Arc::new(tokio::sync::Notify::new());
        let ready = Arc::new(AtomicUsize::new(0));
        let woken = Arc::new(AtomicUsize::new(0));
        let (n, r, w) = (notify.clone(), ready.clone(), woken.clone());
        rt.block_on(async move {
            let handles: Vec<_> = (0..100)
                .map(|_| {
                    let (n, r, w) = (n.clone(), r.clone(), w.clone());
                    taskweave::spawn(async move {
                        let notified = n.notified();
                        tokio::pin!(notified);
                        notified.as_mut().enable();
                        r.fetch_add(1, SeqCst);
                        notified.await;
                        w.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            while r.load(SeqCst) < 100 {
                yield_now().await;
                taskweave::time::sleep(Duration::from_millis(1)).await;
            }
            n.notify_waiters();
            join_all_ok(handles).await;
        });
        assert_eq!(woken.load(SeqCst), 100);

        // Ping-pong with notify_one: 1000 exchanges, strictly alternating.
        let ping = Arc::new(tokio::sync::Notify::new());
        let pong = Arc::new(tokio::sync::Notify::new());
        let turns = Arc::new(AtomicUsize::new(0));
        let (p1, q1, t1) = (ping.clone(), pong.clone(), turns.clone());
        let (p2, q2, t2) = (ping, pong, turns.clone());
        rt.block_on(async move {
            let a = taskweave::spawn(async move {
                for i in 0..1000 {
                    assert_eq!(t1.fetch_add(1, SeqCst), 2 * i);
                    p1.notify_one();
                    q1.notified().await;
                }
            });
            let b = taskweave::spawn(async move {
                for i in 0..1000 {
                    p2.notified().await;
                    assert_eq!(t2.fetch_add(1, SeqCst), 2 * i + 1);
                    q2.notify_one();
                }
            });
            a.await.unwrap();
            b.await.unwrap();
        });
        assert_eq!(turns.load(SeqCst), 2000);
    });
}

#[test]
fn tokio_broadcast_every_receiver_gets_every_value() {
    watchdog("tokio broadcast", || {
        let rt = runtime(2);
        let values = 200u32;
        let all = rt.block_on(async move {
            let (tx, _) = tokio::sync::broadcast::channel::<u32>(256);
            let receivers: Vec<_> = (0..20)
                .map(|_| {
                    let mut rx = tx.subscribe();
                    taskweave::spawn(async move {
                        let mut got = Vec::new();
                        loop {
                            match rx.recv().await {
                                Ok(v) => got.push(v),
                                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                                Err(e) => panic!("receiver: {e}"),
                            }
                        }
                        got
                    })
                })
                .collect();
            let sender = taskweave::spawn(async move {
                for v in 0..values {
                    tx.send(v).unwrap();
                    if v % 10 == 0 {
                        yield_now().await;
                    }
                }
            });
            sender.await.unwrap();
            join_all_ok(receivers).await
        });
        assert_eq!(all.len(), 20);
        for got in all {
            assert_eq!(got, (0..values).collect::<Vec<_>>());
        }
    });
}

#[test]
fn tokio_watch_receivers_see_monotonic_values_and_the_last_one() {
    watchdog("tokio watch", || {
        let rt = runtime(2);
        let finals = rt.block_on(async {
            let (tx, rx) = tokio::sync::watch::channel(0u32);
            let receivers: Vec<_> = (0..50)
                .map(|_| {
                    let mut rx = rx.clone();
                    taskweave::spawn(async move {
                        let mut last = *rx.borrow_and_update();
                        while last < 1000 {
                            if rx.changed().await.is_err() {
                                break;
                            }
                            let v = *rx.borrow_and_update();
                            assert!(v > last, "watch went from {last} to {v}");
                            last = v;
                        }
                        last
                    })
                })
                .collect();
            let sender = taskweave::spawn(async move {
                for v in 1..=1000u32 {
                    tx.send(v).unwrap();
                    if v % 7 == 0 {
                        yield_now().await;
                    }
                }
                // Keep the sender until the receivers are done.
                tx.closed().await;
            });
            drop(rx);
            let finals = join_all_ok(receivers).await;
            sender.await.unwrap();
            finals
        });
        assert_eq!(finals, vec![1000; 50]);
    });
}

#[test]
fn futures_join_all_and_futures_unordered() {
    watchdog("join_all / FuturesUnordered", || {
        let rt = runtime(2);
        let (a, b) = rt.block_on(async {
            let handles: Vec<_> = (0..1000u64)
                .map(|i| {
                    taskweave::spawn(async move {
                        yield_now().await;
                        i * 2
                    })
                })
                .collect();
            let joined = futures::future::join_all(handles).await;
            let a: Vec<u64> = joined.into_iter().map(Result::unwrap).collect();

            let mut unordered: FuturesUnordered<_> = (0..1000u64)
                .map(|i| {
                    taskweave::spawn(async move {
                        for _ in 0..(i % 3) {
                            yield_now().await;
                        }
                        i
                    })
                })
                .collect();
            let mut b = Vec::new();
            while let Some(r) = unordered.next().await {
                b.push(r.unwrap());
            }
            (a, b)
        });
        assert_eq!(a, (0..1000u64).map(|i| i * 2).collect::<Vec<_>>());
        let mut b = b;
        b.sort_unstable();
        assert_eq!(b, (0..1000u64).collect::<Vec<_>>());
    });
}

#[test]
fn futures_select_picks_the_ready_branch() {
    watchdog("select!", || {
        let rt = runtime(2);
        let picks = rt.block_on(async {
            let mut picks = Vec::new();
            for i in 0..100u32 {
                let (tx, rx) = futures::channel::oneshot::channel::<u32>();
                taskweave::spawn(async move {
                    yield_now().await;
                    tx.send(i).unwrap();
                });
                let mut slow = taskweave::time::sleep(Duration::from_secs(60)).fuse();
                let mut rx = rx.fuse();
                let pick = futures::select! {
                    _ = slow => u32::MAX,
                    v = rx => v.unwrap(),
                };
                picks.push(pick);
            }
            // And the timer branch when nothing else completes.
            let mut never = futures::future::pending::<u32>().fuse();
            let mut quick = taskweave::time::sleep(Duration::from_millis(5)).fuse();
            let timer = futures::select! {
                v = never => v,
                _ = quick => 7,
            };
            (picks, timer)
        });
        assert_eq!(picks.0, (0..100).collect::<Vec<_>>());
        assert_eq!(picks.1, 7);
    });
}

#[test]
fn futures_buffer_unordered_over_spawned_tasks() {
    watchdog("buffer_unordered", || {
        let rt = runtime(2);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let (f, m) = (in_flight.clone(), max.clone());
        let (sum, count) = rt.block_on(async move {
            let results: Vec<u64> = futures::stream::iter(0..1000u64)
                .map(|i| {
                    let (f, m) = (f.clone(), m.clone());
                    async move {
                        let now = f.fetch_add(1, SeqCst) + 1;
                        m.fetch_max(now, SeqCst);
                        let v = taskweave::spawn(async move {
                            yield_now().await;
                            i * i
                        })
                        .await
                        .unwrap();
                        f.fetch_sub(1, SeqCst);
                        v
                    }
                })
                .buffer_unordered(16)
                .collect()
                .await;
            (results.iter().sum::<u64>(), results.len())
        });
        assert_eq!(count, 1000);
        assert_eq!(sum, (0..1000u64).map(|i| i * i).sum::<u64>());
        assert!(max.load(SeqCst) <= 16);
    });
}

#[test]
fn futures_mpsc_many_producers() {
    watchdog("futures mpsc", || {
        let rt = runtime(2);
        let (producers, per) = (50u32, 200u32);
        let (total, count) = rt.block_on(async move {
            let (tx, mut rx) = futures::channel::mpsc::channel::<(u32, u32)>(8);
            for p in 0..producers {
                let mut tx = tx.clone();
                taskweave::spawn(async move {
                    use futures::SinkExt;
                    for i in 0..per {
                        tx.send((p, i)).await.unwrap();
                    }
                });
            }
            drop(tx);
            let mut next = vec![0u32; producers as usize];
            let (mut total, mut count) = (0u64, 0u64);
            while let Some((p, i)) = rx.next().await {
                assert_eq!(i, next[p as usize], "producer {p} out of order");
                next[p as usize] += 1;
                total += u64::from(i);
                count += 1;
            }
            (total, count)
        });
        assert_eq!(count, u64::from(producers * per));
        assert_eq!(
            total,
            u64::from(producers) * (0..u64::from(per)).sum::<u64>()
        );
    });
}

#[test]
fn async_channel_mpmc_sum_and_count_exact() {
    watchdog("async-channel MPMC", || {
        let rt = runtime(2);
        let (producers, consumers, total) = (8u64, 8usize, 100_000u64);
        let per = total / producers;
        let results = rt.block_on(async move {
            let (tx, rx) = async_channel::bounded::<u64>(128);
            let mut prods = Vec::new();
            for p in 0..producers {
                let tx = tx.clone();
                prods.push(taskweave::spawn(async move {
                    for i in 0..per {
                        tx.send(p * per + i).await.unwrap();
                    }
                }));
            }
            drop(tx);
            let cons: Vec<_> = (0..consumers)
                .map(|_| {
                    let rx = rx.clone();
                    taskweave::spawn(async move {
                        let (mut sum, mut count) = (0u64, 0u64);
                        while let Ok(v) = rx.recv().await {
                            sum += v;
                            count += 1;
                        }
                        (sum, count)
                    })
                })
                .collect();
            drop(rx);
            join_all_ok(prods).await;
            join_all_ok(cons).await
        });
        let sum: u64 = results.iter().map(|r| r.0).sum();
        let count: u64 = results.iter().map(|r| r.1).sum();
        assert_eq!(count, total);
        assert_eq!(sum, (0..total).sum::<u64>());
    });
}

#[test]
fn spawn_blocking_many_jobs_each_run_exactly_once() {
    watchdog("spawn_blocking many", || {
        let max_threads = 8;
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(max_threads)
            .build()
            .unwrap();
        let jobs = 1000usize;
        let runs: Arc<Vec<AtomicUsize>> =
            Arc::new((0..jobs).map(|_| AtomicUsize::new(0)).collect());
        let current = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..jobs)
            .map(|i| {
                let (runs, current, max) = (runs.clone(), current.clone(), max.clone());
                rt.spawn_blocking(move || {
                    let now = current.fetch_add(1, SeqCst) + 1;
                    max.fetch_max(now, SeqCst);
                    runs[i].fetch_add(1, SeqCst);
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    current.fetch_sub(1, SeqCst);
                    (i as u64) * (i as u64)
                })
            })
            .collect();
        // Also from inside tasks, awaited there.
        let from_tasks = rt.block_on(async {
            let hs: Vec<_> = (0..100u64)
                .map(|i| {
                    taskweave::spawn(async move {
                        taskweave::spawn_blocking(move || i + 1).await.unwrap()
                    })
                })
                .collect();
            join_all_ok(hs).await
        });
        let results = rt.block_on(join_all_ok(handles));
        assert_eq!(results, (0..jobs as u64).map(|i| i * i).collect::<Vec<_>>());
        assert_eq!(from_tasks, (1..=100u64).collect::<Vec<_>>());
        let counts: Vec<usize> = runs.iter().map(|r| r.load(SeqCst)).collect();
        assert!(counts.iter().all(|&c| c == 1), "run counts: {counts:?}");
        assert!(max.load(SeqCst) <= max_threads);
        assert!(rt.metrics().num_blocking_threads() <= max_threads);
    });
}

#[test]
fn yield_now_loops_do_not_starve_other_tasks() {
    watchdog("yield_now fairness", || {
        let workers = 2;
        let rt = runtime(workers);
        let stop = Arc::new(AtomicBool::new(false));
        let spins = Arc::new(AtomicUsize::new(0));
        // One task per worker (and one extra) that yields forever until told to stop.
        let yielders: Vec<_> = (0..workers + 1)
            .map(|_| rt.spawn(yield_until_stopped(stop.clone(), spins.clone())))
            .collect();
        while spins.load(SeqCst) < 1000 {
            std::thread::yield_now();
        }
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let setter = rt.spawn(async move { f.store(true, SeqCst) });
        rt.block_on(setter).unwrap();
        assert!(flag.load(SeqCst));
        // A task spawned locally by a yielder (onto that worker's own deque) runs too.
        let handle = rt.handle().clone();
        let local_flag = Arc::new(AtomicBool::new(false));
        let f = local_flag.clone();
        let stop2 = stop.clone();
        let local = rt.spawn(async move {
            let setter = handle.spawn(async move { f.store(true, SeqCst) });
            while !setter.is_finished() && !stop2.load(SeqCst) {
                yield_now().await;
            }
            setter.await.unwrap();
        });
        rt.block_on(local).unwrap();
        assert!(local_flag.load(SeqCst));
        // Tasks that need several polls make progress too.
        let progress = rt.block_on(async {
            let hs: Vec<_> = (0..100u32)
                .map(|i| {
                    taskweave::spawn(async move {
                        for _ in 0..10 {
                            yield_now().await;
                        }
                        i
                    })
                })
                .collect();
            join_all_ok(hs).await
        });
        assert_eq!(progress, (0..100).collect::<Vec<_>>());
        stop.store(true, SeqCst);
        for y in yielders {
            rt.block_on(y).unwrap();
        }
        // The yielders kept running throughout (they were not starved either).
        assert!(spins.load(SeqCst) >= 1000);
    });
}
