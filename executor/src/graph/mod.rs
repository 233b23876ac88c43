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
//!   `taskweave_scheduler::ReadyQueue`. Wake-ups of a started task go through the same
//!   heap, so its priority holds; plain `spawn` never touches it.
//!
//! Files: `executable.rs` (builder), `body.rs` (what runs), `run.rs` (the runner:
//! attempts, timeout, retries, reporting), `retry.rs` (policies and backoff),
//! `dispatch.rs` (graph + ready heap under one lock), `submit.rs`, `handle.rs`,
//! `stats.rs` (counters: submitted, started, outcomes; [`GraphMetrics`]),
//! `admit.rs` (the resource monitor's gate: in-flight permits taken at a task's first
//! poll, resource admission), `backlog.rs` (backpressure on pending tasks).

pub(crate) mod admit;
pub(crate) mod backlog;
mod body;
pub(crate) mod dispatch;
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
pub use stats::GraphMetrics;
pub use submit::{SubmitError, TaskGraph};
pub use taskweave_scheduler::{
    FailureReason, GraphError, Priority, ResourceRequirements, TaskId, TaskSpec,
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

impl crate::runtime::Handle {
    /// Reports a started ExecutableTask's end to the graph (`at`: its slot, if known)
    /// and gets what it released running. Returns false if the graph refused it (already finished: a
    /// cancellation won).
    ///
    /// On one of this runtime's workers (where a task's end is normally reported), the
    /// best ready task is taken in the same critical section and handed to the worker
    /// to run next; only work beyond that wakes a sleeper.
    pub(crate) fn complete_executable(
        &self,
        id: TaskId,
        at: Option<taskweave_scheduler::SlotRef>,
        outcome: Result<(), FailureReason>,
        from_runner: bool,
    ) -> bool {
        let shared = &self.shared;
        let mut doomed = Vec::new();
        let on_worker = crate::runtime::on_worker_of(shared);
        let mut next = None;
        let mut ended = None;
        let released = shared.dispatch.complete(
            id,
            at,
            outcome,
            from_runner,
            &mut doomed,
            &mut ended,
            on_worker.then_some(&mut next),
        );
        // The graph's ownership of the task (not the last reference: the task is being
        // polled, or its canceller holds its JoinHandle).
        drop(ended);
        if let Some(task) = next {
            crate::runtime::run_next_on_this_worker(shared, task);
        }
        if released.is_some() && shared.dispatch.has_ready() {
            shared.notify_one();
        }
        cancel_doomed(doomed);
        released.is_some()
    }
}
