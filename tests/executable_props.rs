//! Property tests: random DAGs with randomly failing tasks on a 2-worker runtime —
//! small ones, and wide ones of hundreds of tasks (where workers pick ready tasks in
//! batches and hold back ends).
//!
//! For every generated graph:
//! - no task starts before all its dependencies finished;
//! - every task whose dependencies all succeeded runs exactly once; every other task
//!   never runs (its future is dropped unpolled);
//! - a task resolves with its value, its own failure (`Failed` / `Panicked`), or
//!   `DependencyFailed(root)` where `root` is one of its ancestors that failed on its
//!   own — so failures reach exactly the descendants of failing tasks;
//! - values computed from the dependencies' values are delivered.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Once};
use std::time::Duration;

use common::{watchdog_for, DropCounter};
use proptest::prelude::*;
use proptest::sample::Index;
use taskweave::graph::{ExecutableTask, TaskError, TaskGraph, TaskHandle, TaskId};
use taskweave::task::yield_now;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Ok,
    Yield,
    Err,
    Panic,
}

impl Kind {
    fn fails(self) -> bool {
        matches!(self, Kind::Err | Kind::Panic)
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => Just(Kind::Ok),
        2 => Just(Kind::Yield),
        1 => Just(Kind::Err),
        1 => Just(Kind::Panic),
    ]
}

/// Up to 3 dependencies per task, each an index into the tasks before it.
fn tasks() -> impl Strategy<Value = Vec<(Vec<Index>, Kind)>> {
    prop::collection::vec((prop::collection::vec(any::<Index>(), 0..4), kind()), 1..40)
}

/// Wide graphs: hundreds of tasks, most with no dependency or one, so the ready heap
/// holds many tasks at once and the workers pick in batches and hold back ends
/// (`graph/ended.rs`).
fn wide_tasks() -> impl Strategy<Value = Vec<(Vec<Index>, Kind)>> {
    let deps = prop::collection::vec(any::<Index>(), 0..2);
    prop::collection::vec((deps, kind()), 200..500)
}

#[derive(Clone, Copy, Debug)]
enum Submit {
    /// One batch, tasks added in index order.
    Batch,
    /// One batch, tasks added in reverse order (dependencies point forward).
    BatchReversed,
    /// One `submit` per task, in index order.
    OneByOne,
}

fn submit_mode() -> impl Strategy<Value = Submit> {
    prop_oneof![
        Just(Submit::Batch),
        Just(Submit::BatchReversed),
        Just(Submit::OneByOne)
    ]
}

/// Silences the panics the tests cause on purpose.
fn quiet_intentional_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.starts_with("intentional") {
                default(info);
            }
        }));
    });
}

struct Shared {
    runs: Vec<AtomicU32>,
    done: Vec<AtomicBool>,
    values: Vec<AtomicU64>,
    early: AtomicUsize,
}

