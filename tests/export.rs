//! Metrics export: the Prometheus text parses (checked by the validating parser in
//! `exposition/`) and carries the real counts of the runtime, the ExecutableTask graph and a
//! tracker; the Chrome trace is valid JSON with one complete event per poll, ordered
//! per worker; and bad input (odd label values and names, zero or huge trace
//! capacities, a second start, a stop without a start, a stop from inside a task, a
//! shut-down runtime) is handled.

mod common;
mod exposition;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use common::{pending_holding, runtime, wait_until, watchdog, DropCounter};
use exposition::{parse_exposition, value};
use taskweave::export::prometheus;
use taskweave::export::trace::{Trace, TraceError};
use taskweave::graph::{ExecutableTask, TaskError};
use taskweave::task::yield_now;
use taskweave::tracker::TaskTracker;
use taskweave::{Handle, Runtime};

// ---------------------------------------------------------------------------------
// Prometheus

#[test]
fn the_validating_parser_rejects_malformed_text() {
    let ok = "# HELP taskweave_a_total a\n# TYPE taskweave_a_total counter\ntaskweave_a_total{k=\"v\\\"\"} 1\n";
    assert_eq!(parse_exposition(ok).unwrap()[0].labels["k"], "v\"");
    let bad = [
        "taskweave_a 1\n",                                                     // no TYPE
        "# TYPE taskweave_a gauge\ntaskweave_a 1",                             // no final newline
        "# TYPE taskweave_a counter\ntaskweave_a 1\n", // counter without _total
        "# TYPE taskweave_a gauge\ntaskweave_a{k=v} 1\n", // unquoted value
        "# TYPE taskweave_a gauge\ntaskweave_a{k=\"\\t\"} 1\n", // bad escape
        "# TYPE taskweave_a gauge\ntaskweave_a one\n", // bad value
        "# TYPE taskweave_a gauge\n# TYPE taskweave_a gauge\n", // TYPE twice
        "# TYPE 9a gauge\n",                           // bad name
        "# TYPE taskweave_a gauge\n# TYPE taskweave_b gauge\ntaskweave_a 1\n", // not contiguous
        "# TYPE taskweave_a gauge\ntaskweave_a 1\ntaskweave_a 2\n", // repeated sample
        "# TYPE other gauge\nother 1\n",               // no prefix
    ];
    for text in bad {
        assert!(parse_exposition(text).is_err(), "accepted: {text:?}");
    }
}

/// A kind with every character a label value must escape.
const WEIRD_KIND: &str = "we\"ird\\kind\nx";

