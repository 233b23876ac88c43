//! ExecutableTasks: the ready-heap order — priority with FIFO ties, critical path
//! among equals, overdue deadlines first, priority kept across wake-ups — and the
//! fairness of hand-overs towards other work. One worker, held by a gate while the
//! tasks queue up, makes every order deterministic.

mod common;
mod graph_util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{runtime, wait_until, watchdog};
use graph_util::{assert_cancelled, resolve, submit, Log, NoteWake, WorkerGate};
use taskweave::graph::{ExecutableTask, ReadyQueueConfig, TaskGraph, TaskId};
use taskweave::task::yield_now;
// ---------------------------------------------------------------------------------
// Ready order (1 worker, held by a gate while the tasks queue up)

/// A task that logs `name` when it runs.
fn record(
    log: &Log,
    name: &str,
    priority: u8,
) -> ExecutableTask<impl taskweave::graph::TaskBody<Output = ()>> {
    let (log, label) = (log.clone(), name.to_string());
    ExecutableTask::new(async move { log.push(label) })
        .name(name.to_string())
        .priority(priority)
}

/// One worker, held by a gate while tasks queue up, and a log for them to write.
fn held_worker() -> (taskweave::Runtime, Log, WorkerGate) {
    let rt = runtime(1);
    let gate = WorkerGate::hold(&rt);
    (rt, Log::new(), gate)
}

#[test]
fn ready_tasks_run_by_priority_fifo_among_equals() {
    watchdog("priority order", || {
        let rt = runtime(1);
        // Levels far apart (>= 50 levels: aging needs 10 ms per level to matter).
        let plan: [(&str, u8); 10] = [
            ("n1", 128),
            ("l1", 10),
            ("h1", 250),
            ("n2", 128),
            ("m1", 190),
            ("l2", 10),
            ("h2", 250),
            ("n3", 128),
            ("m2", 190),
            ("l3", 10),
        ];
        let expected = ["h1", "h2", "m1", "m2", "n1", "n2", "n3", "l1", "l2", "l3"];
        // As one batch, and as separate submissions.
        for batch in [true, false] {
            let log = Log::new();
            let gate = WorkerGate::hold(&rt);
            let handles: Vec<_> = if batch {
                let mut graph = TaskGraph::new(rt.handle());
                let hs = plan
                    .iter()
                    .map(|&(n, p)| graph.add(record(&log, n, p)).unwrap())
                    .collect();
                graph.submit().unwrap();
                hs
            } else {
                plan.iter()
                    .map(|&(n, p)| submit(&rt, record(&log, n, p)))
                    .collect()
            };
            assert_eq!(log.len(), 0, "nothing runs while the worker is held");
            gate.release(&rt);
            for h in handles {
                resolve(&rt, h).unwrap();
            }
            assert_eq!(log.events(), expected, "batch = {batch}");
        }
    });
}

#[test]
fn a_batch_of_equal_tasks_runs_in_order_around_cancellations_and_better_tasks() {
    watchdog("equal batch order", || {
        let (rt, log, gate) = held_worker();
        // Twenty equal tasks that become ready together: the heap holds them as one
        // run (dispatch/ready.rs), which must still give them in batch order.
        let mut graph = TaskGraph::new(rt.handle());
        let names: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        let handles: Vec<_> = names
            .iter()
            .map(|n| graph.add(record(&log, n, 128)).unwrap())
            .collect();
        graph.submit().unwrap();
        // Cancelled while queued, inside the run: skipped.
        handles[5].cancel();
        handles[12].cancel();
        // Submitted later but better: first. Equal but later: after the whole run.
        let high = submit(&rt, record(&log, "high", 200));
        let later = submit(&rt, record(&log, "later", 128));
        assert_eq!(log.len(), 0, "nothing runs while the worker is held");
        gate.release(&rt);
        resolve(&rt, high).unwrap();
        resolve(&rt, later).unwrap();
        let mut expected = vec!["high".to_string()];
        for (i, h) in handles.into_iter().enumerate() {
            if i == 5 || i == 12 {
                assert_cancelled(resolve(&rt, h), &format!("t{i}"));
            } else {
                resolve(&rt, h).unwrap();
                expected.push(format!("t{i}"));
            }
        }
        expected.push("later".to_string());
        assert_eq!(log.events(), expected);
    });
}

