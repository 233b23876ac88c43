//! The graph's id index: where each known task id's record is (its slot, or the reason
//! it failed).
//!
//! Most ids arrive in runs: a large batch numbered by its caller, or fresh ids taken by
//! one thread, is one contiguous range `[lo, lo + n)`. Such a batch is recorded as one
//! *block*, an array of `n` compact cells indexed by `id - lo`, instead of `n` entries
//! of a hash map; other ids go into the map.
//!
//! Invariants:
//! - `blocks` is sorted by `lo`, and the blocks' ranges `[lo, lo + cells.len())` are
//!   disjoint and non-empty.
//! - No map key lies in a block's range: an id in a block's range is known exactly when
//!   its cell is not [`ABSENT`], so a lookup there never consults the map, and a
//!   forgotten id of a block that is reused goes back into its cell.
//! - A cell holds a slot index (`Live`), [`FAILED`] (the reason is in `failed`, keyed
//!   by id; `failed` has exactly one key per `FAILED` cell), or [`ABSENT`] (not known).
//! - A block's `known` counts its cells that are not `ABSENT`, and is never 0: the
//!   block whose last id is forgotten is dropped. `in_blocks` is the sum of the
//!   `known`s, so [`Ids::len`] (map entries plus `in_blocks`) counts every known id
//!   once.
//! - Every map key lies in `map_lo..=map_hi` (widened by each insert, reset when the
//!   map empties), so a new block whose range misses those bounds needs no check
//!   against the map.

use crate::id::IdMap;
use crate::{FailureReason, TaskId};

/// A cell of an id that is not known.
const ABSENT: u32 = u32::MAX;
/// A cell of a failed task (its reason is in [`Ids::failed`]).
const FAILED: u32 = u32::MAX - 1;
/// The largest slot index a record can hold (the two above are taken).
pub(super) const MAX_SLOT: u32 = u32::MAX - 2;
/// Batches of at least this many tasks with contiguous ids are recorded as a block
/// (smaller ones go into the map: a block costs an allocation and a place in the
/// sorted list).
pub(super) const MIN_BLOCK: usize = 32;

/// Writes `slot` into the cell of a block being filled, unless the cell was written
/// already (a duplicate id in the batch): then returns false.
pub(super) fn fill(cell: &mut u32, slot: u32) -> bool {
    if *cell != ABSENT {
        return false;
    }
    *cell = slot;
    true
}

/// Where the graph keeps a task: a slot (live, or succeeded and kept until forgotten),
/// or the compact record of its failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    Live(u32),
    Failed(FailureReason),
}

/// The ids of one contiguous batch.
#[derive(Debug)]
struct Block {
    lo: u64,
    /// The cell of id `lo + k` at `k`.
    cells: Vec<u32>,
    /// Cells that are not `ABSENT`.
    known: usize,
}

impl Block {
    fn end(&self) -> u64 {
        self.lo + self.cells.len() as u64
    }
}

/// Every id the graph knows, with its record (see the module invariants).
#[derive(Debug)]
pub(super) struct Ids {
    map: IdMap<Entry>,
    blocks: Vec<Block>,
    /// The failure reasons of ids in blocks.
    failed: IdMap<FailureReason>,
    in_blocks: usize,
    map_lo: u64,
    map_hi: u64,
    /// The cells of the last dropped block, kept (emptied) for the next one.
    spare: Vec<u32>,
}

impl Default for Ids {
    fn default() -> Self {
        Ids {
            map: IdMap::default(),
            blocks: Vec::new(),
            failed: IdMap::default(),
            in_blocks: 0,
            map_lo: u64::MAX,
            map_hi: 0,
            spare: Vec::new(),
        }
    }
}

impl Ids {
    /// The number of known ids.
    pub(super) fn len(&self) -> usize {
        self.map.len() + self.in_blocks
    }

    /// The block whose range holds `id`, and the id's cell index in it.
    fn block_of(&self, id: TaskId) -> Option<(usize, usize)> {
        let id = id.as_u64();
        let b = self.blocks.partition_point(|b| b.lo <= id).checked_sub(1)?;
        let k = id - self.blocks[b].lo;
        (k < self.blocks[b].cells.len() as u64).then_some((b, k as usize))
    }

