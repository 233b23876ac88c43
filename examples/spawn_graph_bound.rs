//! A reference point for the `dag` benchmark's shapes: the same graphs run with plain
//! `spawn` and hand-written atomic dependency counters, on taskweave and on tokio —
//! no ids, no priorities, no error propagation, no graph construction. This is what a
//! user would write without `TaskGraph`, and a rough lower bound for the run phase of
//! any design that spawns each ready task.
//!
//! ```text
//! cargo run --release --example spawn_graph_bound -- [wavefront|chain|tree|random] [taskweave|tokio]
//! W=1 cargo run --release --example spawn_graph_bound -- tree tokio   # workers (default 2)
//! ```
//!
//! Each task does the `dag` benchmark's work (one plus the sum of its dependencies'
//! values), then decrements each dependent's counter and spawns those that reach zero.
//! Timed: from spawning the roots until the last task ran (10 runs); not timed:
//! resetting the counters. Compare with `dag_phases`' "run" column.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

/// One graph and its per-run state.
struct Graph {
    dependencies: Vec<Box<[u32]>>,
    dependents: Vec<Vec<u32>>,
    /// Dependencies not yet finished, per task.
    missing: Vec<AtomicU32>,
    values: Vec<AtomicU64>,
    /// Tasks not yet finished; the last one notifies `done`.
    left: AtomicUsize,
    done: tokio::sync::Notify,
    runtime: Runtime,
}

#[derive(Clone, Copy, PartialEq)]
enum Runtime {
    Taskweave,
    Tokio,
}

impl Graph {
    fn spawn(self: &Arc<Self>, task: u32) {
        let graph = self.clone();
        let run = async move { graph.run(task) };
        match self.runtime {
            Runtime::Taskweave => drop(taskweave::spawn(run)),
            Runtime::Tokio => drop(tokio::spawn(run)),
        }
    }

    fn run(self: Arc<Self>, task: u32) {
        let i = task as usize;
        let value = self.dependencies[i].iter().fold(1u64, |acc, &d| {
            acc.wrapping_add(self.values[d as usize].load(Relaxed))
        });
        self.values[i].store(value, Relaxed);
        for &dependent in &self.dependents[i] {
            if self.missing[dependent as usize].fetch_sub(1, AcqRel) == 1 {
                self.spawn(dependent);
            }
        }
        if self.left.fetch_sub(1, AcqRel) == 1 {
            self.done.notify_one();
        }
    }

    /// Resets the counters for a new run.
    fn reset(&self) {
        for (missing, deps) in self.missing.iter().zip(&self.dependencies) {
            missing.store(deps.len() as u32, Relaxed);
        }
        self.left.store(self.dependencies.len(), Relaxed);
    }

    /// One run: spawns the roots, waits for the last task.
    fn run_all(self: &Arc<Self>) -> impl Future<Output = ()> {
        let graph = self.clone();
        async move {
            let done = graph.done.notified();
            for (task, deps) in graph.dependencies.iter().enumerate() {
                if deps.is_empty() {
                    graph.spawn(task as u32);
                }
            }
            done.await;
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "wavefront".into());
    let runtime = match args.next().as_deref() {
        None | Some("taskweave") => Runtime::Taskweave,
        Some("tokio") => Runtime::Tokio,
        Some(_) => usage("the runtime is taskweave or tokio"),
    };
    let workers = common::workers().unwrap_or_else(|e| usage(e));
    let dag = common::shape(&shape).unwrap_or_else(|| usage("unknown shape"));
    let n = dag.len();
    let dependencies = common::dependencies(&dag);
    let mut dependents = vec![Vec::new(); n];
    for (task, deps) in dependencies.iter().enumerate() {
        for &d in deps.iter() {
            dependents[d as usize].push(task as u32);
        }
    }
    let graph = Arc::new(Graph {
        missing: (0..n).map(|_| AtomicU32::new(0)).collect(),
        values: (0..n).map(|_| AtomicU64::new(0)).collect(),
        left: AtomicUsize::new(0),
        done: tokio::sync::Notify::new(),
        dependencies,
        dependents,
        runtime,
    });

    let runs = 10;
    let mut total = Duration::ZERO;
    let mut time_run = |block_on: &dyn Fn(&Arc<Graph>)| {
        for _ in 0..runs {
            graph.reset();
            let start = Instant::now();
            block_on(&graph);
            total += start.elapsed();
        }
    };
    match runtime {
        Runtime::Taskweave => {
            let rt = taskweave::Builder::new()
                .worker_threads(workers)
                .build()
                .expect("runtime");
            time_run(&|g| rt.block_on(g.run_all()));
        }
        Runtime::Tokio => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .expect("runtime");
            time_run(&|g| rt.block_on(g.run_all()));
        }
    }
    let name = match runtime {
        Runtime::Taskweave => "taskweave",
        Runtime::Tokio => "tokio",
    };
    println!(
        "{shape} ({n} tasks, {workers} workers, {runs} runs) on {name}: {:.0} ns/task",
        total.as_nanos() as f64 / (runs * n) as f64
    );
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: spawn_graph_bound [{}] [taskweave|tokio]",
        common::SHAPES
    );
    std::process::exit(2)
}
