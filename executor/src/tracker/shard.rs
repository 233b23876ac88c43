//! One shard of a tracker's live-task table: a slab of entries plus per-kind counters,
//! under one lock.
//!
//! Invariants (under the shard's lock):
//! - A spawn takes a slot in two short critical sections: `reserve` (the slot's key
//!   goes into the task's end guard), then, once the task is allocated outside the
//!   lock, `fill`. The task is scheduled only after `fill`, so it cannot end first.
//! - A slot is `Live` from `fill` until its task ends (completes, fails, panics or
//!   is dropped); the task's own guard then frees it, exactly once.
//!   Freed slots go on a free list and are reused, so the slab never holds more slots
//!   than the most tasks ever alive at once in this shard, and an empty shard whose
//!   slab grew past `SHRINK_ABOVE` slots releases it.
//! - Counters are kept per kind in a small vector; an entry remembers its kind's
//!   index, and a spawn of the same kind as the previous one finds it without hashing.
//! - For every kind: `spawned == live + completed + failed + panicked + cancelled`
//!   (the spawn and the end of a task are counted in the same shard, with its entry).
//! - Nothing runs under the lock but bookkeeping: no allocation of a task, no poll,
//!   no drop of an entry (removed entries are dropped by the caller, after unlocking).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use super::stats::TrackerStats;
use crate::task::{AbortHandle, Id, TaskName};

/// An empty shard whose slab grew beyond this many slots gives the memory back.
pub(crate) const SHRINK_ABOVE: usize = 64;

/// How a tracked task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Failed,
    Panicked,
    Cancelled,
}

/// A live tracked task.
pub(crate) struct Entry {
    pub(crate) id: Id,
    pub(crate) name: TaskName,
    pub(crate) kind: &'static str,
    /// Index of `kind`'s counters in its shard (set by `insert`).
    kind_slot: u32,
    pub(crate) spawned_at: Instant,
    pub(crate) abort: AbortHandle,
}

enum Slot {
    Live(Entry),
    /// Taken by a spawn that has not filled it yet.
    Reserved,
    /// Free; the next free slot (`NO_SLOT` for none).
    Vacant(usize),
}

const NO_SLOT: usize = usize::MAX;

/// FNV-1a: kinds are short static labels; SipHash's DoS resistance buys nothing here.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

pub(crate) type KindMap<V> = HashMap<&'static str, V, BuildHasherDefault<Fnv>>;