#[test]
fn prometheus_text_parses_and_carries_the_real_counts() {
    watchdog("prometheus counts", || {
        let rt = runtime(2);
        let tracker = TaskTracker::with_handle(rt.handle());
        let drops = DropCounter::new();
        rt.block_on(async {
            for i in 0..5 {
                tracker
                    .spawn(format!("io-{i}"), "io", async {})
                    .await
                    .unwrap();
            }
            let failing = tracker.spawn_fallible("f", WEIRD_KIND, async { Err::<(), _>(()) });
            assert!(failing.await.unwrap().is_err());
        });
        let held = tracker.spawn("held", "io", pending_holding(drops.guard()));
        run_one_graph_task_of_each_outcome(&rt);

        let text = prometheus::render(rt.handle(), Some(&tracker));
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));

        assert_eq!(value(&samples, "taskweave_workers", &[]), 2.0);
        let polls: f64 = (0..2)
            .map(|w| {
                value(
                    &samples,
                    "taskweave_worker_polls_total",
                    &[("worker", &w.to_string())],
                )
            })
            .sum();
        let m = rt.metrics();
        assert!(polls >= 6.0 && polls <= (m.worker_poll_count(0) + m.worker_poll_count(1)) as f64);
        for w in ["0", "1"] {
            for family in [
                "taskweave_worker_local_queue_depth",
                "taskweave_worker_steals_total",
                "taskweave_worker_parks_total",
                "taskweave_worker_busy_seconds_total",
            ] {
                assert!(value(&samples, family, &[("worker", w)]) >= 0.0);
            }
        }
        assert!(value(&samples, "taskweave_tasks_spawned_total", &[]) >= 7.0);

        let outcome = |o: &str| {
            value(
                &samples,
                "taskweave_graph_tasks_finished_total",
                &[("outcome", o)],
            )
        };
        assert_eq!(
            value(&samples, "taskweave_graph_tasks_submitted_total", &[]),
            7.0
        );
        assert_eq!(
            value(&samples, "taskweave_graph_tasks_started_total", &[]),
            5.0
        );
        assert_eq!(outcome("succeeded"), 1.0);
        assert_eq!(outcome("failed"), 1.0);
        assert_eq!(outcome("panicked"), 1.0);
        assert_eq!(outcome("timed_out"), 1.0);
        assert_eq!(outcome("cancelled"), 2.0);
        assert_eq!(outcome("dependency_failed"), 1.0);
        assert_eq!(value(&samples, "taskweave_graph_tasks_running", &[]), 0.0);
        assert_eq!(
            value(&samples, "taskweave_graph_ready_queue_depth", &[]),
            0.0
        );

        let finished = |kind: &str, o: &str| {
            value(
                &samples,
                "taskweave_tracker_tasks_finished_total",
                &[("kind", kind), ("outcome", o)],
            )
        };
        assert_eq!(
            value(
                &samples,
                "taskweave_tracker_tasks_spawned_total",
                &[("kind", "io")]
            ),
            6.0
        );
        assert_eq!(finished("io", "completed"), 5.0);
        assert_eq!(finished("io", "failed"), 0.0);
        assert_eq!(
            value(
                &samples,
                "taskweave_tracker_tasks_running",
                &[("kind", "io")]
            ),
            1.0
        );
        assert_eq!(
            value(
                &samples,
                "taskweave_tracker_tasks_spawned_total",
                &[("kind", WEIRD_KIND)]
            ),
            1.0
        );
        assert_eq!(finished(WEIRD_KIND, "failed"), 1.0);
        assert!(
            text.contains(r#"kind="we\"ird\\kind\nx""#),
            "escaped label value"
        );

        held.abort();
        assert!(rt.block_on(held).unwrap_err().is_cancelled());
        let after = parse_exposition(&prometheus::render(rt.handle(), Some(&tracker))).unwrap();
        assert_eq!(
            value(&after, "taskweave_tracker_tasks_running", &[("kind", "io")]),
            0.0
        );
        assert_eq!(
            value(
                &after,
                "taskweave_tracker_tasks_finished_total",
                &[("kind", "io"), ("outcome", "cancelled")]
            ),
            1.0
        );
    });
}

/// Submits seven ExecutableTasks that end as: succeeded, failed, dependency-failed,
/// panicked, timed out, cancelled before starting, cancelled while running; waits for
/// all. Five of them start.
fn run_one_graph_task_of_each_outcome(rt: &Runtime) {
    let ok = rt
        .submit(ExecutableTask::new(async { 1 }).name("ok"))
        .unwrap();
    let failing = ExecutableTask::try_new(async { Err::<(), _>("bad") }).name("failing");
    let failing_id = failing.id();
    let failing = rt.submit(failing).unwrap();
    let dependent = rt
        .submit(ExecutableTask::new(async {}).depends_on(failing_id))
        .unwrap();
    let panicking = rt
        .submit(ExecutableTask::new(async { panic!("graph task panics") }))
        .unwrap();
    let slow = rt
        .submit(ExecutableTask::new(std::future::pending::<()>()).timeout(Duration::from_millis(1)))
        .unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let blocker = ExecutableTask::new(async move {
        flag.store(true, SeqCst);
        std::future::pending::<()>().await
    });
    let blocker_id = blocker.id();
    let blocker = rt.submit(blocker).unwrap();
    let waiting = rt
        .submit(ExecutableTask::new(async {}).depends_on(blocker_id))
        .unwrap();
    wait_until("the blocker started", || started.load(SeqCst));
    waiting.cancel();
    blocker.cancel();
    rt.block_on(async {
        assert_eq!(ok.await.unwrap(), 1);
        assert!(matches!(failing.await, Err(TaskError::Failed(_))));
        assert!(
            matches!(dependent.await, Err(TaskError::DependencyFailed(id)) if id == failing_id)
        );
        assert!(matches!(panicking.await, Err(TaskError::Panicked(_))));
        assert!(matches!(slow.await, Err(TaskError::TimedOut)));
        assert!(matches!(waiting.await, Err(TaskError::Cancelled)));
        assert!(matches!(blocker.await, Err(TaskError::Cancelled)));
    });
}

