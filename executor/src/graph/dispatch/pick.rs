//! What a worker's trip to the graph takes to run (`Dispatch::exchange`): the tasks
//! its own ends released that lead the heap, then the heap's best — see the parent
//! module's docs for how many and in what order. Runs under the dispatch lock.

use std::collections::VecDeque;
use std::time::Instant;

use taskweave_scheduler::{Released, SlotRef};

use super::ready::Popped;
use super::{ExecTask, Inner, Now};
use crate::task::Notified;

/// Where [`Dispatch::exchange`](super::Dispatch::exchange) puts the ready tasks it
/// picks, and how many.
pub(crate) struct Pick<'a> {
    pub(crate) into: &'a mut VecDeque<Notified>,
    /// At most this many (0: only record ends).
    pub(crate) max: usize,
    /// The number of workers sharing the heap.
    pub(crate) spread: usize,
    /// At most this many tasks to claim after a lone pick (`claim.rs`; 0: none).
    pub(crate) max_claims: usize,
}

/// Takes the first-run reference out of a task's payload as it starts (its slot is
/// noted in its header for the report of its end once the lock is released, see
/// [`ended::note_start`](super::ended::note_start)).
fn start_task(payload: &mut Option<ExecTask>) -> Option<Notified> {
    payload.as_mut()?.0.take_notified()
}

/// The most ready tasks one exchange picks (a worker asks for fewer when the heap
/// holds fewer than twice this many per worker). Batches are only ever of short tasks
/// (the worker's `SHORT_TASK`), so a task waits behind at most 63 of them. 64 rather
/// than 16 (with [`MAX_BUFFERED_ENDS`](super::super::ended::MAX_BUFFERED_ENDS) raised
/// to match): a large heap is shared by fewer, longer trips to the graph. With two
/// workers, the `dag` bench's binary tree's run phase took 10–13% less time at 32 and
/// another 13–20% less at 64; the random DAG's 7–14% less at 32 and the same at 64;
/// the others' the same.
pub(crate) const MAX_PICK: usize = 64;

/// The most released tasks an exchange starts directly (`start_released`): fewer than
/// a pick, since with the heap nearly empty (a narrow graph, the wavefront's
/// diagonals) a worker that keeps 32 of them leaves the others idle (the wavefront
/// ran 10% slower).
const MAX_STARTED_DIRECTLY: usize = 16;

/// The slots of the tasks an exchange picked, in pick order (`None` for a started
/// task's wake-up, whose slot is noted already), to note in their headers after the
/// lock is released.
pub(super) struct Notes {
    slots: [Option<SlotRef>; MAX_PICK],
    len: usize,
}

impl Default for Notes {
    fn default() -> Self {
        Notes {
            slots: [None; MAX_PICK],
            len: 0,
        }
    }
}

impl Notes {
    pub(super) fn push(&mut self, at: Option<SlotRef>) {
        self.slots[self.len] = at;
        self.len += 1;
    }

    pub(super) fn slots(&self) -> &[Option<SlotRef>] {
        &self.slots[..self.len]
    }
}

impl Inner {
    /// Starts up to `max` of the best ready tasks at `now`, chosen at once (see
    /// `ReadyTasks::pop_up_to`), handing each to `picked` with the slot it starts in
    /// (`None` for a wake-up); returns how many. Stale starts (of tasks cancelled while
    /// queued) are skipped; they count against `max`, so fewer may be returned while
    /// the heap still holds more.
    pub(super) fn pick_best(
        &mut self,
        now: Instant,
        max: usize,
        picked: &mut impl FnMut(Notified, Option<SlotRef>),
    ) -> usize {
        let mut slots = [SlotRef::from_bits(0); MAX_PICK];
        let max = max.clamp(1, MAX_PICK);
        match self.ready.pop_up_to(now, &mut slots[..max]) {
            None => 0,
            Some(Popped::Wake(task)) => {
                picked(task, None);
                1
            }
            Some(Popped::Starts(taken)) => {
                let mut started = 0;
                for &at in &slots[..taken] {
                    if let Some(task) = self.start(at) {
                        picked(task, Some(at));
                        started += 1;
                    }
                }
                started
            }
        }
    }

    /// Starts, without queueing them, the tasks this exchange's ends released that
    /// lead the heap (see the parent module's docs): any while the heap is empty;
    /// when the worker picks batches (short tasks) and shares the heap with others,
    /// those ahead of its best or tied with it but for push order. At most a pick's
    /// worth (and at most [`MAX_STARTED_DIRECTLY`]), in the order they were released;
    /// the others stay in `done` for [`apply`](Inner::apply). The clock is read only
    /// to compare with the heap.
    pub(super) fn start_released(
        &mut self,
        done: &mut Released<ExecTask>,
        pick: &mut Pick<'_>,
        notes: &mut Notes,
        now: &mut Now,
    ) {
        if pick.max == 0 || done.ready.is_empty() || self.closed {
            return;
        }
        let room = pick.max.min(MAX_STARTED_DIRECTLY);
        let ties_lead = pick.spread > 1 && pick.max > 1;
        if !ties_lead && !self.ready.is_empty() {
            // Only a task strictly ahead of the heap's best could start here, and the
            // heap gives it first anyway: not worth choosing the best for (a tenth of
            // a lone worker's time per exchange on the wavefront).
            return;
        }
        // Which of the first `room` released tasks lead (with the heap not empty, ties
        // do: see above). The heap does not change below: its best is chosen once
        // (and the clock read only if it holds any).
        let mut leads = [true; MAX_STARTED_DIRECTLY];
        if !self.ready.is_empty() {
            let best = self.ready.best_at(now.get());
            for (lead, (_, key)) in leads.iter_mut().zip(&done.ready) {
                *lead = best.standing(key).is_some_and(std::cmp::Ordering::is_ge);
            }
        }
        let mut started = 0;
        let mut i = 0;
        done.ready.retain(|(at, _)| {
            let leads = started < room && leads.get(i).copied().unwrap_or(false);
            i += 1;
            if !leads {
                return true;
            }
            if let Some(task) = self.start(*at) {
                pick.into.push_back(task);
                notes.push(Some(*at));
                started += 1;
            }
            false
        });
    }

    /// Marks the ready task in `at` running and takes its first-run reference; `None`
    /// if the reference is stale (the task was cancelled meanwhile).
    pub(super) fn start(&mut self, at: SlotRef) -> Option<Notified> {
        let task = self.graph.start_with(at, start_task)?;
        self.stats.add_started();
        // Its end will update its dependents' slots, under this lock: start loading
        // them now, while it runs (most were last written by another core, or long
        // ago by the submission).
        for address in self.graph.dependent_slot_addresses(at) {
            if address != 0 {
                crate::prefetch::for_write(address as *const u8);
            }
        }
        Some(task)
    }
}