/// One worker, its ready heap aging one level per `aging_interval` of waiting (zero:
/// no aging, nor the starvation guard it brings).
fn runtime_aging_every(aging_interval: Duration) -> taskweave::Runtime {
    taskweave::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .ready_queue(ReadyQueueConfig {
            aging_interval,
            ..ReadyQueueConfig::default()
        })
        .build()
        .expect("build runtime")
}

#[test]
fn among_equals_the_head_of_the_longest_chain_runs_first() {
    watchdog("critical path", || {
        // Without aging, the order depends on the tasks' keys alone however slow the
        // machine (under valgrind a task could wait past the guard's 1.28 s).
        let rt = runtime_aging_every(Duration::ZERO);
        let log = Log::new();
        let ms = Duration::from_millis;
        let gate = WorkerGate::hold(&rt);
        let mut graph = TaskGraph::new(rt.handle());
        // `single` is added first, so plain FIFO would run it first.
        let single = record(&log, "single", 128).estimated_duration(ms(1));
        let mut handles = vec![graph.add(single).unwrap()];
        let mut prev = None;
        for i in 0..5 {
            let mut task = record(&log, &format!("chain{i}"), 128).estimated_duration(ms(1));
            if let Some(p) = prev {
                task = task.depends_on(p);
            }
            prev = Some(task.id());
            handles.push(graph.add(task).unwrap());
        }
        graph.submit().unwrap();
        gate.release(&rt);
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        let events = log.events();
        assert_eq!(
            events[0], "chain0",
            "the chain head (rank 5 ms) goes first: {events:?}"
        );
        // The chain keeps its lead while its remaining path is longer than 1 ms; at
        // equal rank (chain4 vs single, both 1 ms) the earlier push wins.
        assert_eq!(
            events,
            ["chain0", "chain1", "chain2", "chain3", "single", "chain4"]
        );
    });
}

#[test]
fn the_ready_queue_setting_decides_whether_a_waiting_level_ages() {
    // A low task waits 80 ms before a higher one (50 levels up) is submitted. With one
    // level of aging per millisecond its level has risen past the newcomer's; with
    // aging off, priority alone decides.
    watchdog("ready queue tuning", || {
        for (aging_interval, expected) in [
            (Duration::from_millis(1), ["low", "high"]),
            (Duration::ZERO, ["high", "low"]),
        ] {
            let rt = runtime_aging_every(aging_interval);
            let log = Log::new();
            let gate = WorkerGate::hold(&rt);
            let low = submit(&rt, record(&log, "low", 10));
            std::thread::sleep(Duration::from_millis(80));
            let high = submit(&rt, record(&log, "high", 60));
            gate.release(&rt);
            resolve(&rt, low).unwrap();
            resolve(&rt, high).unwrap();
            assert_eq!(log.events(), expected, "aging every {aging_interval:?}");
        }
    });
}

#[test]
fn overdue_tasks_go_first_earliest_deadline_first() {
    watchdog("deadlines", || {
        let rt = runtime(1);
        let log = Log::new();
        let now = Instant::now();
        let past = |ms| now.checked_sub(Duration::from_millis(ms)).unwrap();
        let gate = WorkerGate::hold(&rt);
        let mut graph = TaskGraph::new(rt.handle());
        let handles = vec![
            graph.add(record(&log, "critical", 255)).unwrap(),
            graph
                .add(record(&log, "far-deadline-low", 64).deadline_in(Duration::from_secs(3600)))
                .unwrap(),
            graph.add(record(&log, "normal", 128)).unwrap(),
            graph
                .add(record(&log, "overdue-later-low", 1).deadline(past(5)))
                .unwrap(),
            graph
                .add(record(&log, "overdue-earlier-low", 1).deadline(past(50)))
                .unwrap(),
        ];
        graph.submit().unwrap();
        gate.release(&rt);
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        assert_eq!(
            log.events(),
            [
                "overdue-earlier-low",
                "overdue-later-low",
                "critical",
                "normal",
                "far-deadline-low"
            ]
        );
    });
}