/// Runs one generated graph; returns a description of the first violated property.
fn run_case(spec: Vec<(Vec<Index>, Kind)>, mode: Submit) -> Result<(), String> {
    let n = spec.len();
    let deps: Vec<Vec<usize>> = spec
        .iter()
        .enumerate()
        .map(|(j, (idx, _))| {
            let mut d: Vec<usize> = if j == 0 {
                Vec::new()
            } else {
                idx.iter().map(|i| i.index(j)).collect()
            };
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let kinds: Vec<Kind> = spec.iter().map(|(_, k)| *k).collect();

    // Expected outcomes, sequentially.
    let mut ok = vec![false; n];
    let mut runs = vec![false; n];
    let mut own_failed = vec![false; n];
    // Bit i of ancestors[j]: task i is an ancestor of task j.
    let words = n.div_ceil(64);
    let mut ancestors = vec![vec![0u64; words]; n];
    let mut value = vec![0u64; n];
    for j in 0..n {
        let deps_ok = deps[j].iter().all(|&d| ok[d]);
        runs[j] = deps_ok;
        ok[j] = deps_ok && !kinds[j].fails();
        own_failed[j] = deps_ok && kinds[j].fails();
        for &d in &deps[j] {
            let (before, rest) = ancestors.split_at_mut(j);
            for (mine, theirs) in rest[0].iter_mut().zip(&before[d]) {
                *mine |= theirs;
            }
            rest[0][d / 64] |= 1 << (d % 64);
        }
        value[j] = deps[j].iter().fold(j as u64 + 1, |acc, &d| {
            acc.wrapping_mul(31).wrapping_add(value[d])
        });
    }

    let rt = common::runtime(2);
    let shared = Arc::new(Shared {
        runs: (0..n).map(|_| AtomicU32::new(0)).collect(),
        done: (0..n).map(|_| AtomicBool::new(false)).collect(),
        values: (0..n).map(|_| AtomicU64::new(0)).collect(),
        early: AtomicUsize::new(0),
    });
    let drops = DropCounter::new();
    let ids: Vec<TaskId> = (0..n).map(|_| TaskId::fresh()).collect();
    let mut tasks: Vec<_> = (0..n)
        .map(|j| {
            let (shared, my_deps, kind) = (shared.clone(), deps[j].clone(), kinds[j]);
            let guard = drops.guard();
            ExecutableTask::try_new(async move {
                let _guard = guard;
                shared.runs[j].fetch_add(1, SeqCst);
                let mut v = j as u64 + 1;
                for &d in &my_deps {
                    if !shared.done[d].load(SeqCst) {
                        shared.early.fetch_add(1, SeqCst);
                    }
                    v = v
                        .wrapping_mul(31)
                        .wrapping_add(shared.values[d].load(SeqCst));
                }
                match kind {
                    Kind::Ok => {}
                    Kind::Yield => {
                        yield_now().await;
                        yield_now().await;
                    }
                    Kind::Err => return Err(format!("task {j} failed")),
                    Kind::Panic => panic!("intentional panic in task {j}"),
                }
                shared.values[j].store(v, SeqCst);
                shared.done[j].store(true, SeqCst);
                Ok(v)
            })
            .with_id(ids[j])
            .name(format!("t{j}"))
            .dependencies(my_deps_ids(&deps[j], &ids))
        })
        .map(Some)
        .collect();

    let mut handles: Vec<Option<TaskHandle<u64>>> = (0..n).map(|_| None).collect();
    match mode {
        Submit::Batch | Submit::BatchReversed => {
            let mut graph = TaskGraph::with_capacity(rt.handle(), n);
            let order: Vec<usize> = if matches!(mode, Submit::Batch) {
                (0..n).collect()
            } else {
                (0..n).rev().collect()
            };
            for j in order {
                let task = tasks[j].take().unwrap();
                handles[j] = Some(graph.add(task).map_err(|e| format!("add t{j}: {e}"))?);
            }
            graph.submit().map_err(|e| format!("submit: {e}"))?;
        }
        Submit::OneByOne => {
            for j in 0..n {
                let task = tasks[j].take().unwrap();
                handles[j] = Some(rt.submit(task).map_err(|e| format!("submit t{j}: {e}"))?);
            }
        }
    }
    let results: Vec<Result<u64, TaskError>> = rt.block_on(async move {
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.push(h.unwrap().await);
        }
        out
    });

    if shared.early.load(SeqCst) != 0 {
        return Err("a task started before one of its dependencies finished".into());
    }
    for j in 0..n {
        let ran = shared.runs[j].load(SeqCst);
        if ran != u32::from(runs[j]) {
            return Err(format!(
                "t{j} ran {ran} times, expected {} (deps {:?})",
                u32::from(runs[j]),
                deps[j]
            ));
        }
        match (&results[j], kinds[j]) {
            (Ok(v), _) if ok[j] => {
                if *v != value[j] {
                    return Err(format!("t{j} returned {v}, expected {}", value[j]));
                }
            }
            (Err(TaskError::Failed(e)), Kind::Err) if own_failed[j] => {
                if e.to_string() != format!("task {j} failed") {
                    return Err(format!("t{j} failed with the wrong error: {e}"));
                }
            }
            (Err(TaskError::Panicked(msg)), Kind::Panic) if own_failed[j] => {
                if !msg.contains(&format!("intentional panic in task {j}")) {
                    return Err(format!("t{j} panicked with the wrong message: {msg}"));
                }
            }
            (Err(TaskError::DependencyFailed(root)), _) if !runs[j] => {
                let r = ids.iter().position(|id| id == root);
                let valid =
                    r.is_some_and(|r| own_failed[r] && ancestors[j][r / 64] & (1 << (r % 64)) != 0);
                if !valid {
                    return Err(format!(
                        "t{j} names root {root} ({r:?}), which is not an ancestor that \
                         failed on its own"
                    ));
                }
            }
            (other, kind) => {
                return Err(format!(
                    "t{j} ({kind:?}, deps {:?}, expected ok={} runs={}) resolved as {other:?}",
                    deps[j], ok[j], runs[j]
                ))
            }
        }
    }
    drop(rt);
    if drops.dropped() != n {
        return Err(format!("{} of {n} futures were dropped", drops.dropped()));
    }
    Ok(())
}

fn my_deps_ids(deps: &[usize], ids: &[TaskId]) -> Vec<TaskId> {
    deps.iter().map(|&d| ids[d]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_dags_with_failures(spec in tasks(), mode in submit_mode()) {
        quiet_intentional_panics();
        let outcome = watchdog_for("random DAG case", Duration::from_secs(20), move || {
            run_case(spec, mode)
        });
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn wide_random_dags_with_failures(spec in wide_tasks(), mode in submit_mode()) {
        quiet_intentional_panics();
        let outcome = watchdog_for("wide random DAG case", Duration::from_secs(30), move || {
            run_case(spec, mode)
        });
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}