#[test]
fn graph_metrics_count_every_outcome() {
    watchdog("graph metrics", || {
        let rt = runtime(2);
        run_one_graph_task_of_each_outcome(&rt);
        let m = rt.graph_metrics();
        assert_eq!((m.submitted_count(), m.started_count()), (7, 5));
        assert_eq!(
            [
                m.succeeded_count(),
                m.failed_count(),
                m.panicked_count(),
                m.timed_out_count(),
                m.cancelled_count(),
                m.dependency_failed_count()
            ],
            [1, 1, 1, 1, 2, 1]
        );
        assert_eq!((m.running_count(), m.ready_queue_depth()), (0, 0));
        // The same counts in one snapshot.
        let c = m.snapshot();
        assert_eq!(
            (c.submitted, c.started, c.running, c.ready_queue_depth),
            (7, 5, 0, 0)
        );
        assert_eq!(
            [
                c.succeeded,
                c.failed,
                c.panicked,
                c.timed_out,
                c.cancelled,
                c.dependency_failed
            ],
            [1, 1, 1, 1, 2, 1]
        );
        // A refused batch counts nothing.
        let unknown = ExecutableTask::new(async {}).depends_on(ExecutableTask::new(async {}).id());
        assert!(rt.submit(unknown).is_err());
        assert_eq!(rt.graph_metrics().submitted_count(), 7);
    });
}

#[test]
fn graph_running_gauge_sees_a_running_task() {
    watchdog("graph running gauge", || {
        let rt = runtime(2);
        let started = Arc::new(AtomicBool::new(false));
        let flag = started.clone();
        let task = rt
            .submit(ExecutableTask::new(async move {
                flag.store(true, SeqCst);
                std::future::pending::<()>().await
            }))
            .unwrap();
        wait_until("started", || started.load(SeqCst));
        assert_eq!(rt.graph_metrics().running_count(), 1);
        task.cancel();
        assert!(matches!(rt.block_on(task), Err(TaskError::Cancelled)));
        assert_eq!(rt.graph_metrics().running_count(), 0);
        assert_eq!(rt.graph_metrics().cancelled_count(), 1);
    });
}

#[test]
fn prometheus_without_a_tracker_and_after_shutdown() {
    watchdog("prometheus edge cases", || {
        let rt = runtime(1);
        let handle: Handle = rt.handle().clone();
        let text = prometheus::render(&handle, None);
        let samples = parse_exposition(&text).unwrap();
        assert!(samples
            .iter()
            .all(|s| !s.name.starts_with("taskweave_tracker_")));
        assert!(!text.contains("taskweave_tracker_"));
        // An empty tracker: the families are declared, with no samples.
        let tracker = TaskTracker::with_handle(&handle);
        let text = prometheus::render(&handle, Some(&tracker));
        parse_exposition(&text).unwrap();
        assert!(text.contains("# TYPE taskweave_tracker_tasks_running gauge\n"));
        drop(rt);
        let samples = parse_exposition(&prometheus::render(&handle, Some(&tracker))).unwrap();
        assert_eq!(value(&samples, "taskweave_tasks_alive", &[]), 0.0);
        assert_eq!(
            prometheus::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8"
        );
    });
}

#[test]
fn prometheus_carries_the_monitor_gate_only_when_the_monitor_is_on() {
    watchdog("prometheus monitor families", || {
        use taskweave::monitor::MonitorConfig;
        let rt = taskweave::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .monitor(MonitorConfig::new().fixed_limit(3).pending_capacity(7))
            .build()
            .unwrap();
        let samples = parse_exposition(&prometheus::render(rt.handle(), None)).unwrap();
        assert_eq!(value(&samples, "taskweave_monitor_limit", &[]), 3.0);
        assert_eq!(value(&samples, "taskweave_monitor_in_flight", &[]), 0.0);
        assert_eq!(value(&samples, "taskweave_monitor_pending", &[]), 0.0);
        // One task holding its permit shows as in flight.
        let (release, hold) = futures::channel::oneshot::channel::<()>();
        let running = rt
            .submit(ExecutableTask::new(async move {
                hold.await.ok();
            }))
            .unwrap();
        wait_until("the task holds its permit", || {
            rt.monitor_status().unwrap().in_flight == 1
        });
        let samples = parse_exposition(&prometheus::render(rt.handle(), None)).unwrap();
        assert_eq!(value(&samples, "taskweave_monitor_in_flight", &[]), 1.0);
        release.send(()).unwrap();
        rt.block_on(running).unwrap();

        let mut off = taskweave::runtime::Builder::new_multi_thread();
        let off = off.worker_threads(1).disable_monitor().build().unwrap();
        let text = prometheus::render(off.handle(), None);
        parse_exposition(&text).unwrap();
        assert!(!text.contains("taskweave_monitor_"));
    });
}

