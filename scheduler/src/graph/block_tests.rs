//! The graph with batches whose ids are recorded as blocks (see `ids.rs`): the same
//! behaviour as with ids in the map.

use super::*;
use crate::{GraphError, ResourceRequirements, SpecError, TaskSpec};

fn id(n: u64) -> TaskId {
    TaskId::new(n)
}

/// Tasks `lo..lo + n`, each depending on the one before (the first on `first_dep`).
fn chain(lo: u64, n: u64, first_dep: Option<u64>) -> Vec<TaskSpec> {
    (lo..lo + n)
        .map(|i| {
            let spec = TaskSpec::new(id(i));
            match (i == lo, first_dep) {
                (true, Some(d)) => spec.dependency(id(d)),
                (true, None) => spec,
                (false, _) => spec.dependency(id(i - 1)),
            }
        })
        .collect()
}

/// Independent tasks `lo..lo + n`.
fn flat(lo: u64, n: u64) -> Vec<TaskSpec> {
    (lo..lo + n).map(|i| TaskSpec::new(id(i))).collect()
}

fn run(g: &mut DependencyGraph, i: u64, ok: bool) -> Completion {
    g.mark_running(id(i)).unwrap();
    g.complete(id(i), ok).unwrap()
}

/// A refused batch left the graph as it was: `len` live and `finished` remembered
/// tasks, the `absent` ids unknown, the id index consistent.
fn unchanged(g: &DependencyGraph, len: usize, finished: usize, absent: &[u64]) {
    g.entries.check();
    assert_eq!((g.len(), g.finished_len()), (len, finished));
    for &i in absent {
        assert_eq!(g.state(id(i)), None, "{i} leaked");
    }
}

#[test]
fn a_contiguous_batch_is_one_block_and_behaves_as_ids_in_the_map() {
    let mut g = DependencyGraph::new();
    let out = g.add_batch(&chain(100, 40, None)).unwrap();
    g.entries.check();
    assert_eq!(out.ready, vec![id(100)]);
    assert_eq!(g.entries.shape(), (1, 0));
    assert_eq!(g.state(id(101)), Some(TaskState::Waiting { remaining: 1 }));
    assert_eq!(run(&mut g, 100, true).ready, vec![id(101)]);
    assert_eq!(g.state(id(100)), Some(TaskState::Succeeded));
    assert_eq!((g.len(), g.finished_len()), (39, 1));
    // A later batch depends on ids in the block (finished and live).
    let out = g.add_batch(&[TaskSpec::new(id(7)).dependencies([id(100), id(139)])]);
    assert_eq!(out.unwrap().ready, vec![]);
    assert_eq!(g.state(id(7)), Some(TaskState::Waiting { remaining: 1 }));
}

#[test]
fn duplicates_are_found_both_ways() {
    let mut g = DependencyGraph::new();
    g.add_batch(&flat(100, 40)).unwrap();
    g.add_batch(&[TaskSpec::new(id(500))]).unwrap(); // in the map
    unchanged(&g, 41, 0, &[]);

    // A single task into the block's range.
    let err = g.add_batch(&[TaskSpec::new(id(120))]).unwrap_err();
    assert_eq!(err, GraphError::DuplicateId(id(120)));
    // A new batch overlapping the block (as a block, or id by id): the first
    // duplicate in batch order.
    assert_eq!(
        g.add_batch(&flat(130, 40)),
        Err(GraphError::DuplicateId(id(130)))
    );
    let mut reversed = flat(60, 50);
    reversed.reverse();
    assert_eq!(
        g.add_batch(&reversed),
        Err(GraphError::DuplicateId(id(109)))
    );
    // A contiguous batch whose range holds a map id.
    assert_eq!(
        g.add_batch(&flat(480, 40)),
        Err(GraphError::DuplicateId(id(500)))
    );
    // Within a batch whose id range has exactly as many ids as tasks (one repeated,
    // one missing).
    let mut specs = flat(1000, 40);
    specs[6] = TaskSpec::new(id(1007));
    assert_eq!(g.add_batch(&specs), Err(GraphError::DuplicateId(id(1007))));
    unchanged(&g, 41, 0, &[60, 99, 140, 169, 480, 519, 1000, 1039]);
    // An invalid spec before a duplicate is reported first, and after it is not.
    let mut specs = flat(1000, 40);
    specs[3] = specs[3]
        .clone()
        .resources(ResourceRequirements::new().cpu_cores(-1.0));
    specs[6] = TaskSpec::new(id(1002));
    assert_eq!(
        g.add_batch(&specs),
        Err(GraphError::InvalidSpec {
            task: id(1003),
            reason: SpecError::InvalidCpuCores(-1.0)
        })
    );
    specs[3] = TaskSpec::new(id(1003));
    specs[1] = TaskSpec::new(id(1000));
    assert_eq!(g.add_batch(&specs), Err(GraphError::DuplicateId(id(1000))));
    unchanged(&g, 41, 0, &[1000, 1039]);
}

