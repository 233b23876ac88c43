//! The resource monitor wired into the runtime, with a scripted `FakeProbe`: the
//! in-flight limit caps running ExecutableTasks, declared memory that does not fit
//! waits and runs later in priority order, impossible tasks are refused at submit,
//! backpressure (`try_submit` → `QueueFull`, `submit_wait` waits for room), monitor
//! ticks move the limit and grant waiting tasks, a disabled monitor gates nothing,
//! plain `spawn` is never gated, and shutdown cancels waiting tasks without hanging or
//! leaking. Orderings and counts only: tasks block on signals, never on time.

mod common;
mod graph_util;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake};
use std::time::Duration;

use common::{pending_holding, wait_until, watchdog, DropCounter};
use graph_util::{assert_cancelled, resolve, Log};
use taskweave::graph::{
    ExecutableTask, Priority, ResourceRequirements, SubmitError, TaskBody, TaskError, TaskGraph,
};
use taskweave::monitor::{
    ControllerConfig, FakeProbe, MonitorConfig, MonitorStatus, Sample, SamplerState,
};
use taskweave::Runtime;
use tokio::sync::watch;

const MIB: u64 = 1 << 20;

/// A probe reading "CPU in the dead band, no memory reading": the controller holds.
fn neutral_probe() -> FakeProbe {
    FakeProbe::new([Sample::default().with_cpu(0.7)])
}

/// Monitor settings with the neutral probe and a tick far away (ticks change nothing
/// here anyway).
fn quiet() -> MonitorConfig {
    MonitorConfig::new()
        .probe(neutral_probe())
        .interval(Duration::from_secs(3600))
}

fn runtime_with(workers: usize, config: MonitorConfig) -> Runtime {
    taskweave::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .monitor(config)
        .build()
        .expect("build runtime")
}

fn status(rt: &Runtime) -> MonitorStatus {
    rt.monitor_status().expect("the monitor is on")
}

/// Counts how many tasks are inside their body at once, and the most ever.
#[derive(Clone, Default)]
struct Concurrency {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    started: Arc<AtomicUsize>,
}

