//! The operations on tasks that carry a payload (an executor's tasks): completion by
//! id or by slot, starting, taking payloads back. A payload stays in its task's slot
//! from `add_batch_payloads` until `start` hands it out (or `start_with` part of it),
//! the task is doomed, or `take_all_payloads` runs; see the module invariants in
//! `graph/mod.rs`.

use std::time::Instant;

use super::{DependencyGraph, Released, SlotRef, SlotState};
use crate::{FailureReason, ReadyKey, StateError, TaskId};

impl<P> DependencyGraph<P> {
    /// [`complete_with`](Self::complete_with) for a task started with
    /// [`start`](Self::start) or [`start_with`](Self::start_with), reporting into `out`
    /// (whose ready keys are stamped with `now`). Returns what the task's slot still
    /// held of its payload (what `start_with` left there), as the slot is freed.
    pub fn complete_payload(
        &mut self,
        id: TaskId,
        outcome: Result<(), FailureReason>,
        now: Instant,
        out: &mut Released<P>,
    ) -> Result<Option<P>, StateError> {
        let record = outcome.err();
        let slot = self.slot_in(id, "complete", |s| s == SlotState::Running, record)?;
        Ok(self.finish_running(id, slot, outcome, now, out))
    }

    /// [`complete_payload`](Self::complete_payload) for the task in `at` (from
    /// [`Released::batch`] or `Released::ready`): no hash lookup, and on success no
    /// write to the id map either, so a completion touches only the task's slot and its
    /// dependents' slots.
    ///
    /// Fails (changing nothing) with [`StateError::StaleSlot`] if the reference is stale
    /// (the task failed, was cancelled, or its record was forgotten), or
    /// [`StateError::InvalidTransition`] if the task is not running.
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{DependencyGraph, Released, TaskId, TaskSpec, TaskState};
    ///
    /// let (a, b) = (TaskId::new(1), TaskId::new(2));
    /// let mut g = DependencyGraph::with_payloads();
    /// let mut out = Released::default();
    /// let now = Instant::now();
    /// g.add_batch_payloads(&[TaskSpec::new(a), TaskSpec::new(b).dependency(a)], vec!["a", "b"], now, &mut out)
    ///     .unwrap();
    /// let (slot_a, slot_b) = (out.batch[0], out.batch[1]);
    /// assert_eq!(g.start(out.ready[0].0), Some("a"));
    /// out.clear();
    /// g.complete_at(slot_a, Ok(()), now, &mut out).unwrap();
    /// assert_eq!(g.state(a), Some(TaskState::Succeeded));
    /// assert_eq!(out.ready[0].0, slot_b);
    /// assert!(g.complete_at(slot_a, Ok(()), now, &mut out).is_err()); // not running
    /// ```
    pub fn complete_at(
        &mut self,
        at: SlotRef,
        outcome: Result<(), FailureReason>,
        now: Instant,
        out: &mut Released<P>,
    ) -> Result<Option<P>, StateError> {
        let s = match self.slots.get(at.slot as usize) {
            Some(s) if s.generation == at.generation && s.is_occupied() => s,
            _ => return Err(StateError::StaleSlot(at)),
        };
        let id = s.id;
        if s.state != SlotState::Running {
            return Err(StateError::InvalidTransition {
                task: id,
                state: self.state(id).expect("an occupied slot's task is known"),
                operation: "complete",
            });
        }
        if let Err(reason) = outcome {
            self.entries.set_failed(id, reason);
        }
        Ok(self.finish_running(id, at.slot, outcome, now, out))
    }

    /// Ends the running task in `slot` (whose record already holds a failure's reason)
    /// for `complete_payload` and `complete_at`: resolves its dependents into `out`,
    /// stamped `now`, and hands back what the slot still held of its payload.
    fn finish_running(
        &mut self,
        id: TaskId,
        slot: u32,
        outcome: Result<(), FailureReason>,
        now: Instant,
        out: &mut Released<P>,
    ) -> Option<P> {
        let payload = self.slots[slot as usize].payload.take();
        out.now = Some(now);
        self.finish(id, slot, outcome, out);
        payload
    }

