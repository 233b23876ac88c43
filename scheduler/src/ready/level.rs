//! One priority level of the ready heap: its deadline heap, no-deadline heap and
//! arrival queue, and the slab slot type they point into.
//!
//! Invariants (between calls into the queue):
//! - Every entry names a slab slot and the `seq` of the task it was made for; it is
//!   live iff the slot still holds that `seq`.
//! - A non-empty level's heap tops and arrival front are live; `stale_deadlines`,
//!   `stale_plain` and `stale_arrivals` count the stale entries inside each heap and
//!   the arrival queue.
//! - Arrivals are in push order with non-decreasing `enqueued` times.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Sentinel for "no deadline" in [`Slot::deadline`].
pub(super) const NO_DEADLINE: u64 = u64::MAX;

#[derive(Debug)]
pub(super) struct Slot<T> {
    /// 0 when free.
    pub(super) seq: u64,
    pub(super) rank: u64,
    pub(super) deadline: u64,
    pub(super) level: u8,
    pub(super) item: Option<T>,
}

#[derive(Debug, Default)]
pub(super) struct Level {
    pub(super) deadlines: RunHeap<DeadlineEntry>,
    pub(super) plain: RunHeap<PlainEntry>,
    pub(super) arrivals: VecDeque<Arrival>,
    pub(super) live: usize,
    /// Stale entries somewhere in `deadlines` / `plain` (tasks that left through the
    /// arrival queue or `remove`); when zero, the heap tops need no check.
    pub(super) stale_deadlines: usize,
    pub(super) stale_plain: usize,
    /// Stale entries in `arrivals` (tasks that left through a heap or `remove`);
    /// when zero, the arrival front needs no check.
    pub(super) stale_arrivals: usize,
}

/// A max-heap that keeps entries pushed in non-increasing order (the common case:
/// equal keys pushed in FIFO order, or ranks falling along a topological order) in a
/// sorted run, pushed and popped in O(1); only an entry larger than the run's last
/// goes into the binary heap. `peek` and `pop` see the larger of the two tops, so the
/// order is exactly a binary heap's.
#[derive(Debug)]
pub(super) struct RunHeap<E> {
    heap: BinaryHeap<E>,
    /// Sorted, largest first.
    run: VecDeque<E>,
}

impl<E> Default for RunHeap<E> {
    fn default() -> Self {
        RunHeap {
            heap: BinaryHeap::new(),
            run: VecDeque::new(),
        }
    }
}

impl<E: Ord> RunHeap<E> {
    #[inline]
    pub(super) fn push(&mut self, e: E) {
        match self.run.back() {
            Some(last) if e > *last => self.heap.push(e),
            _ => self.run.push_back(e),
        }
    }

    /// Whether the top is the run's front (rather than the heap's top).
    #[inline]
    fn top_in_run(&self) -> bool {
        match (self.run.front(), self.heap.peek()) {
            (Some(r), Some(h)) => r > h,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<&E> {
        if self.top_in_run() {
            self.run.front()
        } else {
            self.heap.peek()
        }
    }

    #[inline]
    pub(super) fn pop(&mut self) -> Option<E> {
        if self.top_in_run() {
            self.run.pop_front()
        } else {
            self.heap.pop()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len() + self.run.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.run.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.heap.clear();
        self.run.clear();
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&E) -> bool) {
        self.heap.retain(&mut keep);
        self.run.retain(keep);
    }

    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &E> {
        self.heap.iter().chain(self.run.iter())
    }
}

/// A heap entry: `hi` and `lo` form one `u128` key (compared in a single branch-free
/// comparison, which makes `BinaryHeap` pops markedly faster than a tuple key), larger
/// first; `lo` is always `!seq`, so that ties go to the earlier push.
pub(super) trait Keyed {
    fn key(&self) -> u128;
}

macro_rules! keyed_ord {
    ($t:ty) => {
        impl Keyed for $t {
            #[inline]
            fn key(&self) -> u128 {
                u128::from(self.hi) << 64 | u128::from(self.lo)
            }
        }
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.key() == other.key()
            }
        }
        impl Eq for $t {}
        impl Ord for $t {
            #[inline]
            fn cmp(&self, other: &Self) -> Ordering {
                self.key().cmp(&other.key())
            }
        }
        impl PartialOrd for $t {
            #[inline]
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
    };
}

/// Deadline-heap entry: the top is the earliest deadline, then the earliest push.
#[derive(Clone, Copy, Debug)]
pub(super) struct DeadlineEntry {
    /// `!deadline`
    pub(super) hi: u64,
    /// `!seq`
    pub(super) lo: u64,
    pub(super) rank: u64,
    pub(super) slot: u32,
}

impl DeadlineEntry {
    pub(super) fn new(deadline: u64, seq: u64, rank: u64, slot: u32) -> Self {
        DeadlineEntry {
            hi: !deadline,
            lo: !seq,
            rank,
            slot,
        }
    }

