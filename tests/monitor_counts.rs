//! The monitor's gate counts balance on every path that ends an ExecutableTask: each
//! task gives back its in-flight permit (and declared memory) and leaves the backlog of
//! pending tasks exactly once, whether it runs to completion, is cancelled while
//! running, while waiting for a permit or before it starts, fails with a dependency, is
//! refused with its batch, is dropped with an unsubmitted batch, or is cancelled by
//! shutdown — and a submission refused after shutdown counts nothing. (A runner's
//! ticket holds no reference to the gate: the runner gives it back through its runtime,
//! see `executor/src/graph/run.rs`.) A batch starts the monitor's sampler when it is
//! submitted.

mod common;
mod graph_util;

use std::time::Duration;

use common::{pending_holding, wait_until, watchdog, DropCounter};
use graph_util::{assert_cancelled, assert_dependency_failed, resolve};
use taskweave::graph::{
    ExecutableTask, ResourceRequirements, SubmitError, TaskError, TaskGraph, TaskId,
};
use taskweave::monitor::{FakeProbe, MonitorConfig, MonitorStatus, Sample, SamplerState};
use taskweave::Runtime;

const MIB: u64 = 1 << 20;

/// A runtime whose monitor lets `limit` tasks run at once and never ticks.
fn runtime_with_limit(limit: usize) -> Runtime {
    let monitor = MonitorConfig::new()
        .probe(FakeProbe::new([Sample::default().with_cpu(0.7)]))
        .interval(Duration::from_secs(3600))
        .fixed_limit(limit)
        .memory_budget(100 * MIB)
        .pending_capacity(64);
    taskweave::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .monitor(monitor)
        .build()
        .expect("build runtime")
}

/// (in flight, waiting for a permit, pending, declared memory in use)
fn counts(s: MonitorStatus) -> (usize, usize, usize, u64) {
    (s.in_flight, s.waiting, s.pending, s.memory_in_use)
}

fn now(rt: &Runtime) -> (usize, usize, usize, u64) {
    counts(rt.monitor_status().expect("the monitor is on"))
}

#[test]
fn every_way_a_task_ends_gives_its_counts_back() {
    watchdog("gate counts per ending", || {
        let rt = runtime_with_limit(2);
        let drops = DropCounter::new();
        // Runs to completion.
        let done = rt.submit(ExecutableTask::new(async { 1 })).unwrap();
        assert_eq!(resolve(&rt, done).unwrap(), 1);
        assert_eq!(now(&rt), (0, 0, 0, 0));

        // Two running tasks hold both permits; one declared memory.
        let declared = ExecutableTask::new(pending_holding(drops.guard()))
            .resources(ResourceRequirements::new().memory_bytes(10 * MIB));
        let running = rt.submit(declared).unwrap();
        let blocker = ExecutableTask::new(pending_holding(drops.guard()));
        let blocker_id = blocker.id();
        let blocker = rt.submit(blocker).unwrap();
        wait_until("both run", || now(&rt) == (2, 0, 0, 10 * MIB));

        // Pending: two dependents of the blocker, and one waiting for a permit.
        let first = ExecutableTask::new(async {}).depends_on(blocker_id);
        let first_id = first.id();
        let first = rt.submit(first).unwrap();
        let second = rt
            .submit(ExecutableTask::new(async {}).depends_on(first_id))
            .unwrap();
        let waiting = rt
            .submit(ExecutableTask::new(pending_holding(drops.guard())))
            .unwrap();
        wait_until("one waits for a permit", || now(&rt) == (2, 1, 3, 10 * MIB));

        // Cancelled before it started: it and its dependent leave the backlog.
        first.cancel();
        assert_cancelled(resolve(&rt, first), "cancelled before it started");
        assert_dependency_failed(resolve(&rt, second), first_id, "its dependent");
        assert_eq!(now(&rt), (2, 1, 1, 10 * MIB));

        // Cancelled while waiting for a permit.
        waiting.cancel();
        assert_cancelled(resolve(&rt, waiting), "cancelled while waiting");
        assert_eq!(now(&rt), (2, 0, 0, 10 * MIB));

        // Refused with its batch (an unknown dependency), and dropped unsubmitted.
        let mut refused = TaskGraph::new(rt.handle());
        let ok = refused.add(ExecutableTask::new(async {})).unwrap();
        let unknown = ExecutableTask::new(async {}).depends_on(TaskId::new(u64::MAX - 7));
        let bad = refused.add(unknown).unwrap();
        assert!(matches!(refused.submit(), Err(SubmitError::Graph(_))));
        let mut unsubmitted = TaskGraph::new(rt.handle());
        let never = unsubmitted.add(ExecutableTask::new(async {})).unwrap();
        drop(unsubmitted);
        for (h, what) in [(ok, "refused"), (bad, "refused"), (never, "dropped")] {
            assert_cancelled(resolve(&rt, h), what);
        }
        assert_eq!(now(&rt), (2, 0, 0, 10 * MIB));

        // Cancelled while running: its permit and its memory come back.
        running.cancel();
        assert_cancelled(resolve(&rt, running), "cancelled while running");
        blocker.cancel();
        assert_cancelled(resolve(&rt, blocker), "cancelled while running");
        assert_eq!(now(&rt), (0, 0, 0, 0));
        assert_eq!(drops.dropped(), 3);

        // The permits are all there: two tasks run at once again.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let again: Vec<_> = (0..2)
            .map(|_| {
                let tx = tx.clone();
                rt.submit(ExecutableTask::new(async move { drop(tx) }))
                    .unwrap()
            })
            .collect();
        drop(tx);
        for h in again {
            resolve(&rt, h).unwrap();
        }
        assert!(rx.recv().is_err());
        let s = rt.monitor_status().unwrap();
        assert_eq!(counts(s), (0, 0, 0, 0));
    });
}

