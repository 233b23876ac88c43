//! Tests of the payload-carrying operations (`start_with`, `complete_at`, ...) and of
//! how slots are stored, recycled and forgotten.

use super::*;

/// A payload graph of `1 -> 2`, `1 -> 3` and `4` alone, with `1` started: returns it,
/// its output and the slots of the batch.
fn started_payload_graph() -> (DependencyGraph<u64>, Released<u64>, Vec<SlotRef>) {
    let mut g = DependencyGraph::with_payloads();
    let mut out = Released::default();
    let specs = [spec(1, &[]), spec(2, &[1]), spec(3, &[1]), spec(4, &[])];
    g.add_batch_payloads(&specs, vec![1, 2, 3, 4], Instant::now(), &mut out)
        .unwrap();
    let batch = out.batch.clone();
    assert_eq!(batch.len(), 4);
    assert_eq!(
        out.ready.iter().map(|r| r.0).collect::<Vec<_>>(),
        [batch[0], batch[3]]
    );
    assert_eq!(g.start(batch[0]), Some(1));
    out.clear();
    (g, out, batch)
}

#[test]
fn complete_at_matches_complete_payload() {
    let now = Instant::now();
    for by_slot in [false, true] {
        let (mut g, mut out, batch) = started_payload_graph();
        if by_slot {
            g.complete_at(batch[0], Ok(()), now, &mut out).unwrap();
        } else {
            g.complete_payload(id(1), Ok(()), now, &mut out).unwrap();
        }
        let ready: Vec<SlotRef> = out.ready.iter().map(|r| r.0).collect();
        assert_eq!(ready, [batch[1], batch[2]]);
        assert!(out.ready.iter().all(|r| r.1.enqueued_at == now));
        assert_eq!(g.state(id(1)), Some(TaskState::Succeeded));
        assert_eq!((g.len(), g.finished_len()), (3, 1));
        // Failure by slot: the record and the dependents' root cause as by id.
        assert_eq!(g.start(batch[1]), Some(2));
        out.clear();
        let outcome = Err(FailureReason::Panicked);
        if by_slot {
            g.complete_at(batch[1], outcome, now, &mut out).unwrap();
        } else {
            g.complete_payload(id(2), outcome, now, &mut out).unwrap();
        }
        assert_eq!(
            g.state(id(2)),
            Some(TaskState::Failed(FailureReason::Panicked))
        );
        assert_eq!((g.len(), g.finished_len()), (2, 2));
        // A later batch sees both outcomes.
        out.clear();
        g.add_batch_payloads(&[spec(5, &[1]), spec(6, &[2])], vec![5, 6], now, &mut out)
            .unwrap();
        assert_eq!(out.failed, vec![(Some(6), id(2))]);
        assert_eq!(out.ready.len(), 1);
        assert_eq!(out.ready[0].0, out.batch[0]);
        assert!(g.start(out.batch[1]).is_none(), "failed at once: stale");
        assert_eq!(
            g.complete_at(out.batch[1], Ok(()), now, &mut Released::default()),
            Err(StateError::StaleSlot(out.batch[1]))
        );
    }
}

#[test]
fn complete_at_refuses_stale_and_not_running() {
    let now = Instant::now();
    let (mut g, mut out, batch) = started_payload_graph();
    // Waiting and ready tasks are not running.
    for (at, n, state) in [
        (batch[1], 2, TaskState::Waiting { remaining: 1 }),
        (batch[3], 4, TaskState::Ready),
    ] {
        assert_eq!(
            g.complete_at(at, Ok(()), now, &mut out),
            Err(StateError::InvalidTransition {
                task: id(n),
                state,
                operation: "complete"
            })
        );
    }
    g.complete_at(batch[0], Ok(()), now, &mut out).unwrap();
    // Succeeded: the reference still names the task, which is not running.
    let err = g.complete_at(batch[0], Ok(()), now, &mut out).unwrap_err();
    assert_eq!(
        err,
        StateError::InvalidTransition {
            task: id(1),
            state: TaskState::Succeeded,
            operation: "complete"
        }
    );
    // Cancelled: stale.
    out.clear();
    assert_eq!(g.cancel_payload(id(4), &mut out).unwrap(), Some(4));
    assert_eq!(
        g.complete_at(batch[3], Ok(()), now, &mut out),
        Err(StateError::StaleSlot(batch[3]))
    );
    // Forgotten: stale, even once the slot holds a new task.
    assert_eq!(g.forget_all_finished(), 2);
    assert_eq!(g.state(id(1)), None);
    let err = g.complete_at(batch[0], Ok(()), now, &mut out).unwrap_err();
    assert_eq!(err, StateError::StaleSlot(batch[0]));
    assert!(err.to_string().starts_with("stale slot reference"));
    out.clear();
    g.add_batch_payloads(&[spec(7, &[])], vec![7], now, &mut out)
        .unwrap();
    assert!(out.batch[0] != batch[0] && out.batch[0] != batch[3]);
    assert_eq!(g.start(out.batch[0]), Some(7));
    for old in [batch[0], batch[3]] {
        assert_eq!(
            g.complete_at(old, Ok(()), now, &mut out),
            Err(StateError::StaleSlot(old))
        );
    }
    assert_eq!(g.state(id(7)), Some(TaskState::Running));
    // Out of range.
    let far = SlotRef {
        slot: 1 << 20,
        generation: 0,
    };
    assert_eq!(
        g.complete_at(far, Ok(()), now, &mut out),
        Err(StateError::StaleSlot(far))
    );
}