    /// The ready-heap key of the running task in `at` (its priority, deadline and
    /// rank), stamped `enqueued_at`: for requeueing a started task that was woken.
    /// `None` if the reference is stale or the task is not running.
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{DependencyGraph, Priority, Released, TaskId, TaskSpec};
    ///
    /// let mut g = DependencyGraph::with_payloads();
    /// let mut out = Released::default();
    /// let now = Instant::now();
    /// let spec = TaskSpec::new(TaskId::new(1)).priority(Priority::HIGH);
    /// g.add_batch_payloads(&[spec], vec![()], now, &mut out).unwrap();
    /// let at = out.batch[0];
    /// assert_eq!(g.running_key(at, now), None); // ready, not running
    /// g.start(at).unwrap();
    /// assert_eq!(g.running_key(at, now).unwrap().priority, Priority::HIGH);
    /// ```
    pub fn running_key(&self, at: SlotRef, enqueued_at: Instant) -> Option<ReadyKey> {
        let s = self.slots.get(at.slot as usize)?;
        (s.generation == at.generation && s.state == SlotState::Running)
            .then(|| s.ready_key(at.slot, &self.cold, enqueued_at))
    }

    /// The task in `at`, if the reference is not stale (the task is live, or succeeded
    /// and not yet forgotten).
    pub fn task_at(&self, at: SlotRef) -> Option<TaskId> {
        self.slots
            .get(at.slot as usize)
            .filter(|s| s.generation == at.generation && s.is_occupied())
            .map(|s| s.id)
    }

    /// Marks the ready task in `at` running and hands out its payload. `None` (changing
    /// nothing) if the reference is stale (the task was cancelled after it became ready),
    /// the task is not ready, or its payload was taken.
    pub fn start(&mut self, at: SlotRef) -> Option<P> {
        self.start_with(at, Option::take)
    }

    /// Like [`start`](Self::start), but hands out only what `take` takes from the
    /// payload: the rest stays in the slot while the task runs, and is returned by
    /// [`complete_payload`](Self::complete_payload) (or
    /// [`take_all_payloads`](Self::take_all_payloads)). The task is marked running
    /// only if `take` returns something.
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{DependencyGraph, Released, TaskId, TaskSpec};
    ///
    /// let mut g = DependencyGraph::with_payloads();
    /// let a = TaskId::new(1);
    /// let mut out = Released::default();
    /// let now = Instant::now();
    /// g.add_batch_payloads(&[TaskSpec::new(a)], vec![(Some("run me"), "keep me")], now, &mut out)
    ///     .unwrap();
    /// let (at, _key) = out.ready[0];
    /// assert_eq!(g.start_with(at, |p| p.as_mut()?.0.take()), Some("run me"));
    /// out.clear();
    /// let kept = g.complete_payload(a, Ok(()), now, &mut out).unwrap();
    /// assert_eq!(kept, Some((None, "keep me")));
    /// ```
    pub fn start_with<R>(
        &mut self,
        at: SlotRef,
        take: impl FnOnce(&mut Option<P>) -> Option<R>,
    ) -> Option<R> {
        let s = self.slots.get_mut(at.slot as usize)?;
        if s.generation != at.generation || s.state != SlotState::Ready {
            return None;
        }
        let started = take(&mut s.payload)?;
        s.state = SlotState::Running;
        Some(started)
    }

    /// Where the graph slots of the first (at most two) dependents of the task in `at`
    /// are in memory: the slots its end will update, as a hint for prefetching them
    /// while it runs. 0 for none (or a stale reference). An address is meaningful
    /// only until the graph next grows, and only as a hint: never dereference one.
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{DependencyGraph, Released, TaskId, TaskSpec};
    ///
    /// let mut g = DependencyGraph::<()>::with_payloads();
    /// let mut out = Released::default();
    /// let (a, b) = (TaskId::new(1), TaskId::new(2));
    /// let specs = [TaskSpec::new(a), TaskSpec::new(b).dependency(a)];
    /// g.add_batch_payloads(&specs, vec![(), ()], Instant::now(), &mut out).unwrap();
    /// let [first, second] = g.dependent_slot_addresses(out.batch[0]);
    /// assert_ne!(first, 0); // b's slot
    /// assert_eq!(second, 0);
    /// assert_eq!(g.dependent_slot_addresses(out.batch[1]), [0, 0]); // b has none
    /// ```
    pub fn dependent_slot_addresses(&self, at: SlotRef) -> [usize; 2] {
        let mut addresses = [0; 2];
        let current = self.slots.get(at.slot as usize);
        let Some(s) = current.filter(|s| s.generation == at.generation) else {
            return addresses;
        };
        let list = &s.successors;
        let inline = &list.inline[..usize::from(list.inline_len)];
        for (address, r) in addresses.iter_mut().zip(inline) {
            *address = self.slots.as_ptr().wrapping_add(r.slot as usize) as usize;
        }
        addresses
    }

