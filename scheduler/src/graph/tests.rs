use super::*;
use crate::{GraphError, Priority, ResourceRequirements, SpecError, TaskSpec};

fn id(n: u64) -> TaskId {
    TaskId::new(n)
}

fn spec(n: u64, deps: &[u64]) -> TaskSpec {
    TaskSpec::new(id(n)).dependencies(deps.iter().map(|&d| id(d)))
}

fn run_ok(g: &mut DependencyGraph, n: u64) -> Completion {
    g.mark_running(id(n)).unwrap();
    g.complete(id(n), true).unwrap()
}

fn run_fail(g: &mut DependencyGraph, n: u64) -> Completion {
    g.mark_running(id(n)).unwrap();
    g.complete(id(n), false).unwrap()
}

/// The graph is unchanged by a rejected batch (`absent` ids unknown, `before` live
/// tasks), and still fully usable.
fn assert_rejected_cleanly(g: &mut DependencyGraph, absent: &[u64], before: usize) {
    assert_eq!(g.len(), before);
    for &n in absent {
        assert_eq!(g.state(id(n)), None, "{n} leaked");
    }
    let probe = TaskId::fresh();
    assert_eq!(
        g.add_batch(&[TaskSpec::new(probe)]).unwrap().ready,
        vec![probe]
    );
    g.cancel(probe).unwrap();
    g.forget_finished([probe]);
}

#[test]
fn duplicate_ids() {
    let mut g = DependencyGraph::new();
    let batch = [spec(1, &[]), spec(2, &[]), spec(1, &[2])];
    let err = g.add_batch(&batch).unwrap_err();
    assert_eq!(err, GraphError::DuplicateId(id(1)));
    assert_eq!(
        err.to_string(),
        "task id 1 is used more than once (in this batch, or by a task submitted before)"
    );
    assert_rejected_cleanly(&mut g, &[1, 2], 0);

    g.add_batch(&[spec(1, &[])]).unwrap();
    let batch = [spec(5, &[]), spec(1, &[])];
    assert_eq!(g.add_batch(&batch), Err(GraphError::DuplicateId(id(1))));
    assert_eq!(
        g.state(id(1)),
        Some(TaskState::Ready),
        "the existing task is untouched"
    );
    assert_eq!(g.state(id(5)), None);
    assert_rejected_cleanly(&mut g, &[5], 1);

    // A finished (remembered) task's id is taken too.
    run_ok(&mut g, 1);
    assert_eq!(
        g.add_batch(&[spec(1, &[])]),
        Err(GraphError::DuplicateId(id(1)))
    );
}

#[test]
fn unknown_dependency() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[])]).unwrap();
    let batch = [spec(2, &[1]), spec(3, &[2, 9])];
    let err = g.add_batch(&batch).unwrap_err();
    assert_eq!(
        err,
        GraphError::UnknownDependency {
            task: id(3),
            dependency: id(9)
        }
    );
    assert_eq!(
        err.to_string(),
        "task 3 depends on task 9, which is neither submitted before nor in this batch"
    );
    assert_rejected_cleanly(&mut g, &[2, 3], 1);
    // The live dependency did not keep a successor reference to the rejected task.
    assert!(run_ok(&mut g, 1).is_empty());
}

#[test]
fn self_dependency() {
    let mut g = DependencyGraph::new();
    let batch = [spec(1, &[]), spec(2, &[1, 2])];
    let err = g.add_batch(&batch).unwrap_err();
    assert_eq!(err, GraphError::SelfDependency(id(2)));
    assert_eq!(err.to_string(), "task 2 depends on itself");
    assert_rejected_cleanly(&mut g, &[1, 2], 0);
}

#[test]
fn invalid_spec() {
    let mut g = DependencyGraph::new();
    let batch = [
        spec(1, &[]),
        spec(2, &[]).resources(ResourceRequirements::new().cpu_cores(f32::NAN)),
    ];
    let err = g.add_batch(&batch).unwrap_err();
    assert!(matches!(
        err,
        GraphError::InvalidSpec { task, reason: SpecError::InvalidCpuCores(_) } if task == id(2)
    ));
    assert_eq!(
        err.to_string(),
        "task 2 has an invalid specification: cpu_cores must be a finite number >= 0, got NaN"
    );
    assert_rejected_cleanly(&mut g, &[1, 2], 0);
}

