//! ExecutableTasks in chains (each waiting only for the one before it), which a worker
//! of short tasks runs link after link without a trip to the graph per link
//! (`executor/src/graph/dispatch/claim.rs`): every link runs once, in order, with its
//! value delivered; a failure, a cancellation, a link that awaits, a better task
//! arriving, or shutdown, in the middle of a chain, each end as they would for any
//! waiting tasks.
//!
//! Each test holds whether or not the worker runs the chain that way (it does when
//! its tasks are short, as they are here), so none depends on timing.

mod common;
mod graph_util;

use std::sync::mpsc;
use std::time::Duration;

use common::{runtime, watchdog};
use graph_util::{assert_cancelled, assert_dependency_failed, resolve, Log};
use taskweave::graph::{ExecutableTask, Priority, TaskError, TaskGraph, TaskHandle, TaskId};
use taskweave::task::yield_now;

/// The ids of a chain of `n` tasks from `base`.
fn ids(base: u64, n: usize) -> Vec<TaskId> {
    (0..n as u64).map(|i| TaskId::new(base + i)).collect()
}

/// Submits a chain of `n` tasks as one batch: task `i` logs `i` and returns `i`, after
/// `hook(i)` (which may block, fail, or await).
fn chain<F>(
    rt: &taskweave::Runtime,
    base: u64,
    n: usize,
    log: &Log,
    hook: impl Fn(usize) -> F,
) -> Vec<TaskHandle<usize>>
where
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let ids = ids(base, n);
    let mut graph = TaskGraph::new(rt.handle());
    let handles = (0..n)
        .map(|i| {
            let (log, step) = (log.clone(), hook(i));
            let task = ExecutableTask::try_new(async move {
                step.await?;
                log.push(i.to_string());
                Ok::<usize, String>(i)
            })
            .with_id(ids[i]);
            let task = match i {
                0 => task,
                _ => task.depends_on(ids[i - 1]),
            };
            graph.add(task).expect("add")
        })
        .collect();
    graph.submit().expect("submit");
    handles
}

fn numbers(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[test]
fn every_link_runs_once_in_order_and_delivers_its_value() {
    for workers in [1, 2] {
        watchdog("a long chain", move || {
            let rt = runtime(workers);
            let log = Log::new();
            let n = 2_000;
            let handles = chain(&rt, 0, n, &log, |_| async { Ok(()) });
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(resolve(&rt, h).unwrap(), i);
            }
            assert_eq!(log.events(), numbers(0..n), "{workers} workers");
            let metrics = rt.graph_metrics();
            assert_eq!(metrics.started_count(), n as u64);
            assert_eq!(metrics.succeeded_count(), n as u64);
        });
    }
}

#[test]
fn a_failing_link_dooms_the_rest_of_its_chain() {
    watchdog("a chain with a failing link", || {
        let rt = runtime(1);
        let log = Log::new();
        let n = 100;
        let handles = chain(&rt, 1_000, n, &log, |i| async move {
            if i == 50 {
                Err("link 50 broke".to_string())
            } else {
                Ok(())
            }
        });
        for (i, h) in handles.into_iter().enumerate() {
            let result = resolve(&rt, h);
            match i {
                0..50 => assert_eq!(result.unwrap(), i),
                50 => assert!(matches!(result, Err(TaskError::Failed(_))), "{result:?}"),
                _ => assert_dependency_failed(result, TaskId::new(1_050), "after the break"),
            }
        }
        assert_eq!(
            log.events(),
            numbers(0..50),
            "nothing after the failure ran"
        );
    });
}

#[test]
fn links_that_await_keep_the_order() {
    // Some links yield before they finish: their worker gives back the links it
    // claimed after them, and the woken link may finish on another worker.
    for workers in [1, 2] {
        watchdog("a chain whose links yield", move || {
            let rt = runtime(workers);
            let log = Log::new();
            let n = 300;
            let handles = chain(&rt, 2_000, n, &log, |i| async move {
                for _ in 0..i % 3 {
                    yield_now().await;
                }
                Ok(())
            });
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(resolve(&rt, h).unwrap(), i);
            }
            assert_eq!(log.events(), numbers(0..n), "{workers} workers");
        });
    }
}

/// One worker running a chain of `n` (ids from `base`) whose link `k` blocks the
/// worker until `release` is sent to (or 10 s pass); returns once link `k` began.
struct HeldChain {
    rt: taskweave::Runtime,
    log: Log,
    handles: Vec<TaskHandle<usize>>,
    release: mpsc::Sender<()>,
}

fn held_chain(base: u64, n: usize, k: usize) -> HeldChain {
    let rt = runtime(1);
    let log = Log::new();
    let (handles, started, release) = chain_held_at(&rt, base, n, k, &log);
    started.recv().unwrap();
    HeldChain {
        rt,
        log,
        handles,
        release,
    }
}

