//! What a task's end releases or dooms: its slot is retired (success) or freed
//! (failure), and its successor list walked (dependents' counters, or transitive
//! failure). Also the successor lists themselves: two inline, the rest in the graph's
//! spill pool (see `Successors` in `graph/mod.rs`).

use super::{DependencyGraph, Sink, SlotRef, SlotState, SuccRef, Taken, KEEP_SUCCESSOR_CAPACITY};
use crate::{FailureReason, TaskId};

impl<P> DependencyGraph<P> {
    /// Ends the live task in `slot` (whose entry already holds its outcome) and
    /// resolves its dependents.
    pub(super) fn finish<S: Sink<P>>(
        &mut self,
        id: TaskId,
        slot: u32,
        outcome: Result<(), FailureReason>,
        out: &mut S,
    ) {
        match outcome {
            Ok(()) => {
                let mut taken = self.retire_slot(slot);
                for &r in taken.inline().iter().chain(&taken.spill) {
                    let dependent = &mut self.slots[r.slot as usize];
                    if dependent.generation != r.generation {
                        continue; // failed or cancelled meanwhile
                    }
                    if let SlotState::Waiting(remaining) = &mut dependent.state {
                        *remaining -= 1;
                        if *remaining == 0 {
                            dependent.state = SlotState::Ready;
                            out.ready(
                                SlotRef {
                                    slot: r.slot,
                                    generation: r.generation,
                                },
                                dependent,
                                &self.cold,
                            );
                        }
                    } else {
                        debug_assert!(false, "a dependent of an unfinished task is waiting");
                    }
                }
                taken.spill.clear();
                self.recycle_successors(slot, taken.spill);
            }
            Err(reason) => {
                let root = reason.root_cause(id);
                let taken = self.release_slot(slot);
                self.fail_from(taken, slot, root, out);
            }
        }
    }

    /// Fails, transitively, every still-waiting task reachable from `successors` (the
    /// successor list taken from `origin`), reporting each once with `root`.
    fn fail_from<S: Sink<P>>(&mut self, taken: Taken, origin: u32, root: TaskId, out: &mut S) {
        let mut stack = std::mem::take(&mut self.doomed);
        let push_all = |stack: &mut Vec<SuccRef>, mut t: Taken| {
            stack.extend_from_slice(t.inline());
            stack.append(&mut t.spill);
            t.spill
        };
        let spill = push_all(&mut stack, taken);
        self.recycle_successors(origin, spill);
        while let Some(r) = stack.pop() {
            let dependent = &mut self.slots[r.slot as usize];
            if dependent.generation != r.generation {
                continue; // already failed through another path
            }
            debug_assert!(matches!(dependent.state, SlotState::Waiting(_)));
            let id = dependent.id;
            let payload = dependent.payload.take();
            self.entries
                .set_failed(id, FailureReason::DependencyFailed(root));
            out.failed(id, root, payload);
            let next = self.release_slot(r.slot);
            let spill = push_all(&mut stack, next);
            self.recycle_successors(r.slot, spill);
        }
        self.doomed = stack;
    }

    /// Frees a live slot (bumping its generation) and takes its successors out.
    fn release_slot(&mut self, slot: u32) -> Taken {
        let s = &mut self.slots[slot as usize];
        s.generation = s.generation.wrapping_add(1);
        s.state = SlotState::Free;
        self.free.push(slot);
        self.live -= 1;
        self.take_successors(slot)
    }

    /// Marks a live slot succeeded (kept, generation unchanged, until its record is
    /// forgotten) and takes its successors out.
    fn retire_slot(&mut self, slot: u32) -> Taken {
        self.slots[slot as usize].state = SlotState::Succeeded;
        self.live -= 1;
        self.take_successors(slot)
    }

    /// Adds `r` to the successors of the task in `slot`.
    pub(super) fn push_successor(&mut self, slot: u32, r: SuccRef) {
        let list = &mut self.slots[slot as usize].successors;
        if let Some(free) = list.inline.get_mut(usize::from(list.inline_len)) {
            *free = r;
            list.inline_len += 1;
            return;
        }
        if list.spill == 0 {
            self.spills.push(Vec::new());
            list.spill = u32::try_from(self.spills.len()).expect("fewer spills than slots");
        }
        self.spills[list.spill as usize - 1].push(r);
    }

    /// Takes the successors of the task in `slot` out, leaving its list empty (the
    /// spill vector goes too; [`recycle_successors`](Self::recycle_successors) gives
    /// it back).
    fn take_successors(&mut self, slot: u32) -> Taken {
        let list = &mut self.slots[slot as usize].successors;
        let spill = if list.inline_full() && list.spill != 0 {
            std::mem::take(&mut self.spills[list.spill as usize - 1])
        } else {
            Vec::new()
        };
        let taken = Taken {
            inline: list.inline,
            inline_len: list.inline_len,
            spill,
        };
        list.inline_len = 0;
        taken
    }

    /// Gives an emptied spill vector back to the pool entry of `slot`, for its next
    /// occupant (unless it grew large).
    fn recycle_successors(&mut self, slot: u32, spill: Vec<SuccRef>) {
        debug_assert!(spill.is_empty());
        if spill.capacity() == 0 || spill.capacity() > KEEP_SUCCESSOR_CAPACITY {
            return;
        }
        let index = self.slots[slot as usize].successors.spill as usize - 1;
        if self.spills[index].capacity() == 0 {
            self.spills[index] = spill;
        }
    }
}
