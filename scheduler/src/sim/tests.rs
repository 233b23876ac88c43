use super::*;
use crate::{Priority, TaskSpec};
use std::collections::HashMap;

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

const POLICIES: [Policy; 3] = [Policy::Fifo, Policy::CriticalPath, Policy::Taskweave];

/// The schedule is feasible: every task once, after its dependencies, never two tasks
/// on one worker at once, and the report agrees with it.
fn check_schedule(dag: &Dag, workers: usize, report: &SimReport, trace: &[ScheduledTask]) {
    assert_eq!(trace.len(), dag.len());
    let placed: HashMap<TaskId, ScheduledTask> = trace.iter().map(|t| (t.id, *t)).collect();
    assert_eq!(placed.len(), dag.len(), "a task ran twice");
    for spec in dag.specs() {
        let t = placed[&spec.id];
        assert_eq!(t.end - t.start, spec.estimated_duration);
        for d in &spec.dependencies {
            assert!(
                placed[d].end <= t.start,
                "{} started before {d} ended",
                spec.id
            );
        }
    }
    let mut by_worker: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); workers];
    for t in trace {
        assert!(t.worker < workers);
        by_worker[t.worker].push((t.start, t.end));
    }
    for w in &mut by_worker {
        w.sort();
        for pair in w.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "overlap on one worker");
        }
    }
    let makespan = trace.iter().map(|t| t.end).max().unwrap_or_default();
    assert_eq!(report.makespan, makespan);
    assert!(report.makespan >= report.lower_bound);
    // Graham: any list schedule is within work / P + critical path.
    assert!(report.makespan <= report.total_work / workers as u32 + report.critical_path + us(1));
}

#[test]
fn schedules_are_feasible_for_every_policy() {
    let dags = [
        Dag::erdos_renyi(300, 0.01, 1, us(1)..=us(100)),
        Dag::layered(12, 9, 0.2, 2, us(1)..=us(100)),
        Dag::wavefront(10, 13),
        Dag::binary_tree(100),
        Dag::chain(20),
    ];
    for dag in &dags {
        for workers in [1, 2, 3, 8] {
            for policy in POLICIES {
                let (report, trace) = simulate_with_trace(dag, workers, policy);
                check_schedule(dag, workers, &report, &trace);
            }
        }
    }
}

#[test]
fn simple_shapes_have_exact_makespans() {
    for policy in POLICIES {
        assert_eq!(simulate(&Dag::chain(100), 4, policy).makespan, us(100));
        // Enough workers for every wavefront diagonal: the critical path.
        assert_eq!(simulate(&Dag::wavefront(8, 8), 8, policy).makespan, us(15));
        // One worker: the total work.
        assert_eq!(simulate(&Dag::binary_tree(31), 1, policy).makespan, us(31));
    }
    let empty = Dag::from_specs(Vec::new()).unwrap();
    let r = simulate(&empty, 3, Policy::Taskweave);
    assert_eq!((r.makespan, r.ratio), (Duration::ZERO, 1.0));
}

#[test]
fn simulation_is_deterministic() {
    let dag = Dag::erdos_renyi(400, 0.008, 5, us(1)..=us(100));
    for policy in POLICIES {
        let a = simulate_with_trace(&dag, 6, policy);
        let b = simulate_with_trace(&dag, 6, policy);
        assert_eq!(a, b);
    }
}

#[test]
fn taskweave_without_priorities_schedules_like_critical_path() {
    // No priorities, no deadlines and waits far below the starvation threshold: the
    // ready queue orders by rank then FIFO, exactly like the critical-path heap.
    for seed in 0..4 {
        let dag = Dag::layered(15, 12, 0.15, seed, us(1)..=us(100));
        let (_, cp) = simulate_with_trace(&dag, 5, Policy::CriticalPath);
        let (_, tw) = simulate_with_trace(&dag, 5, Policy::Taskweave);
        assert_eq!(cp, tw);
    }
}

#[test]
fn deadline_boost_is_applied_at_pick_time_in_virtual_time() {
    let ms = Duration::from_millis;
    let task = |n: u64| TaskSpec::new(TaskId::new(n)).estimated_duration(ms(50));
    let dag = Dag::from_specs(vec![
        task(1),
        task(2),
        // Due at 120 ms: no boost at t = 0 (horizon 100 ms), 19 levels at t = 50 ms.
        task(3).deadline(sim_epoch() + ms(120)),
        task(4).priority(Priority::new(129)),
    ])
    .unwrap();
    let order = |policy| {
        let (_, trace) = simulate_with_trace(&dag, 1, policy);
        trace.iter().map(|t| t.id.as_u64()).collect::<Vec<_>>()
    };
    assert_eq!(order(Policy::Fifo), vec![1, 2, 3, 4]);
    assert_eq!(order(Policy::Taskweave), vec![4, 3, 1, 2]);
}

/// The targets, on the standard parameters (expected degree about 3,
/// durations uniform in 1..=100 us, P = the DAG's average parallelism rounded).
#[test]
fn taskweave_is_near_the_lower_bound_and_beats_fifo() {
    let mut families: Vec<(String, Vec<Dag>)> = Vec::new();
    for n in [200, 500, 1000] {
        let p = 3.0 / (n - 1) as f64;
        let dags = (0..6)
            .map(|s| Dag::erdos_renyi(n, p, s, us(1)..=us(100)))
            .collect();
        families.push((format!("erdos-renyi {n}"), dags));
    }
    for (layers, width) in [(20, 10), (25, 20), (40, 25)] {
        let q = 1.5 / width as f64;
        let dags = (0..6)
            .map(|s| Dag::layered(layers, width, q, s, us(1)..=us(100)))
            .collect();
        families.push((format!("layered {layers}x{width}"), dags));
    }
    for (name, dags) in families {
        let (mut ratio, mut ours, mut fifo) = (0.0, 0.0, 0.0);
        for dag in &dags {
            let workers = (dag.average_parallelism().round() as usize).max(2);
            let tw = simulate(dag, workers, Policy::Taskweave);
            let ff = simulate(dag, workers, Policy::Fifo);
            ratio += tw.ratio / dags.len() as f64;
            ours += tw.makespan.as_secs_f64();
            fifo += ff.makespan.as_secs_f64();
        }
        let gain = 1.0 - ours / fifo;
        assert!(
            ratio <= 1.02,
            "{name}: mean makespan / lower bound {ratio:.3}"
        );
        assert!(
            gain >= 0.05,
            "{name}: only {:.1}% better than FIFO",
            100.0 * gain
        );
    }
}
