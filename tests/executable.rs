//! ExecutableTasks: dependency order and value flow, retries, cancellation, finished
//! records, and a 10k-task random DAG.
//!
//! Ready-heap order is in `executable_order.rs`, failure propagation and submit errors
//! in `executable_errors.rs`, the property test in `executable_props.rs`.

mod common;
mod graph_util;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{runtime, wait_until, watchdog, DropCounter};
use graph_util::{
    assert_cancelled, assert_dependency_failed, resolve, submit, AsyncGate, Log, Probes, WorkerGate,
};
use taskweave::graph::{
    Backoff, ExecutableTask, RetryOn, RetryPolicy, TaskError, TaskGraph, TaskHandle, TaskId,
};
use taskweave::task::yield_now;
use taskweave_scheduler::Dag;

type Values = Arc<Mutex<HashMap<&'static str, i64>>>;

/// A task body that logs `start:name`, yields, reads its dependencies' values from
/// `values` (each must be there already), computes `f(deps)`, publishes it, yields,
/// logs `finish:name`, and returns the value.
fn step(
    log: &Log,
    values: &Values,
    name: &'static str,
    deps: &'static [&'static str],
    f: fn(&[i64]) -> i64,
) -> impl std::future::Future<Output = i64> + Send + 'static {
    let (log, values) = (log.clone(), values.clone());
    async move {
        log.push(format!("start:{name}"));
        yield_now().await;
        let inputs: Vec<i64> = {
            let v = values.lock().unwrap();
            deps.iter()
                .map(|d| *v.get(d).unwrap_or_else(|| panic!("{name} ran before {d}")))
                .collect()
        };
        let out = f(&inputs);
        yield_now().await;
        values.lock().unwrap().insert(name, out);
        log.push(format!("finish:{name}"));
        out
    }
}

