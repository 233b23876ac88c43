//! Task DAGs for the simulator, tests and benchmarks, and seeded generators.
//!
//! Invariants:
//! - A [`Dag`] is a list of [`TaskSpec`]s that is closed (every dependency is in the
//!   list) and acyclic; [`Dag::from_specs`] checks both. Each spec's
//!   `estimated_duration` is the task's duration in simulations.
//! - Generated DAGs use ids `0..n` in index order and are fully determined by their
//!   parameters and seed (the generator is a SplitMix64 of our own; no `rand`).
//! - Generated edges point from lower to higher index in [`Dag::erdos_renyi`] and
//!   [`Dag::layered`] (a fixed topological order), so they cannot form cycles.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::{DependencyGraph, GraphError, TaskId, TaskSpec};

/// A closed, acyclic set of task specs.
///
/// ```
/// use std::time::Duration;
/// use taskweave_scheduler::Dag;
///
/// let us = Duration::from_micros;
/// let dag = Dag::erdos_renyi(300, 0.01, 7, us(1)..=us(100));
/// assert_eq!(dag.len(), 300);
/// assert!(dag.critical_path() <= dag.total_work());
/// assert!(dag.average_parallelism() >= 1.0);
/// ```
#[derive(Clone, Debug)]
pub struct Dag {
    specs: Vec<TaskSpec>,
}

impl Dag {
    /// A DAG from specs; fails if a dependency is missing, an id repeats, or there is a
    /// cycle (the same checks as [`DependencyGraph::add_batch`]).
    ///
    /// ```
    /// use taskweave_scheduler::{Dag, TaskId, TaskSpec};
    ///
    /// let ok = Dag::from_specs(vec![
    ///     TaskSpec::new(TaskId::new(1)),
    ///     TaskSpec::new(TaskId::new(2)).dependency(TaskId::new(1)),
    /// ]);
    /// assert_eq!(ok.unwrap().edge_count(), 1);
    /// assert!(Dag::from_specs(vec![TaskSpec::new(TaskId::new(1)).dependency(TaskId::new(5))]).is_err());
    /// ```
    pub fn from_specs(specs: Vec<TaskSpec>) -> Result<Dag, GraphError> {
        DependencyGraph::new().add_batch(&specs)?;
        Ok(Dag { specs })
    }

    /// The specs, in the order given or generated.
    pub fn specs(&self) -> &[TaskSpec] {
        &self.specs
    }