#[test]
fn complete_at_after_a_running_cancel_is_refused() {
    // The executor's race: a running task is completed as cancelled by id, then its
    // runner reports by slot.
    let now = Instant::now();
    let (mut g, mut out, batch) = started_payload_graph();
    g.complete_payload(id(1), Err(FailureReason::Cancelled), now, &mut out)
        .unwrap();
    let mut doomed = out.failed.clone();
    doomed.sort();
    assert_eq!(doomed, vec![(Some(2), id(1)), (Some(3), id(1))]);
    assert_eq!(
        g.complete_at(batch[0], Ok(()), now, &mut out),
        Err(StateError::StaleSlot(batch[0]))
    );
    assert_eq!(
        g.state(id(1)),
        Some(TaskState::Failed(FailureReason::Cancelled))
    );
}

#[test]
fn payloads_travel_with_their_tasks() {
    let now = Instant::now();
    let mut g: DependencyGraph<&str> = DependencyGraph::with_payloads();
    let mut out = Released::default();
    // 1 -> 2 -> 4, 1 -> 3 -> 4; 5 alone.
    g.add_batch_payloads(
        &[
            spec(1, &[]),
            spec(2, &[1]),
            spec(3, &[1]),
            spec(4, &[2, 3]),
            spec(5, &[]),
        ],
        vec!["one", "two", "three", "four", "five"],
        now,
        &mut out,
    )
    .unwrap();
    assert!(out.failed.is_empty());
    assert_eq!(out.ready.len(), 2);
    let (r1, r5) = (out.ready[0].0, out.ready[1].0);
    assert_eq!(out.ready[0].1.enqueued_at, now);

    // Cancelling a ready task makes its reference stale and returns its payload.
    out.clear();
    assert_eq!(g.cancel_payload(id(5), &mut out).unwrap(), Some("five"));
    assert!(out.failed.is_empty() && out.ready.is_empty());
    assert_eq!(g.start(r5), None);

    assert_eq!(g.start(r1), Some("one"));
    assert_eq!(g.start(r1), None, "started once");
    assert_eq!(g.state(id(1)), Some(TaskState::Running));
    out.clear();
    g.complete_payload(id(1), Ok(()), now, &mut out).unwrap();
    let ready: Vec<SlotRef> = out.ready.iter().map(|r| r.0).collect();
    assert_eq!(ready.len(), 2);
    assert_eq!(g.start(ready[0]), Some("two"));

    // Cancelling 3 dooms 4, whose payload comes back with the root cause.
    out.clear();
    assert_eq!(g.cancel_payload(id(3), &mut out).unwrap(), Some("three"));
    assert_eq!(out.failed, vec![(Some("four"), id(3))]);
    assert_eq!(g.start(ready[1]), None);

    // A batch failed at once hands its payloads back as doomed; a refused one whole.
    out.clear();
    g.add_batch_payloads(&[spec(6, &[3])], vec!["six"], now, &mut out)
        .unwrap();
    assert_eq!(out.failed, vec![(Some("six"), id(3))]);
    let (err, back) = g
        .add_batch_payloads(&[spec(7, &[99])], vec!["seven"], now, &mut out)
        .unwrap_err();
    assert!(matches!(err, GraphError::UnknownDependency { .. }));
    assert_eq!(back, vec!["seven"]);

    // Shutdown takes what is left.
    out.clear();
    g.add_batch_payloads(&[spec(8, &[2])], vec!["eight"], now, &mut out)
        .unwrap();
    assert_eq!(g.take_all_payloads(), vec!["eight"]);
}