impl Concurrency {
    fn enter(&self) {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
        self.started.fetch_add(1, SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
    fn now(&self) -> usize {
        self.now.load(SeqCst)
    }
    fn max(&self) -> usize {
        self.max.load(SeqCst)
    }
    fn started(&self) -> usize {
        self.started.load(SeqCst)
    }
}

/// A task that enters `c`, waits until `go` is true, and leaves.
fn held(c: &Concurrency, go: &watch::Receiver<bool>) -> ExecutableTask<impl TaskBody<Output = ()>> {
    let (c, mut go) = (c.clone(), go.clone());
    ExecutableTask::new(async move {
        c.enter();
        go.wait_for(|go| *go).await.expect("signal kept alive");
        c.leave();
    })
}

#[test]
fn the_limit_caps_concurrently_running_tasks() {
    watchdog("limit caps concurrency", || {
        let rt = runtime_with(2, quiet().fixed_limit(3));
        let c = Concurrency::default();
        let (go, rx) = watch::channel(false);
        let handles: Vec<_> = (0..20).map(|_| rt.submit(held(&c, &rx)).unwrap()).collect();
        wait_until("3 run and 17 wait", || {
            let s = status(&rt);
            c.now() == 3 && s.in_flight == 3 && s.waiting == 17
        });
        assert_eq!(c.max(), 3);
        assert_eq!(status(&rt).limit, 3);
        go.send(true).unwrap();
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        assert_eq!(c.max(), 3, "never more than the limit in flight");
        assert_eq!(c.started(), 20);
        let s = status(&rt);
        assert_eq!((s.in_flight, s.waiting, s.pending), (0, 0, 0));
        assert_eq!((s.peak_in_flight, s.started, s.completed), (3, 20, 20));
    });
}

#[test]
fn wake_ups_of_started_tasks_are_not_gated() {
    watchdog("wake-ups not gated", || {
        // One slot: a started task yields and sleeps many times while others wait.
        let rt = runtime_with(1, quiet().fixed_limit(1));
        let log = Log::new();
        let mut handles = Vec::new();
        for i in 0..3 {
            let log = log.clone();
            handles.push(
                rt.submit(ExecutableTask::new(async move {
                    log.push(format!("t{i}:start"));
                    for _ in 0..5 {
                        taskweave::task::yield_now().await;
                        taskweave::time::sleep(Duration::from_millis(1)).await;
                    }
                    log.push(format!("t{i}:end"));
                }))
                .unwrap(),
            );
        }
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        // Each task ran start to end without another starting in between.
        let events = log.events();
        for pair in events.chunks(2) {
            let name = pair[0].trim_end_matches(":start");
            assert_eq!(pair[1], format!("{name}:end"), "interleaved: {events:?}");
        }
    });
}

#[test]
fn plain_spawn_is_never_gated() {
    watchdog("spawn not gated", || {
        let rt = runtime_with(2, quiet().fixed_limit(1));
        let (go, rx) = watch::channel(false);
        let gated = Concurrency::default();
        let first = rt.submit(held(&gated, &rx)).unwrap();
        let second = rt.submit(held(&gated, &rx)).unwrap();
        wait_until("one ExecutableTask runs, one waits", || {
            let s = status(&rt);
            s.in_flight == 1 && s.waiting == 1
        });
        let plain = Concurrency::default();
        let spawned: Vec<_> = (0..10)
            .map(|_| {
                let (c, mut rx) = (plain.clone(), rx.clone());
                rt.spawn(async move {
                    c.enter();
                    rx.wait_for(|go| *go).await.unwrap();
                    c.leave();
                })
            })
            .collect();
        wait_until("all 10 plain tasks run at once", || plain.now() == 10);
        assert_eq!(status(&rt).in_flight, 1, "plain tasks take no permit");
        go.send(true).unwrap();
        for h in spawned {
            rt.block_on(h).unwrap();
        }
        resolve(&rt, first).unwrap();
        resolve(&rt, second).unwrap();
        assert_eq!(gated.max(), 1);
    });
}

#[test]
fn a_program_that_only_spawns_starts_no_sampler() {
    watchdog("lazy sampler", || {
        let rt = runtime_with(2, quiet());
        let v = rt.block_on(async { taskweave::spawn(async { 7 }).await.unwrap() });
        assert_eq!(v, 7);
        assert_eq!(status(&rt).sampler, SamplerState::NotStarted);
        resolve(&rt, rt.submit(ExecutableTask::new(async {})).unwrap()).unwrap();
        assert!(matches!(status(&rt).sampler, SamplerState::Running { .. }));
    });
}

#[test]
fn a_disabled_monitor_gates_nothing() {
    watchdog("disabled monitor", || {
        let rt = taskweave::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .disable_monitor()
            .build()
            .unwrap();
        assert!(rt.monitor_status().is_none());
        let c = Concurrency::default();
        let (go, rx) = watch::channel(false);
        let handles: Vec<_> = (0..40)
            .map(|_| rt.handle().try_submit(held(&c, &rx)).unwrap())
            .collect();
        wait_until("all 40 run at once", || c.now() == 40);
        go.send(true).unwrap();
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        // Declared resources are not held to a budget either (only to the machine).
        let big = ExecutableTask::new(async { 1 })
            .resources(ResourceRequirements::new().cpu_cores(0.5).memory_bytes(MIB));
        assert_eq!(resolve(&rt, rt.submit(big).unwrap()).unwrap(), 1);
    });
}

#[test]
fn tasks_that_do_not_fit_memory_wait_and_run_in_priority_order() {
    watchdog("memory admission", || {
        // One worker: the order in which granted tasks run is the heap's, by priority.
        let rt = runtime_with(1, quiet().fixed_limit(10).memory_budget(100 * MIB));
        let declares = |mib: u64| {
            ResourceRequirements::new()
                .cpu_cores(0.0)
                .memory_bytes(mib * MIB)
        };
        let c = Concurrency::default();
        let (go, rx) = watch::channel(false);
        let holder = rt.submit(held(&c, &rx).resources(declares(60))).unwrap();
        wait_until("the holder runs", || c.now() == 1);
        assert_eq!(status(&rt).memory_in_use, 60 * MIB);

        let log = Log::new();
        let running = Concurrency::default();
        // (name, priority, MiB): submitted lowest priority first; the small one would
        // fit beside the holder, but does not overtake the bigger, more urgent ones.
        let plan = [("a", 10, 60), ("b", 200, 60), ("c", 100, 60), ("d", 50, 10)];
        let mut handles = Vec::new();
        for (i, &(name, priority, mib)) in plan.iter().enumerate() {
            let (log, running) = (log.clone(), running.clone());
            let task = ExecutableTask::new(async move {
                running.enter();
                log.push(name);
                running.leave();
            })
            .priority(Priority::new(priority))
            .resources(declares(mib));
            handles.push(rt.submit(task).unwrap());
            wait_until("the task waits for memory", || status(&rt).waiting == i + 1);
        }
        assert_eq!(log.len(), 0, "nothing fits beside the holder's 60 MiB");
        assert_eq!(status(&rt).in_flight, 1);
        go.send(true).unwrap();
        resolve(&rt, holder).unwrap();
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        assert_eq!(log.events(), ["b", "c", "d", "a"]);
        let s = status(&rt);
        assert_eq!((s.memory_in_use, s.waiting, s.in_flight), (0, 0, 0));
        assert!(s.memory_budget <= 100 * MIB);
    });
}

#[test]
fn impossible_tasks_are_refused_at_submit() {
    watchdog("impossible tasks", || {
        let rt = runtime_with(2, quiet().memory_budget(100 * MIB));
        let too_big = || {
            ExecutableTask::new(async {})
                .resources(ResourceRequirements::new().memory_bytes(200 * MIB))
        };
        for result in [
            rt.submit(too_big()).map(drop),
            rt.handle().try_submit(too_big()).map(drop),
            TaskGraph::new(rt.handle()).add(too_big()).map(drop),
            rt.block_on(rt.handle().submit_wait(too_big())).map(drop),
        ] {
            match result {
                Err(SubmitError::Unsatisfiable { reason, .. }) => {
                    assert!(reason.contains("memory budget"), "{reason}")
                }
                other => panic!("expected Unsatisfiable, got {other:?}"),
            }
        }
        // Nothing of it counts as pending; a task within the budget runs.
        assert_eq!(status(&rt).pending, 0);
        let fits = ExecutableTask::new(async { 5 })
            .resources(ResourceRequirements::new().memory_bytes(100 * MIB));
        assert_eq!(resolve(&rt, rt.submit(fits).unwrap()).unwrap(), 5);
    });
}

/// A dependency that stays unfinished until `go`, so its dependents stay pending.
fn blocker(rx: &watch::Receiver<bool>) -> ExecutableTask<impl TaskBody<Output = ()>> {
    let mut rx = rx.clone();
    ExecutableTask::new(async move {
        rx.wait_for(|go| *go).await.unwrap();
    })
}

#[test]
fn try_submit_reports_queue_full_and_a_refused_batch_can_be_retried() {
    watchdog("queue full", || {
        let rt = runtime_with(2, quiet().pending_capacity(3));
        let (go, rx) = watch::channel(false);
        let first = blocker(&rx);
        let first_id = first.id();
        let first = rt.submit(first).unwrap();
        wait_until("the blocker started", || status(&rt).pending == 0);
        let dependent = || ExecutableTask::new(async {}).depends_on(first_id);
        let mut handles: Vec<_> = (0..3)
            .map(|_| rt.handle().try_submit(dependent()).unwrap())
            .collect();
        assert_eq!(status(&rt).pending, 3);
        match rt.handle().try_submit(dependent()) {
            Err(SubmitError::QueueFull { capacity: 3 }) => {}
            other => panic!("expected QueueFull, got {other:?}"),
        }
        let mut graph = TaskGraph::new(rt.handle());
        handles.push(graph.add(dependent()).unwrap());
        handles.push(graph.add(dependent()).unwrap());
        assert_eq!(
            graph.try_submit(),
            Err(SubmitError::QueueFull { capacity: 3 })
        );
        assert_eq!(graph.len(), 2, "a refused batch is kept");
        // `submit` itself is never refused for backpressure.
        handles.push(rt.submit(dependent()).unwrap());
        assert_eq!(status(&rt).pending, 4);
        go.send(true).unwrap();
        resolve(&rt, first).unwrap();
        wait_until("the dependents ran", || status(&rt).pending == 0);
        graph.try_submit().unwrap();
        assert!(graph.is_empty());
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        assert_eq!(status(&rt).pending, 0);
    });
}

/// A waker counting its wake-ups.
#[derive(Default)]
struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn an_awaiting_submit_completes_when_room_appears() {
    watchdog("submit_wait", || {
        let rt = runtime_with(2, quiet().pending_capacity(2));
        let (go, rx) = watch::channel(false);
        let first = blocker(&rx);
        let first_id = first.id();
        let first = rt.submit(first).unwrap();
        let a = rt
            .submit(ExecutableTask::new(async {}).depends_on(first_id))
            .unwrap();
        let b = rt
            .submit(ExecutableTask::new(async {}).depends_on(first_id))
            .unwrap();
        wait_until("two dependents pending", || status(&rt).pending == 2);

        let wakes = Arc::new(CountWakes::default());
        let waker = wakes.clone().into();
        let mut cx = Context::from_waker(&waker);
        let handle = rt.handle().clone();
        let mut single = Box::pin(handle.submit_wait(ExecutableTask::new(async { 1 })));
        let mut graph = TaskGraph::new(rt.handle());
        let batch_task = graph.add(ExecutableTask::new(async { 2 })).unwrap();
        let mut batch = Box::pin(graph.submit_wait());
        assert!(single.as_mut().poll(&mut cx).is_pending());
        assert!(batch.as_mut().poll(&mut cx).is_pending());
        assert_eq!(wakes.0.load(SeqCst), 0);
        assert_eq!(status(&rt).pending, 2, "waiting submitters reserve nothing");

        go.send(true).unwrap();
        wait_until("the waiting submitters were woken", || {
            wakes.0.load(SeqCst) >= 1
        });
        // Room for both now (nothing pending once the dependents ran).
        wait_until("the dependents ran", || status(&rt).pending == 0);
        let single = match single.as_mut().poll(&mut cx) {
            Poll::Ready(result) => result.unwrap(),
            Poll::Pending => panic!("room appeared but submit_wait still waits"),
        };
        match batch.as_mut().poll(&mut cx) {
            Poll::Ready(result) => result.unwrap(),
            Poll::Pending => panic!("room appeared but TaskGraph::submit_wait still waits"),
        }
        assert_eq!(resolve(&rt, single).unwrap(), 1);
        assert_eq!(resolve(&rt, batch_task).unwrap(), 2);
        for h in [first, a, b] {
            resolve(&rt, h).unwrap();
        }
    });
}

#[test]
fn a_waiting_task_can_be_cancelled_without_losing_its_slot() {
    watchdog("cancel a waiting task", || {
        let rt = runtime_with(2, quiet().fixed_limit(1));
        let c = Concurrency::default();
        let (go, rx) = watch::channel(false);
        let holder = rt.submit(held(&c, &rx)).unwrap();
        wait_until("the holder runs", || c.now() == 1);
        let waiting = rt.submit(held(&c, &rx)).unwrap();
        wait_until("the other waits", || status(&rt).waiting == 1);
        waiting.cancel();
        assert_cancelled(
            resolve(&rt, waiting),
            "cancelled while waiting for a permit",
        );
        wait_until("nothing waits", || status(&rt).waiting == 0);
        go.send(true).unwrap();
        resolve(&rt, holder).unwrap();
        // The slot is free again.
        let after = rt.submit(ExecutableTask::new(async { 3 })).unwrap();
        assert_eq!(resolve(&rt, after).unwrap(), 3);
        let s = status(&rt);
        assert_eq!((s.in_flight, s.waiting, s.pending), (0, 0, 0));
        assert_eq!(c.started(), 1, "the cancelled task never ran");
    });
}

#[test]
fn a_dependent_submitted_first_does_not_hold_the_only_slot() {
    watchdog("dependent first", || {
        // One slot; in the batch the dependent comes first. Gated at submit, it could
        // take the slot and wait for a dependency that then never gets one.
        let rt = runtime_with(2, quiet().fixed_limit(1));
        let dependency = ExecutableTask::new(async { 20 });
        let dependency_id = dependency.id();
        let mut graph = TaskGraph::new(rt.handle());
        let dependent = graph
            .add(ExecutableTask::new(async { 22 }).depends_on(dependency_id))
            .unwrap();
        let dependency = graph.add(dependency).unwrap();
        graph.submit().unwrap();
        assert_eq!(
            resolve(&rt, dependency).unwrap() + resolve(&rt, dependent).unwrap(),
            42
        );
    });
}

#[test]
fn monitor_ticks_grow_the_limit_and_grant_waiting_tasks() {
    watchdog("ticks grow the limit", || {
        // CPU idle, the limit fully used: the controller grows one step per tick.
        let probe = FakeProbe::new([Sample::default().with_cpu(0.05)]);
        let controller = ControllerConfig {
            confirm_ticks: 1,
            ..ControllerConfig::default()
        };
        let config = MonitorConfig::new()
            .probe(probe)
            .interval(Duration::from_millis(200))
            .controller(controller)
            .limits(1, 4)
            .initial_limit(2);
        let rt = runtime_with(2, config);
        let c = Concurrency::default();
        let (go, rx) = watch::channel(false);
        let handles: Vec<_> = (0..6).map(|_| rt.submit(held(&c, &rx)).unwrap()).collect();
        wait_until(
            "ticks raised the limit to its bound and granted waiters",
            || c.now() == 4,
        );
        let s = status(&rt);
        assert_eq!((s.limit, s.in_flight, s.waiting), (4, 4, 2));
        assert!(s.limit_changes >= 2);
        go.send(true).unwrap();
        for h in handles {
            resolve(&rt, h).unwrap();
        }
        assert_eq!(c.max(), 4);
    });
}

#[test]
fn monitor_ticks_shrink_the_limit_under_cpu_pressure() {
    watchdog("ticks shrink the limit", || {
        let probe = FakeProbe::new([Sample::default().with_cpu(0.98)]);
        let config = MonitorConfig::new()
            .probe(probe)
            .interval(Duration::from_millis(200))
            .controller(ControllerConfig {
                confirm_ticks: 1,
                ..ControllerConfig::default()
            })
            .limits(2, 64)
            .initial_limit(16);
        let rt = runtime_with(2, config);
        resolve(&rt, rt.submit(ExecutableTask::new(async {})).unwrap()).unwrap();
        wait_until("the limit shrank to its floor", || status(&rt).limit == 2);
        let s = status(&rt);
        assert!(s.limit_changes >= 1);
        assert!(matches!(
            s.last_decision,
            taskweave::monitor::Decision::Shrink(_)
        ));
    });
}

#[test]
fn shutdown_with_waiting_tasks_cancels_them() {
    watchdog("shutdown with waiting tasks", || {
        let rt = runtime_with(2, quiet().fixed_limit(1).pending_capacity(8));
        let handle = rt.handle().clone();
        let drops = DropCounter::new();
        let holder = rt
            .submit(ExecutableTask::new(pending_holding(drops.guard())))
            .unwrap();
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                rt.submit(ExecutableTask::new(pending_holding(drops.guard())))
                    .unwrap()
            })
            .collect();
        wait_until("five wait for a permit", || status(&rt).waiting == 5);
        // Fill the backlog and leave a submitter waiting for room on another thread.
        let (go, rx) = watch::channel(false);
        let first = blocker(&rx);
        let first_id = first.id();
        let pending: Vec<_> = std::iter::once(rt.submit(first).unwrap())
            .chain((0..8).map(|_| {
                rt.submit(ExecutableTask::new(async {}).depends_on(first_id))
                    .unwrap()
            }))
            .collect();
        let submitter_handle = handle.clone();
        let outcome = Arc::new(Mutex::new(None));
        let seen = outcome.clone();
        let submitter = std::thread::spawn(move || {
            let helper = Runtime::new().unwrap();
            let result =
                helper.block_on(submitter_handle.submit_wait(ExecutableTask::new(async {})));
            *seen.lock().unwrap() = Some(result.map(drop));
        });
        drop(rt);
        submitter.join().unwrap();
        assert_eq!(*outcome.lock().unwrap(), Some(Err(SubmitError::Shutdown)));
        for h in waiting.into_iter().chain([holder]).chain(pending) {
            let result = futures::executor::block_on(h);
            assert!(
                matches!(result, Err(TaskError::Shutdown)),
                "expected Shutdown, got {result:?}"
            );
        }
        assert_eq!(drops.created(), 6);
        assert_eq!(
            drops.dropped(),
            6,
            "every waiting task's future was dropped"
        );
        let s = handle.monitor_status().unwrap();
        assert_eq!(s.sampler, SamplerState::Stopped);
        assert_eq!(s.waiting, 0);
        drop(go);
    });
}
