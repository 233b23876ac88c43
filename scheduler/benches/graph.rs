//! Dependency-graph cost per task: `add_batch` of the whole graph, then every task
//! marked running and completed in a ready-first order, with and without the ready
//! queue in the loop. These are the scheduler's share of the executor's per-task
//! budget for the benchmark shapes.
//!
//! `cargo bench -p taskweave-scheduler --bench graph`

// `criterion_group!` generates an undocumented `pub fn benches()`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use taskweave_scheduler::{Completion, Dag, DependencyGraph, ReadyQueue, TaskId};

/// Adds the DAG and runs it to the end, LIFO over ready tasks. Returns tasks run.
fn drive(dag: &Dag) -> usize {
    let mut g = DependencyGraph::new();
    let mut ready: Vec<TaskId> = g.add_batch(dag.specs()).unwrap().ready;
    let mut done = Completion::default();
    let mut ran = 0;
    while let Some(id) = ready.pop() {
        g.mark_running(id).unwrap();
        done.clear();
        g.complete_into(id, Ok(()), &mut done).unwrap();
        ready.extend_from_slice(&done.ready);
        ran += 1;
    }
    ran
}

/// Like `drive`, but ready tasks go through the ready queue with their graph keys.
fn drive_with_queue(dag: &Dag, now: Instant) -> usize {
    let mut g = DependencyGraph::new();
    let mut q = ReadyQueue::new();
    for id in g.add_batch(dag.specs()).unwrap().ready {
        q.push(g.ready_key(id, now).unwrap(), id);
    }
    let mut done = Completion::default();
    let mut ran = 0;
    while let Some(id) = q.pop(now) {
        g.mark_running(id).unwrap();
        done.clear();
        g.complete_into(id, Ok(()), &mut done).unwrap();
        for &next in &done.ready {
            q.push(g.ready_key(next, now).unwrap(), next);
        }
        ran += 1;
    }
    ran
}

fn bench(c: &mut Criterion) {
    let us = Duration::from_micros;
    let shapes = [
        ("wavefront_256x256", Dag::wavefront(256, 256)),
        ("chain_65536", Dag::chain(65_536)),
        ("binary_tree_65535", Dag::binary_tree(65_535)),
        (
            "erdos_renyi_10k",
            Dag::erdos_renyi(10_000, 3.0 / 9_999.0, 1, us(1)..=us(100)),
        ),
    ];
    let mut group = c.benchmark_group("graph_per_task");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, dag) in &shapes {
        group.throughput(Throughput::Elements(dag.len() as u64));
        group.bench_function(format!("graph/{name}"), |b| b.iter(|| drive(dag)));
        let now = Instant::now();
        group.bench_function(format!("graph+ready_queue/{name}"), |b| {
            b.iter(|| drive_with_queue(dag, now))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
