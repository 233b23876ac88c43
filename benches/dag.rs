//! Task-graph benchmarks: taskweave's `TaskGraph` vs the same graph written with tokio
//! and shared futures, on 2 worker threads each (`TASKWEAVE_BENCH_WORKERS` overrides).
//!
//! Shapes (from `taskweave_scheduler::Dag`):
//! - `wavefront_256x256`: task (i, j) depends on (i - 1, j) and (i, j - 1);
//! - `chain_65536`: task i depends on task i - 1;
//! - `tree_65535`: a binary reduction, each node depends on its two children;
//! - `random_10k`: Erdős–Rényi on a fixed order (seed 42), average degree 3.
//!
//! Every task does the same trivial work in both runtimes: it sums its dependencies'
//! values from a shared slab (plus one) and stores its own. One iteration builds the
//! whole graph, runs it and awaits its sinks — graph construction is timed:
//! - `taskweave`: one `ExecutableTask` per node in a `TaskGraph`, submitted at once;
//!   the sinks' `TaskHandle`s are awaited; the finished-task records are forgotten at
//!   the end of the iteration (part of the cost: it keeps memory bounded).
//! - `tokio_shared`: one `tokio::spawn` per node, in topological order, whose future
//!   first awaits its dependencies' `futures::future::Shared` join handles; the sinks'
//!   shared handles are awaited. Spawned from the `block_on` future on the bench
//!   thread — where taskweave's graph is built too.
//! - `tokio_shared/in_task`: the same graph built from inside a task on a worker (local
//!   spawns). Neither placement is faster for tokio on every shape, so both are
//!   measured and the report compares taskweave with the faster of the two.
//!
//! At the end, a table of medians, per-task times and tokio / taskweave ratios is
//! printed from criterion's estimates (only for benchmarks measured in this run).
//!
//! ```text
//! cargo bench --bench dag                 # full run (a few minutes)
//! cargo bench --bench dag -- --test       # smoke test: each benchmark once
//! cargo bench --bench dag -- chain        # one shape
//! ```

// `criterion_group!` generates an undocumented `pub fn benches()`.
#![allow(missing_docs)]

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

use common::workers;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use futures::future::{FutureExt, Map, Shared};
use taskweave::graph::{ExecutableTask, TaskGraph, TaskId};
use taskweave_scheduler::Dag;

/// A graph shape, prepared once (not timed): dependencies by index, a topological
/// order, the sinks, and the slab the tasks write their values to.
struct Shape {
    name: &'static str,
    deps: Vec<Box<[u32]>>,
    /// Dependencies before dependents (the order tokio must spawn in).
    topo: Vec<u32>,
    /// Tasks nothing depends on: what an iteration awaits.
    sinks: Vec<u32>,
    is_sink: Vec<bool>,
    /// Each sink's value after a run.
    expected: Vec<u64>,
    slab: Box<[AtomicU64]>,
}