fn chain_held_at(
    rt: &taskweave::Runtime,
    base: u64,
    n: usize,
    k: usize,
    log: &Log,
) -> (Vec<TaskHandle<usize>>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(Some((started_tx, release_rx)));
    let handles = chain(rt, base, n, log, move |i| {
        let held = (i == k).then(|| gate.lock().unwrap().take().unwrap());
        async move {
            if let Some((started, release)) = held {
                started.send(()).unwrap();
                let _ = release.recv_timeout(Duration::from_secs(10));
            }
            Ok(())
        }
    });
    (handles, started, release)
}

/// Submits a HIGH-priority task that logs "urgent".
fn urgent(rt: &taskweave::Runtime, log: &Log) -> TaskHandle<()> {
    let log = log.clone();
    let task = ExecutableTask::new(async move { log.push("urgent") });
    rt.submit(task.priority(Priority::HIGH)).unwrap()
}

/// Link 21 of a chain of 60 waits for link 20 alone, while 20 runs: its worker may
/// have claimed it (and more). Cancelled then (with a better task arriving too, if
/// `with_urgent`), it never runs, and the rest fail with it.
fn cancel_the_link_after_a_running_one(base: u64, with_urgent: bool) {
    let (n, k) = (60, 20);
    let HeldChain {
        rt,
        log,
        mut handles,
        release,
    } = held_chain(base, n, k);
    handles[k + 1].cancel();
    let urgent = with_urgent.then(|| urgent(&rt, &log));
    release.send(()).unwrap();
    if let Some(urgent) = urgent {
        resolve(&rt, urgent).unwrap();
    }
    let after: Vec<_> = handles.drain(k + 1..).collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(resolve(&rt, h).unwrap(), i);
    }
    let mut after = after.into_iter();
    assert_cancelled(resolve(&rt, after.next().unwrap()), "the cancelled link");
    for h in after {
        assert_dependency_failed(resolve(&rt, h), TaskId::new(base + k as u64 + 1), "after");
    }
    let mut expected = numbers(0..k + 1);
    if with_urgent {
        expected.push("urgent".into());
    }
    assert_eq!(log.events(), expected);
}

#[test]
fn cancelling_a_link_while_the_one_before_runs() {
    watchdog("cancel in a running chain", || {
        cancel_the_link_after_a_running_one(3_000, false)
    });
}

#[test]
fn cancelling_a_link_then_a_better_task_arriving() {
    // Link 21 does not run next: its worker gives back what it claimed, the cancelled
    // link with the rest.
    watchdog("cancel and a better task in a running chain", || {
        cancel_the_link_after_a_running_one(6_000, true)
    });
}

#[test]
fn a_better_task_arriving_mid_chain_runs_before_the_next_link() {
    watchdog("a better task mid-chain", || {
        let (n, k) = (40, 10);
        let chain = held_chain(4_000, n, k);
        let urgent = urgent(&chain.rt, &chain.log);
        chain.release.send(()).unwrap();
        for (i, h) in chain.handles.into_iter().enumerate() {
            assert_eq!(resolve(&chain.rt, h).unwrap(), i);
        }
        resolve(&chain.rt, urgent).unwrap();
        let mut expected = numbers(0..k + 1);
        expected.push("urgent".into());
        expected.extend(numbers(k + 1..n));
        assert_eq!(chain.log.events(), expected);
    });
}

#[test]
fn shutdown_mid_chain_resolves_every_link() {
    watchdog("shutdown mid-chain", || {
        let (n, k) = (40, 10);
        let chain = held_chain(5_000, n, k);
        let (release, log) = (chain.release, chain.log);
        // Dropping the runtime waits for the running link's poll: let it go first.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let _ = release.send(());
        });
        drop(chain.rt);
        releaser.join().unwrap();
        let results: Vec<_> = chain
            .handles
            .into_iter()
            .map(futures::executor::block_on)
            .collect();
        // Links before the held one succeeded; after it, none ran: each ends as shut
        // down (or, if its predecessor's end was recorded as shut down first, as
        // failed with it).
        for (i, result) in results.iter().enumerate().take(k) {
            assert_eq!(result.as_ref().unwrap(), &i);
        }
        for result in &results[k + 1..] {
            assert!(
                matches!(
                    result,
                    Err(TaskError::Shutdown | TaskError::DependencyFailed(_))
                ),
                "{result:?}"
            );
        }
        let ran = log.events();
        assert!(
            ran.len() <= k + 1,
            "nothing after the held link ran: {ran:?}"
        );
        assert_eq!(ran, numbers(0..ran.len()));
    });
}
