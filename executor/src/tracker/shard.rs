//! One shard of a tracker's live-task table: a slab of entries plus per-kind counters,
//! under one lock.
//!
//! Invariants (under the shard's lock):
//! - A slot is `Live` from the spawn that filled it until its task ends (completes,
//!   fails, panics or is dropped); the task's own guard then frees it, exactly once.
//!   Freed slots go on a free list and are reused, so the slab never holds more slots
//!   than the most tasks ever alive at once in this shard, and an empty shard whose
//!   slab grew past `SHRINK_ABOVE` slots releases it.
//! - For every kind: `spawned == live + completed + failed + panicked + cancelled`
//!   (the spawn and the end of a task are counted in the same shard, with its entry).
//! - Nothing runs under the lock but bookkeeping: a task's future is created and
//!   allocated under it (one allocation), but never polled or dropped there.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use super::stats::TrackerStats;
use crate::task::{AbortHandle, Id, TaskName};

/// An empty shard whose slab grew beyond this many slots gives the memory back.
const SHRINK_ABOVE: usize = 1024;

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
    pub(crate) spawned_at: Instant,
    pub(crate) abort: AbortHandle,
}

enum Slot {
    Live(Entry),
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
    kinds: KindMap<TrackerStats>,
}

impl ShardState {
    /// The slot the next `insert` fills.
    pub(crate) fn vacant_key(&self) -> usize {
        self.free.unwrap_or(self.slots.len())
    }

    /// Fills the slot `vacant_key` named (the lock was held in between) and counts
    /// the spawn.
    pub(crate) fn insert(&mut self, key: usize, entry: Entry) {
        self.kinds.entry(entry.kind).or_default().spawned += 1;
        self.live += 1;
        if key == self.slots.len() {
            self.slots.push(Slot::Live(entry));
            return;
        }
        match std::mem::replace(&mut self.slots[key], Slot::Live(entry)) {
            Slot::Vacant(next) => self.free = (next != NO_SLOT).then_some(next),
            Slot::Live(_) => unreachable!("tracker slot {key} filled twice"),
        }
    }

    /// Frees `key` and counts how its task ended; returns the entry, to be dropped
    /// outside the lock.
    pub(crate) fn remove(&mut self, key: usize, outcome: Outcome) -> Option<Entry> {
        let next = self.free.unwrap_or(NO_SLOT);
        let slot = self.slots.get_mut(key)?;
        let Slot::Live(entry) = std::mem::replace(slot, Slot::Vacant(next)) else {
            unreachable!("tracker slot {key} freed twice");
        };
        self.free = Some(key);
        self.live -= 1;
        let stats = self.kinds.get_mut(entry.kind).expect("counted at insert");
        match outcome {
            Outcome::Completed => stats.completed += 1,
            Outcome::Failed => stats.failed += 1,
            Outcome::Panicked => stats.panicked += 1,
            Outcome::Cancelled => stats.cancelled += 1,
        }
        if self.live == 0 && self.slots.len() > SHRINK_ABOVE {
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
            Slot::Vacant(_) => None,
        })
    }

    /// Counters per kind (`running` filled in from the live entries' count).
    pub(crate) fn kinds(&self) -> impl Iterator<Item = (&'static str, TrackerStats)> + '_ {
        self.kinds.iter().map(|(&kind, stats)| {
            let mut stats = *stats;
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
        Entry {
            id: join.id(),
            name: TaskName::from("t"),
            kind,
            spawned_at: Instant::now(),
            abort: join.abort_handle(),
        }
    }

    #[test]
    fn freed_slots_are_reused_and_counts_balance() {
        let mut shard = ShardState::default();
        let a = shard.vacant_key();
        shard.insert(a, entry("io"));
        let b = shard.vacant_key();
        shard.insert(b, entry("cpu"));
        assert_eq!((a, b), (0, 1));
        assert!(shard.remove(a, Outcome::Failed).is_some());
        assert_eq!(shard.vacant_key(), 0, "the freed slot comes first");
        shard.insert(0, entry("io"));
        assert_eq!(shard.slots(), 2);
        assert_eq!(shard.live(), 2);
        let io = shard.kinds().find(|(k, _)| *k == "io").unwrap().1;
        assert_eq!((io.spawned, io.failed, io.running), (2, 1, 1));
        assert_eq!(shard.entries().count(), 2);
    }

    #[test]
    fn an_emptied_large_shard_gives_its_memory_back() {
        let mut shard = ShardState::default();
        let e = entry("bulk");
        for _ in 0..=SHRINK_ABOVE {
            let key = shard.vacant_key();
            shard.insert(
                key,
                Entry {
                    id: e.id,
                    name: e.name.clone(),
                    kind: e.kind,
                    spawned_at: e.spawned_at,
                    abort: e.abort.clone(),
                },
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
