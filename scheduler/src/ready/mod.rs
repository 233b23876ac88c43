//! The ready heap: which ready task runs next.
//!
//! # Semantics
//! Every queued task has a base priority `p` (0-255), an optional deadline, a
//! critical-path rank, the time it was queued, and a push sequence number (FIFO order).
//! At `pop(now)`:
//!
//! 1. **Overdue first.** If some task's deadline is `<= now`, the one with the earliest
//!    deadline is popped (ties: earlier push).
//! 2. **Otherwise the highest effective priority** wins, where for a task at level `p`
//!    ```text
//!    effective = p + aging(level p) + boost(deadline)
//!    boost     = 0                                            if deadline - now >= boost_horizon
//!              = floor(max_boost * (boost_horizon - (deadline - now)) / boost_horizon)  otherwise
//!    aging     = min(max_aging, floor(waited / aging_interval))
//!    ```
//!    `boost` is evaluated at the pop, so a task pushed long before its deadline climbs
//!    as the clock moves, without being touched. `waited` is how long the *oldest* task
//!    at level `p` has been queued: aging lifts a whole priority level (all its tasks)
//!    whose oldest task has waited, one level per `aging_interval`, up to `max_aging`.
//! 3. **Ties** go to the larger critical-path rank, then to the earlier push.
//!
//! Two refinements keep this exact and cheap:
//! - Within one priority level, tasks with deadlines are served earliest-deadline-first
//!   among themselves (the earliest deadline has the level's largest boost, so it is the
//!   level's deadline contender; a later deadline never overtakes it on rank).
//! - **Starvation guard.** Once a level's oldest task has waited `max_aging *
//!   aging_interval` (its aging is saturated) it is a contender too, and it wins ties on
//!   effective priority before rank is looked at. So a task never waits behind an
//!   endless stream of same-level, higher-rank tasks.
//!
//! The popped task always has the maximum effective priority of all queued tasks.
//! Bound on waiting: a task at level `p` facing a stream of tasks at level `q` that are
//! popped as fast as they come (so level `q` does not age) waits at most
//! `(q - p + 1) * aging_interval` — or `max_aging * aging_interval` if that is smaller
//! — behind them, provided `q <= p + max_aging`. With the default `max_aging` of 128,
//! `LOW` catches up with `HIGH` but never with `CRITICAL`; raise `max_aging` to 255 to
//! bound every wait. `aging_interval == 0` or `max_aging == 0` disables aging and the
//! guard; `boost_horizon == 0` or `max_boost == 0` disables the boost.
//!
//! # Structure (time-invariant keys)
//! Nothing stored depends on `now`, so nothing is ever re-keyed. There are 256
//! per-priority-level buckets, each with:
//! - a min-heap of its deadline tasks by (deadline, push order) — its top is both the
//!   level's largest boost and its most overdue task;
//! - a max-heap of its no-deadline tasks by (rank, earlier push);
//! - an arrival queue in push order (the front is the oldest task: aging and the
//!   starvation guard).
//!
//! plus a bitmap of non-empty levels and a slab owning the items. A task lives in the
//! slab and in two of its level's structures; popping it through one leaves a stale
//! entry in the other, recognised by its sequence number no longer matching the slab
//! slot and dropped when it reaches the top or front (lazy deletion). A level whose
//! stale entries outnumber twice its live ones plus 64 is compacted; an emptied level
//! is cleared. `pop` looks at the tops of each non-empty level only: O(levels + log n).
//!
//! # Invariants
//! - A slab slot is live iff its `seq` is non-zero; every heap/queue entry whose `seq`
//!   differs from its slot's is stale. Sequence numbers start at 1 and never repeat.
//! - Bit `p` of the bitmap is set iff level `p` has live tasks.
//! - Arrival times are clamped to be non-decreasing in push order (a key older than the
//!   previous push is treated as pushed at the previous push's time), so each level's
//!   arrival-queue front is its oldest task.

#[cfg(test)]
mod tests;

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use crate::Priority;

/// Scheduling key of a queued task.
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_scheduler::{Priority, ReadyKey};
///
/// let now = Instant::now();
/// let key = ReadyKey::new(Priority::HIGH, now)
///     .deadline(now + Duration::from_millis(20))
///     .rank(Duration::from_millis(3));
/// assert_eq!(key.deadline, Some(now + Duration::from_millis(20)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyKey {
    /// Base priority.
    pub priority: Priority,
    /// Optional deadline (boosts as it nears; overdue tasks go first).
    pub deadline: Option<Instant>,
    /// Critical-path rank: longest estimated remaining path to a sink (tie-break).
    pub rank: Duration,
    /// When the task was queued (aging); normally the `now` of the push.
    pub enqueued_at: Instant,
}