#[test]
fn cycle_is_named_in_dependency_order() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(100, &[])]).unwrap();
    // 4 -> 1 -> 2 -> 3 -> 1 ("depends on"): 4 hangs off the cycle and is not on it.
    let batch = [
        spec(4, &[1, 100]).name("tail"),
        spec(1, &[2]).name("a"),
        spec(2, &[3]).name("b"),
        spec(3, &[1]),
        spec(5, &[100]),
    ];
    let err = g.add_batch(&batch).unwrap_err();
    assert_eq!(
        err,
        GraphError::Cycle(vec![
            (id(1), Some("a".into())),
            (id(2), Some("b".into())),
            (id(3), None),
        ])
    );
    assert_eq!(
        err.to_string(),
        "dependency cycle: a (1) -> b (2) -> task 3 -> a (1) (each task depends on the next)"
    );
    assert_rejected_cleanly(&mut g, &[1, 2, 3, 4, 5], 1);
    assert!(
        run_ok(&mut g, 100).is_empty(),
        "no successor refs left behind"
    );
}

#[test]
fn two_cycle_and_diamond_without_cycle() {
    let mut g = DependencyGraph::new();
    let err = g.add_batch(&[spec(1, &[2]), spec(2, &[1])]).unwrap_err();
    assert!(matches!(err, GraphError::Cycle(c) if c.len() == 2));
    // A diamond has two paths to the sink but no cycle.
    let out = g
        .add_batch(&[spec(4, &[2, 3]), spec(2, &[1]), spec(3, &[1]), spec(1, &[])])
        .unwrap();
    assert_eq!(out.ready, vec![id(1)]);
}

#[test]
fn counters_release_only_after_the_last_dependency() {
    let mut g = DependencyGraph::new();
    let out = g
        .add_batch(&[
            spec(1, &[]),
            spec(2, &[]),
            spec(3, &[]),
            spec(4, &[1, 2, 3]),
        ])
        .unwrap();
    assert_eq!(out.ready, vec![id(1), id(2), id(3)]);
    assert_eq!(g.state(id(4)), Some(TaskState::Waiting { remaining: 3 }));
    assert!(run_ok(&mut g, 2).ready.is_empty());
    assert_eq!(g.state(id(4)), Some(TaskState::Waiting { remaining: 2 }));
    assert!(run_ok(&mut g, 1).ready.is_empty());
    assert_eq!(run_ok(&mut g, 3).ready, vec![id(4)]);
    assert_eq!(g.state(id(4)), Some(TaskState::Ready));
}

#[test]
fn repeated_dependency_counts_consistently() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[]), spec(2, &[1, 1])]).unwrap();
    assert_eq!(g.state(id(2)), Some(TaskState::Waiting { remaining: 2 }));
    assert_eq!(run_ok(&mut g, 1).ready, vec![id(2)]);
}

#[test]
fn diamond_failure_reports_each_dependent_once() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[
        spec(1, &[]),
        spec(2, &[1]),
        spec(3, &[1]),
        spec(4, &[2, 3]),
        spec(5, &[4]),
    ])
    .unwrap();
    let done = run_fail(&mut g, 1);
    assert!(done.ready.is_empty());
    let mut failed = done.failed.clone();
    failed.sort();
    assert_eq!(
        failed,
        vec![
            (id(2), id(1)),
            (id(3), id(1)),
            (id(4), id(1)),
            (id(5), id(1))
        ]
    );
    for n in 2..=5 {
        assert_eq!(
            g.state(id(n)),
            Some(TaskState::Failed(FailureReason::DependencyFailed(id(1))))
        );
    }
    assert_eq!(
        g.state(id(1)),
        Some(TaskState::Failed(FailureReason::Failed))
    );
    assert!(g.is_empty());
}

