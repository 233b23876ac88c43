//! A deterministic, event-driven simulator of P workers running a [`Dag`].
//!
//! Model: virtual time starts at 0 ([`sim_epoch`] as an `Instant`); a task starts as
//! soon as it is ready and a worker is free, runs for exactly its
//! `estimated_duration` (estimates are exact here), and its completion is processed at
//! its end time (all completions at the same instant are processed before any worker
//! picks again). No overheads, no preemption: the list-scheduling model whose
//! makespan is bounded below by `max(critical path, total work / P)`.
//!
//! Invariants:
//! - Every policy drives the real [`DependencyGraph`] (states, counters, ranks); the
//!   policies differ only in the ready structure: a FIFO queue, a heap by
//!   critical-path rank, or the real [`ReadyQueue`] fed with each spec's priority,
//!   deadline and rank, and a [`FakeClock`] set to the virtual time.
//! - Same DAG, P and policy give the same schedule, bit for bit.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::id::IdMap;
use crate::{
    Clock, Completion, Dag, DependencyGraph, FakeClock, ReadyQueue, ReadyQueueConfig, TaskId,
};

/// Which ready task a free virtual worker takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The task that became ready first.
    Fifo,
    /// The largest critical-path rank (ties: FIFO). Classic "highest level first".
    CriticalPath,
    /// taskweave's [`ReadyQueue`] with its default configuration.
    Taskweave,
    /// taskweave's [`ReadyQueue`] with this configuration.
    TaskweaveWith(ReadyQueueConfig),
}

/// The outcome of one simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimReport {
    /// Policy used.
    pub policy: Policy,
    /// Virtual workers.
    pub workers: usize,
    /// Tasks run.
    pub tasks: usize,
    /// Virtual time at which the last task finished.
    pub makespan: Duration,
    /// Sum of all durations.
    pub total_work: Duration,
    /// Longest path.
    pub critical_path: Duration,
    /// `max(critical_path, total_work / workers)`: no schedule can be shorter.
    pub lower_bound: Duration,
    /// `makespan / lower_bound` (1.0 is optimal; 1.0 also for an empty DAG).
    pub ratio: f64,
}

/// One task's placement in a simulated schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledTask {
    /// The task.
    pub id: TaskId,
    /// Index of the virtual worker that ran it, `0..workers`.
    pub worker: usize,
    /// Virtual start time.
    pub start: Duration,
    /// Virtual end time.
    pub end: Duration,
}

/// The instant the simulator's virtual clock starts at (fixed for the process), for
/// specs with deadlines: a deadline of `sim_epoch() + d` falls at virtual time `d`.
pub fn sim_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Runs `dag` on `workers` virtual workers with `policy`.
///
/// ```
/// use std::time::Duration;
/// use taskweave_scheduler::{simulate, Dag, Policy};
///
/// let us = Duration::from_micros;
/// let dag = Dag::layered(20, 8, 0.3, 1, us(1)..=us(100));
/// let report = simulate(&dag, 4, Policy::Taskweave);
/// assert!(report.makespan >= report.lower_bound);
/// assert!(report.ratio >= 1.0);
/// ```
///
/// # Panics
/// If `workers` is zero.
pub fn simulate(dag: &Dag, workers: usize, policy: Policy) -> SimReport {
    run(dag, workers, policy, None)
}

/// [`simulate`], also returning every task's placement (in start order).
pub fn simulate_with_trace(
    dag: &Dag,
    workers: usize,
    policy: Policy,
) -> (SimReport, Vec<ScheduledTask>) {
    let mut trace = Vec::with_capacity(dag.len());
    let report = run(dag, workers, policy, Some(&mut trace));
    (report, trace)
}

/// The ready structure of a policy.
enum ReadySet {
    Fifo(VecDeque<TaskId>),
    CriticalPath(BinaryHeap<(Duration, Reverse<u64>, TaskId)>, u64),
    /// Boxed: the queue is several times larger than the other variants.
    Taskweave(Box<ReadyQueue<TaskId>>),
}