/// A CPU-bound low-priority task: logs `name`.
fn low_cpu(
    log: &Log,
    name: String,
) -> ExecutableTask<impl taskweave::graph::TaskBody<Output = u64>> {
    let log = log.clone();
    ExecutableTask::new(async move {
        log.push(name);
        (0..10_000u64).fold(0u64, |a, x| a.wrapping_mul(31).wrapping_add(x))
    })
    .priority(10)
}

#[test]
fn priority_survives_yields() {
    watchdog("priority across yields", || {
        let (rt, log, gate) = held_worker();
        let mut graph = TaskGraph::new(rt.handle());
        let mut handles = Vec::new();
        // Low tasks first in the batch: FIFO alone would run them first.
        let lows: Vec<_> = (0..4)
            .map(|i| graph.add(low_cpu(&log, format!("low{i}"))).unwrap())
            .collect();
        for i in 0..4 {
            let log = log.clone();
            let task = ExecutableTask::new(async move {
                log.push(format!("high{i}:start"));
                for _ in 0..5 {
                    yield_now().await;
                }
                log.push(format!("high{i}:end"));
                0
            })
            .priority(250);
            handles.push(graph.add(task).unwrap());
        }
        graph.submit().unwrap();
        gate.release(&rt);
        handles.extend(lows);
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        assert_highs_before_lows(&log, 4);
    });
}

#[track_caller]
fn assert_highs_before_lows(log: &Log, highs: usize) {
    let events = log.events();
    let last_high_end = (0..highs)
        .map(|i| log.pos(&format!("high{i}:end")))
        .max()
        .unwrap();
    let first_low = events
        .iter()
        .position(|e| e.starts_with("low"))
        .expect("the low tasks ran");
    assert!(
        last_high_end < first_low,
        "a woken high-priority task ran after a low-priority one: {events:?}"
    );
}

#[test]
fn priority_survives_wakeups_from_outside() {
    watchdog("priority across external wake-ups", || {
        let rt = runtime(1);
        let log = Log::new();
        // 1. High tasks start and wait for a signal (not holding the worker).
        let mut opens = Vec::new();
        let mut handles = Vec::new();
        for i in 0..3 {
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            opens.push(tx);
            let log = log.clone();
            let task = ExecutableTask::new(async move {
                log.push(format!("high{i}:start"));
                rx.await.unwrap();
                log.push(format!("high{i}:end"));
                0
            })
            .priority(250);
            handles.push(submit(&rt, task));
        }
        wait_until("the high tasks started", || log.len() == 3);
        // 2. Hold the worker, queue low tasks, then wake the high ones: their wake-ups
        //    queue *after* the lows, at their own priority.
        let gate = WorkerGate::hold(&rt);
        for i in 0..4 {
            handles.push(submit(&rt, low_cpu(&log, format!("low{i}"))));
        }
        for tx in opens {
            tx.send(()).unwrap();
        }
        gate.release(&rt);
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        assert_highs_before_lows(&log, 3);
    });
}

/// Spins for `for_at_least` (a long task, as the scheduler measures it).
fn busy(for_at_least: Duration) {
    let start = Instant::now();
    while start.elapsed() < for_at_least {
        std::hint::spin_loop();
    }
}