#[test]
fn long_chain_failure_is_transitive_with_root_cause() {
    let n = 10_000;
    let mut g = DependencyGraph::new();
    let specs: Vec<_> = (0..n)
        .map(|i| {
            if i == 0 {
                spec(0, &[])
            } else {
                spec(i, &[i - 1])
            }
        })
        .collect();
    g.add_batch(&specs).unwrap();
    run_ok(&mut g, 0);
    run_ok(&mut g, 1);
    let done = run_fail(&mut g, 2);
    assert_eq!(done.failed.len(), n as usize - 3);
    let expected: Vec<_> = (3..n).map(|i| (id(i), id(2))).collect();
    assert_eq!(done.failed, expected);
    assert!(g.is_empty());
}

#[test]
fn partial_failure_keeps_unrelated_branches() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[
        spec(1, &[]),
        spec(2, &[]),
        spec(3, &[1]),
        spec(4, &[2]),
        spec(5, &[3, 4]),
    ])
    .unwrap();
    let done = run_fail(&mut g, 1);
    assert_eq!(done.failed, vec![(id(3), id(1)), (id(5), id(1))]);
    assert_eq!(run_ok(&mut g, 2).ready, vec![id(4)]);
    assert!(run_ok(&mut g, 4).is_empty(), "5 already failed");
}

#[test]
fn dependencies_on_finished_tasks() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[]), spec(2, &[]), spec(3, &[2])])
        .unwrap();
    run_ok(&mut g, 1);
    run_fail(&mut g, 2); // 3 fails with root 2

    let out = g
        .add_batch(&[
            spec(10, &[1]),     // succeeded dep: ready at once
            spec(11, &[1, 3]),  // failed dep (itself a dependency failure): root is 2
            spec(12, &[11]),    // fails through the batch
            spec(13, &[10, 1]), // waits for 10
        ])
        .unwrap();
    assert_eq!(out.ready, vec![id(10)]);
    assert_eq!(out.failed, vec![(id(11), id(2)), (id(12), id(2))]);
    assert_eq!(
        g.state(id(12)),
        Some(TaskState::Failed(FailureReason::DependencyFailed(id(2))))
    );
    assert_eq!(g.state(id(13)), Some(TaskState::Waiting { remaining: 1 }));
    assert_eq!(run_ok(&mut g, 10).ready, vec![id(13)]);
}

#[test]
fn cancel_waiting_ready_running_finished() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[]), spec(2, &[1]), spec(3, &[2]), spec(4, &[])])
        .unwrap();
    // Waiting: fails with its dependents.
    assert_eq!(g.cancel(id(2)).unwrap().failed, vec![(id(3), id(2))]);
    assert_eq!(
        g.state(id(2)),
        Some(TaskState::Failed(FailureReason::Cancelled))
    );
    // Its dependency no longer releases it.
    assert!(run_ok(&mut g, 1).is_empty());
    // Ready: cancelled; the executor's mark_running then fails.
    assert!(g.cancel(id(4)).unwrap().is_empty());
    assert!(g.mark_running(id(4)).is_err());
    // Running and finished: refused.
    g.add_batch(&[spec(5, &[])]).unwrap();
    g.mark_running(id(5)).unwrap();
    assert_eq!(
        g.cancel(id(5)).unwrap_err().to_string(),
        "cannot cancel task 5: it is running"
    );
    g.complete_with(id(5), Err(FailureReason::Cancelled))
        .unwrap();
    assert_eq!(
        g.cancel(id(5)).unwrap_err().to_string(),
        "cannot cancel task 5: it is failed (cancelled)"
    );
    assert_eq!(g.cancel(id(77)), Err(StateError::UnknownTask(id(77))));
}

#[test]
fn stale_successor_references_do_not_touch_new_tasks() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[]), spec(2, &[1])]).unwrap();
    g.cancel(id(2)).unwrap(); // frees 2's slot; 1 still lists it as a successor
    g.add_batch(&[spec(3, &[]), spec(4, &[1])]).unwrap(); // reuse free slots
    assert_eq!(g.state(id(3)), Some(TaskState::Ready));
    let done = run_ok(&mut g, 1);
    assert_eq!(done.ready, vec![id(4)]);
    assert_eq!(g.state(id(3)), Some(TaskState::Ready));
}