impl Shape {
    fn new(name: &'static str, dag: Dag) -> Shape {
        let n = dag.len();
        let deps: Vec<Box<[u32]>> = dag
            .specs()
            .iter()
            .enumerate()
            .map(|(i, s)| {
                assert_eq!(s.id.as_u64(), i as u64, "generated ids are indices");
                s.dependencies.iter().map(|d| d.as_u64() as u32).collect()
            })
            .collect();
        // Kahn's algorithm for a topological order.
        let mut dependents = vec![Vec::new(); n];
        let mut missing: Vec<usize> = deps.iter().map(|d| d.len()).collect();
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds.iter() {
                dependents[d as usize].push(i as u32);
            }
        }
        let mut topo: Vec<u32> = (0..n as u32)
            .filter(|&i| missing[i as usize] == 0)
            .collect();
        let mut next = 0;
        while next < topo.len() {
            let i = topo[next] as usize;
            next += 1;
            for &j in &dependents[i] {
                missing[j as usize] -= 1;
                if missing[j as usize] == 0 {
                    topo.push(j);
                }
            }
        }
        assert_eq!(topo.len(), n, "acyclic");
        let is_sink: Vec<bool> = dependents.iter().map(Vec::is_empty).collect();
        let sinks: Vec<u32> = (0..n as u32).filter(|&i| is_sink[i as usize]).collect();
        let mut value = vec![0u64; n];
        for &i in &topo {
            value[i as usize] = work_value(&deps[i as usize], |d| value[d]);
        }
        let expected = sinks.iter().map(|&s| value[s as usize]).collect();
        Shape {
            name,
            deps,
            topo,
            sinks,
            is_sink,
            expected,
            slab: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn len(&self) -> usize {
        self.deps.len()
    }

    /// Checks the sinks' values after a run (if `ran`), and clears the slab.
    fn check_and_reset(&self, ran: bool) {
        for (&s, &want) in self.sinks.iter().zip(&self.expected) {
            if ran {
                let got = self.slab[s as usize].load(Relaxed);
                assert_eq!(got, want, "{}: wrong result", self.name);
            }
        }
        for v in self.slab.iter() {
            v.store(0, Relaxed);
        }
    }
}

/// One plus the sum of the dependencies' values.
#[inline]
fn work_value(deps: &[u32], value: impl Fn(usize) -> u64) -> u64 {
    deps.iter()
        .fold(1u64, |acc, &d| acc.wrapping_add(value(d as usize)))
}

/// What every task does, in both runtimes.
#[inline]
fn work(slab: &[AtomicU64], deps: &[u32], me: usize) {
    let v = work_value(deps, |d| slab[d].load(Relaxed));
    slab[me].store(v, Relaxed);
}

// ---------------------------------------------------------------------------------
// taskweave

fn run_taskweave(rt: &taskweave::Runtime, shape: &'static Shape, base: u64) {
    let n = shape.len();
    let slab: &'static [AtomicU64] = &shape.slab;
    let mut graph = TaskGraph::with_capacity(rt.handle(), n);
    let mut sinks = Vec::with_capacity(shape.sinks.len());
    for j in 0..n {
        let deps: &'static [u32] = &shape.deps[j];
        let task = ExecutableTask::new(async move { work(slab, deps, j) })
            .with_id(TaskId::new(base + j as u64))
            .dependencies(deps.iter().map(|&d| TaskId::new(base + u64::from(d))));
        let handle = graph.add(task).expect("add");
        if shape.is_sink[j] {
            sinks.push(handle);
        }
    }
    graph.submit().expect("submit");
    rt.block_on(async move {
        for h in sinks {
            h.await.expect("task failed");
        }
    });
    rt.handle().forget_finished_tasks();
}

// ---------------------------------------------------------------------------------
// tokio + shared futures

fn unwrap_join(r: Result<(), tokio::task::JoinError>) {
    r.expect("task failed")
}

type Node = Shared<Map<tokio::task::JoinHandle<()>, fn(Result<(), tokio::task::JoinError>)>>;

fn spawn_node(shape: &'static Shape, nodes: &[Option<Node>], j: usize) -> Node {
    let slab: &'static [AtomicU64] = &shape.slab;
    let dep_ids: &'static [u32] = &shape.deps[j];
    let deps: Vec<Node> = dep_ids
        .iter()
        .map(|&d| nodes[d as usize].clone().expect("dependency spawned first"))
        .collect();
    tokio::spawn(async move {
        for d in deps {
            d.await;
        }
        work(slab, dep_ids, j);
    })
    .map(unwrap_join as fn(_))
    .shared()
}

fn run_tokio(rt: &tokio::runtime::Runtime, shape: &'static Shape) {
    rt.block_on(async move {
        let mut nodes: Vec<Option<Node>> = vec![None; shape.len()];
        for &j in &shape.topo {
            nodes[j as usize] = Some(spawn_node(shape, &nodes, j as usize));
        }
        for &s in &shape.sinks {
            nodes[s as usize].take().unwrap().await;
        }
    });
}

/// The same, with the graph built inside a task on a worker (local spawns).
fn run_tokio_in_task(rt: &tokio::runtime::Runtime, shape: &'static Shape) {
    rt.block_on(async move {
        tokio::spawn(async move {
            let mut nodes: Vec<Option<Node>> = vec![None; shape.len()];
            for &j in &shape.topo {
                nodes[j as usize] = Some(spawn_node(shape, &nodes, j as usize));
            }
            for &s in &shape.sinks {
                nodes[s as usize].take().unwrap().await;
            }
        })
        .await
        .unwrap()
    });
}

// ---------------------------------------------------------------------------------

fn shapes() -> Vec<&'static Shape> {
    let n = 10_000;
    let p = 3.0 / (n - 1) as f64; // expected degree (in + out) = p * (n - 1) = 3
    let unit = Duration::from_micros(1);
    [
        ("wavefront_256x256", Dag::wavefront(256, 256)),
        ("chain_65536", Dag::chain(65_536)),
        ("tree_65535", Dag::binary_tree(65_535)),
        ("random_10k", Dag::erdos_renyi(n, p, 42, unit..=unit)),
    ]
    .into_iter()
    .map(|(name, dag)| &*Box::leak(Box::new(Shape::new(name, dag))))
    .collect()
}