    /// The dependent that only the live, unfinished task in `at` still holds back: the
    /// task's one dependent, if that waits for nothing else (`Waiting { remaining: 1 }`:
    /// the one it waits for is this task, which has not ended). That dependent becomes
    /// ready exactly when this task succeeds, so an executor may take its payload
    /// ahead ([`payload_mut`](Self::payload_mut)) to run it right after. `None` if the
    /// task has no dependent, or several, or its one dependent waits for more, or the
    /// reference is stale or the task finished.
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{DependencyGraph, Released, TaskId, TaskSpec};
    ///
    /// let (a, b, c) = (TaskId::new(1), TaskId::new(2), TaskId::new(3));
    /// let specs = [TaskSpec::new(a), TaskSpec::new(b).dependency(a), TaskSpec::new(c)];
    /// let mut g = DependencyGraph::with_payloads();
    /// let mut out = Released::default();
    /// g.add_batch_payloads(&specs, vec![(), (), ()], Instant::now(), &mut out).unwrap();
    /// let [at_a, at_b, _] = [out.batch[0], out.batch[1], out.batch[2]];
    /// assert_eq!(g.sole_waiting_dependent(at_a), Some(at_b));
    /// assert_eq!(g.sole_waiting_dependent(at_b), None); // no dependent
    /// g.start(at_a).unwrap();
    /// out.clear();
    /// g.complete_at(at_a, Ok(()), Instant::now(), &mut out).unwrap();
    /// assert_eq!(g.sole_waiting_dependent(at_a), None); // finished
    /// ```
    pub fn sole_waiting_dependent(&self, at: SlotRef) -> Option<SlotRef> {
        let s = self.slots.get(at.slot as usize)?;
        let unfinished = matches!(
            s.state,
            SlotState::Waiting(_) | SlotState::Ready | SlotState::Running
        );
        if s.generation != at.generation || !unfinished {
            return None;
        }
        // The inline part fills first: with one entry there, the spill is empty.
        let list = &s.successors;
        if list.inline_len != 1 {
            return None;
        }
        let r = list.inline[0];
        let dependent = &self.slots[r.slot as usize];
        let waits_only_for_this = dependent.state == SlotState::Waiting(1);
        (dependent.generation == r.generation && waits_only_for_this).then_some(SlotRef {
            slot: r.slot,
            generation: r.generation,
        })
    }

    /// The payload of the live task in `at`, in place. `None` if the reference is stale
    /// or the slot holds no payload (it was handed out, or taken).
    pub fn payload_mut(&mut self, at: SlotRef) -> Option<&mut P> {
        let s = self.slots.get_mut(at.slot as usize)?;
        if s.generation != at.generation {
            return None;
        }
        s.payload.as_mut()
    }

    /// The payload of the live task `id`, if its slot holds one.
    pub fn payload(&self, id: TaskId) -> Option<&P> {
        self.live_slot(id)?.1.payload.as_ref()
    }

    /// Takes the payload of the ready task in `at` without starting it (the task stays
    /// ready in the graph). `None` if the reference is stale or the payload was taken.
    pub fn take_payload(&mut self, at: SlotRef) -> Option<P> {
        let s = self.slots.get_mut(at.slot as usize)?;
        if s.generation != at.generation {
            return None;
        }
        s.payload.take()
    }

    /// [`cancel`](Self::cancel), returning the cancelled task's payload and reporting
    /// its doomed dependents (with theirs) into `out`.
    pub fn cancel_payload(
        &mut self,
        id: TaskId,
        out: &mut Released<P>,
    ) -> Result<Option<P>, StateError> {
        self.cancel_into(id, out)
    }

    /// Takes every payload still held (tasks not started), e.g. at shutdown. The tasks
    /// keep their states.
    pub fn take_all_payloads(&mut self) -> Vec<P> {
        self.slots
            .iter_mut()
            .filter_map(|s| s.payload.take())
            .collect()
    }
}