    /// The specs, by value.
    pub fn into_specs(self) -> Vec<TaskSpec> {
        self.specs
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Number of dependency edges.
    pub fn edge_count(&self) -> usize {
        self.specs.iter().map(|s| s.dependencies.len()).sum()
    }

    /// Sum of all durations.
    pub fn total_work(&self) -> Duration {
        self.specs.iter().map(|s| s.estimated_duration).sum()
    }

    /// Length of the longest path, summing durations (computed here independently of
    /// the graph's ranks).
    pub fn critical_path(&self) -> Duration {
        let index: HashMap<TaskId, usize> = self
            .specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        let n = self.specs.len();
        let mut successors = vec![Vec::new(); n];
        let mut pending = vec![0usize; n];
        for (i, s) in self.specs.iter().enumerate() {
            for d in &s.dependencies {
                successors[index[d]].push(i);
                pending[i] += 1;
            }
        }
        // Longest path ending at each task (finish time with infinite workers).
        let mut finish = vec![Duration::ZERO; n];
        let mut start = vec![Duration::ZERO; n];
        let mut stack: Vec<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
        while let Some(i) = stack.pop() {
            finish[i] = start[i] + self.specs[i].estimated_duration;
            for &j in &successors[i] {
                start[j] = start[j].max(finish[i]);
                pending[j] -= 1;
                if pending[j] == 0 {
                    stack.push(j);
                }
            }
        }
        finish.into_iter().max().unwrap_or(Duration::ZERO)
    }

    /// `total_work / critical_path`: how many workers the DAG can keep busy on average
    /// (1.0 for an empty or zero-length DAG).
    pub fn average_parallelism(&self) -> f64 {
        let cp = self.critical_path().as_secs_f64();
        if cp == 0.0 {
            return 1.0;
        }
        self.total_work().as_secs_f64() / cp
    }

    /// Erdős–Rényi DAG on a fixed order: `n` tasks, and for every pair `i < j` an edge
    /// `i -> j` (task `j` depends on `i`) with probability `p`; durations uniform in
    /// `durations`. The expected degree (in + out) is `p * (n - 1)`. O(n + edges).
    pub fn erdos_renyi(n: usize, p: f64, seed: u64, durations: RangeInclusive<Duration>) -> Dag {
        let mut rng = SplitMix64::new(seed);
        let mut specs = Vec::with_capacity(n);
        for j in 0..n {
            let mut spec =
                TaskSpec::new(TaskId::new(j as u64)).estimated_duration(rng.duration(&durations));
            let mut i = rng.geometric(p);
            while i < j {
                spec.dependencies.push(TaskId::new(i as u64));
                i = i.saturating_add(1).saturating_add(rng.geometric(p));
            }
            specs.push(spec);
        }
        Dag { specs }
    }

    /// Layer-by-layer DAG: `layers` layers of `width` tasks (id `layer * width + k`);
    /// each task of layer `l > 0` depends on each task of layer `l - 1` with probability
    /// `edge_prob`, and on one uniformly chosen task of layer `l - 1` if the coin gave
    /// it none (so every layer really waits for the previous one). Durations uniform in
    /// `durations`.
    pub fn layered(
        layers: usize,
        width: usize,
        edge_prob: f64,
        seed: u64,
        durations: RangeInclusive<Duration>,
    ) -> Dag {
        let mut rng = SplitMix64::new(seed);
        let mut specs = Vec::with_capacity(layers * width);
        for l in 0..layers {
            for k in 0..width {
                let id = (l * width + k) as u64;
                let mut spec =
                    TaskSpec::new(TaskId::new(id)).estimated_duration(rng.duration(&durations));
                if l > 0 {
                    let prev = (l - 1) * width;
                    for m in 0..width {
                        if rng.chance(edge_prob) {
                            spec.dependencies.push(TaskId::new((prev + m) as u64));
                        }
                    }
                    if spec.dependencies.is_empty() && width > 0 {
                        let m = rng.below(width as u64) as usize;
                        spec.dependencies.push(TaskId::new((prev + m) as u64));
                    }
                }
                specs.push(spec);
            }
        }
        Dag { specs }
    }

    /// The `rows x cols` wavefront: task `(r, c)` (id `r * cols + c`) depends on
    /// `(r - 1, c)` and `(r, c - 1)`. Every task lasts 1 µs.
    pub fn wavefront(rows: usize, cols: usize) -> Dag {
        let id = |r: usize, c: usize| TaskId::new((r * cols + c) as u64);
        let mut specs = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let mut spec = TaskSpec::new(id(r, c)).estimated_duration(UNIT);
                if r > 0 {
                    spec.dependencies.push(id(r - 1, c));
                }
                if c > 0 {
                    spec.dependencies.push(id(r, c - 1));
                }
                specs.push(spec);
            }
        }
        Dag { specs }
    }

    /// A linear chain: task `i` depends on task `i - 1`. Every task lasts 1 µs.
    pub fn chain(n: usize) -> Dag {
        let specs = (0..n)
            .map(|i| {
                let spec = TaskSpec::new(TaskId::new(i as u64)).estimated_duration(UNIT);
                if i > 0 {
                    spec.dependency(TaskId::new(i as u64 - 1))
                } else {
                    spec
                }
            })
            .collect();
        Dag { specs }
    }

    /// A binary reduction tree of `n` tasks in heap order: task `i` depends on its
    /// children `2i + 1` and `2i + 2` (those below `n`), so the leaves run first and
    /// the root (task 0) last. Every task lasts 1 µs.
    pub fn binary_tree(n: usize) -> Dag {
        let specs = (0..n)
            .map(|i| {
                let children = [2 * i + 1, 2 * i + 2];
                TaskSpec::new(TaskId::new(i as u64))
                    .estimated_duration(UNIT)
                    .dependencies(
                        children
                            .into_iter()
                            .filter(|&c| c < n)
                            .map(|c| TaskId::new(c as u64)),
                    )
            })
            .collect();
        Dag { specs }
    }
}

