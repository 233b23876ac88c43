//! Supervision: tasks that are restarted when they fail.
//!
//! - [`spawn_critical`]`(name, config, factory)`: `factory` makes a run, a future
//!   returning `Result<T, E>`; after a failed run — an `Err` or a panic — a new run is
//!   made per the [`RestartConfig`]: a [`RestartPolicy`] (`Never`, `Always`,
//!   `OnPanic`, `OnFailure(predicate)`), a [`Backoff`] (fixed, linear, exponential
//!   with cap and jitter, Fibonacci — the same schedules as ExecutableTask retries),
//!   a restart budget and a stable window that resets it. The [`CriticalHandle`]
//!   resolves to the final outcome and can abort.
//! - [`Supervisor`]: named critical tasks added, restarted and killed at run time,
//!   with a per-task [`TaskStatus`], a dead-task threshold that shuts it down,
//!   [`wait_all`](Supervisor::wait_all) for every outcome, and a shutdown that
//!   cancels everything.
//!
//! Files: `policy.rs` (policy, configuration, the pure restart decision),
//! `control.rs` (status cell shared by runner, handle and supervisor), `runner.rs`
//! (the supervising loop), `critical.rs` (`spawn_critical`), `supervisor.rs`,
//! `error.rs`.
//!
//! Invariants:
//! - Each run is its own task: a panic in it is caught by the runtime and becomes a
//!   [`Failure::Panic`]; a panicking factory becomes a [`Failure::FactoryPanic`] and
//!   is never restarted. Nothing the supervised code does takes down the runner, the
//!   supervisor or a worker.
//! - A run that returns `Ok` is final ([`TaskStatus::Completed`]); no policy restarts
//!   success.
//! - At most one run of a task is alive at any time; the next starts only after the
//!   previous one's task completed.
//! - The restart decision is pure (see `policy.rs`): with made-up instants the backoff
//!   sequence and the stable window are deterministic.
//! - Statuses only move forward into a final state (`Completed`, `Failed`, `Dead`,
//!   `Killed`), and the final status agrees with the outcome: `Completed` ⇔ `Ok`,
//!   `Failed` ⇔ [`CriticalError::Failed`], `Dead` ⇔ [`CriticalError::Exhausted`],
//!   `Killed` ⇔ [`CriticalError::Cancelled`].
//! - Bad input is an error, never a panic or a hang: a zero restart budget with a
//!   restarting policy or a zero stable window ([`RestartConfigError`]), an empty or
//!   duplicate name, an unknown task, use after shutdown, a zero dead-task threshold
//!   ([`SupervisorError`]).
//!
//! ```
//! use std::time::Duration;
//! use taskweave_executor::supervise::{Backoff, RestartConfig, RestartPolicy, Supervisor, TaskStatus};
//!
//! let rt = taskweave_executor::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let sup = Supervisor::<(), String>::builder().dead_threshold(1).build().unwrap();
//!     let config = RestartConfig::builder(RestartPolicy::OnPanic)
//!         .backoff(Backoff::exponential(Duration::from_millis(1), Duration::from_millis(8), 0.5))
//!         .max_restarts(3)
//!         .build()
//!         .unwrap();
//!     sup.add("server", config, || async { std::future::pending::<Result<(), String>>().await }).unwrap();
//!     sup.add("crasher", RestartConfig::builder(RestartPolicy::Always).backoff(Backoff::fixed(Duration::ZERO)).max_restarts(1).build().unwrap(),
//!             || async { panic!("bug") }).unwrap();
//!     // "crasher" dies after one restart, which reaches the threshold: everything stops.
//!     let outcomes = sup.wait_all().await.unwrap();
//!     assert_eq!(outcomes[0].status, TaskStatus::Killed);
//!     assert_eq!(outcomes[1].status, TaskStatus::Dead);
//! });
//! ```

mod control;
mod critical;
mod error;
mod policy;
pub(crate) mod runner;
mod supervisor;

pub use crate::graph::Backoff;
pub use control::TaskStatus;
pub use critical::{spawn_critical, CriticalHandle};
pub use error::{CriticalError, Failure, RestartConfigError, SupervisorError};
pub use policy::{FailurePredicate, RestartConfig, RestartConfigBuilder, RestartPolicy};
pub use supervisor::{ShutdownReason, Supervisor, SupervisorBuilder, TaskInfo, TaskOutcome};
