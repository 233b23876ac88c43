//! loom models of taskweave's concurrency protocols live in `tests/`; run them with
//! `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg taskweave_loom -C debug-assertions"
//! CARGO_TARGET_DIR=target/loom cargo test -p taskweave-loom-tests --release`.
//!
//! - `tests/task_state.rs`: the task state machine (wake during poll, wake after
//!   complete, abort and JoinHandle drop racing completion, join-waker registration).
//! - `tests/park_idle.rs`: `Parker`, and the injector → notify / search → park protocol
//!   of `Idle` (no lost wake-up, one sleeper woken per notification).
//! - `tests/shutdown.rs`: `OwnedTasks::close_and_shutdown` racing polls, wakes, aborts
//!   and spawns.
//! - `tests/gate.rs`: hand-offs of the monitor's gate for ExecutableTasks (permits:
//!   release vs. enqueue, a release hands off to the waiter and not to a newcomer,
//!   grant vs. abandoned waiter, close vs. waiter; backlog room vs. a waiting
//!   `submit_wait`, a start leaving the backlog, and close) and of a supervised task's
//!   run slot.
//! - `tests/end_report.rs`: a started ExecutableTask's end is reported exactly once,
//!   by its runner or by its release, whether an abort or shutdown races its run.
//! - `tests/buffered_ends.rs`: ends held back on workers are recorded exactly once,
//!   by their worker's exchange or by a query, and a query made after a task's
//!   handle resolved sees its end.
//! - `tests/claims.rs`: a chain a worker claims (`graph/dispatch/claim.rs`) runs each
//!   link at most once and in order, or cancels it, while another thread cancels a
//!   link as the worker hands it over or gives it back; every handle resolves.
//!
//! This library holds what the models share: `model`, drop counters, a scripted
//! probe future and a counting waker. Without `--cfg taskweave_loom` it is empty.

#[cfg(taskweave_loom)]
mod support;
#[cfg(taskweave_loom)]
pub use support::*;
