//! ExecutableTasks that fail, and submissions that are refused.
//!
//! - Failure propagation: a task that returns an error, panics, times out, is cancelled
//!   before it starts, or is cancelled while running makes every transitive dependent
//!   resolve with `DependencyFailed(root)`; the dependents' futures are dropped
//!   unpolled; independent tasks are unaffected.
//! - Submit errors: unknown dependency, duplicate id, self-dependency, named cycle,
//!   invalid and impossible resources, shutdown; a refused batch runs nothing and its
//!   handles resolve as `Cancelled`.

mod common;
mod graph_util;

use std::sync::mpsc;
use std::time::Duration;

use common::{pending_holding, runtime, watchdog};
use graph_util::{
    assert_cancelled, assert_dependency_failed, resolve, submit, AsyncGate, Probes, SOON,
};
use taskweave::graph::{
    ExecutableTask, GraphError, ResourceRequirements, SubmitError, TaskBody, TaskError, TaskGraph,
    TaskHandle, TaskId,
};
use taskweave::Runtime;
use taskweave_scheduler::SpecError;

// ---------------------------------------------------------------------------------
// Failure propagation

/// Submits, in one batch, `root` and this graph around it:
///
/// ```text
/// root ──> d1 ──> d2 ──> d3          ok ──> d4 <── root      bystander
///            └─────────────> d5 <── ok
/// ```
///
/// (`d4` and `d5` also depend on the succeeding `ok`.) Runs `act` with the root's
/// handle, then checks that `d1..d5` resolve as `DependencyFailed(root)` with their
/// futures dropped unpolled, and that `ok` and `bystander` succeed. Returns the root's
/// own result.
fn check_propagation<B: TaskBody>(
    rt: &Runtime,
    root: ExecutableTask<B>,
    act: impl FnOnce(&TaskHandle<B::Output>),
) -> Result<B::Output, TaskError> {
    let root_id = root.id();
    let probes = Probes::new();
    let ok = ExecutableTask::new(async { 7 }).name("ok");
    let ok_id = ok.id();
    let d1 = ExecutableTask::new(probes.future())
        .name("d1")
        .depends_on(root_id);
    let d2 = ExecutableTask::new(probes.future())
        .name("d2")
        .depends_on(d1.id());
    let d3 = ExecutableTask::new(probes.future())
        .name("d3")
        .depends_on(d2.id());
    let d4 = ExecutableTask::new(probes.future())
        .name("d4")
        .dependencies([ok_id, root_id]);
    let d5 = ExecutableTask::new(probes.future())
        .name("d5")
        .dependencies([d1.id(), ok_id]);
    let bystander = ExecutableTask::new(async { "unaffected" }).name("bystander");
    let mut graph = TaskGraph::new(rt.handle());
    let root = graph.add(root).unwrap();
    let dependents = [d1, d2, d3, d4, d5].map(|d| graph.add(d).unwrap());
    let ok = graph.add(ok).unwrap();
    let bystander = graph.add(bystander).unwrap();
    graph.submit().unwrap();
    act(&root);
    let root_result = resolve(rt, root);
    for (i, d) in dependents.into_iter().enumerate() {
        assert_dependency_failed(resolve(rt, d), root_id, &format!("d{}", i + 1));
    }
    probes.assert_dropped_unpolled("dependents of a failed task");
    assert_eq!(resolve(rt, ok).unwrap(), 7);
    assert_eq!(resolve(rt, bystander).unwrap(), "unaffected");
    root_result
}

#[test]
fn an_error_fails_the_dependents() {
    watchdog("error propagation", || {
        let rt = runtime(2);
        let root = ExecutableTask::try_new(async { Err::<u8, _>("disk full") }).name("root");
        match check_propagation(&rt, root, |_| {}) {
            Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "disk full"),
            other => panic!("expected Failed, got {other:?}"),
        }
    });
}

