//! What the resource monitor's gate costs per ExecutableTask: 65,536 trivial tasks as a
//! chain and as independent tasks (one batch each, construction included), on a
//! 2-worker runtime with the monitor on (the default) or off. Median of 15 runs.
//!
//! ```sh
//! cargo run --release --example gate_cost -- on
//! cargo run --release --example gate_cost -- off
//! ```
//!
//! Run the two alternately a few times: on a shared machine single runs move a lot.

use std::time::{Duration, Instant};

use taskweave::graph::{ExecutableTask, TaskGraph, TaskId};

const TASKS: usize = 65_536;

fn run(rt: &taskweave::Runtime, chain: bool) -> Duration {
    let started = Instant::now();
    let mut graph = TaskGraph::with_capacity(rt.handle(), TASKS);
    let mut previous: Option<TaskId> = None;
    let mut handles = Vec::with_capacity(TASKS);
    for i in 0..TASKS {
        let mut task = ExecutableTask::new(async move { i as u64 });
        if let (true, Some(p)) = (chain, previous) {
            task = task.depends_on(p);
        }
        previous = Some(task.id());
        handles.push(graph.add(task).unwrap());
    }
    graph.submit().unwrap();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    rt.handle().forget_finished_tasks();
    started.elapsed()
}

fn main() {
    let on = match std::env::args().nth(1).as_deref() {
        Some("on") | None => true,
        Some("off") => false,
        Some(other) => panic!("expected `on` or `off`, got {other:?}"),
    };
    let mut builder = taskweave::runtime::Builder::new_multi_thread();
    builder.worker_threads(2);
    if !on {
        builder.disable_monitor();
    }
    let rt = builder.build().expect("build runtime");
    let mut line = format!("monitor {}:", if on { "on " } else { "off" });
    for chain in [true, false] {
        let mut times: Vec<f64> = (0..15).map(|_| run(&rt, chain).as_secs_f64()).collect();
        times.sort_by(f64::total_cmp);
        let ns = times[times.len() / 2] * 1e9 / TASKS as f64;
        let shape = if chain { "chain" } else { "independent" };
        line += &format!("  {shape} {ns:.0} ns/task");
    }
    println!("{line}");
}