#[test]
fn start_with_keeps_the_rest_of_the_payload_until_the_task_ends() {
    // An executor's payload: what it runs (taken at start) and what it keeps in the
    // slot while the task runs (handed back by complete, or by shutdown).
    let mut g = DependencyGraph::with_payloads();
    let now = Instant::now();
    let mut out = Released::default();
    g.add_batch_payloads(
        &[spec(1, &[]), spec(2, &[])],
        vec![(Some("run 1"), "keep 1"), (Some("run 2"), "keep 2")],
        now,
        &mut out,
    )
    .unwrap();
    let (r1, r2) = (out.ready[0].0, out.ready[1].0);
    let take = |p: &mut Option<(Option<&'static str>, &'static str)>| p.as_mut()?.0.take();
    assert_eq!(g.start_with(r1, take), Some("run 1"));
    assert_eq!(g.state(id(1)), Some(TaskState::Running));
    assert_eq!(g.start_with(r1, take), None, "not ready any more");
    // A `take` that takes nothing leaves the task ready.
    assert_eq!(g.start_with(r2, |_| None::<()>), None);
    assert_eq!(g.state(id(2)), Some(TaskState::Ready));
    assert_eq!(g.start_with(r2, take), Some("run 2"));

    out.clear();
    let kept = g.complete_payload(id(1), Ok(()), now, &mut out).unwrap();
    assert_eq!(kept, Some((None, "keep 1")));
    assert_eq!(g.state(id(1)), Some(TaskState::Succeeded));
    // Shutdown takes a running task's kept part too.
    assert_eq!(g.take_all_payloads(), vec![(None, "keep 2")]);
    // Completing it afterwards still works; nothing is left in its slot.
    out.clear();
    assert_eq!(
        g.complete_payload(id(2), Ok(()), now, &mut out).unwrap(),
        None
    );
}

#[test]
fn contiguous_and_scattered_ids_resolve_dependencies_alike() {
    // The same graphs with ids 100, 101, ... (a contiguous batch: in-batch dependencies
    // found by subtraction) and 100, 110, ... (hash lookups) must behave the same.
    for spacing in [1u64, 10] {
        let k = |i: u64| 100 + i * spacing;
        let mut g = DependencyGraph::new();
        // A live task outside the next batch, and an unordered batch (Kahn's path).
        g.add_batch(&[spec(k(0), &[])]).unwrap();
        let out = g
            .add_batch(&[
                spec(k(3), &[k(1), k(2)]),
                spec(k(1), &[]),
                spec(k(2), &[k(1), k(0)]),
            ])
            .unwrap();
        assert_eq!(out.ready, vec![id(k(1))], "spacing {spacing}");
        assert_eq!(g.state(id(k(2))), Some(TaskState::Waiting { remaining: 2 }));
        assert_eq!(g.state(id(k(3))), Some(TaskState::Waiting { remaining: 2 }));
        assert_eq!(run_ok(&mut g, k(1)).ready, Vec::<TaskId>::new());
        assert_eq!(run_ok(&mut g, k(0)).ready, vec![id(k(2))]);
        assert_eq!(run_ok(&mut g, k(2)).ready, vec![id(k(3))]);

        // A cycle inside a contiguous batch is still found and named alike.
        let before = g.len();
        let err = g
            .add_batch(&[spec(k(10), &[k(11)]), spec(k(11), &[k(10)])])
            .unwrap_err();
        assert!(
            matches!(err, GraphError::Cycle(ref c) if c.len() == 2),
            "{err}"
        );
        assert_rejected_cleanly(&mut g, &[k(10), k(11)], before);
        // A self-dependency inside the range too.
        let err = g.add_batch(&[spec(k(20), &[k(20)])]).unwrap_err();
        assert_eq!(err, GraphError::SelfDependency(id(k(20))));
    }
}

