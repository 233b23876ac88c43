//! One task's record in the graph: the hot [`Slot`] (one cache line, read and written
//! by every operation on the task) and the [`Cold`] part beside it, plus the successor
//! lists' inline part.

use std::time::{Duration, Instant};

use super::free;
use crate::{Priority, ReadyKey, TaskId};

/// A reference from a task to one of its dependents.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SuccRef {
    pub(super) slot: u32,
    pub(super) generation: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SlotState {
    Free,
    /// Reserved by the batch being added, at this index of the batch.
    Pending(u32),
    Waiting(u32),
    Ready,
    Running,
    /// Finished successfully; the slot stays until the record is forgotten.
    Succeeded,
}

/// A task's dependents: the first two inline (most tasks have at most two), the rest in
/// the graph's spill pool, at index `spill - 1` (0: none yet). A slot keeps its pool
/// entry, and that vector's capacity, for its next occupants.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Successors {
    pub(super) inline: [SuccRef; 2],
    pub(super) inline_len: u8,
    pub(super) spill: u32,
}

impl Successors {
    /// Whether the inline part is full (only then can the spill vector hold any).
    pub(super) fn inline_full(&self) -> bool {
        usize::from(self.inline_len) == self.inline.len()
    }
}

/// Successors taken out of a finished slot.
pub(super) struct Taken {
    pub(super) inline: [SuccRef; 2],
    pub(super) inline_len: u8,
    pub(super) spill: Vec<SuccRef>,
}

impl Taken {
    pub(super) fn inline(&self) -> &[SuccRef] {
        &self.inline[..usize::from(self.inline_len)]
    }
}

/// What every operation on a task reads or writes, in one cache line (64 bytes with a
/// pointer-sized payload): state and counter, generation, successors, payload, and the
/// ready key's common fields. The rest is in [`Cold`].
#[derive(Debug)]
#[repr(align(64))]
pub(super) struct Slot<P> {
    pub(super) generation: u32,
    pub(super) state: SlotState,
    pub(super) id: TaskId,
    pub(super) priority: Priority,
    /// The task has a deadline (in its [`Cold`] part).
    pub(super) has_deadline: bool,
    /// The critical-path rank in nanoseconds; `u64::MAX` if it does not fit (the exact
    /// rank is then in the [`Cold`] part).
    pub(super) rank_nanos: u64,
    pub(super) successors: Successors,
    /// The caller's payload of a live task not yet started (see
    /// [`DependencyGraph::add_batch_payloads`]).
    pub(super) payload: Option<P>,
}

// A slot is one cache line with a pointer-sized payload (as the executor's).
const _: () = assert!(std::mem::size_of::<Slot<Box<u8>>>() == 64);

/// The rarely read part of a task, beside its [`Slot`] (same index): valid only when
/// the slot's `has_deadline` is set (the deadline) or its `rank_nanos` is `u64::MAX`
/// (the rank), so most tasks never touch it.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Cold {
    pub(super) deadline: Option<Instant>,
    pub(super) rank: Duration,
}

/// Frees the slot of a succeeded task whose record is being forgotten.
pub(super) fn free_succeeded<P>(s: &mut Slot<P>, slot: u32, free: &mut free::FreeSlots) {
    s.generation = s.generation.wrapping_add(1);
    s.state = SlotState::Free;
    s.payload = None;
    free.push(slot);
}

impl<P> Slot<P> {
    /// Whether the slot holds a task (live or succeeded), not free nor reserved by a
    /// batch being added.
    pub(super) fn is_occupied(&self) -> bool {
        !matches!(self.state, SlotState::Free | SlotState::Pending(_))
    }

    // The cold parts are passed as the whole slice and indexed only where needed: with
    // a plain reference the compiler may load from it unconditionally (a cache miss
    // per task for nothing).

    /// The exact rank of the task in slot `at` (its cold part read only if needed).
    pub(super) fn rank(&self, at: u32, cold: &[Cold]) -> Duration {
        if self.rank_nanos == u64::MAX {
            cold[at as usize].rank
        } else {
            Duration::from_nanos(self.rank_nanos)
        }
    }

    /// The ready-heap key of the task in slot `at`, stamped `enqueued_at` (its cold
    /// part read only if needed).
    pub(super) fn ready_key(&self, at: u32, cold: &[Cold], enqueued_at: Instant) -> ReadyKey {
        ReadyKey {
            priority: self.priority,
            deadline: if self.has_deadline {
                cold[at as usize].deadline
            } else {
                None
            },
            rank: self.rank(at, cold),
            enqueued_at,
        }
    }

    pub(super) fn vacant() -> Self {
        Slot {
            generation: 0,
            state: SlotState::Free,
            id: TaskId::new(0),
            priority: Priority::NORMAL,
            has_deadline: false,
            rank_nanos: 0,
            successors: Successors::default(),
            payload: None,
        }
    }
}