    pub(super) fn deadline(&self) -> u64 {
        !self.hi
    }

    pub(super) fn seq(&self) -> u64 {
        !self.lo
    }
}

keyed_ord!(DeadlineEntry);

/// No-deadline-heap entry: the top is the largest rank, then the earliest push.
#[derive(Clone, Copy, Debug)]
pub(super) struct PlainEntry {
    /// `rank`
    pub(super) hi: u64,
    /// `!seq`
    pub(super) lo: u64,
    pub(super) slot: u32,
}

impl PlainEntry {
    pub(super) fn new(rank: u64, seq: u64, slot: u32) -> Self {
        PlainEntry {
            hi: rank,
            lo: !seq,
            slot,
        }
    }

    pub(super) fn rank(&self) -> u64 {
        self.hi
    }

    pub(super) fn seq(&self) -> u64 {
        !self.lo
    }
}

keyed_ord!(PlainEntry);

#[derive(Clone, Copy, Debug)]
pub(super) struct Arrival {
    pub(super) seq: u64,
    pub(super) enqueued: u64,
    pub(super) slot: u32,
}

impl Level {
    /// Restores "heap tops and arrival front are live" after the task `gone` left.
    /// Checks a heap top only while the heap holds stale entries, and the arrival front
    /// only while the queue does (a task leaving through a heap in arrival order, the
    /// common case, is the front itself and leaves nothing stale behind).
    pub(super) fn drop_stale_tops<T>(&mut self, slab: &[Slot<T>], gone: u64) {
        let live = |slot: u32, seq: u64| slab[slot as usize].seq == seq;
        while self.stale_deadlines > 0 {
            match self.deadlines.peek() {
                Some(e) if !live(e.slot, e.seq()) => {
                    self.deadlines.pop();
                    self.stale_deadlines -= 1;
                }
                _ => break,
            }
        }
        while self.stale_plain > 0 {
            match self.plain.peek() {
                Some(e) if !live(e.slot, e.seq()) => {
                    self.plain.pop();
                    self.stale_plain -= 1;
                }
                _ => break,
            }
        }
        if self.arrivals.front().is_some_and(|a| a.seq == gone) {
            self.arrivals.pop_front();
            self.stale_arrivals -= 1;
        }
        while self.stale_arrivals > 0 {
            match self.arrivals.front() {
                Some(a) if !live(a.slot, a.seq) => {
                    self.arrivals.pop_front();
                    self.stale_arrivals -= 1;
                }
                _ => break,
            }
        }
    }

    /// Drops every stale entry (touching a heap only if it has any).
    pub(super) fn compact<T>(&mut self, slab: &[Slot<T>]) {
        let live = |slot: u32, seq: u64| slab[slot as usize].seq == seq;
        if self.stale_deadlines > 0 {
            self.deadlines.retain(|e| live(e.slot, e.seq()));
        }
        if self.stale_plain > 0 {
            self.plain.retain(|e| live(e.slot, e.seq()));
        }
        if self.stale_arrivals > 0 {
            self.arrivals.retain(|e| live(e.slot, e.seq));
        }
        self.stale_deadlines = 0;
        self.stale_plain = 0;
        self.stale_arrivals = 0;
    }
}
