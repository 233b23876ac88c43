//! ExecutableTasks: futures with dependencies, priorities, deadlines, timeouts and
//! retries, run by the runtime's workers in the order the ready heap decides.
//!
//! - [`ExecutableTask`]: the task and its metadata; [`TaskHandle`]: its result.
//! - [`Handle::submit`](crate::Handle::submit), [`TaskGraph`]: atomic submission with
//!   clear [`SubmitError`]s (unknown/duplicate ids, named cycles, needs beyond the
//!   machine).
//! - A task runs once every dependency succeeded. If one fails (error, panic,
//!   timeout, cancellation), every transitive dependent fails with
//!   [`TaskError::DependencyFailed`] without running.
//! - Order among ready tasks: overdue deadlines first, then priority boosted as the
//!   deadline nears and as the task waits, then the critical path, then FIFO — see
//!   `taskweave_scheduler::ReadyQueue`. With several workers running short tasks,
//!   FIFO among exact ties holds per worker: a task released by a worker's task runs
//!   there before older tied tasks (`dispatch.rs`). Wake-ups of a started task go
//!   through the same heap, so its priority holds; plain `spawn` never touches it.
//!
//! Files: `executable.rs` (builder), `body.rs` (what runs), `run.rs` (the runner:
//! attempts, timeout, retries), `ended.rs` (reporting a task's end to the graph,
//! exactly once, in batches), `buffered.rs` (ends held back on the workers),
//! `retry.rs` (policies and backoff), `dispatch.rs` (graph + ready heap under one
//! lock; `dispatch/pick.rs`: what a worker's trip takes to run), `submit.rs`,
//! `handle.rs`, `stats.rs` (counters: submitted, started, outcomes;
//! [`GraphMetrics`]), `admit.rs` (the resource monitor's gate: in-flight permits taken
//! at a task's first poll, resource admission; `admit/ledger.rs`: the workers'
//! batched share of it), `backlog.rs` (backpressure on pending tasks).

pub(crate) mod admit;
pub(crate) mod backlog;
mod body;
pub(crate) mod buffered;
pub(crate) mod dispatch;
pub(crate) mod ended;
mod executable;
mod handle;
mod retry;
mod run;
pub(crate) mod stats;
mod submit;

pub use body::{BoxError, Factory, Once, OnceFallible, TaskBody};
pub use executable::ExecutableTask;
pub use handle::{TaskError, TaskHandle};
pub use retry::{Backoff, RetryOn, RetryPolicy};
pub use stats::{GraphCounts, GraphMetrics};
pub use submit::{SubmitError, TaskGraph};
pub use taskweave_scheduler::{
    FailureReason, GraphError, Priority, ReadyQueueConfig, ResourceRequirements, TaskId, TaskSpec,
};

pub(crate) use run::panic_message;
pub(crate) use submit::MachineLimits;

/// Cancels never-started tasks (outside any lock): their futures are dropped unpolled
/// and their handles resolve.
pub(crate) fn cancel_doomed(doomed: dispatch::Doomed) {
    for (task, root) in doomed {
        // The root cause travels with the cancellation, so the TaskHandle can report
        // `DependencyFailed(root)` even after the graph forgot the record.
        task.cancel(root.map(TaskId::as_u64));
    }
}
