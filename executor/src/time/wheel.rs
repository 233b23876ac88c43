//! A hierarchical timing wheel: O(1) insert and cancel, timers fired in deadline order.
//!
//! Time is counted in *ticks* (the driver uses 1 tick = 1 ms). The wheel has
//! [`LEVELS`] levels of [`SLOTS`] slots; a slot of level `l` spans `64^l` ticks, so level
//! `l` as a whole spans `64^(l+1)` ticks and the wheel [`MAX_DURATION`] ≈ 2^36 ticks
//! (≈ 795 days at 1 ms).
//!
//! Invariants (hold between calls):
//! - `elapsed` is the tick the wheel has been advanced to. Every live entry with
//!   `deadline <= elapsed` is on the *pending* list; it fires on the next `advance`.
//! - Every other live entry is on the list of slot `(deadline >> 6l) & 63` of level
//!   `l = level_for(e, deadline)`, where `e` was `elapsed` when it was last (re)linked.
//!   Entries of a lower level always expire before the next occupied slot of any higher
//!   level, so scanning levels bottom-up finds the earliest slot.
//! - Deadlines beyond `MAX_DURATION` are folded into the top level, whose slots act as a
//!   ring: such an entry is cascaded when its slot comes round and relinked until it is
//!   within range. No deadline is ever fired early.
//! - Bit `s` of `occupied[l]` is set iff the list of slot `s` of level `l` is non-empty.
//! - Entries live in a slab (`nodes`): every occupied node is on exactly one list
//!   (doubly linked through indices, so unlinking is O(1)); vacant nodes form a free
//!   list. Removing an entry drops nothing inside: the waker is handed back so the
//!   caller can drop it outside its lock. When the wheel becomes empty the slab is
//!   cleared and, if it had grown large, shrunk — a burst of cancelled long timeouts
//!   leaves no garbage behind.
//! - A [`TimerKey`] carries a generation unique per insertion (a `u64` that never
//!   wraps in practice), so a stale key — of a fired, removed or cleared entry — never
//!   matches a later entry that reuses its node.

use std::fmt;
use std::task::Waker;

/// Bits of a tick consumed per level.
const SLOT_BITS: u32 = 6;
/// Slots per level.
pub(crate) const SLOTS: usize = 1 << SLOT_BITS;
/// Number of levels.
pub(crate) const LEVELS: usize = 6;
/// The largest distance from `elapsed` the wheel represents without folding.
pub(crate) const MAX_DURATION: u64 = (1 << (SLOT_BITS * LEVELS as u32)) - 1;
/// Deadlines are clamped to this tick (≈ 146 million years at 1 ms): arithmetic on
/// slot boundaries never overflows.
pub(crate) const MAX_TICK: u64 = u64::MAX >> 2;
/// The empty link.
const NIL: u32 = u32::MAX;
/// The list index of the pending list (after the `LEVELS * SLOTS` slot lists).
const PENDING: usize = LEVELS * SLOTS;
/// An emptied slab with more capacity than this is shrunk back to it.
const SHRINK_ABOVE: usize = 1024;

/// Names one inserted timer; stale once it fired or was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u64,
}

/// A live timer.
struct Entry {
    deadline: u64,
    waker: Waker,
    /// The list this entry is on (a slot list, or `PENDING`).
    list: usize,
    prev: u32,
    next: u32,
}

/// A slab node.
enum Node {
    Vacant { next_free: u32 },
    Occupied { generation: u64, entry: Entry },
}

/// The timing wheel. Not thread-safe by itself: the driver keeps it in a mutex.
pub(crate) struct Wheel {
    nodes: Vec<Node>,
    free_head: u32,
    len: usize,
    next_generation: u64,
    elapsed: u64,
    /// Heads of the slot lists (`level * SLOTS + slot`) and of the pending list.
    heads: [u32; PENDING + 1],
    occupied: [u64; LEVELS],
}