impl ReadyKey {
    /// A key with no deadline and zero rank.
    pub fn new(priority: Priority, enqueued_at: Instant) -> Self {
        ReadyKey {
            priority,
            deadline: None,
            rank: Duration::ZERO,
            enqueued_at,
        }
    }

    /// Sets the deadline.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the critical-path rank.
    pub fn rank(mut self, rank: Duration) -> Self {
        self.rank = rank;
        self
    }
}

/// Tuning of the deadline boost and of aging; see the [module docs](self) for the
/// formulas.
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_scheduler::ReadyQueueConfig;
///
/// let c = ReadyQueueConfig::default();
/// assert_eq!(c.boost_horizon, Duration::from_millis(100));
/// let now = Instant::now();
/// assert_eq!(c.deadline_boost(now + Duration::from_millis(200), now), 0);
/// assert_eq!(c.deadline_boost(now + Duration::from_millis(50), now), 32);
/// assert_eq!(c.aging(Duration::from_millis(35)), 3);
/// assert_eq!(c.aging(Duration::from_secs(60)), 128);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyQueueConfig {
    /// How long before its deadline a task starts being boosted (default 100 ms).
    pub boost_horizon: Duration,
    /// Levels added at the deadline itself (default 64).
    pub max_boost: u32,
    /// Waiting time per level of aging (default 10 ms).
    pub aging_interval: Duration,
    /// Cap on aging levels; also where the starvation guard starts (default 128).
    pub max_aging: u32,
}

impl Default for ReadyQueueConfig {
    fn default() -> Self {
        ReadyQueueConfig {
            boost_horizon: Duration::from_millis(100),
            max_boost: 64,
            aging_interval: Duration::from_millis(10),
            max_aging: 128,
        }
    }
}

impl ReadyQueueConfig {
    /// Levels of deadline boost at `now` for a deadline not yet reached (a reached
    /// deadline gives `max_boost`, but such a task is overdue and goes first anyway).
    pub fn deadline_boost(&self, deadline: Instant, now: Instant) -> u32 {
        let horizon = self.boost_horizon.as_nanos();
        if horizon == 0 || self.max_boost == 0 {
            return 0;
        }
        let left = deadline.saturating_duration_since(now).as_nanos();
        if left >= horizon {
            return 0;
        }
        (u128::from(self.max_boost) * (horizon - left) / horizon) as u32
    }

    /// Levels of aging after waiting `waited`.
    pub fn aging(&self, waited: Duration) -> u32 {
        let interval = self.aging_interval.as_nanos();
        if interval == 0 || self.max_aging == 0 {
            return 0;
        }
        let levels = waited.as_nanos() / interval;
        levels.min(u128::from(self.max_aging)) as u32
    }

    /// Whether a level whose oldest task waited `waited` is starving (aging saturated).
    pub fn is_starving(&self, waited: Duration) -> bool {
        self.max_aging > 0
            && !self.aging_interval.is_zero()
            && waited.as_nanos() >= self.aging_interval.as_nanos() * u128::from(self.max_aging)
    }
}

/// Names a queued entry, for [`ReadyQueue::remove`]. Stays unique: an id whose entry
/// was popped or removed never names another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryId {
    slot: u32,
    seq: u64,
}

/// The ready heap: picks the next task by overdue deadline, effective priority
/// (priority + deadline boost + aging, evaluated at the pop), critical-path rank and
/// FIFO. Single-threaded; the executor wraps it in its own lock.
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_scheduler::{Priority, ReadyKey, ReadyQueue};
///
/// let t0 = Instant::now();
/// let mut q = ReadyQueue::new();
/// q.push(ReadyKey::new(Priority::NORMAL, t0), "plain");
/// q.push(ReadyKey::new(Priority::HIGH, t0), "urgent");
/// q.push(
///     ReadyKey::new(Priority::NORMAL, t0).deadline(t0 + Duration::from_secs(1)),
///     "due in 1s",
/// );
/// assert_eq!(q.pop(t0), Some("urgent"));
/// // A second later the deadline has passed: overdue goes first.
/// assert_eq!(q.pop(t0 + Duration::from_secs(1)), Some("due in 1s"));
/// assert_eq!(q.pop(t0 + Duration::from_secs(1)), Some("plain"));
/// assert!(q.is_empty());
/// ```
#[derive(Debug)]
pub struct ReadyQueue<T> {
    config: ReadyQueueConfig,
    slab: Vec<SlabSlot<T>>,
    free: Vec<u32>,
    levels: Box<[Level]>,
    nonempty: [u64; 4],
    len: usize,
    next_seq: u64,
    last_enqueued: Option<Instant>,
}

