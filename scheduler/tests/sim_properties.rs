//! Property tests: on random DAGs, every policy's simulated schedule is feasible and
//! within the bounds of list scheduling.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use taskweave_scheduler::{simulate_with_trace, Dag, Policy, TaskId};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn schedules_respect_dependencies_and_workers(
        n in 1usize..150,
        p in 0.0f64..0.1,
        seed in any::<u64>(),
        workers in 1usize..9,
        layered in any::<bool>(),
    ) {
        let durations = Duration::from_micros(1)..=Duration::from_micros(50);
        let dag = if layered {
            Dag::layered(n.div_ceil(10), 10, p * 5.0, seed, durations)
        } else {
            Dag::erdos_renyi(n, p, seed, durations)
        };
        for policy in [Policy::Fifo, Policy::CriticalPath, Policy::Taskweave] {
            let (report, trace) = simulate_with_trace(&dag, workers, policy);
            let placed: HashMap<TaskId, _> = trace.iter().map(|t| (t.id, *t)).collect();
            prop_assert_eq!(placed.len(), dag.len());
            for spec in dag.specs() {
                let t = placed[&spec.id];
                for d in &spec.dependencies {
                    prop_assert!(placed[d].end <= t.start);
                }
            }
            // At every start instant, at most `workers` tasks are running.
            for t in &trace {
                let running = trace.iter().filter(|u| u.start <= t.start && t.start < u.end).count();
                prop_assert!(running <= workers);
            }
            prop_assert!(report.makespan >= report.lower_bound);
            prop_assert!(report.makespan <= report.total_work / workers as u32 + report.critical_path + Duration::from_nanos(1));
        }
    }
}
