//! Chains run without a trip to the graph per link: an exchange that starts one task
//! for a worker of short tasks, and leaves the heap empty, *claims* the task's chain —
//! its one dependent if that waits for nothing else, that one's likewise, and so on
//! (at most [`MAX_CLAIMED`]) — by taking their first-run references out of their
//! slots ahead. The worker runs each claimed task right after the one before it
//! succeeds, if the heap is still empty then (`WorkerCore::buffer_end`), and holds
//! back that end marked as handed to it.
//!
//! Invariants (the graph's side under the dispatch lock; the worker's side on its
//! thread):
//! - A claimed task stays `Waiting` for its predecessor in the graph, with its slot's
//!   payload holding only the ownership reference; its `Notified` is in its worker's
//!   claims, in chain order, and nowhere else. Nothing else can make it ready: only
//!   its predecessor's end can, and that end is reported by the worker holding the
//!   claims (the predecessor runs there, picked or handed over in turn).
//! - Recording an end handed to a claimed task ([`Inner::start_handed`]) marks that
//!   task running, as if the exchange that released it had started it directly: a
//!   claimed task runs only once its predecessor has succeeded, and on the worker
//!   that ran it, as `start_released` would have it with the heap empty. Ends held
//!   back by one worker are recorded in the order it held them back, so the
//!   predecessor's end is recorded before the claimed task's own. (A claimed task that
//!   was handed over and then woken goes back into the heap through `push_wake`, which
//!   records every held-back end first; so wherever it ends, its start is recorded
//!   before its end.)
//! - Otherwise — its predecessor failed, was cancelled, did not finish in its first
//!   poll, or the heap holds work — the worker gives its claims back on its next trip
//!   to the graph, before any end is recorded ([`Inner::give_back`]): each is `Waiting`
//!   with its `Notified` as before, and the heap decides as usual.
//! - A claimed task counts as started for cancellation (its `Notified` is out, as a
//!   picked task's is): `cancel` marks its cell cancelled, under the dispatch lock.
//!   Run, it stops at once and reports its end as cancelled; given back (under the
//!   lock too, so the mark is seen), it is cancelled in the graph then. So its handle
//!   resolves by the end of its predecessor's first poll, even if that predecessor
//!   never ends. (loom: `loom-tests/tests/claims.rs`.)
//! - After `close`, a claim given back finds its slot's payload gone (shutdown took
//!   it): its `Notified` is dropped outside the lock.

use std::collections::VecDeque;

use taskweave_scheduler::{Released, SlotRef};

use super::{Doomed, ExecTask, Inner};
use crate::task::Notified;

/// The most tasks one exchange claims: a chain's links are recorded in batches of
/// this many ends at most (plus one), and their worker keeps them meanwhile.
pub(crate) const MAX_CLAIMED: usize = 16;

/// A worker's claimed tasks, in chain order, each with its slot.
pub(crate) type Claims = VecDeque<(SlotRef, Notified)>;

impl Inner {
    /// Claims the chain after the running task in `at` into `claims` (empty), at most
    /// `max` tasks; returns how many it claimed.
    pub(super) fn claim_chain(&mut self, at: SlotRef, max: usize, claims: &mut Claims) -> usize {
        debug_assert!(claims.is_empty());
        let mut last = at;
        while claims.len() < max.min(MAX_CLAIMED) {
            let Some(next) = self.graph.sole_waiting_dependent(last) else {
                break;
            };
            let Some(task) = self.claimable(next) else {
                break;
            };
            claims.push_back((next, task));
            last = next;
        }
        claims.len()
    }

    /// Takes the first-run reference of the task in `at` (waiting only for a task the
    /// caller holds), if its slot still holds it.
    fn claimable(&mut self, at: SlotRef) -> Option<Notified> {
        self.graph.payload_mut(at)?.0.take_notified()
    }

    /// Gives the claimed tasks in `claims` (emptied) back to their slots. A task whose
    /// cell was aborted meanwhile (`cancel` found it claimed) is cancelled in the graph
    /// now: what that dooms goes to `done` (for `apply`), the task itself to `doomed`.
    /// References the graph no longer holds a slot for (after `close`) go to
    /// `leftovers`, to drop outside the lock.
    pub(super) fn give_back(
        &mut self,
        claims: &mut Claims,
        done: &mut Released<ExecTask>,
        doomed: &mut Doomed,
        leftovers: &mut Vec<Notified>,
    ) {
        // Every one back first: cancelling one dooms the ones after it, which must hold
        // their `Notified` by then (a doomed task is cancelled through it).
        let mut aborted = Vec::new();
        for (at, task) in claims.drain(..) {
            if task.raw().state().load().is_cancelled() {
                aborted.push(at);
            }
            match self.graph.payload_mut(at) {
                Some(payload) => payload.0.restore_notified(task),
                None => leftovers.push(task),
            }
        }
        for at in aborted {
            // Already doomed with an earlier one if its slot moved on.
            if let Some(id) = self.graph.task_at(at) {
                let _ = self.cancel_waiting(id, done, doomed);
            }
        }
    }

    /// Marks running the claimed task in `at`, which the end just recorded released
    /// into `done` and its worker ran next (see the module invariants).
    pub(super) fn start_handed(&mut self, at: SlotRef, done: &mut Released<ExecTask>) {
        let Some(position) = done.ready.iter().rposition(|(slot, _)| *slot == at) else {
            debug_assert!(false, "a handed-over task is released by the end before it");
            return;
        };
        done.ready.remove(position);
        // Its `Notified` is out: only the state changes (the payload stays).
        let started = self
            .graph
            .start_with(at, |payload| payload.as_ref().map(|_| ()));
        debug_assert!(started.is_some(), "a released task can start");
        self.stats.add_started();
    }
}