/// Asserts that every task started after all its dependencies finished.
#[track_caller]
fn assert_happened_before(log: &Log, edges: &[(&str, &[&str])]) {
    for (task, deps) in edges {
        let start = log.pos(&format!("start:{task}"));
        for dep in *deps {
            let finish = log.pos(&format!("finish:{dep}"));
            assert!(
                finish < start,
                "{task} started (event {start}) before its dependency {dep} finished \
                 (event {finish}): {:?}",
                log.events()
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Dependencies

#[test]
fn diamond_runs_in_dependency_order_and_values_flow() {
    watchdog("diamond", || {
        let rt = runtime(2);
        for round in 0..20 {
            let log = Log::new();
            let values: Values = Default::default();
            let a = ExecutableTask::new(step(&log, &values, "a", &[], |_| 2)).name("a");
            let b = ExecutableTask::new(step(&log, &values, "b", &["a"], |v| v[0] * 3))
                .name("b")
                .depends_on(a.id());
            let c = ExecutableTask::new(step(&log, &values, "c", &["a"], |v| v[0] + 5))
                .name("c")
                .depends_on(a.id());
            let d = ExecutableTask::new(step(&log, &values, "d", &["b", "c"], |v| v[0] * v[1]))
                .name("d")
                .dependencies([b.id(), c.id()]);
            // Added sink first: dependencies may point forward within a batch.
            let mut graph = TaskGraph::new(rt.handle());
            let d = graph.add(d).unwrap();
            let c = graph.add(c).unwrap();
            let b = graph.add(b).unwrap();
            let a = graph.add(a).unwrap();
            assert_eq!(graph.len(), 4);
            graph.submit().unwrap();
            assert_eq!(resolve(&rt, d).unwrap(), 42, "round {round}");
            assert_eq!(resolve(&rt, a).unwrap(), 2);
            assert_eq!(resolve(&rt, b).unwrap(), 6);
            assert_eq!(resolve(&rt, c).unwrap(), 7);
            assert_happened_before(&log, &[("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])]);
            assert_eq!(
                log.len(),
                8,
                "each task ran exactly once: {:?}",
                log.events()
            );
        }
    });
}

#[test]
fn chains_run_strictly_in_order() {
    watchdog("chains", || {
        let rt = runtime(2);
        const N: usize = 40;
        // One chain submitted task by task (each depends on the previous, which may
        // already have finished or still be running), one as a batch added backwards.
        for batch in [false, true] {
            let log = Log::new();
            let sum = Arc::new(AtomicU64::new(0));
            let ids: Vec<TaskId> = (0..N).map(|_| TaskId::fresh()).collect();
            let tasks: Vec<_> = (0..N)
                .map(|i| {
                    let (log, sum) = (log.clone(), sum.clone());
                    let task = ExecutableTask::new(async move {
                        log.push(format!("start:{i}"));
                        yield_now().await;
                        // Reads the running total left by the previous task.
                        let v = sum.load(SeqCst) + i as u64;
                        sum.store(v, SeqCst);
                        log.push(format!("finish:{i}"));
                        v
                    })
                    .with_id(ids[i]);
                    if i > 0 {
                        task.depends_on(ids[i - 1])
                    } else {
                        task
                    }
                })
                .collect();
            let handles: Vec<TaskHandle<u64>> = if batch {
                let mut graph = TaskGraph::with_capacity(rt.handle(), N);
                let mut hs: Vec<_> = tasks
                    .into_iter()
                    .rev()
                    .map(|t| graph.add(t).unwrap())
                    .collect();
                graph.submit().unwrap();
                hs.reverse();
                hs
            } else {
                tasks.into_iter().map(|t| submit(&rt, t)).collect()
            };
            let results: Vec<u64> = handles
                .into_iter()
                .map(|h| resolve(&rt, h).unwrap())
                .collect();
            let expected: Vec<u64> = (0..N as u64).map(|i| i * (i + 1) / 2).collect();
            assert_eq!(results, expected, "batch = {batch}");
            let want: Vec<String> = (0..N)
                .flat_map(|i| [format!("start:{i}"), format!("finish:{i}")])
                .collect();
            assert_eq!(log.events(), want, "batch = {batch}");
        }
    });
}

#[test]
fn a_dependency_that_already_succeeded_is_satisfied() {
    watchdog("satisfied dependency", || {
        let rt = runtime(2);
        let first = ExecutableTask::new(async { 5 });
        let first_id = first.id();
        assert_eq!(resolve(&rt, submit(&rt, first)).unwrap(), 5);
        let later = submit(&rt, ExecutableTask::new(async { 6 }).depends_on(first_id));
        assert_eq!(resolve(&rt, later).unwrap(), 6);
    });
}

// ---------------------------------------------------------------------------------
// Retries

/// A factory task whose attempt `n` (1-based) does `behave(n)`; counts attempts.
fn flaky(
    attempts: &Arc<AtomicU32>,
    behave: fn(u32) -> Result<u32, String>,
    policy: RetryPolicy,
) -> ExecutableTask<impl taskweave::graph::TaskBody<Output = u32>> {
    let attempts = attempts.clone();
    ExecutableTask::from_factory(move || {
        let n = attempts.fetch_add(1, SeqCst) + 1;
        async move { behave(n) }
    })
    .retry(policy)
}

#[test]
fn retry_succeeds_on_the_third_attempt() {
    watchdog("retry success", || {
        let rt = runtime(2);
        let attempts = Arc::new(AtomicU32::new(0));
        let task = flaky(
            &attempts,
            |n| {
                if n < 3 {
                    Err(format!("attempt {n} failed"))
                } else {
                    Ok(n * 10)
                }
            },
            RetryPolicy::new(3, Backoff::fixed(Duration::from_millis(1))),
        );
        let id = task.id();
        let h = submit(&rt, task);
        let dependent = submit(&rt, ExecutableTask::new(async { "ran" }).depends_on(id));
        assert_eq!(resolve(&rt, h).unwrap(), 30);
        assert_eq!(attempts.load(SeqCst), 3);
        assert_eq!(resolve(&rt, dependent).unwrap(), "ran");
    });
}

#[test]
fn retries_exhausted_fail_with_the_last_error_and_dependents_fail() {
    watchdog("retries exhausted", || {
        let rt = runtime(2);
        let attempts = Arc::new(AtomicU32::new(0));
        let task = flaky(
            &attempts,
            |n| Err(format!("attempt {n} failed")),
            RetryPolicy::new(1, Backoff::fixed(Duration::from_millis(1))),
        );
        let id = task.id();
        let probes = Probes::new();
        let mut graph = TaskGraph::new(rt.handle());
        let h = graph.add(task).unwrap();
        let d1 = ExecutableTask::new(probes.future()).depends_on(id);
        let d2 = ExecutableTask::new(probes.future()).depends_on(d1.id());
        let (d1, d2) = (graph.add(d1).unwrap(), graph.add(d2).unwrap());
        graph.submit().unwrap();
        match resolve(&rt, h) {
            Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "attempt 2 failed"),
            other => panic!("expected the last error, got {other:?}"),
        }
        assert_eq!(attempts.load(SeqCst), 2, "the first attempt and one retry");
        assert_dependency_failed(resolve(&rt, d1), id, "d1");
        assert_dependency_failed(resolve(&rt, d2), id, "d2");
        probes.assert_dropped_unpolled("dependents of the failed retry");
    });
}

#[test]
fn retry_on_panics_does_not_retry_errors() {
    watchdog("retry on panics", || {
        let rt = runtime(2);
        // An error: not retried.
        let attempts = Arc::new(AtomicU32::new(0));
        let task = flaky(
            &attempts,
            |_| Err("plain error".to_string()),
            RetryPolicy::new(5, Backoff::fixed(Duration::from_millis(1))).retry_on(RetryOn::Panics),
        );
        match resolve(&rt, submit(&rt, task)) {
            Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "plain error"),
            other => panic!("expected Failed, got {other:?}"),
        }
        assert_eq!(attempts.load(SeqCst), 1);
        // Panics: retried.
        let attempts = Arc::new(AtomicU32::new(0));
        let task = flaky(
            &attempts,
            |n| {
                if n < 3 {
                    panic!("intentional panic {n}");
                }
                Ok(n)
            },
            RetryPolicy::new(5, Backoff::fixed(Duration::from_millis(1))).retry_on(RetryOn::Panics),
        );
        assert_eq!(resolve(&rt, submit(&rt, task)).unwrap(), 3);
        assert_eq!(attempts.load(SeqCst), 3);
        // RetryOn::Errors does not retry panics.
        let attempts = Arc::new(AtomicU32::new(0));
        let task = flaky(
            &attempts,
            |n| panic!("intentional panic {n}"),
            RetryPolicy::new(5, Backoff::fixed(Duration::from_millis(1))).retry_on(RetryOn::Errors),
        );
        match resolve(&rt, submit(&rt, task)) {
            Err(TaskError::Panicked(msg)) => assert!(msg.contains("intentional panic 1"), "{msg}"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        assert_eq!(attempts.load(SeqCst), 1);
    });
}

/// A factory whose attempts listed in `hang` never finish (each holds a drop guard),
/// and whose other attempts return their number.
fn hanging(
    attempts: &Arc<AtomicU32>,
    drops: &DropCounter,
    hang: fn(u32) -> bool,
    policy: RetryPolicy,
) -> ExecutableTask<impl taskweave::graph::TaskBody<Output = u32>> {
    let (attempts, drops) = (attempts.clone(), drops.clone());
    ExecutableTask::from_factory(move || {
        let n = attempts.fetch_add(1, SeqCst) + 1;
        let guard = drops.guard();
        async move {
            let _guard = guard;
            if hang(n) {
                std::future::pending::<()>().await;
            }
            Ok::<u32, String>(n)
        }
    })
    .retry(policy)
}

#[test]
fn timeouts_are_retried() {
    watchdog("timeouts and retries", || {
        let rt = runtime(2);
        let ms = Duration::from_millis;
        // The first attempt hangs and times out; the retry succeeds.
        let (attempts, drops) = (Arc::new(AtomicU32::new(0)), DropCounter::new());
        let policy = RetryPolicy::new(2, Backoff::fixed(ms(1)));
        let task = hanging(&attempts, &drops, |n| n == 1, policy).timeout(ms(30));
        assert_eq!(resolve(&rt, submit(&rt, task)).unwrap(), 2);
        assert_eq!(attempts.load(SeqCst), 2);
        assert_eq!(drops.dropped(), 2, "the timed-out attempt was dropped");
        // Every attempt hangs: TimedOut after 1 + 2 attempts.
        let (attempts, drops) = (Arc::new(AtomicU32::new(0)), DropCounter::new());
        let policy = RetryPolicy::new(2, Backoff::exponential(ms(1), ms(4), 0.5));
        let task = hanging(&attempts, &drops, |_| true, policy).timeout(ms(20));
        let id = task.id();
        let h = submit(&rt, task);
        let dependent = submit(&rt, ExecutableTask::new(async {}).depends_on(id));
        assert!(matches!(resolve(&rt, h), Err(TaskError::TimedOut)));
        assert_eq!(attempts.load(SeqCst), 3);
        assert_eq!(drops.dropped(), 3);
        assert_dependency_failed(resolve(&rt, dependent), id, "dependent");
        // RetryOn::Errors does not retry a timeout.
        let (attempts, drops) = (Arc::new(AtomicU32::new(0)), DropCounter::new());
        let policy = RetryPolicy::new(3, Backoff::fixed(ms(1))).retry_on(RetryOn::Errors);
        let task = hanging(&attempts, &drops, |_| true, policy).timeout(ms(20));
        assert!(matches!(
            resolve(&rt, submit(&rt, task)),
            Err(TaskError::TimedOut)
        ));
        assert_eq!(attempts.load(SeqCst), 1);
    });
}

#[test]
fn backoff_delays_separate_the_attempts() {
    watchdog("backoff", || {
        let rt = runtime(2);
        let stamps = Arc::new(Mutex::new(Vec::new()));
        let s = stamps.clone();
        let task = ExecutableTask::from_factory(move || {
            let mut s = s.lock().unwrap();
            s.push(Instant::now());
            let n = s.len();
            async move {
                if n < 4 {
                    Err("again")
                } else {
                    Ok(n)
                }
            }
        })
        .retry(RetryPolicy::new(
            5,
            Backoff::linear(
                Duration::from_millis(10),
                Duration::from_millis(10),
                Duration::from_secs(1),
            ),
        ));
        assert_eq!(resolve(&rt, submit(&rt, task)).unwrap(), 4);
        let stamps = stamps.lock().unwrap();
        // A retry never comes before its backoff (10, 20, 30 ms) has passed.
        for (i, want) in [10u64, 20, 30].into_iter().enumerate() {
            let gap = stamps[i + 1] - stamps[i];
            assert!(
                gap >= Duration::from_millis(want),
                "retry {} came after {gap:?}, before its {want} ms backoff",
                i + 1
            );
        }
    });
}

// ---------------------------------------------------------------------------------
// Cancellation

#[test]
fn cancelling_a_waiting_task_dooms_its_dependents() {
    watchdog("cancel waiting", || {
        let rt = runtime(2);
        let gate = AsyncGate::submit(&rt, "gate");
        let probes = Probes::new();
        let waiting = ExecutableTask::new(probes.future()).depends_on(gate.id);
        let waiting_id = waiting.id();
        let d1 = ExecutableTask::new(probes.future()).depends_on(waiting_id);
        let d2 = ExecutableTask::new(probes.future()).depends_on(d1.id());
        let mut graph = TaskGraph::new(rt.handle());
        let waiting = graph.add(waiting).unwrap();
        let d1 = graph.add(d1).unwrap();
        let d2 = graph.add(d2).unwrap();
        graph.submit().unwrap();
        assert!(!waiting.is_finished());
        waiting.cancel();
        // Resolved at once, before the gate opens.
        wait_until("the dependents resolve", || {
            waiting.is_finished() && d1.is_finished() && d2.is_finished()
        });
        assert_cancelled(resolve(&rt, waiting), "the cancelled task");
        assert_dependency_failed(resolve(&rt, d1), waiting_id, "d1");
        assert_dependency_failed(resolve(&rt, d2), waiting_id, "d2");
        probes.assert_dropped_unpolled("cancelled task and dependents");
        // The gate itself is unaffected.
        gate.open(&rt);
    });
}

#[test]
fn cancelling_a_queued_task_keeps_it_from_running() {
    watchdog("cancel queued", || {
        let rt = runtime(1);
        let probes = Probes::new();
        let gate = WorkerGate::hold(&rt);
        // Ready (no dependencies) but queued behind the held worker.
        let queued = ExecutableTask::new(probes.future());
        let queued_id = queued.id();
        let queued = submit(&rt, queued);
        let dependent = submit(
            &rt,
            ExecutableTask::new(probes.future()).depends_on(queued_id),
        );
        let bystander = submit(&rt, ExecutableTask::new(async { 1 }));
        queued.cancel();
        gate.release(&rt);
        assert_eq!(resolve(&rt, bystander).unwrap(), 1);
        assert_cancelled(resolve(&rt, queued), "queued");
        assert_dependency_failed(resolve(&rt, dependent), queued_id, "dependent");
        probes.assert_dropped_unpolled("queued task and dependent");
    });
}

#[test]
fn cancel_after_finish_keeps_the_value() {
    watchdog("cancel after finish", || {
        let rt = runtime(2);
        let task = ExecutableTask::new(async { String::from("kept") });
        let id = task.id();
        let h = submit(&rt, task);
        wait_until("the task finishes", || h.is_finished());
        h.cancel();
        h.cancel();
        assert_eq!(resolve(&rt, h).unwrap(), "kept");
        // The graph still records success: a later dependent runs.
        let later = submit(&rt, ExecutableTask::new(async { 1 }).depends_on(id));
        assert_eq!(resolve(&rt, later).unwrap(), 1);
    });
}

#[test]
fn cancelling_a_running_task_drops_it_at_its_await_point() {
    watchdog("cancel running", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let guard = drops.guard();
        let (started_tx, started) = std::sync::mpsc::channel();
        let task = ExecutableTask::new(async move {
            let _guard = guard;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        let id = task.id();
        let h = submit(&rt, task);
        let after = submit(&rt, ExecutableTask::new(async {}).depends_on(id));
        started.recv_timeout(graph_util::SOON).unwrap();
        h.cancel();
        assert_cancelled(resolve(&rt, h), "running task");
        assert_eq!(drops.dropped(), 1, "its future was dropped");
        assert_dependency_failed(resolve(&rt, after), id, "dependent");
    });
}

// ---------------------------------------------------------------------------------
// Finished-task records

#[test]
fn forgotten_tasks_are_unknown_to_later_submissions() {
    watchdog("forget", || {
        let rt = runtime(2);
        let task = ExecutableTask::new(async {});
        let id = task.id();
        resolve(&rt, submit(&rt, task)).unwrap();
        assert!(rt.handle().forget_finished_tasks() >= 1);
        let err = rt
            .submit(ExecutableTask::new(async {}).depends_on(id))
            .unwrap_err();
        assert!(
            matches!(err, taskweave::graph::SubmitError::Graph(
                taskweave::graph::GraphError::UnknownDependency { dependency, .. }
            ) if dependency == id),
            "{err:?}"
        );
        // Its id may be used again.
        let again = ExecutableTask::new(async { 2 }).with_id(id);
        assert_eq!(resolve(&rt, submit(&rt, again)).unwrap(), 2);
    });
}

#[test]
fn a_resolved_handle_means_the_graph_recorded_the_end_even_under_load() {
    // Wide batches keep the ready heap full, where workers pick in batches and hold
    // back ends (graph/ended.rs), also those of tasks whose handles exist; a query
    // records them first (graph/buffered.rs). So once every handle resolved, every
    // record can be forgotten and every id reused.
    watchdog("ends recorded before handles resolve", || {
        let rt = runtime(2);
        let n = 600u64;
        for round in 0..5u64 {
            let mut graph = TaskGraph::with_capacity(rt.handle(), n as usize);
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let task =
                        ExecutableTask::new(async move { i * round }).with_id(TaskId::new(i));
                    graph.add(task).unwrap()
                })
                .collect();
            graph.submit().unwrap();
            for (i, h) in (0..n).zip(handles) {
                assert_eq!(resolve(&rt, h).unwrap(), i * round);
            }
            assert_eq!(
                rt.handle().forget_finished_tasks(),
                n as usize,
                "round {round}"
            );
            assert_eq!(rt.graph_metrics().running_count(), 0);
        }
    });
}

#[test]
fn queries_record_the_ends_a_busy_worker_holds_back() {
    // One worker, a wide batch of short tasks: the worker picks several at a time and
    // holds back the ends of those it ran until its batch is done. Task 1 blocks the
    // worker (mid-batch) until the checks below are made, after task 0's handle
    // resolved: the queries must see task 0's end although the worker still holds it.
    watchdog("held-back ends are recorded by queries", || {
        let rt = runtime(1);
        // A first wide graph, so that the worker has seen its tasks are short (it
        // picks batches only then).
        let warm_up = 200u64;
        let mut graph = TaskGraph::new(rt.handle());
        let handles: Vec<_> = (0..warm_up)
            .map(|i| graph.add(ExecutableTask::new(async move { i })).unwrap())
            .collect();
        graph.submit().unwrap();
        for (i, h) in (0..warm_up).zip(handles) {
            assert_eq!(resolve(&rt, h).unwrap(), i);
        }
        assert_eq!(rt.handle().forget_finished_tasks(), warm_up as usize);

        let (unblock, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = Mutex::new(blocked);
        let n = 100u64;
        let mut graph = TaskGraph::new(rt.handle());
        let first = graph.add(ExecutableTask::new(async { 0u64 })).unwrap();
        let blocker = graph
            .add(ExecutableTask::new(async move {
                blocked.lock().unwrap().recv().unwrap();
                1u64
            }))
            .unwrap();
        let rest: Vec<_> = (2..n)
            .map(|i| graph.add(ExecutableTask::new(async move { i })).unwrap())
            .collect();
        graph.submit().unwrap();
        assert_eq!(resolve(&rt, first).unwrap(), 0);
        // The worker is inside task 1, about to run it, or about to pick it: task 0
        // ended before it, and is the only task of this graph that ended.
        assert_eq!(rt.graph_metrics().succeeded_count(), warm_up + 1);
        assert_eq!(rt.metrics().num_alive_tasks(), n as usize - 1);
        assert_eq!(rt.handle().forget_finished_tasks(), 1, "task 0's record");
        unblock.send(()).unwrap();
        assert_eq!(resolve(&rt, blocker).unwrap(), 1);
        for (i, h) in (2..n).zip(rest) {
            assert_eq!(resolve(&rt, h).unwrap(), i);
        }
        assert_eq!(rt.handle().forget_finished_tasks(), n as usize - 1);
        assert_eq!(rt.graph_metrics().succeeded_count(), warm_up + n);
    });
}

#[test]
fn dependency_failure_is_reported_even_after_records_are_forgotten() {
    // A dependent that never ran must resolve as DependencyFailed(root), also when
    // the runtime forgot the finished records before the handle was awaited
    // (Builder::max_finished_task_records, or Handle::forget_finished_tasks).
    watchdog("forgotten failure reason", || {
        let rt = runtime(2);
        let root = ExecutableTask::try_new(async { Err::<(), _>("boom") });
        let root_id = root.id();
        let mut graph = TaskGraph::new(rt.handle());
        let root = graph.add(root).unwrap();
        let dependent = graph
            .add(ExecutableTask::new(async {}).depends_on(root_id))
            .unwrap();
        graph.submit().unwrap();
        wait_until("both resolve", || {
            root.is_finished() && dependent.is_finished()
        });
        rt.handle().forget_finished_tasks();
        assert!(matches!(resolve(&rt, root), Err(TaskError::Failed(_))));
        assert_dependency_failed(resolve(&rt, dependent), root_id, "dependent");
    });
}

#[test]
fn dependency_failure_survives_automatic_record_forgetting() {
    // The same with the runtime forgetting by itself: with max_finished_task_records(0)
    // the next submission forgets every finished record.
    watchdog("auto-forgotten failure reason", || {
        let rt = taskweave::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_finished_task_records(0)
            .build()
            .unwrap();
        let root = ExecutableTask::try_new(async { Err::<(), _>("boom") });
        let root_id = root.id();
        let mut graph = TaskGraph::new(rt.handle());
        let _root = graph.add(root).unwrap();
        let dependent = graph
            .add(ExecutableTask::new(async {}).depends_on(root_id))
            .unwrap();
        graph.submit().unwrap();
        wait_until("the dependent resolves", || dependent.is_finished());
        // An unrelated submission triggers the forgetting.
        resolve(&rt, submit(&rt, ExecutableTask::new(async {}))).unwrap();
        assert_dependency_failed(resolve(&rt, dependent), root_id, "dependent");
    });
}

// ---------------------------------------------------------------------------------
// Many tasks

#[test]
fn ten_thousand_task_random_dag() {
    watchdog("10k DAG", || {
        const N: usize = 10_000;
        let rt = runtime(2);
        // Average degree (in + out) 3.
        let dag = Dag::erdos_renyi(
            N,
            3.0 / (N - 1) as f64,
            0x5eed,
            Duration::ZERO..=Duration::ZERO,
        );
        let deps: Vec<Vec<usize>> = dag
            .specs()
            .iter()
            .map(|s| s.dependencies.iter().map(|d| d.as_u64() as usize).collect())
            .collect();
        assert!(
            deps.iter().map(Vec::len).sum::<usize>() > N,
            "a sparse but real DAG"
        );
        let runs: Arc<Vec<AtomicU32>> = Arc::new((0..N).map(|_| AtomicU32::new(0)).collect());
        let done: Arc<Vec<AtomicBool>> = Arc::new((0..N).map(|_| AtomicBool::new(false)).collect());
        let values: Arc<Vec<AtomicU64>> = Arc::new((0..N).map(|_| AtomicU64::new(0)).collect());
        let early = Arc::new(AtomicUsize::new(0));
        let base = 1_000_000u64;
        let mut graph = TaskGraph::with_capacity(rt.handle(), N);
        let handles: Vec<TaskHandle<u64>> = (0..N)
            .map(|j| {
                let (runs, done, values, early) =
                    (runs.clone(), done.clone(), values.clone(), early.clone());
                let my_deps = deps[j].clone();
                let ids: Vec<TaskId> = my_deps
                    .iter()
                    .map(|&d| TaskId::new(base + d as u64))
                    .collect();
                let task = ExecutableTask::new(async move {
                    runs[j].fetch_add(1, SeqCst);
                    let mut v = j as u64;
                    for &d in &my_deps {
                        if !done[d].load(SeqCst) {
                            early.fetch_add(1, SeqCst);
                        }
                        v = v
                            .wrapping_mul(0x9E37_79B9)
                            .wrapping_add(values[d].load(SeqCst));
                    }
                    if j % 97 == 0 {
                        yield_now().await;
                    }
                    values[j].store(v, SeqCst);
                    done[j].store(true, SeqCst);
                    v
                })
                .with_id(TaskId::new(base + j as u64))
                .dependencies(ids);
                graph.add(task).unwrap()
            })
            .collect();
        graph.submit().unwrap();
        let results: Vec<u64> = rt.block_on(async move {
            let mut out = Vec::with_capacity(N);
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        });
        // The same computation, sequentially (ids are in topological order).
        let mut expected = vec![0u64; N];
        for j in 0..N {
            let mut v = j as u64;
            for &d in &deps[j] {
                v = v.wrapping_mul(0x9E37_79B9).wrapping_add(expected[d]);
            }
            expected[j] = v;
        }
        assert_eq!(
            early.load(SeqCst),
            0,
            "tasks started before a dependency finished"
        );
        let bad_runs: Vec<usize> = (0..N).filter(|&j| runs[j].load(SeqCst) != 1).collect();
        assert!(
            bad_runs.is_empty(),
            "tasks not run exactly once: {bad_runs:?}"
        );
        assert!(
            results == expected,
            "a task's result differs from the sequential one"
        );
    });
}

#[test]
fn cancel_racing_with_the_start_never_strands_dependents() {
    // `cancel()` may land just after a worker popped the task from the ready heap
    // (the graph then says Running) but before its first poll. The dependents must
    // still resolve (as DependencyFailed, or run if the task won the race).
    watchdog("cancel vs start race", || {
        let rt = runtime(2);
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let (mut won, mut cancelled) = (0, 0);
        for i in 0..3000 {
            let task = ExecutableTask::new(async {});
            let id = task.id();
            let mut graph = TaskGraph::new(rt.handle());
            let h = graph.add(task).unwrap();
            let dependent = graph
                .add(ExecutableTask::new(async {}).depends_on(id))
                .unwrap();
            graph.submit().unwrap();
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let spin = Instant::now() + Duration::from_nanos(rng % 60_000);
            while Instant::now() < spin {
                std::hint::spin_loop();
            }
            h.cancel();
            let deadline = Instant::now() + Duration::from_secs(2);
            while !dependent.is_finished() {
                assert!(
                    Instant::now() < deadline,
                    "iteration {i}: the dependent of a task cancelled as it started never \
                     resolved (task finished: {})",
                    h.is_finished()
                );
                std::thread::yield_now();
            }
            match resolve(&rt, dependent) {
                Ok(()) => won += 1,
                Err(TaskError::DependencyFailed(root)) if root == id => cancelled += 1,
                Err(e) => panic!("iteration {i}: unexpected {e:?}"),
            }
        }
        eprintln!("cancel race: task won {won}, cancelled {cancelled}");
    });
}
