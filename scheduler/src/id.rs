//! Task identifiers.
//!
//! Invariants:
//! - A [`TaskId`] is a plain `u64`; equality, ordering and hashing are those of the
//!   number. Ids are chosen by the user ([`TaskId::new`]) or drawn from a process-wide
//!   counter ([`TaskId::fresh`]), which each thread takes in blocks (so fresh ids are
//!   unique, but not ordered across threads).
//! - Fresh ids always have the top bit ([`TaskId::FRESH_BIT`]) set and are never handed
//!   out twice in one process. User ids are expected to stay below `2^63` (any id a
//!   program counts or indexes up to is); a user id with the top bit set is allowed but
//!   may collide with a fresh id, which the dependency graph then reports as a
//!   duplicate.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The process-wide counter behind [`TaskId::fresh`]: the start of the next block of
/// [`FRESH_BLOCK`] ids a thread reserves.
static NEXT_FRESH: AtomicU64 = AtomicU64::new(0);

/// How many fresh ids a thread reserves at once: building a large graph then takes
/// one read-modify-write of the shared counter per block, not per task.
const FRESH_BLOCK: u64 = 1024;

thread_local! {
    /// This thread's reserved fresh ids: (next, end of block).
    static RESERVED_FRESH: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// Identifies one task of a task graph.
///
/// ```
/// use taskweave_scheduler::TaskId;
///
/// let a = TaskId::new(7);
/// assert_eq!(a.as_u64(), 7);
/// assert_eq!(a.to_string(), "7");
///
/// let b = TaskId::fresh();
/// let c = TaskId::fresh();
/// assert_ne!(b, c);
/// assert!(b.is_fresh() && !a.is_fresh());
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    /// The bit set in every id made by [`TaskId::fresh`] (the top bit of the `u64`).
    pub const FRESH_BIT: u64 = 1 << 63;

    /// An id chosen by the caller. Keep user ids below `2^63` so that they can never
    /// meet an id from [`TaskId::fresh`].
    ///
    /// ```
    /// # use taskweave_scheduler::TaskId;
    /// assert_eq!(TaskId::new(3), TaskId::from(3));
    /// ```
    pub const fn new(raw: u64) -> Self {
        TaskId(raw)
    }

    /// A new id, unique in this process: the top bit set, the rest from a process-wide
    /// counter (2^63 ids before it would wrap), reserved by each thread in blocks.
    ///
    /// ```
    /// # use taskweave_scheduler::TaskId;
    /// let id = TaskId::fresh();
    /// assert!(id.as_u64() >= TaskId::FRESH_BIT);
    /// ```
    #[inline]
    pub fn fresh() -> Self {
        let from_block = RESERVED_FRESH.try_with(|reserved| {
            let (next, end) = match reserved.get() {
                (next, end) if next < end => (next, end),
                _ => {
                    let start = NEXT_FRESH.fetch_add(FRESH_BLOCK, Ordering::Relaxed);
                    (start, start + FRESH_BLOCK)
                }
            };
            reserved.set((next + 1, end));
            next
        });
        // During thread teardown the thread-local is gone: take a block of one.
        let n = from_block.unwrap_or_else(|_| NEXT_FRESH.fetch_add(1, Ordering::Relaxed));
        TaskId(Self::FRESH_BIT | n)
    }

    /// The number behind this id.
    ///
    /// ```
    /// # use taskweave_scheduler::TaskId;
    /// assert_eq!(TaskId::new(42).as_u64(), 42);
    /// ```
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Whether the id is in the range that [`TaskId::fresh`] draws from.
    ///
    /// ```
    /// # use taskweave_scheduler::TaskId;
    /// assert!(TaskId::fresh().is_fresh());
    /// assert!(!TaskId::new(1).is_fresh());
    /// ```
    pub const fn is_fresh(self) -> bool {
        self.0 & Self::FRESH_BIT != 0
    }
}

impl From<u64> for TaskId {
    fn from(raw: u64) -> Self {
        TaskId(raw)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

/// User ids print as their number, fresh ids as `auto-N` (N without the top bit).
impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_fresh() {
            write!(f, "auto-{}", self.0 & !Self::FRESH_BIT)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A hasher for [`TaskId`] keys that keeps runs of consecutive ids together: the low 4
/// bits of the id stay as they are, the rest goes through a folded 64x64->128 multiply.
/// So 16 consecutive ids (the common case: counters, indexes, [`TaskId::fresh`]) share
/// one hash-table group and a few cache lines, while any stride of 16 or more is spread
/// like by a strong hash (the table's tag bits come from the mixed part). Not
/// DoS-resistant: ids come from the program, not from the network.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let x = x ^ self.0;
        let p = u128::from(x >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mixed = (p as u64) ^ ((p >> 64) as u64);
        self.0 = (mixed << 4) | (x & 15);
    }
}

/// A hash map keyed by [`TaskId`] with [`IdHasher`].
pub type IdMap<V> = std::collections::HashMap<TaskId, V, std::hash::BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn fresh_ids_are_unique_across_threads() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).map(|_| TaskId::fresh()).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(id.is_fresh());
                assert!(seen.insert(id), "duplicate fresh id {id}");
            }
        }
    }

    #[test]
    fn display_and_debug() {
        assert_eq!(TaskId::new(5).to_string(), "5");
        assert_eq!(format!("{:?}", TaskId::new(5)), "TaskId(5)");
        let f = TaskId(TaskId::FRESH_BIT | 9);
        assert_eq!(f.to_string(), "auto-9");
        assert_eq!(format!("{f:?}"), "TaskId(auto-9)");
    }

    #[test]
    fn hasher_keeps_blocks_of_16_together_and_spreads_strides() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = |x: u64| BuildHasherDefault::<IdHasher>::default().hash_one(TaskId::new(x));
        for x in [0u64, 16, 1 << 40] {
            for k in 1..16 {
                assert_eq!(h(x + k), h(x) + k);
            }
        }
        // Multiples of 1024 spread over the 256 groups of 16 of a 4096-bucket table.
        let groups: HashSet<u64> = (0..1024).map(|i| (h(i * 1024) >> 4) & 255).collect();
        assert!(groups.len() > 240, "{} distinct groups", groups.len());
        let tags: HashSet<u64> = (0..1024).map(|i| h(i * 16) >> 57).collect();
        assert!(tags.len() > 100, "{} distinct tags", tags.len());
    }

    #[test]
    fn ordering_is_numeric() {
        assert!(TaskId::new(1) < TaskId::new(2));
        assert!(TaskId::new(u64::MAX >> 1) < TaskId::fresh());
    }
}