/// The state behind one shard's lock.
#[derive(Default)]
pub(crate) struct ShardState {
    slots: Vec<Slot>,
    free: Option<usize>,
    live: usize,
    reserved: usize,
    /// Counters per kind (`running` is derived when read).
    kinds: Vec<(&'static str, TrackerStats)>,
    /// Where each kind's counters are in `kinds`.
    kind_index: KindMap<u32>,
    /// The last kind spawned here and its index: the common case of many spawns of
    /// one kind compares two pointers instead of hashing.
    last_kind: Option<(&'static str, u32)>,
}

impl Entry {
    /// A new entry (its kind's counter index is set on insert).
    pub(crate) fn new(
        id: Id,
        name: TaskName,
        kind: &'static str,
        spawned_at: Instant,
        abort: AbortHandle,
    ) -> Entry {
        Entry {
            id,
            name,
            kind,
            kind_slot: 0,
            spawned_at,
            abort,
        }
    }
}

impl ShardState {
    /// The counters' index of `kind`, added if new.
    fn kind_slot(&mut self, kind: &'static str) -> u32 {
        if let Some((last, slot)) = self.last_kind {
            if std::ptr::eq(last, kind) {
                return slot;
            }
        }
        let slot = match self.kind_index.get(kind) {
            Some(&slot) => slot,
            None => {
                let slot = self.kinds.len() as u32;
                self.kinds.push((kind, TrackerStats::default()));
                self.kind_index.insert(kind, slot);
                slot
            }
        };
        self.last_kind = Some((kind, slot));
        slot
    }

    /// Takes a slot for a spawn; returns its key, for `fill`.
    pub(crate) fn reserve(&mut self) -> usize {
        self.reserved += 1;
        match self.free {
            Some(key) => {
                match std::mem::replace(&mut self.slots[key], Slot::Reserved) {
                    Slot::Vacant(next) => self.free = (next != NO_SLOT).then_some(next),
                    _ => unreachable!("tracker free list names a used slot {key}"),
                }
                key
            }
            None => {
                self.slots.push(Slot::Reserved);
                self.slots.len() - 1
            }
        }
    }

    /// Puts `entry` in the slot `reserve` gave, and counts the spawn.
    pub(crate) fn fill(&mut self, key: usize, mut entry: Entry) {
        entry.kind_slot = self.kind_slot(entry.kind);
        self.kinds[entry.kind_slot as usize].1.spawned += 1;
        match std::mem::replace(&mut self.slots[key], Slot::Live(entry)) {
            Slot::Reserved => {}
            _ => unreachable!("tracker slot {key} filled without a reservation"),
        }
        self.reserved -= 1;
        self.live += 1;
    }

    /// Frees `key` and counts how its task ended; returns the entry, to be dropped
    /// outside the lock.
    pub(crate) fn remove(&mut self, key: usize, outcome: Outcome) -> Option<Entry> {
        let next = self.free.unwrap_or(NO_SLOT);
        let slot = self.slots.get_mut(key)?;
        let entry = match std::mem::replace(slot, Slot::Vacant(next)) {
            Slot::Live(entry) => entry,
            Slot::Reserved => {
                // The spawn unwound between `reserve` and `fill`: nothing to count.
                self.free = Some(key);
                self.reserved -= 1;
                return None;
            }
            Slot::Vacant(_) => unreachable!("tracker slot {key} freed twice"),
        };
        self.free = Some(key);
        self.live -= 1;
        let stats = &mut self.kinds[entry.kind_slot as usize].1;
        match outcome {
            Outcome::Completed => stats.completed += 1,
            Outcome::Failed => stats.failed += 1,
            Outcome::Panicked => stats.panicked += 1,
            Outcome::Cancelled => stats.cancelled += 1,
        }
        if self.live == 0 && self.reserved == 0 && self.slots.len() > SHRINK_ABOVE {
            self.slots = Vec::new();
            self.free = None;
        }
        Some(entry)
    }

    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Slots allocated (live or free): the table's memory, in entries.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The live entries.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Live(entry) => Some(entry),
            Slot::Reserved | Slot::Vacant(_) => None,
        })
    }

    /// Counters per kind (`running` filled in from the live entries' count).
    pub(crate) fn kinds(&self) -> impl Iterator<Item = (&'static str, TrackerStats)> + '_ {
        self.kinds.iter().map(|&(kind, stats)| {
            let mut stats = stats;
            stats.running =
                stats.spawned - stats.completed - stats.failed - stats.panicked - stats.cancelled;
            (kind, stats)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &'static str) -> Entry {
        let rt = crate::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let join = rt.spawn(async {});
        Entry::new(
            join.id(),
            TaskName::from("t"),
            kind,
            Instant::now(),
            join.abort_handle(),
        )
    }

    #[test]
    fn freed_slots_are_reused_and_counts_balance() {
        let mut shard = ShardState::default();
        let a = shard.reserve();
        shard.fill(a, entry("io"));
        let b = shard.reserve();
        shard.fill(b, entry("cpu"));
        assert_eq!((a, b), (0, 1));
        assert!(shard.remove(a, Outcome::Failed).is_some());
        let c = shard.reserve();
        assert_eq!(c, 0, "the freed slot comes first");
        assert_eq!(shard.entries().count(), 1, "a reserved slot is not listed");
        shard.fill(c, entry("io"));
        assert_eq!(shard.slots(), 2);
        assert_eq!(shard.live(), 2);
        let io = shard.kinds().find(|(k, _)| *k == "io").unwrap().1;
        assert_eq!((io.spawned, io.failed, io.running), (2, 1, 1));
        assert_eq!(shard.entries().count(), 2);
    }

    #[test]
    fn a_reservation_freed_unfilled_counts_nothing() {
        let mut shard = ShardState::default();
        let key = shard.reserve();
        assert!(shard.remove(key, Outcome::Cancelled).is_none());
        assert_eq!((shard.live(), shard.kinds().count()), (0, 0));
        assert_eq!(shard.reserve(), key, "the slot is free again");
    }

    #[test]
    fn an_emptied_large_shard_gives_its_memory_back() {
        let mut shard = ShardState::default();
        let e = entry("bulk");
        for _ in 0..=SHRINK_ABOVE {
            let key = shard.reserve();
            shard.fill(
                key,
                Entry::new(e.id, e.name.clone(), e.kind, e.spawned_at, e.abort.clone()),
            );
        }
        assert_eq!(shard.slots(), SHRINK_ABOVE + 1);
        for key in 0..=SHRINK_ABOVE {
            shard.remove(key, Outcome::Completed);
        }
        assert_eq!(shard.slots(), 0);
        assert_eq!(
            shard.kinds().next().unwrap().1.completed,
            SHRINK_ABOVE as u64 + 1
        );
    }
}