#[derive(Debug)]
struct SlabSlot<T> {
    /// 0 when free.
    seq: u64,
    rank: u64,
    deadline: Option<Instant>,
    level: u8,
    item: Option<T>,
}

#[derive(Debug, Default)]
struct Level {
    deadlines: BinaryHeap<DeadlineEntry>,
    plain: BinaryHeap<PlainEntry>,
    arrivals: VecDeque<Arrival>,
    live: usize,
}

/// Ordered so that the max-heap top is the earliest deadline, then the earliest push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DeadlineEntry {
    deadline: Instant,
    seq: u64,
    slot: u32,
}

impl Ord for DeadlineEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.seq).cmp(&(self.deadline, self.seq))
    }
}

impl PartialOrd for DeadlineEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ordered so that the max-heap top is the largest rank, then the earliest push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PlainEntry {
    rank: u64,
    seq: u64,
    slot: u32,
}

impl Ord for PlainEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.rank, other.seq).cmp(&(other.rank, self.seq))
    }
}

impl PartialOrd for PlainEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Clone, Copy, Debug)]
struct Arrival {
    seq: u64,
    slot: u32,
    enqueued_at: Instant,
}

/// A contender's standing; larger wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    effective: u32,
    starving: bool,
    rank: u64,
    fifo: Reverse<u64>,
}

#[derive(Clone, Copy, Debug)]
enum Source {
    Deadline,
    Plain,
    Oldest,
}

#[derive(Clone, Copy, Debug)]
struct Choice {
    level: usize,
    source: Source,
    slot: u32,
}

impl<T> ReadyQueue<T> {
    /// An empty queue with the default [`ReadyQueueConfig`].
    pub fn new() -> Self {
        Self::with_config(ReadyQueueConfig::default())
    }

    /// An empty queue with this tuning.
    pub fn with_config(config: ReadyQueueConfig) -> Self {
        ReadyQueue {
            config,
            slab: Vec::new(),
            free: Vec::new(),
            levels: (0..256).map(|_| Level::default()).collect(),
            nonempty: [0; 4],
            len: 0,
            next_seq: 1,
            last_enqueued: None,
        }
    }