#[test]
fn state_machine_errors() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[]), spec(2, &[1])]).unwrap();
    assert_eq!(
        g.mark_running(id(2)).unwrap_err().to_string(),
        "cannot mark_running task 2: it is waiting for 1 dependency"
    );
    assert_eq!(
        g.complete(id(1), true).unwrap_err().to_string(),
        "cannot complete task 1: it is ready"
    );
    g.mark_running(id(1)).unwrap();
    assert!(g.mark_running(id(1)).is_err());
    g.complete(id(1), true).unwrap();
    assert_eq!(
        g.complete(id(1), true).unwrap_err().to_string(),
        "cannot complete task 1: it is succeeded"
    );
    assert_eq!(g.mark_running(id(9)), Err(StateError::UnknownTask(id(9))));
}

#[test]
fn ranks_are_longest_remaining_paths_within_the_batch() {
    let us = Duration::from_micros;
    let mut g = DependencyGraph::new();
    let est = |n: u64, d: u64, deps: &[u64]| spec(n, deps).estimated_duration(us(d));
    // 1 -> {2 (10), 3 (1)} -> 4 (5); 2 -> 5 (100)
    g.add_batch(&[
        est(1, 1, &[]),
        est(2, 10, &[1]),
        est(3, 1, &[1]),
        est(4, 5, &[2, 3]),
        est(5, 100, &[2]),
    ])
    .unwrap();
    assert_eq!(g.rank(id(5)), Some(us(100)));
    assert_eq!(g.rank(id(4)), Some(us(5)));
    assert_eq!(g.rank(id(3)), Some(us(6)));
    assert_eq!(g.rank(id(2)), Some(us(110)));
    assert_eq!(g.rank(id(1)), Some(us(111)));
    // A later batch does not change earlier ranks.
    g.add_batch(&[est(6, 1000, &[5])]).unwrap();
    assert_eq!(g.rank(id(5)), Some(us(100)));
    assert_eq!(g.rank(id(6)), Some(us(1000)));
    assert_eq!(g.rank(id(42)), None);
}

#[test]
fn ready_key_carries_spec_fields() {
    let now = Instant::now();
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[])
        .priority(Priority::LOW)
        .deadline(now)
        .estimated_duration(Duration::from_millis(3))])
        .unwrap();
    let k = g.ready_key(id(1), now).unwrap();
    assert_eq!(
        k,
        ReadyKey {
            priority: Priority::LOW,
            deadline: Some(now),
            rank: Duration::from_millis(3),
            enqueued_at: now
        }
    );
}

#[test]
fn forgetting_finished_records() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[]), spec(2, &[]), spec(3, &[])])
        .unwrap();
    run_ok(&mut g, 1);
    run_fail(&mut g, 2);
    assert_eq!(g.finished_len(), 2);
    assert_eq!(
        g.forget_finished([id(1), id(3), id(99)]),
        1,
        "3 is live, 99 unknown"
    );
    assert_eq!(g.state(id(1)), None);
    assert_eq!(
        g.add_batch(&[spec(4, &[1])]),
        Err(GraphError::UnknownDependency {
            task: id(4),
            dependency: id(1)
        })
    );
    assert_eq!(g.forget_all_finished(), 1);
    assert_eq!(g.finished_len(), 0);
    assert_eq!(g.len(), 1);
}

#[test]
fn complete_into_appends() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[]), spec(2, &[]), spec(3, &[1]), spec(4, &[2])])
        .unwrap();
    let mut out = Completion::default();
    for n in [1, 2] {
        g.mark_running(id(n)).unwrap();
        g.complete_into(id(n), Ok(()), &mut out).unwrap();
    }
    assert_eq!(out.ready, vec![id(3), id(4)]);
    out.clear();
    assert!(out.is_empty());
}

