//! TaskTracker: outcomes counted per kind (completed, failed, panicked, cancelled),
//! the live-task list, cancel by kind, bounded memory, detached tasks, spawning from
//! many workers at once, shutdown, and odd input (empty or unusual names and kinds,
//! unknown kinds, a shut-down runtime).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use common::{pending_holding, runtime, wait_until, watchdog, DropCounter};
use taskweave::task::yield_now;
use taskweave::tracker::{TaskTracker, TrackerStats};

/// Checks `spawned == running + completed + failed + panicked + cancelled`.
fn assert_balanced(stats: &TrackerStats) {
    assert_eq!(
        stats.spawned,
        stats.running + stats.finished(),
        "unbalanced counts: {stats:?}"
    );
}

#[test]
fn every_outcome_is_counted_per_kind() {
    watchdog("outcomes per kind", || {
        let rt = runtime(2);
        let tracker = TaskTracker::with_handle(rt.handle());
        let drops = DropCounter::new();
        rt.block_on(async {
            let ok: Vec<_> = (0..3)
                .map(|i| tracker.spawn(format!("sum-{i}"), "cpu", async move { i * 2 }))
                .collect();
            let good = tracker.spawn_fallible("read-a", "io", async { Ok::<_, String>(1) });
            let bad1 = tracker.spawn_fallible("read-b", "io", async { Err::<u8, _>("disk") });
            let bad2 = tracker.spawn_fallible("read-c", "io", async {
                yield_now().await;
                Err::<u8, _>("net")
            });
            let boom = tracker.spawn("explode", "cpu", async {
                yield_now().await;
                panic!("boom")
            });
            let stuck = tracker.spawn("stuck", "io", pending_holding(drops.guard()));

            let values: Vec<i32> = {
                let mut v = Vec::new();
                for h in ok {
                    v.push(h.await.unwrap());
                }
                v
            };
            assert_eq!(values, [0, 2, 4]);
            assert_eq!(good.await.unwrap(), Ok(1));
            assert_eq!(bad1.await.unwrap(), Err("disk"));
            assert_eq!(bad2.await.unwrap(), Err("net"));
            let panic = boom.await.unwrap_err();
            assert!(panic.is_panic());
            assert_eq!(*panic.into_panic().downcast::<&str>().unwrap(), "boom");
            stuck.abort();
            assert!(stuck.await.unwrap_err().is_cancelled());
        });
        assert_eq!(drops.dropped(), 1, "the aborted future was dropped");

        let by_kind = tracker.stats_by_kind();
        let kinds: Vec<&str> = by_kind.iter().map(|k| k.kind).collect();
        assert_eq!(kinds, ["cpu", "io"]);
        let cpu = tracker.stats_of_kind("cpu");
        let io = tracker.stats_of_kind("io");
        assert_eq!(by_kind[0].stats, cpu);
        assert_eq!(by_kind[1].stats, io);
        assert_eq!(
            cpu,
            TrackerStats {
                spawned: 4,
                running: 0,
                completed: 3,
                failed: 0,
                panicked: 1,
                cancelled: 0
            }
        );
        assert_eq!(
            io,
            TrackerStats {
                spawned: 4,
                running: 0,
                completed: 1,
                failed: 2,
                panicked: 0,
                cancelled: 1
            }
        );
        let total = tracker.stats();
        assert_eq!((total.spawned, total.finished(), total.running), (8, 8, 0));
        assert!(tracker.is_empty());
        assert!(tracker.running().is_empty());
    });
}

#[test]
fn running_lists_live_tasks_with_their_names_kinds_and_ids() {
    watchdog("running list", || {
        let rt = runtime(2);
        let tracker = TaskTracker::with_handle(rt.handle());
        let drops = DropCounter::new();
        let a = tracker.spawn("conn 10.0.0.1", "net", pending_holding(drops.guard()));
        let b = tracker.spawn(
            String::from("flush /var/db"),
            "disk",
            pending_holding(drops.guard()),
        );
        let c = tracker.spawn("conn 10.0.0.2", "net", pending_holding(drops.guard()));
        let done = tracker.spawn("quick", "net", async { 5 });
        assert_eq!(rt.block_on(done).unwrap(), 5);

        let live = tracker.running();
        let seen: Vec<(&str, &str)> = live.iter().map(|t| (&*t.name, t.kind)).collect();
        assert_eq!(
            seen,
            [
                ("conn 10.0.0.1", "net"),
                ("flush /var/db", "disk"),
                ("conn 10.0.0.2", "net")
            ],
            "oldest first, finished tasks gone"
        );
        let ids: Vec<_> = live.iter().map(|t| t.id).collect();
        assert_eq!(ids, [a.id(), b.id(), c.id()]);
        assert!(live.windows(2).all(|w| w[0].spawned_at <= w[1].spawned_at));

        let net: Vec<_> = tracker
            .running_of_kind("net")
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(net, [a.id(), c.id()]);
        assert!(tracker.running_of_kind("nothing").is_empty());
        assert_eq!(tracker.len(), 3);
        assert_eq!(tracker.stats().running, 3);
        drop(rt);
        assert_eq!(drops.dropped(), 3);
    });
}