// ---------------------------------------------------------------------------------
// Chrome trace

fn total_polls(rt: &Runtime) -> u64 {
    let m = rt.metrics();
    (0..m.num_workers()).map(|w| m.worker_poll_count(w)).sum()
}

/// Parses the trace's JSON and checks its shape; returns the complete events.
fn parse_trace(trace: &Trace) -> Vec<serde_json::Value> {
    let json: serde_json::Value =
        serde_json::from_str(&trace.to_json()).expect("the trace is valid JSON");
    let events = json["traceEvents"].as_array().expect("a traceEvents array");
    let mut tracks = HashSet::new();
    let mut complete = Vec::new();
    for e in events {
        match e["ph"].as_str() {
            Some("M") => {
                if e["name"] == "thread_name" {
                    tracks.insert(e["tid"].as_u64().unwrap());
                    assert!(e["args"]["name"].as_str().unwrap().starts_with("worker-"));
                }
            }
            Some("X") => {
                assert!(e["name"].is_string(), "{e}");
                assert_eq!(e["cat"], "task");
                assert!(e["ts"].as_f64().unwrap() >= 0.0);
                assert!(e["dur"].as_f64().unwrap() >= 0.0);
                assert_eq!(e["pid"].as_u64(), Some(u64::from(std::process::id())));
                assert!(e["tid"].as_u64().unwrap() < trace.workers() as u64);
                assert!(e["args"]["task_id"].as_u64().is_some());
                complete.push(e.clone());
            }
            other => panic!("unexpected phase {other:?} in {e}"),
        }
    }
    assert_eq!(tracks.len(), trace.workers(), "one named track per worker");
    assert_eq!(
        json["otherData"]["dropped_events"].as_u64(),
        Some(trace.dropped())
    );
    complete
}

#[test]
fn the_trace_has_one_event_per_poll_in_order_per_worker() {
    watchdog("trace per poll", || {
        let rt = runtime(2);
        let tracker = TaskTracker::with_handle(rt.handle());
        let polls_before = total_polls(&rt);
        assert!(!rt.handle().is_tracing());
        rt.start_trace_with_capacity(10_000).unwrap();
        assert!(rt.handle().is_tracing());
        rt.block_on(async {
            let tracked: Vec<_> = (0..20)
                .map(|i| {
                    tracker.spawn(format!("yield-{i}"), "trace", async {
                        for _ in 0..3 {
                            yield_now().await;
                        }
                    })
                })
                .collect();
            let plain: Vec<_> = (0..5).map(|_| taskweave::spawn(async {})).collect();
            for h in tracked {
                h.await.unwrap();
            }
            for h in plain {
                h.await.unwrap();
            }
        });
        let named = rt
            .submit(ExecutableTask::new(async { yield_now().await }).name("graph-node"))
            .unwrap();
        rt.block_on(named).unwrap();
        let trace = rt.stop_trace();
        assert!(!rt.handle().is_tracing());
        let polls = total_polls(&rt) - polls_before;

        assert_eq!(trace.dropped(), 0);
        assert_eq!(trace.workers(), 2);
        assert_eq!(trace.events().len() as u64, polls, "one event per poll");
        let mut per_name: HashMap<String, usize> = HashMap::new();
        for e in trace.events() {
            let name = e.name.as_deref().unwrap_or("task").to_string();
            *per_name.entry(name).or_default() += 1;
        }
        for i in 0..20 {
            assert_eq!(per_name[&format!("yield-{i}")], 4, "3 yields = 4 polls");
        }
        assert_eq!(per_name["task"], 5);
        assert_eq!(per_name["graph-node"], 2);
        for pair in trace.events().windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert!(a.worker <= b.worker, "sorted by worker");
            if a.worker == b.worker {
                assert!(b.start >= a.end(), "polls of one worker do not overlap");
            }
        }
        assert!(trace.events().iter().all(|e| e.end() <= trace.duration()));

        let complete = parse_trace(&trace);
        assert_eq!(complete.len(), trace.events().len());
        for (json, event) in complete.iter().zip(trace.events()) {
            assert_eq!(json["tid"].as_u64(), Some(event.worker as u64));
            assert_eq!(json["args"]["task_id"].as_u64(), Some(event.task.as_u64()));
            let ts = json["ts"].as_f64().unwrap();
            assert!((ts - event.start.as_nanos() as f64 / 1000.0).abs() < 0.001);
        }
    });
}

