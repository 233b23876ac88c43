//! Reporting a started ExecutableTask's end to the graph: exactly once, by slot, and
//! in batches.
//!
//! Protocol (the word is the task header's `end_report`):
//! - When a worker picks a task from the ready heap, the graph marks it running (under
//!   the dispatch lock); the worker then stores the task's [`SlotRef`] in the word
//!   ([`note_start`]: after releasing the lock, so that the header's cache miss is not
//!   paid inside it, and before running the task). In between, only runtime shutdown
//!   can complete the task from another thread (an abort of a task whose `Notified` a
//!   worker holds only marks it); its release then finds no slot and reports nothing,
//!   which loses nothing: a closed graph records no end.
//! - The runner, when its last attempt ends, swaps the word for `NO_END_REPORT` and,
//!   if it got a slot, reports its outcome.
//! - The task's release (the harness calls it when the task completes in any way:
//!   finished, aborted before or while running, cancelled at shutdown) swaps the word
//!   too and, if the runner did not report, reports `Cancelled`.
//!
//! So whoever swaps the slot out reports, and the end is reported exactly once. A task
//! that never started (doomed, refused, dropped unsubmitted) has nothing in the word
//! and reports nothing: the graph already knows why it will not run.
//!
//! A report made on one of the runtime's workers goes through the worker
//! (`WorkerCore::buffer_end`). While the worker still holds short tasks it picked in a
//! batch, or the ready heap holds plenty of work (enough for every worker to pick
//! batches, see `Dispatch::exchange`), the end is held back in the worker's buffer
//! (`buffered.rs`) and recorded at its next trip to the graph, together with its next
//! pick: when its picked tasks run out, before it steals or parks, when it holds
//! [`MAX_BUFFERED_ENDS`], or, if its tasks are not short, before it runs its next
//! picked task once the heap no longer holds plenty. So a worker takes the dispatch
//! lock about once per batch, not once per task; an end waits at most for the rest of
//! its worker's batch of short tasks, or for the one task its worker started while
//! work was plenty. The end of a task whose success hands its worker the next link of
//! a claimed chain is held back too, marked as handed over (`dispatch/claim.rs`).
//! Otherwise the end is recorded at once (and the worker picks its next tasks on the
//! same trip). Elsewhere a report is recorded at once.
//!
//! A held-back end may belong to a task whose handle resolves meanwhile: every query
//! that reads what ends change (the task's state, the counts, forgetting finished
//! records, cancelling) records the held-back ends first, so what the handle's owner
//! asks next agrees with the handle. Until an end is recorded the graph counts its
//! task as running, and its dependents wait.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use taskweave_scheduler::{FailureReason, SlotRef};

use crate::runtime::shared::Shared;
use crate::task::{RawTask, NO_END_REPORT};

/// Ends a worker buffers before it applies them (at the latest).
pub(crate) const MAX_BUFFERED_ENDS: usize = 64;

/// A started task's end, to record in the graph.
#[derive(Clone, Copy, Debug)]
pub(crate) struct End {
    pub(crate) at: SlotRef,
    pub(crate) outcome: Result<(), FailureReason>,
    /// The claimed dependent its worker ran next, without a trip to the graph
    /// (`WorkerCore::buffer_end`): recording this end marks it running.
    pub(crate) handed_to: Option<SlotRef>,
}

impl End {
    #[inline]
    pub(crate) fn new(at: SlotRef, outcome: Result<(), FailureReason>) -> End {
        End {
            at,
            outcome,
            handed_to: None,
        }
    }
}

/// Notes the slot a worker picked `task` from in its header, for the report of its
/// end. The worker does this after releasing the dispatch lock and before it runs the
/// task (see the module docs for why that window is harmless).
#[inline]
pub(crate) fn note_start(task: RawTask, at: SlotRef) {
    task.end_report().store(at.to_bits(), Relaxed);
}

/// Takes the task's end report out of its header: `Some(slot)` for the one caller
/// that must report it.
///
/// Both callers hold the task's RUNNING bit (the runner while it polls, the release
/// while the harness completes the task), whose transitions order them: they never
/// claim at once, and the later one reads what the earlier one stored. So a plain
/// load and store do, without a read-modify-write (a locked instruction, which waits
/// for all the task's own stores to drain). Only the worker's `note_start` can race
/// a claim — a release at runtime shutdown, whose closed graph ignores ends anyway
/// (see the module docs).
#[inline]
pub(crate) fn claim(task: RawTask) -> Option<SlotRef> {
    let word = task.end_report();
    match word.load(Acquire) {
        NO_END_REPORT => None,
        bits => {
            word.store(NO_END_REPORT, Release);
            Some(SlotRef::from_bits(bits))
        }
    }
}

/// Reports a claimed end: on one of this runtime's workers through that worker (which
/// may hold it back, see the module docs), elsewhere at once.
#[inline]
pub(crate) fn report(shared: &Shared, end: End) {
    if let Some(end) = crate::runtime::buffer_end(shared, end) {
        let mut ends = vec![end];
        crate::runtime::apply_ends(shared, &mut ends);
    }
}