#[test]
fn cancel_kind_aborts_exactly_that_kind() {
    watchdog("cancel kind", || {
        let rt = runtime(2);
        let tracker = TaskTracker::with_handle(rt.handle());
        let net_drops = DropCounter::new();
        let disk_drops = DropCounter::new();
        let net: Vec<_> = (0..5)
            .map(|i| {
                tracker.spawn(
                    format!("net-{i}"),
                    "net",
                    pending_holding(net_drops.guard()),
                )
            })
            .collect();
        let disk: Vec<_> = (0..3)
            .map(|i| {
                tracker.spawn(
                    format!("disk-{i}"),
                    "disk",
                    pending_holding(disk_drops.guard()),
                )
            })
            .collect();

        assert_eq!(tracker.cancel_kind("unknown"), 0);
        assert_eq!(tracker.cancel_kind(""), 0);
        assert_eq!(tracker.cancel_kind("net"), 5);
        rt.block_on(async {
            for h in net {
                assert!(h.await.unwrap_err().is_cancelled());
            }
        });
        assert_eq!(net_drops.dropped(), 5);
        assert_eq!(disk_drops.dropped(), 0);
        assert_eq!(
            tracker.cancel_kind("net"),
            0,
            "nothing of that kind is left"
        );
        let names: HashSet<String> = tracker
            .running()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(
            names,
            HashSet::from(["disk-0".into(), "disk-1".into(), "disk-2".into()])
        );
        let net_stats = tracker.stats_of_kind("net");
        assert_eq!((net_stats.cancelled, net_stats.running), (5, 0));

        assert_eq!(tracker.cancel_all(), 3);
        rt.block_on(async {
            for h in disk {
                assert!(h.await.unwrap_err().is_cancelled());
            }
        });
        assert_eq!(disk_drops.dropped(), 3);
        let total = tracker.stats();
        assert_eq!((total.spawned, total.cancelled, total.running), (8, 8, 0));
    });
}

#[test]
fn finished_entries_do_not_pile_up() {
    watchdog("bounded memory", || {
        let rt = runtime(2);
        let tracker = TaskTracker::with_handle(rt.handle());
        const WAVE: usize = 1_000;
        rt.block_on(async {
            for _ in 0..10 {
                let handles: Vec<_> = (0..WAVE)
                    .map(|i| tracker.spawn("short", "wave", async move { i }))
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                assert!(tracker.is_empty());
            }
        });
        let stats = tracker.stats();
        assert_eq!(
            (stats.spawned, stats.completed),
            (10 * WAVE as u64, 10 * WAVE as u64)
        );
        // Memory follows the live tasks of a wave (hash tables at most double it),
        // not the 10k spawned.
        assert!(
            tracker.table_capacity() <= 2 * WAVE,
            "{} slots for at most {WAVE} live tasks",
            tracker.table_capacity()
        );

        // A burst of more than 64 live tasks per shard: once they end, every shard
        // gives its memory back.
        const BURST: usize = 64 * 100;
        let drops = DropCounter::new();
        let burst: Vec<_> = (0..BURST)
            .map(|_| tracker.spawn("held", "burst", pending_holding(drops.guard())))
            .collect();
        assert_eq!(tracker.len(), BURST);
        assert!(tracker.table_capacity() >= BURST);
        assert_eq!(tracker.cancel_kind("burst"), BURST);
        rt.block_on(async {
            for h in burst {
                assert!(h.await.unwrap_err().is_cancelled());
            }
        });
        assert_eq!(drops.dropped(), BURST);
        assert_eq!(tracker.len(), 0);
        assert_eq!(tracker.table_capacity(), 0);
    });
}

