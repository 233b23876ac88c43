//! One shard of a tracker's live-task table: the live entries by task id, plus
//! per-kind counters, under one lock.
//!
//! Invariants (under the shard's lock):
//! - A task's entry is in the table of shard `id % shards` from its spawn (before the
//!   task is scheduled, so it cannot end first) until it ends (completes, fails,
//!   panics or is dropped); the task's own end guard then removes it, exactly once.
//!   The table holds only live tasks, so its memory follows the most tasks alive at
//!   once in this shard, and an empty shard whose table grew past `SHRINK_ABOVE`
//!   entries gives the memory back.
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

/// An empty shard whose table grew beyond this many entries gives the memory back.
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
    pub(crate) name: TaskName,
    pub(crate) kind: &'static str,
    /// Index of `kind`'s counters in its shard (set by `insert`).
    kind_slot: u32,
    pub(crate) spawned_at: Instant,
    pub(crate) abort: AbortHandle,
}

impl Entry {
    /// A new entry (its kind's counter index is set on insert).
    pub(crate) fn new(
        name: TaskName,
        kind: &'static str,
        spawned_at: Instant,
        abort: AbortHandle,
    ) -> Entry {
        Entry {
            name,
            kind,
            kind_slot: 0,
            spawned_at,
            abort,
        }
    }
}

/// FNV-1a, for kinds: short static labels, where SipHash's DoS resistance buys
/// nothing.
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

/// For task ids: one multiplication (Fibonacci hashing), which spreads sequential ids
/// over the whole hash, high bits included.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type KindMap<V> = HashMap<&'static str, V, BuildHasherDefault<Fnv>>;

/// The state behind one shard's lock.
#[derive(Default)]
pub(crate) struct ShardState {
    live: HashMap<Id, Entry, BuildHasherDefault<IdHasher>>,
    /// Counters per kind (`running` is derived when read).
    kinds: Vec<(&'static str, TrackerStats)>,
    /// Where each kind's counters are in `kinds`.
    kind_index: KindMap<u32>,
    /// The last kind spawned here and its index: the common case of many spawns of
    /// one kind compares two pointers instead of hashing.
    last_kind: Option<(&'static str, u32)>,
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

    /// Files the entry of a task about to be scheduled, and counts the spawn.
    pub(crate) fn insert(&mut self, id: Id, mut entry: Entry) {
        entry.kind_slot = self.kind_slot(entry.kind);
        self.kinds[entry.kind_slot as usize].1.spawned += 1;
        let previous = self.live.insert(id, entry);
        debug_assert!(previous.is_none(), "task {id} tracked twice");
    }

    /// Removes the entry of task `id` and counts how it ended; returns the entry, to
    /// be dropped outside the lock.
    pub(crate) fn remove(&mut self, id: Id, outcome: Outcome) -> Option<Entry> {
        let entry = self.live.remove(&id)?;
        let stats = &mut self.kinds[entry.kind_slot as usize].1;
        match outcome {
            Outcome::Completed => stats.completed += 1,
            Outcome::Failed => stats.failed += 1,
            Outcome::Panicked => stats.panicked += 1,
            Outcome::Cancelled => stats.cancelled += 1,
        }
        if self.live.is_empty() && self.live.capacity() > SHRINK_ABOVE {
            self.live = HashMap::default();
        }
        Some(entry)
    }

    /// Live entries.
    pub(crate) fn live(&self) -> usize {
        self.live.len()
    }

    /// Entries the table has room for without growing: its memory, in entries.
    pub(crate) fn capacity(&self) -> usize {
        self.live.capacity()
    }

    /// The live entries.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (Id, &Entry)> {
        self.live.iter().map(|(&id, entry)| (id, entry))
    }

    /// Counters per kind (`running` filled in from the others).
    pub(crate) fn kinds(&self) -> impl Iterator<Item = (&'static str, TrackerStats)> + '_ {
        self.kinds.iter().map(|&(kind, stats)| {
            let mut stats = stats;
            stats.running = stats.spawned - stats.finished();
            (kind, stats)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real task's id and abort handle (the entry needs them), and its name.
    fn task(rt: &crate::Runtime, kind: &'static str) -> (Id, Entry) {
        let join = rt.spawn(async {});
        let entry = Entry::new(
            TaskName::from("t"),
            kind,
            Instant::now(),
            join.abort_handle(),
        );
        (join.id(), entry)
    }

    fn runtime() -> crate::Runtime {
        crate::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap()
    }

    #[test]
    fn counts_balance_per_kind() {
        let rt = runtime();
        let mut shard = ShardState::default();
        let (a, entry_a) = task(&rt, "io");
        let (b, entry_b) = task(&rt, "cpu");
        let (c, entry_c) = task(&rt, "io");
        shard.insert(a, entry_a);
        shard.insert(b, entry_b);
        shard.insert(c, entry_c);
        assert!(shard.remove(a, Outcome::Failed).is_some());
        assert!(shard.remove(a, Outcome::Failed).is_none(), "removed once");
        let io = shard.kinds().find(|(k, _)| *k == "io").unwrap().1;
        assert_eq!((io.spawned, io.failed, io.running), (2, 1, 1));
        let ids: Vec<Id> = shard.entries().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&b) && ids.contains(&c));
        assert_eq!(shard.live(), 2);
    }

    #[test]
    fn an_emptied_large_shard_gives_its_memory_back() {
        let rt = runtime();
        let mut shard = ShardState::default();
        let ids: Vec<Id> = (0..=SHRINK_ABOVE)
            .map(|_| {
                let (id, entry) = task(&rt, "bulk");
                shard.insert(id, entry);
                id
            })
            .collect();
        assert!(shard.capacity() > SHRINK_ABOVE);
        for id in ids {
            shard.remove(id, Outcome::Completed);
        }
        assert_eq!(shard.capacity(), 0);
        let bulk = shard.kinds().next().unwrap().1;
        assert_eq!(bulk.completed, SHRINK_ABOVE as u64 + 1);
    }

    #[test]
    fn sequential_ids_hash_apart() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<IdHasher>::default();
        let top_bits: std::collections::HashSet<u64> =
            (1..=64u64).map(|id| build.hash_one(id) >> 57).collect();
        assert!(top_bits.len() > 32, "sequential ids share their top bits");
    }
}