impl ReadySet {
    fn push(&mut self, id: TaskId, graph: &DependencyGraph, now: Instant) {
        match self {
            ReadySet::Fifo(q) => q.push_back(id),
            ReadySet::CriticalPath(heap, seq) => {
                *seq += 1;
                let rank = graph.rank(id).expect("a live task");
                heap.push((rank, Reverse(*seq), id));
            }
            ReadySet::Taskweave(q) => {
                q.push(graph.ready_key(id, now).expect("a live task"), id);
            }
        }
    }

    fn pop(&mut self, now: Instant) -> Option<TaskId> {
        match self {
            ReadySet::Fifo(q) => q.pop_front(),
            ReadySet::CriticalPath(heap, _) => heap.pop().map(|(_, _, id)| id),
            ReadySet::Taskweave(q) => q.pop(now),
        }
    }
}

fn run(
    dag: &Dag,
    workers: usize,
    policy: Policy,
    mut trace: Option<&mut Vec<ScheduledTask>>,
) -> SimReport {
    assert!(workers > 0, "simulate needs at least one worker");
    let clock = FakeClock::starting_at(sim_epoch());
    let mut ready = match policy {
        Policy::Fifo => ReadySet::Fifo(VecDeque::new()),
        Policy::CriticalPath => ReadySet::CriticalPath(BinaryHeap::new(), 0),
        Policy::Taskweave => ReadySet::Taskweave(Box::default()),
        Policy::TaskweaveWith(config) => {
            ReadySet::Taskweave(Box::new(ReadyQueue::with_config(config)))
        }
    };
    let duration: IdMap<Duration> = dag
        .specs()
        .iter()
        .map(|s| (s.id, s.estimated_duration))
        .collect();

    let mut graph = DependencyGraph::new();
    let added = graph
        .add_batch(dag.specs())
        .expect("a Dag is closed and acyclic");
    debug_assert!(added.failed.is_empty());
    for id in added.ready {
        ready.push(id, &graph, clock.now());
    }

    // Running tasks by (end, start order): the earliest end first, ties in start order.
    let mut running: BinaryHeap<Reverse<(Duration, u64, TaskId, usize)>> = BinaryHeap::new();
    let mut free: Vec<usize> = (0..workers).rev().collect();
    let mut started = 0u64;
    let mut t = Duration::ZERO;
    let mut done = Completion::default();
    loop {
        let now = clock.now();
        while let Some(&worker) = free.last() {
            let Some(id) = ready.pop(now) else { break };
            free.pop();
            graph.mark_running(id).expect("a popped task is ready");
            let end = t + duration[&id];
            started += 1;
            running.push(Reverse((end, started, id, worker)));
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(ScheduledTask {
                    id,
                    worker,
                    start: t,
                    end,
                });
            }
        }
        let Some(Reverse((end, _, id, worker))) = running.pop() else {
            break;
        };
        t = end;
        clock.set(t);
        done.clear();
        graph
            .complete_into(id, Ok(()), &mut done)
            .expect("a running task");
        free.push(worker);
        while let Some(Reverse((end, _, id, worker))) = running.peek().copied() {
            if end != t {
                break;
            }
            running.pop();
            graph
                .complete_into(id, Ok(()), &mut done)
                .expect("a running task");
            free.push(worker);
        }
        let now = clock.now();
        for &id in &done.ready {
            ready.push(id, &graph, now);
        }
    }
    assert!(graph.is_empty(), "every task ran");

    let total_work = dag.total_work();
    let critical_path = dag.critical_path();
    let lower_bound = critical_path.max(total_work / workers as u32);
    let ratio = if lower_bound.is_zero() {
        1.0
    } else {
        t.as_secs_f64() / lower_bound.as_secs_f64()
    };
    SimReport {
        policy,
        workers,
        tasks: dag.len(),
        makespan: t,
        total_work,
        critical_path,
        lower_bound,
        ratio,
    }
}

#[cfg(test)]
mod tests;
