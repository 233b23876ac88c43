//! loom models of the ends workers hold back (`executor/src/graph/buffered.rs`): each
//! is recorded exactly once, by its worker's next exchange or by a query (which
//! records every worker's first), and a query that begins after a task's handle
//! resolved sees that task's end, though its worker may hold it back still.
//!
//! - `a_query_after_the_handle_resolves_sees_the_end`: a worker holds back a task's
//!   end, then completes the task (its handle resolves: a release store here, the
//!   task state's in the runtime), then exchanges; the handle's owner queries as soon
//!   as it sees the handle resolved.
//! - `ends_are_recorded_once_while_workers_and_queries_race`: two workers hold back
//!   and exchange while a third thread queries; in the end every end was recorded
//!   exactly once, each worker's in the order it held them back.
//! - `a_wrapping_buffer_loses_nothing_while_queries_race`: one worker holds back 3,
//!   exchanges, twice, then holds back 3 more (its 4-slot ring — the size under loom —
//!   wraps twice) while another thread queries twice; loom's cells check that no slot
//!   is written while a drain reads it.
#![cfg(taskweave_loom)]

use loom::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Release},
};
use loom::sync::Arc;
use loom::thread;
use taskweave_executor::loom_support::BufferedEndsModel;
use taskweave_loom_tests::model;

#[test]
fn a_query_after_the_handle_resolves_sees_the_end() {
    model(|| {
        let ends = Arc::new(BufferedEndsModel::new(1));
        let resolved = Arc::new(AtomicBool::new(false));
        let worker = {
            let (ends, resolved) = (ends.clone(), resolved.clone());
            thread::spawn(move || {
                ends.hold_back(0, 7);
                resolved.store(true, Release);
                ends.exchange(0);
            })
        };
        let seen = resolved.load(Acquire);
        let recorded = ends.query();
        if seen {
            assert_eq!(recorded, [7], "the handle resolved: its end is recorded");
        } else {
            assert!(recorded.is_empty() || recorded == [7], "{recorded:?}");
        }
        worker.join().unwrap();
        assert_eq!(ends.query(), [7], "recorded once");
    });
}

#[test]
fn ends_are_recorded_once_while_workers_and_queries_race() {
    model(|| {
        let ends = Arc::new(BufferedEndsModel::new(2));
        let workers: Vec<_> = [(0, [1, 2]), (1, [3, 4])]
            .into_iter()
            .map(|(worker, tasks)| {
                let ends = ends.clone();
                thread::spawn(move || {
                    ends.hold_back(worker, tasks[0]);
                    ends.hold_back(worker, tasks[1]);
                    ends.exchange(worker);
                })
            })
            .collect();
        let early = ends.query();
        for worker in workers {
            worker.join().unwrap();
        }
        let all = ends.query();
        assert!(all.starts_with(&early), "a record is never undone");
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [1, 2, 3, 4], "each end once: {all:?}");
        let position = |task| all.iter().position(|&t| t == task).unwrap();
        assert!(
            position(1) < position(2) && position(3) < position(4),
            "{all:?}"
        );
    });
}

#[test]
fn a_wrapping_buffer_loses_nothing_while_queries_race() {
    model(|| {
        let ends = Arc::new(BufferedEndsModel::new(1));
        let worker = {
            let ends = ends.clone();
            thread::spawn(move || {
                for round in 0..3u64 {
                    for k in 0..3 {
                        ends.hold_back(0, 3 * round + k + 1);
                    }
                    if round < 2 {
                        ends.exchange(0);
                    }
                }
            })
        };
        let first = ends.query();
        let second = ends.query();
        assert!(second.starts_with(&first));
        worker.join().unwrap();
        assert_eq!(
            ends.query(),
            (1..=9).collect::<Vec<u64>>(),
            "each once, in order"
        );
    });
}