    /// The tuning in use.
    pub fn config(&self) -> &ReadyQueueConfig {
        &self.config
    }

    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `item`. O(log n).
    pub fn push(&mut self, key: ReadyKey, item: T) -> EntryId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let enqueued_at = match self.last_enqueued {
            Some(last) if last > key.enqueued_at => last,
            _ => key.enqueued_at,
        };
        self.last_enqueued = Some(enqueued_at);
        let level = key.priority.get();
        let rank = u64::try_from(key.rank.as_nanos()).unwrap_or(u64::MAX);
        let filled = SlabSlot {
            seq,
            rank,
            deadline: key.deadline,
            level,
            item: Some(item),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = filled;
                slot
            }
            None => {
                self.slab.push(filled);
                u32::try_from(self.slab.len() - 1).expect("more than 2^32 queued items")
            }
        };
        let lv = &mut self.levels[usize::from(level)];
        match key.deadline {
            Some(deadline) => lv.deadlines.push(DeadlineEntry {
                deadline,
                seq,
                slot,
            }),
            None => lv.plain.push(PlainEntry { rank, seq, slot }),
        }
        lv.arrivals.push_back(Arrival {
            seq,
            slot,
            enqueued_at,
        });
        lv.live += 1;
        self.nonempty[usize::from(level) / 64] |= 1 << (level % 64);
        self.len += 1;
        EntryId { slot, seq }
    }

    /// Takes out the task that should run at `now`, per the [module docs](self).
    /// O(non-empty levels + log n) amortized.
    pub fn pop(&mut self, now: Instant) -> Option<T> {
        let choice = self.select(now)?;
        let lv = &mut self.levels[choice.level];
        match choice.source {
            Source::Deadline => drop(lv.deadlines.pop()),
            Source::Plain => drop(lv.plain.pop()),
            Source::Oldest => drop(lv.arrivals.pop_front()),
        }
        Some(self.take(choice.slot))
    }

    /// The task [`pop`](Self::pop) would return at `now`, left in place. Takes `&mut
    /// self` to drop stale entries on the way.
    pub fn peek(&mut self, now: Instant) -> Option<&T> {
        let choice = self.select(now)?;
        self.slab[choice.slot as usize].item.as_ref()
    }

    /// Takes out a queued entry (e.g. a cancelled task) in O(1); its heap entries
    /// become stale. `None` if it was already popped or removed.
    pub fn remove(&mut self, id: EntryId) -> Option<T> {
        let slot = self.slab.get(id.slot as usize)?;
        if slot.seq != id.seq {
            return None;
        }
        Some(self.take(id.slot))
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.slab.clear();
        self.free.clear();
        for lv in self.levels.iter_mut() {
            *lv = Level::default();
        }
        self.nonempty = [0; 4];
        self.len = 0;
    }

    fn select(&mut self, now: Instant) -> Option<Choice> {
        if self.len == 0 {
            return None;
        }
        let cfg = self.config;
        let mut overdue: Option<((Instant, u64), Choice)> = None;
        let mut best: Option<(Score, Choice)> = None;
        for word in 0..4 {
            let mut bits = self.nonempty[word];
            while bits != 0 {
                let level = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let lv = &mut self.levels[level];
                lv.drop_stale_tops(&self.slab);
                let earliest = lv.deadlines.peek().copied();
                if let Some(d) = earliest {
                    if d.deadline <= now {
                        let key = (d.deadline, d.seq);
                        if overdue.map_or(true, |(k, _)| key < k) {
                            let choice = Choice {
                                level,
                                source: Source::Deadline,
                                slot: d.slot,
                            };
                            overdue = Some((key, choice));
                        }
                        continue;
                    }
                }
                if overdue.is_some() {
                    continue;
                }
                let oldest = *lv.arrivals.front().expect("a non-empty level");
                let waited = now.saturating_duration_since(oldest.enqueued_at);
                let starving = cfg.is_starving(waited);
                let base = level as u32 + cfg.aging(waited);
                let mut consider = |score: Score, source: Source, slot: u32| {
                    if best.map_or(true, |(b, _)| score > b) {
                        best = Some((
                            score,
                            Choice {
                                level,
                                source,
                                slot,
                            },
                        ));
                    }
                };
                if let Some(d) = earliest {
                    let score = Score {
                        effective: base + cfg.deadline_boost(d.deadline, now),
                        starving: starving && d.seq == oldest.seq,
                        rank: self.slab[d.slot as usize].rank,
                        fifo: Reverse(d.seq),
                    };
                    consider(score, Source::Deadline, d.slot);
                }
                if let Some(n) = lv.plain.peek() {
                    let score = Score {
                        effective: base,
                        starving: starving && n.seq == oldest.seq,
                        rank: n.rank,
                        fifo: Reverse(n.seq),
                    };
                    consider(score, Source::Plain, n.slot);
                }
                if starving {
                    let o = &self.slab[oldest.slot as usize];
                    let boost = o.deadline.map_or(0, |d| cfg.deadline_boost(d, now));
                    let score = Score {
                        effective: base + boost,
                        starving: true,
                        rank: o.rank,
                        fifo: Reverse(oldest.seq),
                    };
                    consider(score, Source::Oldest, oldest.slot);
                }
            }
        }
        overdue.map(|(_, c)| c).or(best.map(|(_, c)| c))
    }

    /// Frees a live slab slot and returns its item, keeping the level bookkeeping.
    fn take(&mut self, slot: u32) -> T {
        let s = &mut self.slab[slot as usize];
        s.seq = 0;
        let item = s.item.take().expect("a live slot");
        let level = usize::from(s.level);
        self.free.push(slot);
        self.len -= 1;
        let lv = &mut self.levels[level];
        lv.live -= 1;
        if lv.live == 0 {
            lv.deadlines.clear();
            lv.plain.clear();
            lv.arrivals.clear();
            self.nonempty[level / 64] &= !(1 << (level % 64));
        } else {
            let entries = lv.deadlines.len() + lv.plain.len() + lv.arrivals.len();
            if entries - 2 * lv.live > 2 * lv.live + 64 {
                lv.compact(&self.slab);
            }
        }
        item
    }
}

impl<T> Default for ReadyQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl Level {
    /// Pops stale entries off the heap tops and the arrival front.
    fn drop_stale_tops<T>(&mut self, slab: &[SlabSlot<T>]) {
        let live = |slot: u32, seq: u64| slab[slot as usize].seq == seq;
        while let Some(e) = self.deadlines.peek() {
            if live(e.slot, e.seq) {
                break;
            }
            self.deadlines.pop();
        }
        while let Some(e) = self.plain.peek() {
            if live(e.slot, e.seq) {
                break;
            }
            self.plain.pop();
        }
        while let Some(e) = self.arrivals.front() {
            if live(e.slot, e.seq) {
                break;
            }
            self.arrivals.pop_front();
        }
    }

    /// Drops every stale entry.
    fn compact<T>(&mut self, slab: &[SlabSlot<T>]) {
        let live = |slot: u32, seq: u64| slab[slot as usize].seq == seq;
        self.deadlines.retain(|e| live(e.slot, e.seq));
        self.plain.retain(|e| live(e.slot, e.seq));
        self.arrivals.retain(|e| live(e.slot, e.seq));
    }
}