#[test]
fn detached_tasks_are_still_counted() {
    watchdog("detached", || {
        let rt = runtime(2);
        let tracker = TaskTracker::with_handle(rt.handle());
        for i in 0..50 {
            drop(tracker.spawn_fallible("detached", "bg", async move {
                yield_now().await;
                if i % 5 == 0 {
                    Err("every fifth")
                } else {
                    Ok(i)
                }
            }));
        }
        wait_until("all detached tasks ended", || tracker.is_empty());
        let stats = tracker.stats();
        assert_eq!((stats.spawned, stats.completed, stats.failed), (50, 40, 10));
    });
}

#[test]
fn many_workers_spawning_at_once_keep_exact_counts() {
    watchdog("concurrent spawns", || {
        let rt = runtime(2);
        let tracker = TaskTracker::with_handle(rt.handle());
        let ran = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let parents: Vec<_> = (0..8)
                .map(|p| {
                    let tracker = tracker.clone();
                    let ran = ran.clone();
                    tracker
                        .clone()
                        .spawn(format!("parent-{p}"), "parent", async move {
                            let children: Vec<_> = (0..500)
                                .map(|_| {
                                    let ran = ran.clone();
                                    tracker.spawn("child", "child", async move {
                                        ran.fetch_add(1, SeqCst);
                                        yield_now().await;
                                    })
                                })
                                .collect();
                            // Snapshots taken while tasks come and go still add up.
                            assert_balanced(&tracker.stats());
                            for c in children {
                                c.await.unwrap();
                            }
                        })
                })
                .collect();
            for p in parents {
                p.await.unwrap();
            }
        });
        assert_eq!(ran.load(SeqCst), 4_000);
        assert_eq!(tracker.stats_of_kind("child").completed, 4_000);
        assert_eq!(tracker.stats_of_kind("parent").completed, 8);
        assert_balanced(&tracker.stats());
        assert!(tracker.is_empty());
    });
}

#[test]
fn a_tracker_without_a_handle_uses_the_current_runtime() {
    watchdog("current runtime", || {
        let rt = taskweave::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tracked-worker")
            .build()
            .unwrap();
        let tracker = TaskTracker::new();
        let thread = rt.block_on(async {
            tracker
                .spawn("where", "probe", async {
                    std::thread::current().name().map(str::to_string)
                })
                .await
                .unwrap()
        });
        assert_eq!(thread.as_deref(), Some("tracked-worker"));
        // Outside any runtime: the process-wide default one.
        let outside = tracker.spawn("default", "probe", async { 1 });
        assert_eq!(taskweave::block_on(outside).unwrap(), 1);
        assert_eq!(tracker.stats_of_kind("probe").completed, 2);
    });
}

#[test]
fn runtime_shutdown_cancels_and_counts_tracked_tasks() {
    watchdog("shutdown", || {
        let rt = runtime(2);
        let handle = rt.handle().clone();
        let tracker = TaskTracker::with_handle(&handle);
        let drops = DropCounter::new();
        let held: Vec<_> = (0..3)
            .map(|_| tracker.spawn("held", "svc", pending_holding(drops.guard())))
            .collect();
        drop(rt);
        assert_eq!(drops.dropped(), 3);
        for h in held {
            assert!(futures::executor::block_on(h).unwrap_err().is_cancelled());
        }
        // Spawning on the shut-down runtime: cancelled at once, and counted so.
        let late = tracker.spawn("late", "svc", async { 1 });
        assert!(futures::executor::block_on(late)
            .unwrap_err()
            .is_cancelled());
        let stats = tracker.stats();
        assert_eq!((stats.spawned, stats.cancelled, stats.running), (4, 4, 0));
        assert!(tracker.running().is_empty());
    });
}

#[test]
fn odd_names_and_kinds_are_kept_as_given() {
    watchdog("odd input", || {
        let rt = runtime(1);
        let tracker = TaskTracker::with_handle(rt.handle());
        let drops = DropCounter::new();
        let odd = ["", "quote \" and \\ backslash", "new\nline", "ünï✓"];
        for name in odd {
            tracker.spawn(name, "", pending_holding(drops.guard()));
        }
        tracker.spawn(
            String::new(),
            "weird \"kind\"\n",
            pending_holding(drops.guard()),
        );
        let names: Vec<String> = tracker
            .running()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(
            names,
            ["", "quote \" and \\ backslash", "new\nline", "ünï✓", ""]
        );
        assert_eq!(tracker.stats_of_kind("").running, 4);
        assert_eq!(tracker.stats_of_kind("weird \"kind\"\n").running, 1);
        assert_eq!(tracker.cancel_kind(""), 4);
        wait_until("odd tasks cancelled", || drops.dropped() == 4);
        assert_eq!(tracker.len(), 1);
    });
}
