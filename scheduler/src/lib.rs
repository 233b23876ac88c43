//! taskweave's scheduler: the thread-free half of ExecutableTasks.
//!
//! - [`TaskSpec`], [`TaskId`], [`Priority`], [`ResourceRequirements`]: what a task
//!   declares (the executor keeps the future next to it); [`SpecBatch`]: many specs
//!   stored column-wise, for submitting large batches.
//! - [`DependencyGraph`]: atomic batch submission with clear errors (duplicates, unknown
//!   dependencies, named cycles), per-task states, O(successors) completion with
//!   counters, transitive failure with root causes, cancellation, critical-path ranks.
//! - [`ReadyQueue`]: the ready heap — overdue first, then priority + deadline boost +
//!   aging evaluated at the pop, then critical-path rank, then FIFO.
//! - [`Clock`], [`SystemClock`], [`FakeClock`]: time is always passed in, so all of the
//!   above is testable without sleeping.
//! - [`Dag`] generators and [`simulate`]: a deterministic event-driven simulator that
//!   runs the real graph and ready queue on P virtual workers and reports makespan
//!   against the lower bound `max(critical path, work / P)`.
//!
//! Nothing here spawns threads or knows about the executor; the crate is a leaf.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use taskweave_scheduler::{DependencyGraph, ReadyQueue, TaskId, TaskSpec};
//!
//! let ms = Duration::from_millis;
//! let (a, b, c) = (TaskId::new(1), TaskId::new(2), TaskId::new(3));
//! let mut graph = DependencyGraph::new();
//! let mut ready = ReadyQueue::new();
//! let now = Instant::now();
//!
//! // `c` is on the longer path (a -> c), so among the two ready tasks it goes first.
//! let out = graph
//!     .add_batch(&[
//!         TaskSpec::new(a).estimated_duration(ms(5)),
//!         TaskSpec::new(b).estimated_duration(ms(1)),
//!         TaskSpec::new(c).estimated_duration(ms(5)).dependency(a),
//!     ])
//!     .unwrap();
//! for id in out.ready {
//!     ready.push(graph.ready_key(id, now).unwrap(), id);
//! }
//! let first = ready.pop(now).unwrap();
//! assert_eq!(first, a);
//! graph.mark_running(first).unwrap();
//! let done = graph.complete(first, true).unwrap();
//! assert_eq!(done.ready, vec![c]);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod clock;
pub mod dag;
pub mod error;
pub mod graph;
pub mod id;
pub mod ready;
pub mod sim;
pub mod spec;
pub mod spec_batch;

pub use clock::{Clock, FakeClock, SystemClock};
pub use dag::Dag;
pub use error::{FailureReason, GraphError, SpecError, StateError};
pub use graph::{BatchOutcome, Completion, DependencyGraph, Released, SlotRef, TaskState};
pub use id::{IdHasher, IdMap, TaskId};
pub use ready::{Best, EntryId, PeekMut, ReadyKey, ReadyQueue, ReadyQueueConfig};
pub use sim::{sim_epoch, simulate, simulate_with_trace, Policy, ScheduledTask, SimReport};
pub use spec::{Dependencies, Priority, ResourceRequirements, TaskSpec};
pub use spec_batch::SpecBatch;