#[test]
fn shutdown_gives_back_every_count() {
    watchdog("gate counts at shutdown", || {
        let rt = runtime_with_limit(1);
        let handle = rt.handle().clone();
        let drops = DropCounter::new();
        let declared = ExecutableTask::new(pending_holding(drops.guard()))
            .resources(ResourceRequirements::new().memory_bytes(10 * MIB));
        let running_id = declared.id();
        let running = rt.submit(declared).unwrap();
        // It holds the only permit before the next task asks for one (two workers
        // could otherwise start them in either order).
        wait_until("the first runs", || now(&rt) == (1, 0, 0, 10 * MIB));
        let waiting = rt
            .submit(ExecutableTask::new(pending_holding(drops.guard())))
            .unwrap();
        let dependent = rt
            .submit(ExecutableTask::new(async {}).depends_on(running_id))
            .unwrap();
        // Built but not submitted when the runtime goes.
        let mut graph = TaskGraph::new(rt.handle());
        let unsubmitted = graph.add(ExecutableTask::new(async {})).unwrap();
        wait_until("one runs, one waits", || now(&rt) == (1, 1, 2, 10 * MIB));
        drop(rt);
        assert_eq!(drops.dropped(), 2);
        assert_eq!(graph.submit(), Err(SubmitError::Shutdown));
        for h in [running, waiting, dependent] {
            let result = futures::executor::block_on(h);
            assert!(matches!(result, Err(TaskError::Shutdown)), "{result:?}");
        }
        let result = futures::executor::block_on(unsubmitted);
        assert!(
            matches!(result, Err(TaskError::Cancelled | TaskError::Shutdown)),
            "{result:?}"
        );
        // Refused after shutdown, before anything is counted.
        assert_eq!(
            handle.submit(ExecutableTask::new(async {})).unwrap_err(),
            SubmitError::Shutdown
        );
        assert_eq!(
            handle
                .try_submit(ExecutableTask::new(async {}))
                .unwrap_err(),
            SubmitError::Shutdown
        );
        let mut late = TaskGraph::new(&handle);
        assert_eq!(
            late.add(ExecutableTask::new(async {})).unwrap_err(),
            SubmitError::Shutdown
        );
        drop(late);
        let s = handle.monitor_status().expect("the monitor is on");
        assert_eq!(counts(s), (0, 0, 0, 0));
    });
}

#[test]
fn a_batch_starts_the_sampler_when_it_is_submitted() {
    watchdog("sampler started by a batch", || {
        let rt = runtime_with_limit(2);
        let sampler = || rt.monitor_status().expect("the monitor is on").sampler;
        let mut graph = TaskGraph::new(rt.handle());
        let task = graph.add(ExecutableTask::new(async { 2 })).unwrap();
        assert_eq!(sampler(), SamplerState::NotStarted, "nothing can run yet");
        graph.submit().unwrap();
        assert!(matches!(sampler(), SamplerState::Running { .. }));
        assert_eq!(resolve(&rt, task).unwrap(), 2);
    });
}
