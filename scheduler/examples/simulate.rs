//! Prints the simulator's table: for each DAG family, the makespan of the FIFO,
//! critical-path and taskweave policies as a ratio to the lower bound
//! `max(critical path, work / P)`, and taskweave's makespan gain over FIFO. P is the
//! DAG's average parallelism (work / critical path) rounded, unless the row says
//! otherwise. Random families are averaged over 10 seeds.
//!
//! ```sh
//! cargo run --release -p taskweave-scheduler --example simulate
//! ```

use std::ops::RangeInclusive;
use std::time::Duration;

use taskweave_scheduler::{simulate, Dag, Policy};

const SEEDS: u64 = 10;

struct Row {
    family: String,
    n: usize,
    p: String,
    ratios: [f64; 3],
    gain_vs_fifo: f64,
}

fn measure(family: &str, dags: &[Dag], workers: impl Fn(&Dag) -> usize) -> Row {
    let policies = [Policy::Fifo, Policy::CriticalPath, Policy::Taskweave];
    let mut ratios = [0.0; 3];
    let mut makespans = [0.0; 3];
    let mut ps = Vec::new();
    let count = dags.len() as f64;
    for dag in dags {
        let p = workers(dag).max(1);
        ps.push(p);
        for (k, policy) in policies.into_iter().enumerate() {
            let r = simulate(dag, p, policy);
            ratios[k] += r.ratio / count;
            makespans[k] += r.makespan.as_secs_f64() / count;
        }
    }
    let (lo, hi) = (ps.iter().min().unwrap(), ps.iter().max().unwrap());
    Row {
        family: family.to_string(),
        n: dags[0].len(),
        p: if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}-{hi}")
        },
        ratios,
        gain_vs_fifo: 1.0 - makespans[2] / makespans[0],
    }
}

fn balanced(dag: &Dag) -> usize {
    dag.average_parallelism().round() as usize
}

fn erdos_renyi(n: usize, durations: RangeInclusive<Duration>) -> Vec<Dag> {
    // Expected degree (in + out) 3.
    let p = 3.0 / (n - 1) as f64;
    (0..SEEDS)
        .map(|s| Dag::erdos_renyi(n, p, s, durations.clone()))
        .collect()
}

fn layered(layers: usize, width: usize, durations: RangeInclusive<Duration>) -> Vec<Dag> {
    // Expected in-degree 1.5, plus a forced parent for the ~22% left without one.
    let q = 1.5 / width as f64;
    (0..SEEDS)
        .map(|s| Dag::layered(layers, width, q, s, durations.clone()))
        .collect()
}

fn main() {
    let us = || Duration::from_micros(1)..=Duration::from_micros(100);
    let ms = || Duration::from_millis(1)..=Duration::from_millis(100);
    let mut rows = Vec::new();
    for n in [200, 500, 1000] {
        rows.push(measure("erdos-renyi", &erdos_renyi(n, us()), balanced));
    }
    for (layers, width) in [(20, 10), (25, 20), (40, 25)] {
        let name = format!("layered {layers}x{width}");
        rows.push(measure(&name, &layered(layers, width, us()), balanced));
    }
    // Away from the balance point.
    let dags = layered(40, 25, us());
    for factor in [0.5, 2.0] {
        let name = format!("layered 40x25, P x{factor}");
        let p = |d: &Dag| (d.average_parallelism() * factor).round() as usize;
        rows.push(measure(&name, &dags, p));
    }
    let dags = erdos_renyi(1000, us());
    for factor in [0.5, 2.0] {
        let name = format!("erdos-renyi, P x{factor}");
        let p = |d: &Dag| (d.average_parallelism() * factor).round() as usize;
        rows.push(measure(&name, &dags, p));
    }
    // Durations in milliseconds: waits now pass the ready queue's starvation threshold
    // (max_aging * aging_interval = 1.28 s by default), where its FIFO guard overrules
    // the critical path.
    rows.push(measure(
        "erdos-renyi (ms)",
        &erdos_renyi(1000, ms()),
        balanced,
    ));
    rows.push(measure(
        "layered 40x25 (ms)",
        &layered(40, 25, ms()),
        balanced,
    ));
    // The benchmark shapes (unit durations) on 2 workers.
    let two = |_: &Dag| 2;
    rows.push(measure("wavefront 64x64", &[Dag::wavefront(64, 64)], two));
    rows.push(measure("chain", &[Dag::chain(4096)], two));
    rows.push(measure("binary tree", &[Dag::binary_tree(4095)], two));

    println!("makespan / lower bound; mean over {SEEDS} seeds for random families;");
    println!("durations uniform in 1..=100 us unless marked (ms); P = round(work / critical path)");
    println!(
        "| {:<26} | {:>5} | {:>7} | {:>6} | {:>13} | {:>9} | {:>12} |",
        "DAG family", "n", "P", "FIFO", "critical path", "taskweave", "gain vs FIFO"
    );
    println!(
        "|{:-<28}|{:->7}|{:->9}|{:->8}|{:->15}|{:->11}|{:->14}|",
        "", "", "", "", "", "", ""
    );
    for r in rows {
        println!(
            "| {:<26} | {:>5} | {:>7} | {:>6.3} | {:>13.3} | {:>9.3} | {:>11.1}% |",
            r.family,
            r.n,
            r.p,
            r.ratios[0],
            r.ratios[1],
            r.ratios[2],
            100.0 * r.gain_vs_fifo
        );
    }
}