#[test]
fn a_full_buffer_keeps_the_latest_events_and_counts_the_rest() {
    watchdog("trace capacity", || {
        let rt = runtime(2);
        let before = total_polls(&rt);
        rt.start_trace_with_capacity(4).unwrap();
        rt.block_on(async {
            let handles: Vec<_> = (0..50)
                .map(|_| taskweave::spawn(async { yield_now().await }))
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
        let trace = rt.stop_trace();
        let polls = total_polls(&rt) - before;
        assert_eq!(polls, 100);
        assert!(trace.events().len() <= 8, "4 per worker");
        assert_eq!(trace.events().len() as u64 + trace.dropped(), polls);
        parse_trace(&trace);
    });
}

#[test]
fn trace_sessions_reject_bad_input() {
    watchdog("trace bad input", || {
        let rt = runtime(1);
        // A stop without a start: an empty, valid trace.
        let empty = rt.stop_trace();
        assert!(empty.events().is_empty());
        assert_eq!(parse_trace(&empty).len(), 0);

        assert_eq!(
            rt.start_trace_with_capacity(0),
            Err(TraceError::InvalidCapacity(0))
        );
        let too_big = taskweave::runtime::MAX_TRACE_CAPACITY + 1;
        assert_eq!(
            rt.start_trace_with_capacity(too_big),
            Err(TraceError::InvalidCapacity(too_big))
        );
        assert!(TraceError::InvalidCapacity(0)
            .to_string()
            .contains("between 1 and"));
        assert!(!rt.handle().is_tracing(), "a refused start starts nothing");

        rt.start_trace().unwrap();
        assert_eq!(rt.start_trace(), Err(TraceError::AlreadyRunning));
        assert!(rt.handle().is_tracing(), "the running session is kept");
        rt.block_on(async { taskweave::spawn(async {}).await.unwrap() });
        assert_eq!(rt.stop_trace().events().len(), 1);
        assert!(rt.stop_trace().events().is_empty(), "stopped already");
    });
}

#[test]
fn names_that_need_escaping_survive_the_json() {
    watchdog("trace escaping", || {
        let rt = runtime(1);
        let tracker = TaskTracker::with_handle(rt.handle());
        let names = [
            "quote \" backslash \\",
            "tab\tnewline\nbell\u{7}",
            "ünï✓ 🚀",
            "",
        ];
        rt.start_trace().unwrap();
        rt.block_on(async {
            for name in names {
                tracker.spawn(name, "odd", async {}).await.unwrap();
            }
        });
        let trace = rt.stop_trace();
        let parsed: Vec<String> = parse_trace(&trace)
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(parsed, names, "one worker, so in spawn order");
    });
}

#[test]
fn stop_trace_from_inside_a_task_does_not_wait_for_itself() {
    watchdog("stop from a task", || {
        let rt = runtime(2);
        rt.start_trace().unwrap();
        let handle = rt.handle().clone();
        let trace = rt
            .block_on(rt.spawn(async move { handle.stop_trace() }))
            .unwrap();
        assert!(!rt.handle().is_tracing());
        assert!(trace.events().is_empty(), "its own poll was still running");
        parse_trace(&trace);

        // The stopping poll's late event belongs to no later session.
        let before = total_polls(&rt);
        rt.start_trace().unwrap();
        rt.block_on(async { taskweave::spawn(async {}).await.unwrap() });
        let next = rt.stop_trace();
        assert_eq!(next.events().len() as u64, total_polls(&rt) - before);
    });
}

#[test]
fn trace_json_can_be_written_to_a_file() {
    watchdog("trace file", || {
        let rt = runtime(1);
        rt.start_trace().unwrap();
        rt.block_on(async { taskweave::spawn(async {}).await.unwrap() });
        let trace = rt.stop_trace();
        let path =
            std::env::temp_dir().join(format!("taskweave-trace-{}.json", std::process::id()));
        trace
            .write_json(std::fs::File::create(&path).unwrap())
            .unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(written, trace.to_json());
    });
}