#[test]
fn slots_are_recycled() {
    let mut g = DependencyGraph::new();
    for round in 0..100u64 {
        let base = round * 10;
        let specs: Vec<_> = (0..10)
            .map(|i| {
                if i == 0 {
                    spec(base, &[])
                } else {
                    spec(base + i, &[base + i - 1])
                }
            })
            .collect();
        g.add_batch(&specs).unwrap();
        for i in 0..10 {
            run_ok(&mut g, base + i);
        }
        // A succeeded task keeps its slot until its record is forgotten.
        assert_eq!(g.finished_len(), 10);
        assert_eq!(g.forget_all_finished(), 10);
    }
    assert!(g.slots.len() <= 10);
    assert_eq!(g.finished_len(), 0);
}

#[test]
fn succeeded_tasks_keep_their_slots_until_forgotten() {
    let mut g = DependencyGraph::new();
    g.add_batch(&[spec(1, &[]), spec(2, &[])]).unwrap();
    run_ok(&mut g, 1);
    run_fail(&mut g, 2);
    assert_eq!(g.slots.len(), 2);
    // The failed task's slot is free again, the succeeded one's is not.
    g.add_batch(&[spec(3, &[1])]).unwrap();
    assert_eq!(g.slots.len(), 2);
    assert_eq!(g.state(id(3)), Some(TaskState::Ready), "1 succeeded");
    g.add_batch(&[spec(4, &[])]).unwrap();
    assert_eq!(g.slots.len(), 3);
    assert_eq!((g.len(), g.finished_len()), (2, 2));
    assert_eq!(g.rank(id(1)), None, "finished");
    assert_eq!(g.ready_key(id(1), Instant::now()), None);
    assert_eq!(g.forget_finished([id(1), id(3)]), 1);
    assert_eq!((g.len(), g.finished_len()), (2, 1));
    g.add_batch(&[spec(5, &[])]).unwrap();
    assert_eq!(g.slots.len(), 3, "the forgotten task's slot is reused");
    assert_eq!(
        g.state(id(2)),
        Some(TaskState::Failed(FailureReason::Failed))
    );
}

mod ranks {
    use super::*;
    use proptest::prelude::*;

    /// Longest path from each task to a sink, by brute force.
    fn expected_ranks(deps: &[Vec<usize>], est: &[u64]) -> Vec<u64> {
        let n = deps.len();
        let mut rank = vec![0u64; n];
        // Dependencies have smaller indices, so successors are done first backwards.
        for i in (0..n).rev() {
            let after = (i + 1..n)
                .filter(|&s| deps[s].contains(&i))
                .map(|s| rank[s])
                .max()
                .unwrap_or(0);
            rank[i] = est[i] + after;
        }
        rank
    }

    proptest! {
        #[test]
        fn ranks_do_not_depend_on_batch_order(
            (deps, est, perm) in (1usize..30).prop_flat_map(|n| (
                (0..n).map(|j| prop::collection::vec(0..j.max(1), if j == 0 { 0..1 } else { 0..4 })).collect::<Vec<_>>(),
                prop::collection::vec(0u64..100, n),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
            ))
        ) {
            let deps: Vec<Vec<usize>> = deps
                .into_iter()
                .enumerate()
                .map(|(j, d)| d.into_iter().filter(|&x| x < j).collect())
                .collect();
            let spec_of = |i: usize| {
                spec(i as u64, &deps[i].iter().map(|&d| d as u64).collect::<Vec<_>>())
                    .estimated_duration(Duration::from_nanos(est[i]))
            };
            let expected = expected_ranks(&deps, &est);
            let in_order: Vec<TaskSpec> = (0..deps.len()).map(spec_of).collect();
            let shuffled: Vec<TaskSpec> = perm.iter().map(|&i| spec_of(i)).collect();
            let mut ready_sets = Vec::new();
            for batch in [in_order, shuffled] {
                let mut g = DependencyGraph::new();
                let mut ready = g.add_batch(&batch).unwrap().ready;
                ready.sort();
                ready_sets.push(ready);
                for (i, &r) in expected.iter().enumerate() {
                    prop_assert_eq!(g.rank(id(i as u64)), Some(Duration::from_nanos(r)));
                }
            }
            prop_assert_eq!(&ready_sets[0], &ready_sets[1]);
        }
    }
}

/// Payloads, completion by slot, slot storage (cold part, spilled successors) and
/// forgetting.
mod payload;