#[test]
fn a_batch_refused_after_its_block_was_recorded_leaves_nothing() {
    let mut g = DependencyGraph::new();
    g.add_batch(&flat(0, 1)).unwrap();
    // Unknown dependency, self-dependency, cycle: all found after step 1.
    let mut specs = chain(100, 40, Some(0));
    specs[20] = specs[20].clone().dependency(id(99));
    assert!(matches!(
        g.add_batch(&specs),
        Err(GraphError::UnknownDependency { .. })
    ));
    unchanged(&g, 1, 0, &[100, 139]);
    let mut specs = chain(100, 40, None);
    specs[5] = specs[5].clone().dependency(id(105));
    assert_eq!(
        g.add_batch(&specs),
        Err(GraphError::SelfDependency(id(105)))
    );
    unchanged(&g, 1, 0, &[100, 139]);
    let mut specs = chain(100, 40, None);
    specs[0] = specs[0].clone().dependency(id(102)).name("first");
    let err = g.add_batch(&specs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dependency cycle: first (100) -> task 102 -> task 101 -> first (100) \
         (each task depends on the next)"
    );
    unchanged(&g, 1, 0, &[100, 139]);
    // The same ids are then free.
    g.add_batch(&chain(100, 40, Some(0))).unwrap();
    g.entries.check();
    assert_eq!(g.len(), 41);
}

#[test]
fn failure_records_inside_a_block() {
    let mut g = DependencyGraph::new();
    g.add_batch(&flat(0, 1)).unwrap();
    run(&mut g, 0, false);
    // 1..=40 chain off the failed task 0: all fail at once, recorded in the block.
    let out = g.add_batch(&chain(1, 40, Some(0))).unwrap();
    assert_eq!(out.failed.len(), 40);
    assert_eq!(g.entries.shape().0, 1);
    g.entries.check();
    assert_eq!(
        g.state(id(40)),
        Some(TaskState::Failed(FailureReason::DependencyFailed(id(0))))
    );
    assert_eq!((g.len(), g.finished_len()), (0, 41));

    // A block of live tasks: cancel one, fail one while running.
    g.add_batch(&flat(100, 40)).unwrap();
    g.add_batch(&[TaskSpec::new(id(200)).dependencies([id(110), id(111)])])
        .unwrap();
    assert_eq!(g.cancel(id(110)).unwrap().failed, vec![(id(200), id(110))]);
    g.mark_running(id(111)).unwrap();
    g.complete_with(id(111), Err(FailureReason::TimedOut))
        .unwrap();
    assert_eq!(
        g.state(id(110)),
        Some(TaskState::Failed(FailureReason::Cancelled))
    );
    assert_eq!(
        g.state(id(111)),
        Some(TaskState::Failed(FailureReason::TimedOut))
    );
    assert_eq!(
        g.cancel(id(110)),
        Err(StateError::InvalidTransition {
            task: id(110),
            state: TaskState::Failed(FailureReason::Cancelled),
            operation: "cancel"
        })
    );
    g.entries.check();
    assert_eq!((g.len(), g.finished_len()), (38, 44));
    // A later batch inherits the failures of block ids.
    let out = g
        .add_batch(&[TaskSpec::new(id(300)).dependency(id(111))])
        .unwrap();
    assert_eq!(out.failed, vec![(id(300), id(111))]);
}

#[test]
fn forgetting_part_of_a_block_and_reusing_its_ids() {
    let mut g = DependencyGraph::new();
    g.add_batch(&flat(100, 40)).unwrap();
    for i in 100..110 {
        run(&mut g, i, true);
    }
    run(&mut g, 110, false);
    assert_eq!((g.len(), g.finished_len()), (29, 11));
    // Forget some: the others keep their records.
    assert_eq!(g.forget_finished([id(100), id(105), id(110), id(120)]), 3);
    g.entries.check();
    assert_eq!((g.len(), g.finished_len()), (29, 8));
    assert_eq!(g.state(id(100)), None);
    assert_eq!(g.state(id(110)), None);
    assert_eq!(g.state(id(101)), Some(TaskState::Succeeded));
    assert_eq!(g.state(id(120)), Some(TaskState::Ready));
    assert_eq!(
        g.add_batch(&[TaskSpec::new(id(1)).dependency(id(105))]),
        Err(GraphError::UnknownDependency {
            task: id(1),
            dependency: id(105)
        })
    );
    // Reuse forgotten ids, alone and in a batch that overlaps the block.
    let out = g
        .add_batch(&[TaskSpec::new(id(105)).dependency(id(101))])
        .unwrap();
    assert_eq!(out.ready, vec![id(105)]);
    assert_eq!(
        g.add_batch(&flat(80, 21)).unwrap().ready.len(),
        21,
        "80..=100: 100 was forgotten"
    );
    g.entries.check();
    assert_eq!(g.entries.shape().0, 1);
    assert_eq!((g.len(), g.finished_len()), (51, 8));

    // Forgetting the rest of the finished records while tasks live shrinks the block
    // to its live ids.
    assert_eq!(g.forget_all_finished(), 8);
    g.entries.check();
    assert_eq!(g.state(id(101)), None);
    assert_eq!(g.state(id(139)), Some(TaskState::Ready));
    // A block whose ids are all forgotten goes.
    for i in (80..=100).chain(105..106).chain(111..140) {
        run(&mut g, i, true);
    }
    assert_eq!(g.len(), 0);
    assert_eq!(g.forget_all_finished(), 51);
    assert_eq!(g.entries.shape().0, 0);
    assert_eq!((g.len(), g.finished_len()), (0, 0));
}

