//! Forgetting finished tasks' records (and freeing the slots of succeeded ones), so
//! that long-running programs do not keep every outcome; a forgotten id may be reused.

use super::ids::Entry;
use super::{free_succeeded, DependencyGraph, SlotState};
use crate::TaskId;

impl<P> DependencyGraph<P> {
    /// Forgets the outcome records of these finished tasks (ids that are unknown or
    /// still live are skipped). Returns how many records were dropped. A forgotten id
    /// can be reused by a new task; a new task depending on it gets
    /// [`GraphError::UnknownDependency`](crate::GraphError::UnknownDependency).
    ///
    /// ```
    /// use taskweave_scheduler::{DependencyGraph, TaskId, TaskSpec};
    ///
    /// let mut g = DependencyGraph::new();
    /// let a = TaskId::new(1);
    /// g.add_batch(&[TaskSpec::new(a)]).unwrap();
    /// g.mark_running(a).unwrap();
    /// g.complete(a, true).unwrap();
    /// assert_eq!(g.finished_len(), 1);
    /// assert_eq!(g.forget_finished([a]), 1);
    /// assert_eq!(g.state(a), None);
    /// g.add_batch(&[TaskSpec::new(a)]).unwrap(); // the id is free again
    /// ```
    pub fn forget_finished(&mut self, ids: impl IntoIterator<Item = TaskId>) -> usize {
        let mut forgotten = 0;
        for id in ids {
            let Some(entry) = self.entries.get(id) else {
                continue;
            };
            if let Entry::Live(slot) = entry {
                if self.slots[slot as usize].state != SlotState::Succeeded {
                    continue;
                }
                free_succeeded(&mut self.slots[slot as usize], slot, &mut self.free);
            }
            self.entries.remove(id);
            forgotten += 1;
        }
        forgotten
    }

    /// Forgets every finished task's outcome record (O(known tasks)). Returns how many
    /// were dropped.
    pub fn forget_all_finished(&mut self) -> usize {
        let before = self.entries.len();
        if self.live == 0 {
            // Every known task finished (the common case between batches): free the
            // succeeded slots in one pass over the slots, in memory order, and drop the
            // whole map, rather than visiting slots in the map's hash order.
            for (slot, s) in self.slots.iter_mut().enumerate() {
                if s.state == SlotState::Succeeded {
                    free_succeeded(s, slot as u32, &mut self.free);
                }
            }
            self.entries.clear();
            return before;
        }
        let (slots, free) = (&mut self.slots, &mut self.free);
        self.entries.retain_live(|slot| {
            let s = &mut slots[slot as usize];
            if s.state != SlotState::Succeeded {
                return true;
            }
            free_succeeded(s, slot, free);
            false
        });
        before - self.entries.len()
    }
}