#[test]
fn a_panic_fails_the_dependents() {
    watchdog("panic propagation", || {
        let rt = runtime(2);
        let root = ExecutableTask::new(async {
            if true {
                panic!("intentional panic in root");
            }
            1u8
        });
        match check_propagation(&rt, root, |_| {}) {
            Err(TaskError::Panicked(msg)) => {
                assert!(msg.contains("intentional panic in root"), "{msg}")
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
        // The worker survived: the runtime still runs tasks.
        assert_eq!(
            resolve(&rt, submit(&rt, ExecutableTask::new(async { 3 }))).unwrap(),
            3
        );
    });
}

#[test]
fn a_timeout_fails_the_dependents() {
    watchdog("timeout propagation", || {
        let rt = runtime(2);
        let drops = common::DropCounter::new();
        let root =
            ExecutableTask::new(pending_holding(drops.guard())).timeout(Duration::from_millis(30));
        let result = check_propagation(&rt, root, |_| {});
        assert!(matches!(result, Err(TaskError::TimedOut)), "{result:?}");
        assert_eq!(drops.dropped(), 1, "the timed-out future was dropped");
    });
}

#[test]
fn cancelling_before_start_fails_the_dependents() {
    watchdog("cancel-before-start propagation", || {
        let rt = runtime(2);
        let gate = AsyncGate::submit(&rt, "gate");
        let root_probe = Probes::new();
        let root = ExecutableTask::new(root_probe.future()).depends_on(gate.id);
        let result = check_propagation(&rt, root, |h| h.cancel());
        assert_cancelled(result, "the cancelled root");
        root_probe.assert_dropped_unpolled("the cancelled root");
        gate.open(&rt);
    });
}

#[test]
fn cancelling_while_running_fails_the_dependents() {
    watchdog("cancel-while-running propagation", || {
        let rt = runtime(2);
        let drops = common::DropCounter::new();
        let guard = drops.guard();
        let (started_tx, started) = mpsc::channel();
        let root = ExecutableTask::new(async move {
            let _guard = guard;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        let result = check_propagation(&rt, root, |h| {
            started.recv_timeout(SOON).expect("the root started");
            assert!(!h.is_finished());
            h.cancel();
        });
        assert_cancelled(result, "the cancelled root");
        assert_eq!(drops.dropped(), 1, "the running future was dropped");
    });
}

#[test]
fn the_root_cause_is_reported_through_several_hops() {
    // a fails; b depends on a, c on b, d on c and on an independent e: all name a.
    watchdog("root cause", || {
        let rt = runtime(2);
        let a = ExecutableTask::try_new(async { Err::<(), _>("root cause") }).name("a");
        let a_id = a.id();
        let probes = Probes::new();
        let b = ExecutableTask::new(probes.future()).depends_on(a_id);
        let c = ExecutableTask::new(probes.future()).depends_on(b.id());
        let e = ExecutableTask::new(async {});
        let d = ExecutableTask::new(probes.future()).dependencies([c.id(), e.id()]);
        // Submitted one by one: each dependent is registered before the root fails
        // only if it is fast; either way the root cause must be a.
        let a = submit(&rt, a);
        let handles = [submit(&rt, b), submit(&rt, c)];
        let e = submit(&rt, e);
        let d = submit(&rt, d);
        assert!(matches!(resolve(&rt, a), Err(TaskError::Failed(_))));
        for h in handles {
            assert_dependency_failed(resolve(&rt, h), a_id, "chain");
        }
        assert_dependency_failed(resolve(&rt, d), a_id, "d");
        resolve(&rt, e).unwrap();
        probes.assert_dropped_unpolled("dependents");
    });
}

#[test]
fn depending_on_an_already_failed_task_fails_at_once() {
    watchdog("dependency already failed", || {
        let rt = runtime(2);
        let root = ExecutableTask::try_new(async { Err::<(), _>("early") });
        let root_id = root.id();
        assert!(matches!(
            resolve(&rt, submit(&rt, root)),
            Err(TaskError::Failed(_))
        ));
        let probes = Probes::new();
        // One task alone, and a batch whose head depends on the failed task.
        let alone = submit(
            &rt,
            ExecutableTask::new(probes.future()).depends_on(root_id),
        );
        let head = ExecutableTask::new(probes.future()).depends_on(root_id);
        let tail = ExecutableTask::new(probes.future()).depends_on(head.id());
        let mut graph = TaskGraph::new(rt.handle());
        let head = graph.add(head).unwrap();
        let tail = graph.add(tail).unwrap();
        let free = graph.add(ExecutableTask::new(async { 9 })).unwrap();
        graph.submit().unwrap();
        assert_dependency_failed(resolve(&rt, alone), root_id, "alone");
        assert_dependency_failed(resolve(&rt, head), root_id, "head");
        assert_dependency_failed(resolve(&rt, tail), root_id, "tail");
        assert_eq!(resolve(&rt, free).unwrap(), 9);
        probes.assert_dropped_unpolled("dependents of an already failed task");
    });
}

// ---------------------------------------------------------------------------------
// Submit errors

#[test]
fn unknown_dependency_is_refused() {
    watchdog("unknown dependency", || {
        let rt = runtime(1);
        let probes = Probes::new();
        let task = ExecutableTask::new(probes.future())
            .with_id(TaskId::new(1001))
            .depends_on(TaskId::new(999_999));
        let err = rt.submit(task).unwrap_err();
        assert_eq!(
            err,
            SubmitError::Graph(GraphError::UnknownDependency {
                task: TaskId::new(1001),
                dependency: TaskId::new(999_999),
            })
        );
        assert!(err.to_string().contains("999999"), "{err}");
        probes.assert_dropped_unpolled("refused task");
        // Nothing of it stayed behind: the id is free.
        let again = ExecutableTask::new(async { 1 }).with_id(TaskId::new(1001));
        assert_eq!(resolve(&rt, submit(&rt, again)).unwrap(), 1);
    });
}

#[test]
fn duplicate_ids_are_refused() {
    watchdog("duplicate id", || {
        let rt = runtime(1);
        let id = TaskId::new(7);
        let first = submit(&rt, ExecutableTask::new(async { "first" }).with_id(id));
        let probes = Probes::new();
        let err = rt
            .submit(ExecutableTask::new(probes.future()).with_id(id))
            .unwrap_err();
        assert_eq!(err, SubmitError::Graph(GraphError::DuplicateId(id)));
        assert_eq!(resolve(&rt, first).unwrap(), "first");
        // Still a duplicate after the first one finished (its record is kept).
        let err = rt
            .submit(ExecutableTask::new(probes.future()).with_id(id))
            .unwrap_err();
        assert_eq!(err, SubmitError::Graph(GraphError::DuplicateId(id)));
        // Twice in one batch: the batch is refused as a whole.
        let dup = TaskId::new(8);
        let mut graph = TaskGraph::new(rt.handle());
        let a = graph
            .add(ExecutableTask::new(probes.future()).with_id(dup))
            .unwrap();
        let b = graph
            .add(ExecutableTask::new(probes.future()).with_id(dup))
            .unwrap();
        let c = graph.add(ExecutableTask::new(probes.future())).unwrap();
        assert_eq!(
            graph.submit().unwrap_err(),
            SubmitError::Graph(GraphError::DuplicateId(dup))
        );
        for h in [a, b, c] {
            assert_cancelled(resolve(&rt, h), "task of a refused batch");
        }
        probes.assert_dropped_unpolled("refused tasks");
    });
}

#[test]
fn self_dependency_is_refused() {
    watchdog("self dependency", || {
        let rt = runtime(1);
        let id = TaskId::new(5);
        let probes = Probes::new();
        let err = rt
            .submit(
                ExecutableTask::new(probes.future())
                    .with_id(id)
                    .depends_on(id),
            )
            .unwrap_err();
        assert_eq!(err, SubmitError::Graph(GraphError::SelfDependency(id)));
        probes.assert_dropped_unpolled("refused task");
    });
}

#[test]
fn a_cycle_is_refused_and_named() {
    watchdog("cycle", || {
        let rt = runtime(2);
        let probes = Probes::new();
        let ids = [TaskId::new(11), TaskId::new(12), TaskId::new(13)];
        // load -> parse -> store -> load (each depends on the next).
        let load = ExecutableTask::new(probes.future())
            .with_id(ids[0])
            .name("load")
            .depends_on(ids[1]);
        let parse = ExecutableTask::new(probes.future())
            .with_id(ids[1])
            .name("parse")
            .depends_on(ids[2]);
        let store = ExecutableTask::new(probes.future())
            .with_id(ids[2])
            .name("store")
            .depends_on(ids[0]);
        let free = ExecutableTask::new(probes.future()).name("free");
        let after = ExecutableTask::new(probes.future())
            .name("after")
            .depends_on(ids[0]);
        let mut graph = TaskGraph::new(rt.handle());
        let handles: Vec<TaskHandle<()>> = vec![
            graph.add(free).unwrap(),
            graph.add(load).unwrap(),
            graph.add(parse).unwrap(),
            graph.add(after).unwrap(),
            graph.add(store).unwrap(),
        ];
        let err = graph.submit().unwrap_err();
        let SubmitError::Graph(GraphError::Cycle(cycle)) = &err else {
            panic!("expected a cycle, got {err:?}");
        };
        let mut in_cycle: Vec<TaskId> = cycle.iter().map(|(id, _)| *id).collect();
        in_cycle.sort();
        assert_eq!(in_cycle, ids, "{err}");
        let message = err.to_string();
        for name in ["load (11)", "parse (12)", "store (13)"] {
            assert!(message.contains(name), "`{message}` does not name {name}");
        }
        assert!(
            !message.contains("free") && !message.contains("after"),
            "{message}"
        );
        for h in handles {
            assert_cancelled(resolve(&rt, h), "task of a refused batch");
        }
        probes.assert_dropped_unpolled("tasks of a refused batch");
        // The ids are free again: nothing of the batch was added.
        let again = ExecutableTask::new(async {}).with_id(ids[0]);
        resolve(&rt, submit(&rt, again)).unwrap();
    });
}

#[test]
fn a_refused_batch_runs_nothing() {
    // A batch with an unknown dependency at its end: its ready tasks do not run.
    watchdog("refused batch", || {
        let rt = runtime(2);
        let probes = Probes::new();
        let mut graph = TaskGraph::new(rt.handle());
        let handles: Vec<_> = (0..10)
            .map(|_| graph.add(ExecutableTask::new(probes.future())).unwrap())
            .collect();
        let bad = graph
            .add(ExecutableTask::new(probes.future()).depends_on(TaskId::new(424_242)))
            .unwrap();
        assert!(matches!(
            graph.submit(),
            Err(SubmitError::Graph(GraphError::UnknownDependency { .. }))
        ));
        for h in handles.into_iter().chain([bad]) {
            assert_cancelled(resolve(&rt, h), "task of a refused batch");
        }
        probes.assert_dropped_unpolled("tasks of a refused batch");
    });
}

#[test]
fn a_dropped_batch_runs_nothing() {
    watchdog("dropped batch", || {
        let rt = runtime(2);
        let probes = Probes::new();
        let mut graph = TaskGraph::new(rt.handle());
        let h = graph.add(ExecutableTask::new(probes.future())).unwrap();
        assert!(!graph.is_empty());
        drop(graph);
        assert_cancelled(resolve(&rt, h), "task of a dropped batch");
        probes.assert_dropped_unpolled("task of a dropped batch");
    });
}

#[test]
fn invalid_resources_are_refused() {
    watchdog("invalid resources", || {
        let rt = runtime(1);
        let probes = Probes::new();
        let cases = [
            (
                ResourceRequirements::new().cpu_cores(-1.0),
                SpecError::InvalidCpuCores(-1.0),
            ),
            (
                ResourceRequirements::new().io_intensity(2.0),
                SpecError::InvalidIoIntensity(2.0),
            ),
        ];
        for (resources, want) in cases {
            let task = ExecutableTask::new(probes.future()).resources(resources);
            let id = task.id();
            match rt.submit(task).unwrap_err() {
                SubmitError::InvalidSpec { task, reason } => {
                    assert_eq!(task, id);
                    assert_eq!(reason, want);
                }
                other => panic!("expected InvalidSpec, got {other:?}"),
            }
            // In a batch the error comes at `add`, and the batch stays usable.
            let mut graph = TaskGraph::new(rt.handle());
            let err = graph
                .add(ExecutableTask::new(probes.future()).resources(resources))
                .unwrap_err();
            assert!(matches!(err, SubmitError::InvalidSpec { .. }), "{err:?}");
            let fine = graph.add(ExecutableTask::new(async { 4 })).unwrap();
            graph.submit().unwrap();
            assert_eq!(resolve(&rt, fine).unwrap(), 4);
        }
        // NaN cores are invalid too.
        let nan = ExecutableTask::new(probes.future())
            .resources(ResourceRequirements::new().cpu_cores(f32::NAN));
        assert!(matches!(
            rt.submit(nan).unwrap_err(),
            SubmitError::InvalidSpec {
                reason: SpecError::InvalidCpuCores(_),
                ..
            }
        ));
        probes.assert_dropped_unpolled("refused tasks");
    });
}

#[test]
fn impossible_resources_are_unsatisfiable() {
    watchdog("impossible resources", || {
        let rt = runtime(1);
        let probes = Probes::new();
        for resources in [
            ResourceRequirements::new().cpu_cores(1e6),
            ResourceRequirements::new().memory_bytes(u64::MAX),
        ] {
            let task = ExecutableTask::new(probes.future()).resources(resources);
            let id = task.id();
            match rt.submit(task).unwrap_err() {
                SubmitError::Unsatisfiable { task, reason } => {
                    assert_eq!(task, id);
                    assert!(!reason.is_empty());
                }
                other => panic!("expected Unsatisfiable for {resources:?}, got {other:?}"),
            }
            let mut graph = TaskGraph::new(rt.handle());
            let err = graph
                .add(ExecutableTask::new(probes.future()).resources(resources))
                .unwrap_err();
            assert!(matches!(err, SubmitError::Unsatisfiable { .. }), "{err:?}");
        }
        // What the machine has is fine.
        let modest = ExecutableTask::new(async { 1 }).resources(
            ResourceRequirements::new()
                .cpu_cores(1.0)
                .memory_bytes(1 << 20),
        );
        assert_eq!(resolve(&rt, submit(&rt, modest)).unwrap(), 1);
        probes.assert_dropped_unpolled("refused tasks");
    });
}

#[test]
fn submitting_after_shutdown_is_refused() {
    watchdog("submit after shutdown", || {
        let rt = runtime(2);
        let handle = rt.handle().clone();
        assert!(rt.shutdown_timeout(SOON));
        let probes = Probes::new();
        let err = handle
            .submit(ExecutableTask::new(probes.future()))
            .unwrap_err();
        assert_eq!(err, SubmitError::Shutdown);
        let mut graph = TaskGraph::new(&handle);
        assert_eq!(
            graph.add(ExecutableTask::new(probes.future())).unwrap_err(),
            SubmitError::Shutdown
        );
        probes.assert_dropped_unpolled("refused tasks");
    });
}

#[test]
fn shutdown_resolves_waiting_tasks() {
    watchdog("shutdown with waiting tasks", || {
        let rt = runtime(2);
        let gate = AsyncGate::submit(&rt, "never opened");
        let probes = Probes::new();
        let waiting = submit(
            &rt,
            ExecutableTask::new(probes.future()).depends_on(gate.id),
        );
        drop(rt);
        let result = futures::executor::block_on(waiting);
        assert!(matches!(result, Err(TaskError::Shutdown)), "{result:?}");
        probes.assert_dropped_unpolled("task waiting at shutdown");
        let gate_result = futures::executor::block_on(gate.handle);
        assert!(
            matches!(gate_result, Err(TaskError::Shutdown)),
            "{gate_result:?}"
        );
    });
}

#[test]
fn a_batch_built_before_shutdown_and_submitted_after_is_refused() {
    watchdog("batch across shutdown", || {
        let rt = runtime(2);
        let handle = rt.handle().clone();
        let probes = Probes::new();
        let mut graph = TaskGraph::new(&handle);
        let task = graph.add(ExecutableTask::new(probes.future())).unwrap();
        assert!(rt.shutdown_timeout(SOON));
        assert_eq!(graph.submit().unwrap_err(), SubmitError::Shutdown);
        probes.assert_dropped_unpolled("batch submitted after shutdown");
        let result = futures::executor::block_on(task);
        assert!(
            matches!(result, Err(TaskError::Cancelled | TaskError::Shutdown)),
            "{result:?}"
        );
    });
}

#[test]
fn alive_task_count_includes_executable_tasks_until_they_end() {
    watchdog("alive count", || {
        let rt = runtime(2);
        let metrics = rt.metrics();
        let spawned_before = metrics.spawned_tasks_count();
        let gate = AsyncGate::submit(&rt, "held open");
        let probes = Probes::new();
        let waiting = submit(
            &rt,
            ExecutableTask::new(probes.future()).depends_on(gate.id),
        );
        // The running gate and its waiting dependent.
        assert_eq!(metrics.num_alive_tasks(), 2);
        assert_eq!(metrics.spawned_tasks_count() - spawned_before, 2);
        gate.open(&rt);
        resolve(&rt, waiting).unwrap();
        // A task whose handle exists leaves the count before the handle resolves.
        assert_eq!(metrics.num_alive_tasks(), 0);
    });
}