#[test]
fn long_tasks_are_picked_one_at_a_time() {
    // Plenty of ready tasks would let a worker pick batches of short ones; these take
    // 200 µs each, so it must not: a high-priority task submitted by the 5th runs
    // right after it, not behind tasks picked before it became ready.
    watchdog("long tasks keep strict order", || {
        let (rt, log, gate) = held_worker();
        let mut graph = TaskGraph::new(rt.handle());
        let mut handles = Vec::new();
        let high = Arc::new(std::sync::Mutex::new(None));
        for i in 0..40 {
            let (log, high, handle) = (log.clone(), high.clone(), rt.handle().clone());
            let task = ExecutableTask::new(async move {
                busy(Duration::from_micros(200));
                log.push(format!("low{i}"));
                if i == 4 {
                    let log = log.clone();
                    let task = ExecutableTask::new(async move { log.push("high".to_string()) })
                        .priority(250);
                    *high.lock().unwrap() = Some(handle.submit(task).unwrap());
                }
            })
            .priority(10);
            handles.push(graph.add(task).unwrap());
        }
        graph.submit().unwrap();
        gate.release(&rt);
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        let high = high.lock().unwrap().take().expect("low4 submitted it");
        resolve(&rt, high).unwrap();
        let events = log.events();
        assert_eq!(events.len(), 41);
        assert_eq!(
            events.iter().position(|e| e == "high"),
            Some(5),
            "right after low4: {events:?}"
        );
    });
}

#[test]
fn priority_survives_sleeps() {
    watchdog("priority across sleeps", || {
        let rt = runtime(1);
        let log = Log::new();
        let sleep = Duration::from_millis(500);
        let mut woken = Vec::new();
        let mut handles = Vec::new();
        for i in 0..3 {
            let flag = Arc::new(AtomicBool::new(false));
            woken.push(flag.clone());
            let log = log.clone();
            let task = ExecutableTask::new(async move {
                log.push(format!("high{i}:start"));
                NoteWake::new(taskweave::time::sleep(sleep), flag).await;
                log.push(format!("high{i}:end"));
                0
            })
            .priority(250);
            handles.push(submit(&rt, task));
        }
        wait_until("the high tasks are asleep", || log.len() == 3);
        let gate = WorkerGate::hold(&rt);
        // The sleeps (500 ms) did not end before the worker was held.
        assert!(
            woken.iter().all(|w| !w.load(SeqCst)),
            "a sleep ended before the gate held the worker (machine too slow?)"
        );
        for i in 0..4 {
            handles.push(submit(&rt, low_cpu(&log, format!("low{i}"))));
        }
        // The timer wakes the sleepers while the worker is held: they queue behind the
        // lows in time, ahead of them in priority.
        wait_until("the sleepers were woken", || {
            woken.iter().all(|w| w.load(SeqCst))
        });
        gate.release(&rt);
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        assert_highs_before_lows(&log, 3);
    });
}

#[test]
fn a_long_chain_of_hand_overs_does_not_starve_outside_tasks() {
    watchdog("hand-over fairness", || {
        let rt = runtime(1);
        const CHAIN: usize = 5_000;
        let progress = Arc::new(AtomicUsize::new(0));
        let gate = WorkerGate::hold(&rt);
        // A plain task from outside, queued before the chain can start.
        let seen = progress.clone();
        let outside = rt.spawn(async move { seen.load(SeqCst) });
        let mut graph = TaskGraph::new(rt.handle());
        let mut previous: Option<TaskId> = None;
        let mut last = None;
        for _ in 0..CHAIN {
            let p = progress.clone();
            let mut task = ExecutableTask::new(async move {
                p.fetch_add(1, SeqCst);
            });
            if let Some(dep) = previous {
                task = task.depends_on(dep);
            }
            previous = Some(task.id());
            last = Some(graph.add(task).unwrap());
        }
        graph.submit().unwrap();
        gate.release(&rt);
        let chain_done_when_outside_ran = rt.block_on(outside).unwrap();
        resolve(&rt, last.unwrap()).unwrap();
        assert!(
            chain_done_when_outside_ran < CHAIN,
            "the outside task waited for the whole chain ({chain_done_when_outside_ran} tasks)"
        );
    });
}