/// The level an entry due at `when` belongs to, seen from `elapsed` (`when > elapsed`):
/// the level of the highest 6-bit group in which the two differ, capped at the top.
fn level_for(elapsed: u64, when: u64) -> usize {
    const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
    // Or-ing in the slot mask keeps level 0 for differences within one 64-tick block.
    let masked = ((elapsed ^ when) | SLOT_MASK).min(MAX_DURATION - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

impl Default for Wheel {
    fn default() -> Self {
        Self::new()
    }
}

impl Wheel {
    /// An empty wheel at tick 0.
    pub(crate) fn new() -> Self {
        Self {
            nodes: Vec::new(),
            free_head: NIL,
            len: 0,
            next_generation: 0,
            elapsed: 0,
            heads: [NIL; PENDING + 1],
            occupied: [0; LEVELS],
        }
    }

    /// Number of live timers.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is live.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tick the wheel has been advanced to.
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Adds a timer due at `deadline` (clamped to [`MAX_TICK`]). A deadline at or before
    /// [`elapsed`](Self::elapsed) fires on the next [`advance`](Self::advance).
    pub(crate) fn insert(&mut self, deadline: u64, waker: Waker) -> TimerKey {
        let generation = self.next_generation;
        self.next_generation += 1;
        let entry = Entry {
            deadline: deadline.min(MAX_TICK),
            waker,
            list: PENDING,
            prev: NIL,
            next: NIL,
        };
        let node = Node::Occupied { generation, entry };
        let index = if self.free_head == NIL {
            let index = u32::try_from(self.nodes.len()).ok().filter(|&i| i != NIL);
            let index = index.expect("more than u32::MAX - 1 live timers");
            self.nodes.push(node);
            index
        } else {
            let index = self.free_head;
            match std::mem::replace(&mut self.nodes[index as usize], node) {
                Node::Vacant { next_free } => self.free_head = next_free,
                Node::Occupied { .. } => unreachable!("free list points at an occupied node"),
            }
            index
        };
        self.len += 1;
        self.link(index);
        TimerKey { index, generation }
    }

    /// Removes a live timer and hands back its waker (for the caller to drop outside
    /// any lock); `None` when the key is stale.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<Waker> {
        self.entry_for(key)?;
        self.unlink(key.index);
        Some(self.free(key.index))
    }

    /// The waker of a live timer, to replace; `None` when the key is stale.
    pub(crate) fn waker_mut(&mut self, key: TimerKey) -> Option<&mut Waker> {
        self.entry_for(key).map(|entry| &mut entry.waker)
    }

    /// Moves a live timer to a new deadline, keeping its key; `false` when stale.
    pub(crate) fn reschedule(&mut self, key: TimerKey, deadline: u64) -> bool {
        if self.entry_for(key).is_none() {
            return false;
        }
        self.unlink(key.index);
        self.entry(key.index).deadline = deadline.min(MAX_TICK);
        self.link(key.index);
        true
    }

    /// The earliest tick at which [`advance`](Self::advance) has work, `None` when
    /// empty. Exact for timers due within 64 ticks; otherwise the start of the slot
    /// holding the earliest timer — a lower bound, never later than any live deadline.
    /// With pending timers it is `elapsed`.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if self.heads[PENDING] != NIL {
            return Some(self.elapsed);
        }
        self.next_slot().map(|(_, _, deadline)| deadline)
    }

    /// Fires every timer with `deadline <= now`: removes it and pushes its waker onto
    /// `fired`, in deadline order (timers already pending come first). Afterwards
    /// `elapsed == max(elapsed, now)`.
    pub(crate) fn advance(&mut self, now: u64, fired: &mut Vec<Waker>) {
        let now = now.min(MAX_TICK);
        while self.heads[PENDING] != NIL {
            let index = self.heads[PENDING];
            self.unlink(index);
            fired.push(self.free(index));
        }
        while let Some((level, slot, deadline)) = self.next_slot() {
            if deadline > now {
                break;
            }
            self.elapsed = self.elapsed.max(deadline);
            // Detach the whole slot, then fire or cascade each of its entries.
            let mut index = std::mem::replace(&mut self.heads[level * SLOTS + slot], NIL);
            self.occupied[level] &= !(1 << slot);
            while index != NIL {
                let entry = self.entry(index);
                let next = entry.next;
                if entry.deadline <= self.elapsed {
                    fired.push(self.free(index));
                } else {
                    self.link(index);
                }
                index = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Removes every timer, pushing its waker onto `fired` (used at shutdown).
    pub(crate) fn drain(&mut self, fired: &mut Vec<Waker>) {
        for node in std::mem::take(&mut self.nodes) {
            if let Node::Occupied { entry, .. } = node {
                fired.push(entry.waker);
            }
        }
        self.free_head = NIL;
        self.len = 0;
        self.heads = [NIL; PENDING + 1];
        self.occupied = [0; LEVELS];
    }

    /// The earliest occupied slot over all levels: `(level, slot, start tick)`.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        (0..LEVELS).find_map(|level| self.next_slot_in(level))
    }

    /// The first occupied slot of `level` at or after the current position.
    fn next_slot_in(&self, level: usize) -> Option<(usize, usize, u64)> {
        let occupied = self.occupied[level];
        if occupied == 0 {
            return None;
        }
        let shift = SLOT_BITS * level as u32;
        // Search from the slot after the current one: only the top level can have its
        // current slot occupied, and then by folded timers a full rotation ahead, which
        // come after every other slot.
        let after_now = ((self.elapsed >> shift) as u32 + 1) & (SLOTS as u32 - 1);
        let slot = (occupied.rotate_right(after_now).trailing_zeros() + after_now) as usize % SLOTS;
        let level_range = 1u64 << (shift + SLOT_BITS);
        let level_start = self.elapsed & !(level_range - 1);
        let mut deadline = level_start + ((slot as u64) << shift);
        if deadline <= self.elapsed {
            // Only the top level wraps: it holds folded far-future deadlines, and a slot
            // "behind" the current position is one rotation ahead.
            debug_assert_eq!(level, LEVELS - 1, "a lower level wrapped");
            deadline += level_range;
        }
        Some((level, slot, deadline))
    }

    /// The live entry named by `key`, if any.
    fn entry_for(&mut self, key: TimerKey) -> Option<&mut Entry> {
        match self.nodes.get_mut(key.index as usize) {
            Some(Node::Occupied { generation, entry }) if *generation == key.generation => {
                Some(entry)
            }
            _ => None,
        }
    }

    /// The entry at a linked index.
    fn entry(&mut self, index: u32) -> &mut Entry {
        match &mut self.nodes[index as usize] {
            Node::Occupied { entry, .. } => entry,
            Node::Vacant { .. } => unreachable!("a list points at a vacant node"),
        }
    }

    /// Pushes the (unlinked) entry at `index` onto the list its deadline maps to.
    fn link(&mut self, index: u32) {
        let elapsed = self.elapsed;
        let entry = self.entry(index);
        let list = if entry.deadline <= elapsed {
            PENDING
        } else {
            let level = level_for(elapsed, entry.deadline);
            level * SLOTS + ((entry.deadline >> (SLOT_BITS * level as u32)) as usize % SLOTS)
        };
        entry.list = list;
        entry.prev = NIL;
        let head = std::mem::replace(&mut self.heads[list], index);
        self.entry(index).next = head;
        if head != NIL {
            self.entry(head).prev = index;
        }
        if list != PENDING {
            self.occupied[list / SLOTS] |= 1 << (list % SLOTS);
        }
    }

    /// Takes the entry at `index` off its list.
    fn unlink(&mut self, index: u32) {
        let Entry {
            list, prev, next, ..
        } = *self.entry(index);
        if prev == NIL {
            self.heads[list] = next;
        } else {
            self.entry(prev).next = next;
        }
        if next != NIL {
            self.entry(next).prev = prev;
        }
        if self.heads[list] == NIL && list != PENDING {
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
    }

    /// Returns the node at `index` (already unlinked or detached) to the free list.
    fn free(&mut self, index: u32) -> Waker {
        let vacant = Node::Vacant {
            next_free: self.free_head,
        };
        let Node::Occupied { entry, .. } =
            std::mem::replace(&mut self.nodes[index as usize], vacant)
        else {
            unreachable!("freeing a vacant node");
        };
        self.free_head = index;
        self.len -= 1;
        if self.len == 0 {
            // Nothing is live: forget the slab (generations keep old keys stale).
            self.nodes.clear();
            self.free_head = NIL;
            if self.nodes.capacity() > SHRINK_ABOVE {
                self.nodes.shrink_to(SHRINK_ABOVE);
            }
        }
        entry.waker
    }
}

impl fmt::Debug for Wheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("len", &self.len)
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

#[cfg(test)]
#[path = "wheel_tests.rs"]
mod tests;