    /// The record of `id`, if known.
    pub(super) fn get(&self, id: TaskId) -> Option<Entry> {
        if self.blocks.is_empty() {
            return self.map.get(&id).copied();
        }
        match self.block_of(id) {
            Some((b, k)) => match self.blocks[b].cells[k] {
                ABSENT => None,
                FAILED => Some(Entry::Failed(self.failed[&id])),
                slot => Some(Entry::Live(slot)),
            },
            None => self.map.get(&id).copied(),
        }
    }

    /// Makes room in the map for `n` more ids.
    pub(super) fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    /// Records `id` as live in `slot`, unless it is known already (then returns false,
    /// changing nothing).
    pub(super) fn insert_new(&mut self, id: TaskId, slot: u32) -> bool {
        debug_assert!(slot <= MAX_SLOT);
        if let Some((b, k)) = self.block_of(id) {
            let block = &mut self.blocks[b];
            if block.cells[k] != ABSENT {
                return false;
            }
            block.cells[k] = slot;
            block.known += 1;
            self.in_blocks += 1;
            return true;
        }
        match self.map.entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Entry::Live(slot));
                self.map_lo = self.map_lo.min(id.as_u64());
                self.map_hi = self.map_hi.max(id.as_u64());
                true
            }
        }
    }

    /// Replaces the record of the known `id` with its failure.
    pub(super) fn set_failed(&mut self, id: TaskId, reason: FailureReason) {
        match self.block_of(id) {
            Some((b, k)) => {
                let cell = &mut self.blocks[b].cells[k];
                debug_assert_ne!(*cell, ABSENT, "{id} is known");
                *cell = FAILED;
                self.failed.insert(id, reason);
            }
            None => {
                let entry = self.map.get_mut(&id);
                debug_assert!(entry.is_some(), "{id} is known");
                if let Some(entry) = entry {
                    *entry = Entry::Failed(reason);
                }
            }
        }
    }

    /// Forgets `id`; returns its record if it was known.
    pub(super) fn remove(&mut self, id: TaskId) -> Option<Entry> {
        let Some((b, k)) = self.block_of(id) else {
            let entry = self.map.remove(&id);
            if self.map.is_empty() {
                self.reset_map_bounds();
            }
            return entry;
        };
        let entry = match std::mem::replace(&mut self.blocks[b].cells[k], ABSENT) {
            ABSENT => return None,
            FAILED => Entry::Failed(self.failed.remove(&id).expect("a failed cell's reason")),
            slot => Entry::Live(slot),
        };
        self.blocks[b].known -= 1;
        self.in_blocks -= 1;
        if self.blocks[b].known == 0 {
            let block = self.blocks.remove(b);
            self.recycle(block.cells);
        }
        Some(entry)
    }

    /// Forgets every id.
    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.failed.clear();
        self.reset_map_bounds();
        self.in_blocks = 0;
        while let Some(block) = self.blocks.pop() {
            self.recycle(block.cells);
        }
    }

    /// Forgets every failure record, and each live record whose slot `keep` refuses
    /// (in no particular order). Blocks shrink to their first and last known ids, and
    /// go when none is left.
    pub(super) fn retain_live(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.map.retain(|_, e| match *e {
            Entry::Live(slot) => keep(slot),
            Entry::Failed(_) => false,
        });
        if self.map.is_empty() {
            self.reset_map_bounds();
        }
        self.failed.clear();
        for block in &mut self.blocks {
            for cell in &mut block.cells {
                if *cell == FAILED || (*cell != ABSENT && !keep(*cell)) {
                    *cell = ABSENT;
                    block.known -= 1;
                    self.in_blocks -= 1;
                }
            }
            let first = block.cells.iter().position(|&c| c != ABSENT);
            let last = block.cells.iter().rposition(|&c| c != ABSENT);
            if let (Some(first), Some(last)) = (first, last) {
                block.cells.truncate(last + 1);
                block.cells.drain(..first);
                block.lo += first as u64;
            }
        }
        let mut dropped = Vec::new();
        self.blocks.retain_mut(|b| {
            if b.known > 0 {
                return true;
            }
            dropped.push(std::mem::take(&mut b.cells));
            false
        });
        for cells in dropped {
            self.recycle(cells);
        }
    }

    /// Cells for a new block of `n` ids, all `ABSENT`, to fill and hand to
    /// [`push_block`](Self::push_block).
    pub(super) fn take_cells(&mut self, n: usize) -> Vec<u32> {
        let mut cells = std::mem::take(&mut self.spare);
        cells.clear();
        cells.resize(n, ABSENT);
        cells
    }

    /// Whether ids `[lo, lo + n)` may become a block: `n` is at least [`MIN_BLOCK`],
    /// and no known id (in a block or the map) lies in that range.
    pub(super) fn block_fits(&self, lo: u64, n: usize) -> bool {
        if n < MIN_BLOCK {
            return false;
        }
        let Some(end) = lo.checked_add(n as u64) else {
            return false;
        };
        let next = self.blocks.partition_point(|b| b.lo < end);
        if next > 0 && self.blocks[next - 1].end() > lo {
            return false; // overlaps a block (ids of which may be forgotten: not a block)
        }
        if self.map_hi < lo || self.map_lo >= end {
            return true;
        }
        if self.map.len() <= n {
            !self.map.keys().any(|id| (lo..end).contains(&id.as_u64()))
        } else {
            !(lo..end).any(|id| self.map.contains_key(&TaskId::new(id)))
        }
    }

    /// Records the block of ids `[lo, lo + cells.len())`, each cell holding its id's
    /// slot or `ABSENT`. The range must have passed [`block_fits`](Self::block_fits).
    pub(super) fn push_block(&mut self, lo: u64, cells: Vec<u32>) {
        debug_assert!(self.block_fits(lo, cells.len()));
        let known = cells.iter().filter(|&&c| c != ABSENT).count();
        debug_assert!(known > 0 && cells.iter().all(|&c| c != FAILED));
        let at = self.blocks.partition_point(|b| b.lo < lo);
        self.in_blocks += known;
        self.blocks.insert(at, Block { lo, cells, known });
    }

    /// Drops the block that starts at `lo` (a batch that was refused after
    /// [`push_block`](Self::push_block)); its ids must all be live.
    pub(super) fn remove_block(&mut self, lo: u64) {
        let at = self
            .blocks
            .binary_search_by_key(&lo, |b| b.lo)
            .expect("the batch's block");
        let block = self.blocks.remove(at);
        self.in_blocks -= block.known;
        self.recycle(block.cells);
    }

    /// Keeps the larger of `cells` and the spare cells for the next block.
    pub(super) fn recycle(&mut self, cells: Vec<u32>) {
        if cells.capacity() > self.spare.capacity() {
            self.spare = cells;
        }
    }

    fn reset_map_bounds(&mut self) {
        self.map_lo = u64::MAX;
        self.map_hi = 0;
    }

    /// The number of blocks and of map entries (tests only).
    #[cfg(test)]
    pub(super) fn shape(&self) -> (usize, usize) {
        (self.blocks.len(), self.map.len())
    }

    /// Checks the invariants (tests only).
    #[cfg(test)]
    pub(super) fn check(&self) {
        let mut in_blocks = 0;
        let mut failed = 0;
        for pair in self.blocks.windows(2) {
            assert!(pair[0].end() <= pair[1].lo, "blocks sorted and disjoint");
        }
        for b in &self.blocks {
            assert!(!b.cells.is_empty());
            let known = b.cells.iter().filter(|&&c| c != ABSENT).count();
            assert_eq!(known, b.known);
            assert!(known > 0, "an empty block is dropped");
            in_blocks += known;
            for (k, &c) in b.cells.iter().enumerate() {
                if c == FAILED {
                    failed += 1;
                    assert!(self.failed.contains_key(&TaskId::new(b.lo + k as u64)));
                }
            }
        }
        assert_eq!(in_blocks, self.in_blocks);
        assert_eq!(failed, self.failed.len());
        for id in self.map.keys() {
            assert!(self.block_of(*id).is_none(), "map id {id} in a block");
            assert!((self.map_lo..=self.map_hi).contains(&id.as_u64()));
        }
    }
}

#[cfg(test)]
#[path = "ids_tests.rs"]
mod tests;