/// Duration of every task of the benchmark shapes.
const UNIT: Duration = Duration::from_micros(1);

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for generating
/// test graphs.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2^-64 * n).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Failures before the first success of a Bernoulli(p) sequence.
    pub(crate) fn geometric(&mut self, p: f64) -> usize {
        if p >= 1.0 {
            return 0;
        }
        if p <= 0.0 || p.is_nan() {
            return usize::MAX;
        }
        let u = 1.0 - self.unit(); // (0, 1]
        let k = (u.ln() / (1.0 - p).ln()).floor();
        if k >= usize::MAX as f64 {
            usize::MAX
        } else {
            k as usize
        }
    }

    /// Uniform in the range, to the nanosecond.
    pub(crate) fn duration(&mut self, range: &RangeInclusive<Duration>) -> Duration {
        let lo = range.start().as_nanos() as u64;
        let hi = range.end().as_nanos() as u64;
        if hi <= lo {
            return *range.start();
        }
        Duration::from_nanos(lo + self.below(hi - lo + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn generators_are_closed_acyclic_and_deterministic() {
        let a = Dag::erdos_renyi(400, 0.01, 3, us(1)..=us(100));
        let b = Dag::erdos_renyi(400, 0.01, 3, us(1)..=us(100));
        assert_eq!(a.specs(), b.specs());
        for dag in [
            a,
            Dag::layered(10, 20, 0.1, 5, us(1)..=us(100)),
            Dag::wavefront(7, 9),
            Dag::chain(50),
            Dag::binary_tree(63),
        ] {
            Dag::from_specs(dag.into_specs()).expect("closed and acyclic");
        }
    }

    #[test]
    fn erdos_renyi_edge_density() {
        let n = 1000;
        let p = 0.004;
        let dag = Dag::erdos_renyi(n, p, 11, us(1)..=us(100));
        let expected = p * (n * (n - 1) / 2) as f64;
        let got = dag.edge_count() as f64;
        assert!(
            (got - expected).abs() < 4.0 * expected.sqrt(),
            "{got} edges, expected about {expected}"
        );
        for s in dag.specs() {
            assert!(s.dependencies.iter().all(|d| *d < s.id));
            let d = s.estimated_duration;
            assert!(d >= us(1) && d <= us(100));
        }
    }

    #[test]
    fn shapes_have_known_critical_paths() {
        assert_eq!(Dag::chain(10).critical_path(), us(10));
        assert_eq!(Dag::wavefront(4, 6).critical_path(), us(4 + 6 - 1));
        assert_eq!(Dag::binary_tree(15).critical_path(), us(4));
        assert_eq!(Dag::binary_tree(15).edge_count(), 14);
        assert_eq!(Dag::wavefront(4, 6).edge_count(), 3 * 6 + 4 * 5);
        let chain = Dag::chain(8);
        assert!((chain.average_parallelism() - 1.0).abs() < 1e-9);
        let flat = Dag::layered(1, 8, 0.5, 1, us(5)..=us(5));
        assert_eq!(flat.edge_count(), 0);
        assert!((flat.average_parallelism() - 8.0).abs() < 1e-9);
    }

    #[test]
    fn layered_waits_for_previous_layer() {
        let dag = Dag::layered(5, 10, 0.05, 9, us(1)..=us(10));
        for s in &dag.specs()[10..] {
            assert!(!s.dependencies.is_empty());
            let layer = s.id.as_u64() / 10;
            assert!(s.dependencies.iter().all(|d| d.as_u64() / 10 == layer - 1));
        }
    }

    #[test]
    fn rng_ranges() {
        let mut r = SplitMix64::new(1);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(r.geometric(1.0), 0);
        assert_eq!(r.geometric(0.0), usize::MAX);
        let mean = (0..20000).map(|_| r.geometric(0.25) as f64).sum::<f64>() / 20000.0;
        assert!((mean - 3.0).abs() < 0.15, "mean {mean}");
    }
}
