//! Property tests: random DAGs, submitted in random batches and driven in random
//! orders with random failures and cancellations, against a plain model.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use taskweave_scheduler::{
    BatchOutcome, Completion, DependencyGraph, FailureReason, TaskId, TaskSpec, TaskState,
};

#[derive(Clone, Debug)]
struct Case {
    /// `deps[j]`: dependencies of task `j`, all `< j` (repeats allowed).
    deps: Vec<Vec<usize>>,
    /// Batch boundaries: task `j` is in batch `k` for `cuts[k-1] <= j < cuts[k]`.
    cuts: Vec<usize>,
    /// Random choices consumed by the driver.
    choices: Vec<u32>,
}

fn case() -> impl Strategy<Value = Case> {
    case_of(1..40, 4)
}

/// Cases of `sizes` tasks cut into at most `max_cuts + 1` batches.
fn case_of(sizes: std::ops::Range<usize>, max_cuts: usize) -> impl Strategy<Value = Case> {
    sizes.prop_flat_map(move |n| {
        let deps = (0..n)
            .map(|j| {
                if j == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    prop::collection::vec(0..j, 0..4).boxed()
                }
            })
            .collect::<Vec<_>>();
        (
            deps,
            prop::collection::btree_set(1..n.max(2), 0..max_cuts),
            prop::collection::vec(any::<u32>(), 0..200),
        )
            .prop_map(move |(deps, cuts, choices)| {
                let mut cuts: Vec<usize> = cuts.into_iter().filter(|&c| c < n).collect();
                cuts.push(n);
                Case {
                    deps,
                    cuts,
                    choices,
                }
            })
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Model {
    Waiting,
    Ready,
    Running,
    Succeeded,
    Failed(FailureReason),
}

struct Driver {
    deps: Vec<Vec<usize>>,
    graph: DependencyGraph,
    state: Vec<Option<Model>>,
    reported_ready: HashSet<usize>,
    reported_failed: HashSet<usize>,
}

thread_local! {
    /// The distance between the ids of consecutive tasks (see `tid`).
    static STRIDE: std::cell::Cell<u64> = const { std::cell::Cell::new(7) };
}

fn tid(i: usize) -> TaskId {
    // Not simply the index; with stride 1, a batch's ids are contiguous (and a large
    // batch is recorded as one block of ids).
    TaskId::new(i as u64 * STRIDE.get() + 3)
}

impl Driver {
    fn idx(&self, id: TaskId) -> usize {
        ((id.as_u64() - 3) / STRIDE.get()) as usize
    }

    fn ready(&mut self, id: TaskId) -> Result<(), TestCaseError> {
        let i = self.idx(id);
        prop_assert!(
            self.reported_ready.insert(i),
            "task {i} reported ready twice"
        );
        for &d in &self.deps[i] {
            prop_assert_eq!(
                self.state[d],
                Some(Model::Succeeded),
                "{} ready before {}",
                i,
                d
            );
        }
        prop_assert_eq!(self.state[i], Some(Model::Waiting));
        self.state[i] = Some(Model::Ready);
        Ok(())
    }

    fn failed(&mut self, id: TaskId, root: TaskId) -> Result<(), TestCaseError> {
        let i = self.idx(id);
        prop_assert!(
            self.reported_failed.insert(i),
            "task {i} reported failed twice"
        );
        prop_assert_eq!(
            self.state[i],
            Some(Model::Waiting),
            "only waiting tasks are doomed"
        );
        let r = self.idx(root);
        prop_assert!(
            self.is_ancestor(r, i),
            "root {} is not an ancestor of {}",
            r,
            i
        );
        prop_assert!(
            matches!(self.state[r], Some(Model::Failed(reason)) if !matches!(reason, FailureReason::DependencyFailed(_))),
            "root {} did not fail by itself",
            r
        );
        self.state[i] = Some(Model::Failed(FailureReason::DependencyFailed(root)));
        Ok(())
    }

    fn is_ancestor(&self, a: usize, i: usize) -> bool {
        let mut stack = vec![i];
        let mut seen = HashSet::new();
        while let Some(x) = stack.pop() {
            for &d in &self.deps[x] {
                if d == a {
                    return true;
                }
                if seen.insert(d) {
                    stack.push(d);
                }
            }
        }
        false
    }

    fn apply_batch(&mut self, out: BatchOutcome) -> Result<(), TestCaseError> {
        for id in out.ready {
            self.ready(id)?;
        }
        for (id, root) in out.failed {
            self.failed(id, root)?;
        }
        Ok(())
    }

    fn apply(&mut self, out: Completion) -> Result<(), TestCaseError> {
        for id in out.ready {
            self.ready(id)?;
        }
        for (id, root) in out.failed {
            self.failed(id, root)?;
        }
        Ok(())
    }

    /// The graph's view of every added task equals the model's.
    fn check_states(&self) -> Result<(), TestCaseError> {
        for (i, m) in self.state.iter().enumerate() {
            let Some(m) = *m else { continue };
            let got = self.graph.state(tid(i)).expect("known");
            let expected = match m {
                Model::Waiting => TaskState::Waiting {
                    remaining: self.deps[i]
                        .iter()
                        .filter(|&&d| self.state[d] != Some(Model::Succeeded))
                        .count() as u32,
                },
                Model::Ready => TaskState::Ready,
                Model::Running => TaskState::Running,
                Model::Succeeded => TaskState::Succeeded,
                Model::Failed(r) => TaskState::Failed(r),
            };
            prop_assert_eq!(got, expected, "task {}", i);
        }
        Ok(())
    }
}

fn drive(case: Case) -> Result<(), TestCaseError> {
    let n = case.deps.len();
    let mut d = Driver {
        deps: case.deps.clone(),
        graph: DependencyGraph::new(),
        state: vec![None; n],
        reported_ready: HashSet::new(),
        reported_failed: HashSet::new(),
    };
    let mut batches = case.cuts.iter().copied().peekable();
    let mut next_task = 0;
    let mut choices = case.choices.into_iter();
    loop {
        let with_state = |m: Model, d: &Driver| -> Vec<usize> {
            (0..n).filter(|&i| d.state[i] == Some(m)).collect()
        };
        let ready = with_state(Model::Ready, &d);
        let running = with_state(Model::Running, &d);
        let waiting = with_state(Model::Waiting, &d);
        let can_add = batches.peek().is_some();
        if ready.is_empty() && running.is_empty() && !can_add {
            break;
        }
        // Once the random choices run out: add, start, succeed, in that order.
        let c = choices.next();
        let action = c.map_or(u32::MAX, |c| c % 10);
        let pick = |v: &[usize]| v[(c.unwrap_or(0) / 10) as usize % v.len()];
        if can_add && (action < 2 || (c.is_none() && ready.is_empty() && running.is_empty())) {
            let end = batches.next().unwrap();
            let mut specs: Vec<TaskSpec> = (next_task..end)
                .map(|j| TaskSpec::new(tid(j)).dependencies(case.deps[j].iter().map(|&x| tid(x))))
                .collect();
            if c.is_some_and(|c| c & (1 << 20) != 0) {
                // Out of topological order: the graph's general (Kahn) path.
                specs.reverse();
            }
            for j in next_task..end {
                d.state[j] = Some(Model::Waiting);
            }
            next_task = end;
            let out = d.graph.add_batch(&specs).expect("valid batch");
            d.apply_batch(out)?;
        } else if !ready.is_empty() && (action < 5 || running.is_empty()) {
            let i = pick(&ready);
            d.graph.mark_running(tid(i)).unwrap();
            d.state[i] = Some(Model::Running);
        } else if !running.is_empty() && action < 9 {
            let i = pick(&running);
            let outcome = match action {
                8 => Err(FailureReason::Panicked),
                7 => Err(FailureReason::TimedOut),
                _ => Ok(()),
            };
            d.state[i] = Some(match outcome {
                Ok(()) => Model::Succeeded,
                Err(r) => Model::Failed(r),
            });
            let out = d.graph.complete_with(tid(i), outcome).unwrap();
            d.apply(out)?;
        } else if action == 9 && !(ready.is_empty() && waiting.is_empty()) {
            let candidates: Vec<usize> = ready.iter().chain(&waiting).copied().collect();
            let i = pick(&candidates);
            d.state[i] = Some(Model::Failed(FailureReason::Cancelled));
            let out = d.graph.cancel(tid(i)).unwrap();
            d.apply(out)?;
        } else if !running.is_empty() {
            let i = running[0];
            d.state[i] = Some(Model::Succeeded);
            let out = d.graph.complete(tid(i), true).unwrap();
            d.apply(out)?;
        }
        d.check_states()?;
    }

    // Everything finished exactly once; nothing is stuck.
    prop_assert!(
        d.graph.is_empty(),
        "{} tasks left unfinished",
        d.graph.len()
    );
    let mut own_failures = HashMap::new();
    for i in 0..n {
        match d.state[i].expect("added") {
            Model::Succeeded => {
                prop_assert!(d.reported_ready.contains(&i));
                for &p in &d.deps[i] {
                    prop_assert_eq!(d.state[p], Some(Model::Succeeded));
                }
            }
            Model::Failed(FailureReason::DependencyFailed(_)) => {
                prop_assert!(!d.reported_ready.contains(&i), "a doomed task was ready");
            }
            Model::Failed(r) => {
                own_failures.insert(i, r);
            }
            other => prop_assert!(false, "task {} ended {:?}", i, other),
        }
    }
    // Failures propagate exactly to descendants: a task that did not fail by itself
    // fails iff some dependency did not succeed.
    for i in 0..n {
        if own_failures.contains_key(&i) {
            continue;
        }
        let dep_failed = d.deps[i]
            .iter()
            .any(|&p| d.state[p] != Some(Model::Succeeded));
        let failed = matches!(d.state[i], Some(Model::Failed(_)));
        prop_assert_eq!(dep_failed, failed, "task {}", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_dags_in_random_orders(case in case()) {
        STRIDE.set(7);
        drive(case)?;
    }

    /// Large batches of contiguous ids (recorded as blocks of ids).
    #[test]
    fn random_dags_with_contiguous_ids(case in case_of(32..120, 2)) {
        STRIDE.set(1);
        drive(case)?;
    }
}