fn bench_dags(c: &mut Criterion) {
    let workers = workers();
    for shape in shapes() {
        let mut group = c.benchmark_group(shape.name);
        group
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(shape.len() as u64));
        {
            let rt = taskweave::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("bench-taskweave")
                .build()
                .expect("taskweave runtime");
            let mut iteration = 0u64;
            group.bench_function("taskweave", |b| {
                b.iter(|| {
                    iteration += 1;
                    run_taskweave(&rt, shape, iteration << 24);
                })
            });
            shape.check_and_reset(iteration > 0);
            assert!(rt.shutdown_timeout(Duration::from_secs(5)));
        }
        {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .thread_name("bench-tokio")
                .build()
                .expect("tokio runtime");
            let mut ran = false;
            group.bench_function("tokio_shared", |b| {
                ran = true;
                b.iter(|| run_tokio(&rt, shape))
            });
            shape.check_and_reset(ran);
            let mut ran = false;
            group.bench_function(BenchmarkId::new("tokio_shared", "in_task"), |b| {
                ran = true;
                b.iter(|| run_tokio_in_task(&rt, shape))
            });
            shape.check_and_reset(ran);
            rt.shutdown_timeout(Duration::from_secs(5));
        }
        group.finish();
    }
}

// ---------------------------------------------------------------------------------
// Report

/// criterion's output directory.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| "target".into(), PathBuf::from);
    target.join("criterion")
}

/// The median (ns per iteration) of one benchmark, if measured since `since`.
fn median_ns(group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new")
        .join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let median = &text[text.find("\"median\"")?..];
    let at = median.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let rest = &median[at..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

fn report(since: SystemTime) {
    let rows: Vec<_> = shapes_meta()
        .into_iter()
        .filter_map(|(name, n)| {
            let tw = median_ns(name, "taskweave", since);
            let tk = median_ns(name, "tokio_shared", since);
            let tk_task = median_ns(name, "tokio_shared/in_task", since);
            (tw.is_some() || tk.is_some() || tk_task.is_some())
                .then_some((name, n, tw, tk, tk_task))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let cell = |v: Option<f64>, n: usize| {
        v.map_or("-".to_string(), |v| {
            format!("{:.1} ms ({:.0} ns)", v / 1e6, v / n as f64)
        })
    };
    println!();
    println!("median per iteration (per task); ratio = faster tokio variant / taskweave");
    println!(
        "{:<18} {:>6} | {:>20} | {:>20} | {:>20} | {:>6}",
        "shape", "tasks", "taskweave", "tokio_shared", "tokio_shared/in_task", "ratio"
    );
    for (name, n, tw, tk, tk_task) in rows {
        let best_tokio = match (tk, tk_task) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ratio = match (tw, best_tokio) {
            (Some(a), Some(b)) => format!("{:.2}x", b / a),
            _ => "-".into(),
        };
        println!(
            "{:<18} {:>6} | {:>20} | {:>20} | {:>20} | {:>6}",
            name,
            n,
            cell(tw, n),
            cell(tk, n),
            cell(tk_task, n),
            ratio
        );
    }
    println!("({} workers per runtime)", workers());
}

/// Names and sizes of the shapes, for the report (without building them).
fn shapes_meta() -> Vec<(&'static str, usize)> {
    vec![
        ("wavefront_256x256", 256 * 256),
        ("chain_65536", 65_536),
        ("tree_65535", 65_535),
        ("random_10k", 10_000),
    ]
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args()
}

fn main() {
    let since = SystemTime::now();
    let mut c = config();
    bench_dags(&mut c);
    c.final_summary();
    report(since);
}
