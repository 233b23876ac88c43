//! Where an ExecutableTask graph's time goes: builds, submits and runs one of the
//! `dag` benchmark's shapes repeatedly on taskweave and prints the time per task of
//! each phase (building the tasks, submitting the batch, running it to the sinks,
//! forgetting the finished tasks' records — as the `dag` benchmark's iterations do).
//!
//! ```text
//! cargo run --release --example dag_phases -- [wavefront|chain|tree|random] [iterations]
//! W=1 cargo run --release --example dag_phases -- tree    # workers (default 2)
//! MONITOR=off cargo run --release --example dag_phases    # without the resource monitor
//! ```
//!
//! Each task does the `dag` benchmark's work: one plus the sum of its dependencies'
//! values. The phases are timed on the thread that builds the graph; "run" is from the
//! submission until every sink's handle resolved. Take the minimum of a few runs: the
//! machine is shared and noisy.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use taskweave::graph::{ExecutableTask, TaskGraph, TaskId};

mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let shape = args.next().unwrap_or_else(|| "wavefront".into());
    let iterations: usize = match args.next().map(|s| s.parse()) {
        None => 6,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => usage("iterations must be a positive integer"),
    };
    let dag = common::shape(&shape).unwrap_or_else(|| usage("unknown shape"));
    let workers = common::workers().unwrap_or_else(|e| usage(e));
    let n = dag.len();
    let deps = common::dependencies(&dag);
    let deps: &'static [Box<[u32]>] = Box::leak(deps.into_boxed_slice());
    let mut is_sink = vec![true; n];
    for &d in deps.iter().flat_map(|d| d.iter()) {
        is_sink[d as usize] = false;
    }
    let slab: &'static [AtomicU64] = Box::leak((0..n).map(|_| AtomicU64::new(0)).collect());

    let mut builder = taskweave::Builder::new();
    builder.worker_threads(workers);
    if std::env::var("MONITOR").as_deref() == Ok("off") {
        builder.disable_monitor();
    }
    let rt = builder.build().expect("runtime");

    let (mut build, mut submit, mut run, mut forget) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut base = 1u64 << 40;
    for _ in 0..iterations {
        let t0 = Instant::now();
        let mut graph = TaskGraph::with_capacity(rt.handle(), n);
        let mut sinks = Vec::new();
        for (j, d) in deps.iter().enumerate() {
            let d: &'static [u32] = d;
            let task = ExecutableTask::new(async move {
                let v = d
                    .iter()
                    .fold(1u64, |a, &x| a.wrapping_add(slab[x as usize].load(Relaxed)));
                slab[j].store(v, Relaxed);
            })
            .with_id(TaskId::new(base + j as u64))
            .dependencies(d.iter().map(|&x| TaskId::new(base + u64::from(x))));
            let handle = graph.add(task).expect("valid task");
            if is_sink[j] {
                sinks.push(handle);
            }
        }
        let t1 = Instant::now();
        graph.submit().expect("acyclic graph");
        let t2 = Instant::now();
        rt.block_on(async move {
            for h in sinks {
                h.await.expect("task ran");
            }
        });
        let t3 = Instant::now();
        rt.handle().forget_finished_tasks();
        let t4 = Instant::now();
        base += n as u64;
        build += t1 - t0;
        submit += t2 - t1;
        run += t3 - t2;
        forget += t4 - t3;
    }
    let per_task = |d: Duration| d.as_nanos() as f64 / (iterations * n) as f64;
    println!(
        "{shape} ({n} tasks, {workers} workers, {iterations} iterations): {:.0} ns/task = build {:.0} + submit {:.0} + run {:.0} + forget {:.0}",
        per_task(build + submit + run + forget),
        per_task(build),
        per_task(submit),
        per_task(run),
        per_task(forget)
    );
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: dag_phases [{}] [iterations]",
        common::SHAPES
    );
    std::process::exit(2)
}
