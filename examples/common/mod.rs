//! What the task-graph examples (`dag_phases`, `spawn_graph_bound`) share: the `dag`
//! benchmark's shapes and the worker count from `W`.

use std::time::Duration;

use taskweave_scheduler::Dag;

/// The shape names, for usage messages.
pub const SHAPES: &str = "wavefront|chain|tree|random";

/// One of the `dag` benchmark's shapes by name: `wavefront` (256x256), `chain`
/// (65,536), `tree` (binary, 65,535) or `random` (Erdős–Rényi, 10,000 tasks, average
/// degree 3, seed 42).
pub fn shape(name: &str) -> Option<Dag> {
    let unit = Duration::from_micros(1);
    Some(match name {
        "wavefront" => Dag::wavefront(256, 256),
        "chain" => Dag::chain(65_536),
        "tree" => Dag::binary_tree(65_535),
        "random" => Dag::erdos_renyi(10_000, 3.0 / 9_999.0, 42, unit..=unit),
        _ => return None,
    })
}

/// Each task's dependencies, as indices (the generated ids are indices).
pub fn dependencies(dag: &Dag) -> Vec<Box<[u32]>> {
    dag.specs()
        .iter()
        .map(|s| s.dependencies.iter().map(|d| d.as_u64() as u32).collect())
        .collect()
}

/// The worker count: `W` from the environment, 2 if unset.
pub fn workers() -> Result<usize, &'static str> {
    match std::env::var("W").map(|s| s.parse::<usize>()) {
        Err(_) => Ok(2),
        Ok(Ok(n)) if n > 0 => Ok(n),
        Ok(_) => Err("W must be a positive integer"),
    }
}
