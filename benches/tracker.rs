//! What tracking costs: 10k spawns through `TaskTracker::spawn` against 10k plain
//! `spawn`s, on the same runtime (2 workers, or `TASKWEAVE_BENCH_WORKERS`).
//!
//! ```text
//! cargo bench --bench tracker            # measure (about half a minute)
//! cargo bench --bench tracker -- --test  # smoke test: each benchmark once
//! ```
//!
//! Groups (each with the functions "plain" and "tracked"):
//! - `spawn_10k_local`: a task on a worker spawns 10k tasks that each bump a counter,
//!   then awaits them all (spawns land on that worker's LIFO slot and deque).
//! - `spawn_10k_remote`: the bench thread spawns them through the handle (injector).
//!
//! The tracked tasks each get a static name and kind; the runtime and the tracker are
//! built once, outside the measurement, and the tracker is empty again after every
//! iteration (finished entries are removed), so each iteration measures the same work.

// `criterion_group!` generates an undocumented `pub fn benches()`.
#![allow(missing_docs)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::workers;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use taskweave::tracker::TaskTracker;
use taskweave::{JoinHandle, Runtime};

/// Tasks per iteration.
const NUM_SPAWN: usize = 10_000;

fn runtime() -> Runtime {
    taskweave::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .build()
        .expect("build runtime")
}

/// How a benchmark spawns one task.
#[derive(Clone)]
enum Spawner {
    Plain(taskweave::Handle),
    Tracked(TaskTracker),
}

impl Spawner {
    fn spawn(&self, counter: Arc<AtomicUsize>) -> JoinHandle<()> {
        let task = async move {
            counter.fetch_add(1, Ordering::Relaxed);
        };
        match self {
            Spawner::Plain(handle) => handle.spawn(task),
            Spawner::Tracked(tracker) => tracker.spawn("bench-task", "bench", task),
        }
    }
}

/// From a task on a worker: spawn `NUM_SPAWN` tasks, await them all.
fn spawn_local(rt: &Runtime, spawner: &Spawner) {
    let counter = Arc::new(AtomicUsize::new(0));
    let (s, c) = (spawner.clone(), counter.clone());
    let driver = rt.spawn(async move {
        let handles: Vec<_> = (0..NUM_SPAWN).map(|_| s.spawn(c.clone())).collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    rt.block_on(driver).unwrap();
    assert_eq!(counter.load(Ordering::Relaxed), NUM_SPAWN);
}

/// From the bench thread: spawn `NUM_SPAWN` tasks, await them all.
fn spawn_remote(rt: &Runtime, spawner: &Spawner) {
    let counter = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..NUM_SPAWN)
        .map(|_| spawner.spawn(counter.clone()))
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), NUM_SPAWN);
}

/// One of the spawn shapes above.
type Workload = fn(&Runtime, &Spawner);

fn bench_tracker(c: &mut Criterion) {
    let rt = runtime();
    let tracker = TaskTracker::with_handle(rt.handle());
    let spawners = [
        ("plain", Spawner::Plain(rt.handle().clone())),
        ("tracked", Spawner::Tracked(tracker.clone())),
    ];
    let shapes: [(&str, Workload); 2] = [
        ("spawn_10k_local", spawn_local),
        ("spawn_10k_remote", spawn_remote),
    ];
    for (group_name, work) in shapes {
        let mut g = c.benchmark_group(group_name);
        g.throughput(Throughput::Elements(NUM_SPAWN as u64));
        for (name, spawner) in &spawners {
            g.bench_function(*name, |b| b.iter(|| work(&rt, spawner)));
        }
        g.finish();
    }
    assert!(tracker.is_empty(), "every tracked entry was removed");
    assert_eq!(tracker.stats().running, 0);
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = bench_tracker
}
criterion_main!(benches);
