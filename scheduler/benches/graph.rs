//! Dependency-graph cost per task: `add_batch` of the whole graph, then every task
//! marked running and completed in a ready-first order, with and without the ready
//! queue in the loop. These are the scheduler's share of the executor's per-task
//! budget for the benchmark shapes.
//!
//! `cargo bench -p taskweave-scheduler --bench graph`

// `criterion_group!` generates an undocumented `pub fn benches()`.
#![allow(missing_docs)]

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use taskweave_scheduler::{
    Completion, Dag, DependencyGraph, ReadyQueue, Released, SlotRef, TaskId, TaskSpec,
};

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

/// What the executor does: one graph reused across runs (records forgotten after
/// each), payloads held by the graph, ready slots through the ready queue, tasks
/// started and completed by slot (the ids are free again after each run). Returns
/// tasks run.
fn drive_by_slot(
    g: &mut DependencyGraph<NonZeroUsize>,
    q: &mut ReadyQueue<SlotRef>,
    specs: &[TaskSpec],
    now: Instant,
) -> usize {
    let mut out = Released::default();
    g.add_batch_payloads(
        specs,
        (1..=specs.len()).filter_map(NonZeroUsize::new).collect(),
        now,
        &mut out,
    )
    .unwrap();
    let slots = std::mem::take(&mut out.batch);
    for (at, key) in out.ready.drain(..) {
        q.push(key, at);
    }
    let mut ran = 0;
    while let Some(at) = q.pop(now) {
        let task = g.start(at).unwrap();
        out.clear();
        g.complete_at(slots[task.get() - 1], Ok(()), now, &mut out)
            .unwrap();
        for (at, key) in out.ready.drain(..) {
            q.push(key, at);
        }
        ran += 1;
    }
    g.forget_all_finished();
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
        let mut g = DependencyGraph::with_payloads();
        let mut q = ReadyQueue::new();
        let specs = dag.specs();
        group.bench_function(format!("by_slot/{name}"), |b| {
            b.iter(|| drive_by_slot(&mut g, &mut q, specs, now))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