#[test]
fn deadlines_and_huge_ranks_come_from_the_cold_part() {
    let now = Instant::now();
    let deadline = now + Duration::from_secs(5);
    let mut g = DependencyGraph::new();
    g.add_batch(&[
        spec(1, &[]).deadline(deadline),
        spec(2, &[]).estimated_duration(Duration::MAX),
        spec(3, &[2]).estimated_duration(Duration::from_nanos(7)),
        spec(4, &[]),
    ])
    .unwrap();
    let key = g.ready_key(id(1), now).unwrap();
    assert_eq!((key.deadline, key.rank), (Some(deadline), Duration::ZERO));
    assert_eq!(
        g.rank(id(2)),
        Some(Duration::MAX),
        "exact beyond u64 nanoseconds"
    );
    assert_eq!(g.ready_key(id(4), now).unwrap().deadline, None);
    // A released task's key reads the same fields.
    let mut p: DependencyGraph<&str> = DependencyGraph::with_payloads();
    let mut out = Released::default();
    let specs = [
        spec(1, &[]),
        spec(2, &[1]).deadline(deadline),
        spec(3, &[1]).estimated_duration(Duration::MAX),
        spec(4, &[1]),
    ];
    p.add_batch_payloads(&specs, vec!["1", "2", "3", "4"], now, &mut out)
        .unwrap();
    assert_eq!(p.start(out.batch[0]), Some("1"));
    let batch = out.batch.clone();
    out.clear();
    p.complete_at(batch[0], Ok(()), now, &mut out).unwrap();
    let keys: Vec<_> = out
        .ready
        .iter()
        .map(|r| (r.0, r.1.deadline, r.1.rank))
        .collect();
    assert_eq!(
        keys,
        [
            (batch[1], Some(deadline), Duration::ZERO),
            (batch[2], None, Duration::MAX),
            (batch[3], None, Duration::ZERO),
        ],
        "three successors: one spilled beyond the inline two"
    );
}

#[test]
fn spilled_successors_are_released_and_doomed_alike() {
    // Task 1 has 70 successors (more than the inline two and than the capacity kept
    // for a slot's next occupant); run twice, succeeding then failing.
    for success in [true, false] {
        let mut g = DependencyGraph::new();
        let mut specs = vec![spec(1, &[])];
        specs.extend((2..72).map(|n| spec(n, &[1])));
        g.add_batch(&specs).unwrap();
        g.mark_running(id(1)).unwrap();
        let done = g.complete(id(1), success).unwrap();
        if success {
            assert_eq!(done.ready, (2..72).map(id).collect::<Vec<_>>());
        } else {
            let mut failed = done.failed.clone();
            failed.sort();
            assert_eq!(failed, (2..72).map(|n| (id(n), id(1))).collect::<Vec<_>>());
        }
        // The slots are reused by a new batch with spilled successors again.
        g.forget_all_finished();
        let mut specs = vec![spec(100, &[])];
        specs.extend((101..106).map(|n| spec(n, &[100])));
        g.add_batch(&specs).unwrap();
        assert_eq!(
            run_ok(&mut g, 100).ready,
            (101..106).map(id).collect::<Vec<_>>()
        );
    }
}

#[test]
fn forgetting_everything_with_or_without_live_tasks_agrees() {
    // The same history, forgotten while a task still runs (the map is walked) and once
    // nothing is live (the slots are walked and the map cleared).
    for keep_one_running in [true, false] {
        let mut g = DependencyGraph::new();
        g.add_batch(&[spec(1, &[]), spec(2, &[]), spec(3, &[2]), spec(4, &[])])
            .unwrap();
        run_ok(&mut g, 1);
        run_fail(&mut g, 2); // 3 fails with it
        g.mark_running(id(4)).unwrap();
        if !keep_one_running {
            g.complete(id(4), true).unwrap();
        }
        let forgotten = g.forget_all_finished();
        assert_eq!(forgotten, if keep_one_running { 3 } else { 4 });
        for t in [1, 2, 3] {
            assert_eq!(g.state(id(t)), None, "task {t} forgotten");
        }
        assert_eq!(g.finished_len(), 0);
        if keep_one_running {
            assert_eq!(g.state(id(4)), Some(TaskState::Running));
            g.complete(id(4), true).unwrap();
            assert_eq!(g.forget_all_finished(), 1);
        }
        // Every slot is free again: a new batch reuses them, ids included.
        g.add_batch(&[spec(1, &[]), spec(4, &[1])]).unwrap();
        assert_eq!(g.state(id(4)), Some(TaskState::Waiting { remaining: 1 }));
        assert!(g.slots.len() <= 4);
    }
}