#[test]
fn forgetting_a_block_id_by_id_drops_it() {
    let mut g = DependencyGraph::new();
    g.add_batch(&flat(100, 40)).unwrap();
    g.add_batch(&flat(200, 40)).unwrap();
    for i in 100..140 {
        run(&mut g, i, i % 2 == 0);
    }
    assert_eq!(g.forget_finished((100..140).map(id)), 40);
    g.entries.check();
    assert_eq!(g.entries.shape().0, 1);
    assert_eq!((g.len(), g.finished_len()), (40, 0));
    // The freed range takes a new block.
    g.add_batch(&flat(90, 50)).unwrap();
    g.entries.check();
    assert_eq!(g.entries.shape().0, 2);
    assert_eq!(g.len(), 90);
}

#[test]
fn payload_batches_in_blocks_complete_by_slot() {
    let mut g = DependencyGraph::with_payloads();
    let mut out = Released::default();
    let now = Instant::now();
    let specs: SpecBatch = chain(1000, 64, None).iter().collect();
    g.add_spec_batch_payloads(&specs, (0..64).collect(), now, &mut out)
        .unwrap();
    assert_eq!(g.entries.shape().0, 1);
    let batch = out.batch.clone();
    for (k, &at) in batch.iter().enumerate() {
        assert_eq!(g.task_at(at), Some(id(1000 + k as u64)));
        assert_eq!(g.start(at), Some(k));
        out.clear();
        g.complete_at(at, Ok(()), now, &mut out).unwrap();
        assert_eq!(out.ready.len(), usize::from(k < 63));
    }
    assert_eq!((g.len(), g.finished_len()), (0, 64));
    assert_eq!(g.forget_all_finished(), 64);
    assert_eq!(g.entries.shape().0, 0);
    for at in batch {
        assert_eq!(g.task_at(at), None, "stale once forgotten");
    }
}

#[test]
fn a_batch_built_from_its_root_releases_like_one_built_from_its_leaves() {
    // A binary tree of 63 tasks: task i depends on its children 2i + 1 and 2i + 2, so
    // in root-first order every in-batch edge points backward.
    let tree = |i: u64| {
        let spec = TaskSpec::new(id(1000 + i));
        if i < 31 {
            spec.dependencies([id(1000 + 2 * i + 1), id(1000 + 2 * i + 2)])
        } else {
            spec
        }
    };
    let root_first: Vec<TaskSpec> = (0..63).map(tree).collect();
    let leaves_first: Vec<TaskSpec> = (0..63).rev().map(tree).collect();
    let (mut a, mut b) = (DependencyGraph::new(), DependencyGraph::new());
    let ready_a = a.add_batch(&root_first).unwrap().ready;
    let mut ready_b = b.add_batch(&leaves_first).unwrap().ready;
    assert_eq!(ready_a, (31..63).map(|i| id(1000 + i)).collect::<Vec<_>>());
    ready_b.reverse();
    assert_eq!(ready_a, ready_b);
    assert_eq!(a.state(id(1000)), Some(TaskState::Waiting { remaining: 2 }));
    // Completing the leaves releases each parent once both children succeeded.
    for i in (31..63).rev() {
        let released_a = run(&mut a, 1000 + i, true).ready;
        let released_b = run(&mut b, 1000 + i, true).ready;
        assert_eq!(released_a, released_b);
        let parent = (i - 1) / 2;
        let expected = if i % 2 == 1 {
            vec![id(1000 + parent)]
        } else {
            vec![]
        };
        assert_eq!(released_a, expected, "leaf {i}");
    }
    // A cycle through an edge each way is still found.
    let mut cyclic: Vec<TaskSpec> = (0..40).map(|i| TaskSpec::new(id(5000 + i))).collect();
    cyclic[0] = cyclic[0].clone().dependency(id(5039));
    cyclic[39] = cyclic[39].clone().dependency(id(5000));
    assert!(matches!(a.add_batch(&cyclic), Err(GraphError::Cycle(c)) if c.len() == 2));
    unchanged(&a, 31, 32, &[5000, 5039]);
}
