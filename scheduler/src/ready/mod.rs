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
//!
//! Bound on waiting: once a task is the oldest of its level `p`, a stream of tasks at a
//! level `q > p` that are popped as fast as they come (so level `q` does not age) keeps
//! it waiting at most `min(q - p + 1, max_aging) * aging_interval`, provided
//! `q <= p + max_aging`. With the default `max_aging` of 128, `LOW` catches up with
//! `HIGH` (after 1.28 s) but never with `CRITICAL`; raise `max_aging` to 255 to bound
//! every wait. `aging_interval == 0` or `max_aging == 0` disables aging and the guard;
//! `boost_horizon == 0` or `max_boost == 0` disables the boost.
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
//! slab and in two of its level's structures; when it leaves through one, its entry
//! in the other goes stale (its sequence number no longer matches the slab slot's)
//! and is dropped once it reaches the top or front (lazy deletion). That cleanup runs
//! at the end of every pop or removal, for the one level concerned, so `select` (and
//! `peek`) only ever reads live tops: O(non-empty levels) to choose, plus O(log n) to
//! pop. Per-heap counters of stale entries let the common case skip the staleness
//! check entirely, and heap entries compare as one packed `u128` key. A level whose
//! stale entries outnumber twice its live ones plus 64 is compacted; an emptied level
//! is cleared.
//!
//! Times are stored as nanoseconds since an origin an hour before the queue was
//! created (earlier instants count as the origin).
//!
//! # Invariants
//! - A slab slot is live iff its `seq` is non-zero; every heap/queue entry whose `seq`
//!   differs from its slot's is stale. Sequence numbers start at 1 and never repeat.
//! - Between calls, every non-empty level's heap tops and arrival front are live, and
//!   `stale_deadlines` / `stale_plain` / `stale_arrivals` count the stale entries in
//!   each heap and in the arrival queue.
//! - Bit `p` of the bitmap is set iff level `p` has live tasks.
//! - Arrival times are clamped to be non-decreasing in push order (a key older than the
//!   previous push is treated as pushed at the previous push's time), so each level's
//!   arrival-queue front is its oldest task.

mod key;
mod level;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use key::Tuning;
pub use key::{ReadyKey, ReadyQueueConfig};
use level::{Arrival, DeadlineEntry, Level, PlainEntry, Slot, NO_DEADLINE};

/// Names a queued entry, for [`ReadyQueue::remove`]. Stays unique: an id whose entry
/// was popped or removed never names another entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryId {
    slot: u32,
    seq: u64,
}

/// The ready heap: picks the next task by overdue deadline, effective priority
/// (priority + deadline boost + aging, evaluated at the pop), critical-path rank and
/// FIFO. Single-threaded; the executor wraps it in its own lock. See the
/// [module docs](self) for the exact rules.
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
    /// `config` in nanoseconds.
    tuning: Tuning,
    /// Times are kept as nanoseconds since this instant (an hour before the queue was
    /// made; earlier instants count as the origin itself).
    origin: Instant,
    slab: Vec<Slot<T>>,
    free: Vec<u32>,
    levels: Box<[Level]>,
    nonempty: [u64; 4],
    len: usize,
    next_seq: u64,
    last_enqueued: u64,
    /// The last instant converted by [`nanos_cached`](Self::nanos_cached), and its
    /// nanoseconds: a batch of pushes stamped with one `now`, and the pops that
    /// follow, convert it once.
    converted: (Instant, u64),
}

/// A contender's standing; larger wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    effective: u32,
    starving: bool,
    rank: u64,
    fifo: Reverse<u64>,
}

/// The best task of a [`ReadyQueue`] at one instant ([`ReadyQueue::best_at`]).
#[derive(Debug)]
pub struct Best<'a, T> {
    queue: &'a ReadyQueue<T>,
    now: u64,
    /// `None`: the queue is empty.
    best: Option<Standing>,
}

impl<T> Best<'_, T> {
    /// [`ReadyQueue::standing`] of `key` against this best task.
    pub fn standing(&self, key: &ReadyKey) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering;
        if key.deadline.is_some() {
            return None;
        }
        let best = match self.best {
            None => return Some(Ordering::Greater),
            Some(Standing::Overdue) => return Some(Ordering::Less), // it goes first
            Some(Standing::Scored(best)) => best,
        };
        let q = self.queue;
        let level = key.priority.get();
        let lv = &q.levels[usize::from(level)];
        // A level ages as a whole, by its oldest task's wait.
        let aging = match lv.arrivals.front() {
            Some(oldest) if lv.live > 0 => q.tuning.aging(self.now.saturating_sub(oldest.enqueued)),
            _ => 0,
        };
        let rank = key::saturating_nanos(key.rank);
        let effective = u32::from(level) + aging;
        Some((effective, false, rank).cmp(&(best.effective, best.starving, best.rank)))
    }
}

/// How the winner of [`ReadyQueue::select_scored`] won.
#[derive(Clone, Copy, Debug)]
enum Standing {
    /// The earliest overdue deadline (ties: earlier push).
    Overdue,
    /// The best score.
    Scored(Score),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The task [`ReadyQueue::pop`] would return at one instant, left in place: see
/// [`ReadyQueue::peek_mut`].
pub struct PeekMut<'a, T> {
    queue: &'a mut ReadyQueue<T>,
    choice: Choice,
}

impl<T> PeekMut<'_, T> {
    /// The task, to change in place (its key stays as it was pushed).
    pub fn get_mut(&mut self) -> &mut T {
        self.queue.slab[self.choice.slot as usize]
            .item
            .as_mut()
            .expect("the chosen slot is live")
    }

    /// Takes the task out, as [`ReadyQueue::pop`] at the same instant would.
    pub fn pop(self) -> T {
        self.queue.pop_choice(self.choice)
    }
}

impl<T> ReadyQueue<T> {
    /// An empty queue with the default [`ReadyQueueConfig`].
    pub fn new() -> Self {
        Self::with_config(ReadyQueueConfig::default())
    }

    /// An empty queue with this tuning.
    pub fn with_config(config: ReadyQueueConfig) -> Self {
        let now = Instant::now();
        let origin = now.checked_sub(Duration::from_secs(3600)).unwrap_or(now);
        ReadyQueue {
            config,
            tuning: Tuning::new(&config),
            origin,
            slab: Vec::new(),
            free: Vec::new(),
            levels: (0..256).map(|_| Level::default()).collect(),
            nonempty: [0; 4],
            len: 0,
            next_seq: 1,
            last_enqueued: 0,
            converted: (origin, 0),
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

    /// [`nanos`](Self::nanos), remembering the last conversion.
    fn nanos_cached(&mut self, t: Instant) -> u64 {
        if t != self.converted.0 {
            self.converted = (t, self.nanos(t));
        }
        self.converted.1
    }

    /// `t` as nanoseconds since the origin (an earlier `t` counts as the origin).
    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// Queues `item`. O(log n).
    pub fn push(&mut self, key: ReadyKey, item: T) -> EntryId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let enqueued = self.nanos_cached(key.enqueued_at).max(self.last_enqueued);
        self.last_enqueued = enqueued;
        let level = key.priority.get();
        let rank = key::saturating_nanos(key.rank);
        let deadline = key.deadline.map_or(NO_DEADLINE, |d| self.nanos(d));
        let filled = Slot {
            seq,
            rank,
            deadline,
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
        if deadline == NO_DEADLINE {
            lv.plain.push(PlainEntry::new(rank, seq, slot));
        } else {
            lv.deadlines
                .push(DeadlineEntry::new(deadline, seq, rank, slot));
        }
        lv.arrivals.push_back(Arrival {
            seq,
            enqueued,
            slot,
        });
        lv.live += 1;
        self.nonempty[usize::from(level) / 64] |= 1 << (level % 64);
        self.len += 1;
        EntryId { slot, seq }
    }

    /// Takes out the task that should run at `now`, per the [module docs](self).
    /// O(non-empty levels + log n).
    pub fn pop(&mut self, now: Instant) -> Option<T> {
        self.peek_mut(now).map(PeekMut::pop)
    }

    /// Takes out the chosen task through the entry that chose it.
    fn pop_choice(&mut self, choice: Choice) -> T {
        let lv = &mut self.levels[choice.level];
        match choice.source {
            Source::Deadline => drop(lv.deadlines.pop()),
            Source::Plain => drop(lv.plain.pop()),
            Source::Oldest => drop(lv.arrivals.pop_front()),
        }
        self.take(choice.slot, Some(choice.source))
    }

    /// The task [`pop`](Self::pop) would return at `now`, left in place.
    pub fn peek(&self, now: Instant) -> Option<&T> {
        let choice = self.select(self.nanos(now))?;
        self.slab[choice.slot as usize].item.as_ref()
    }

    /// The task [`pop`](Self::pop) would return at `now`, left in place to be changed
    /// or then popped (chosen once, as [`BinaryHeap::peek_mut`]). Its key stays: say,
    /// several tasks queued as one item under their common key, taken one at a time.
    ///
    /// [`BinaryHeap::peek_mut`]: std::collections::BinaryHeap::peek_mut
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_scheduler::{Priority, ReadyKey, ReadyQueue};
    ///
    /// let now = Instant::now();
    /// let mut q = ReadyQueue::new();
    /// q.push(ReadyKey::new(Priority::NORMAL, now), vec!["b"]);
    /// q.push(ReadyKey::new(Priority::HIGH, now), vec!["a2", "a1"]);
    /// let mut best = q.peek_mut(now).unwrap();
    /// assert_eq!(best.get_mut().pop(), Some("a1"));
    /// assert_eq!(q.pop(now), Some(vec!["a2"]));
    /// assert_eq!(q.peek_mut(now).unwrap().pop(), vec!["b"]);
    /// assert!(q.peek_mut(now).is_none());
    /// ```
    pub fn peek_mut(&mut self, now: Instant) -> Option<PeekMut<'_, T>> {
        if self.len == 0 {
            return None;
        }
        let now = self.nanos_cached(now);
        let choice = self.select(now)?;
        Some(PeekMut {
            queue: self,
            choice,
        })
    }

    /// How a task with `key`, if pushed at `now`, would stand against the best queued
    /// task: `Greater` if it would be popped before every queued task, `Equal` if it
    /// would tie the best but for push order (the best, pushed earlier, goes first),
    /// `Less` if a queued task goes before it whatever the push order. `Greater` for an
    /// empty queue. `None` for a key with a deadline (not assessed: deadline tasks keep
    /// their order through the queue). O(non-empty levels); to assess several keys
    /// against one state of the queue, [`best_at`](Self::best_at) chooses once.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use std::time::{Duration, Instant};
    /// use taskweave_scheduler::{Priority, ReadyKey, ReadyQueue};
    ///
    /// let now = Instant::now();
    /// let mut q = ReadyQueue::new();
    /// q.push(ReadyKey::new(Priority::NORMAL, now), "queued");
    /// let standing = |p| q.standing(&ReadyKey::new(p, now), now);
    /// assert_eq!(standing(Priority::HIGH), Some(Ordering::Greater));
    /// assert_eq!(standing(Priority::NORMAL), Some(Ordering::Equal));
    /// assert_eq!(standing(Priority::LOW), Some(Ordering::Less));
    /// let due = ReadyKey::new(Priority::HIGH, now).deadline(now + Duration::from_secs(1));
    /// assert_eq!(q.standing(&due, now), None);
    /// ```
    pub fn standing(&self, key: &ReadyKey, now: Instant) -> Option<std::cmp::Ordering> {
        self.best_at(now).standing(key)
    }

    /// The best queued task at `now`, chosen once, for [`Best::standing`] (the
    /// answers of [`standing`](Self::standing) for this state of the queue).
    pub fn best_at(&self, now: Instant) -> Best<'_, T> {
        let now = self.nanos(now);
        Best {
            queue: self,
            now,
            best: self.select_scored(now).map(|(standing, _)| standing),
        }
    }

    /// Takes out a queued entry (e.g. a cancelled task); its heap entries become
    /// stale. `None` if it was already popped or removed.
    pub fn remove(&mut self, id: EntryId) -> Option<T> {
        let slot = self.slab.get(id.slot as usize)?;
        if slot.seq != id.seq {
            return None;
        }
        Some(self.take(id.slot, None))
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

    /// Picks the winner. Reads only the heap tops and arrival fronts, which are live.
    fn select(&self, now: u64) -> Option<Choice> {
        self.select_scored(now).map(|(_, choice)| choice)
    }

    /// [`select`](Self::select), with the winner's standing.
    fn select_scored(&self, now: u64) -> Option<(Standing, Choice)> {
        if self.len == 0 {
            return None;
        }
        if let Some(only) = self.only_plain_level(now) {
            return Some(only);
        }
        let tuning = &self.tuning;
        let mut overdue: Option<((u64, u64), Choice)> = None;
        let mut best: Option<(Score, Choice)> = None;
        let mut consider = |score: Score, choice: Choice| {
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, choice));
            }
        };
        for word in 0..4 {
            let mut bits = self.nonempty[word];
            while bits != 0 {
                let level = word * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let lv = &self.levels[level];
                let earliest = lv.deadlines.peek();
                if let Some(d) = earliest {
                    if d.deadline() <= now {
                        let key = (d.deadline(), d.seq());
                        if overdue.is_none_or(|(k, _)| key < k) {
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
                let oldest = lv.arrivals.front().expect("a non-empty level");
                let waited = now.saturating_sub(oldest.enqueued);
                let base = level as u32 + tuning.aging(waited);
                if let Some(d) = earliest {
                    let score = Score {
                        effective: base + tuning.boost(d.deadline() - now),
                        // If it is the starving oldest, that contender (below) wins.
                        starving: false,
                        rank: d.rank,
                        fifo: Reverse(d.seq()),
                    };
                    let source = Source::Deadline;
                    consider(
                        score,
                        Choice {
                            level,
                            source,
                            slot: d.slot,
                        },
                    );
                }
                if let Some(n) = lv.plain.peek() {
                    let score = Score {
                        effective: base,
                        starving: false,
                        rank: n.rank(),
                        fifo: Reverse(n.seq()),
                    };
                    let source = Source::Plain;
                    consider(
                        score,
                        Choice {
                            level,
                            source,
                            slot: n.slot,
                        },
                    );
                }
                if waited >= tuning.starve_after {
                    let o = &self.slab[oldest.slot as usize];
                    let boost = if o.deadline == NO_DEADLINE {
                        0
                    } else {
                        tuning.boost(o.deadline - now) // not overdue: the earliest is not
                    };
                    let score = Score {
                        effective: base + boost,
                        starving: true,
                        rank: o.rank,
                        fifo: Reverse(oldest.seq),
                    };
                    let source = Source::Oldest;
                    consider(
                        score,
                        Choice {
                            level,
                            source,
                            slot: oldest.slot,
                        },
                    );
                }
            }
        }
        match overdue {
            Some((_, c)) => Some((Standing::Overdue, c)),
            None => best.map(|(score, c)| (Standing::Scored(score), c)),
        }
    }

    /// The common case of [`select_scored`](Self::select_scored), decided without
    /// comparing contenders: one level holds every task, none with a deadline (no
    /// deadline entry at all, stale ones included), and its oldest is not starving.
    /// Then the winner is the level's no-deadline top, as the general path finds.
    fn only_plain_level(&self, now: u64) -> Option<(Standing, Choice)> {
        if self.nonempty.iter().map(|w| w.count_ones()).sum::<u32>() != 1 {
            return None;
        }
        let word = self.nonempty.iter().position(|&w| w != 0)?;
        let level = word * 64 + self.nonempty[word].trailing_zeros() as usize;
        let lv = &self.levels[level];
        if !lv.deadlines.is_empty() {
            return None;
        }
        let oldest = lv.arrivals.front()?;
        let waited = now.saturating_sub(oldest.enqueued);
        if waited >= self.tuning.starve_after {
            return None;
        }
        let top = lv.plain.peek()?;
        let score = Score {
            effective: level as u32 + self.tuning.aging(waited),
            starving: false,
            rank: top.rank(),
            fifo: Reverse(top.seq()),
        };
        let choice = Choice {
            level,
            source: Source::Plain,
            slot: top.slot,
        };
        Some((Standing::Scored(score), choice))
    }

    /// Frees a live slab slot and returns its item. `via` is the structure whose entry
    /// the caller already removed (`None` for [`remove`](Self::remove)); the task's
    /// other entries become stale, and the level's tops are made live again.
    fn take(&mut self, slot: u32, via: Option<Source>) -> T {
        let s = &mut self.slab[slot as usize];
        let seq = s.seq;
        s.seq = 0;
        let item = s.item.take().expect("a live slot");
        let level = usize::from(s.level);
        let has_deadline = s.deadline != NO_DEADLINE;
        self.free.push(slot);
        self.len -= 1;
        let lv = &mut self.levels[level];
        lv.live -= 1;
        if lv.live == 0 {
            lv.deadlines.clear();
            lv.plain.clear();
            lv.arrivals.clear();
            lv.stale_deadlines = 0;
            lv.stale_plain = 0;
            lv.stale_arrivals = 0;
            self.nonempty[level / 64] &= !(1 << (level % 64));
            return item;
        }
        if via != Some(Source::Deadline) && via != Some(Source::Plain) {
            if has_deadline {
                lv.stale_deadlines += 1;
            } else {
                lv.stale_plain += 1;
            }
        }
        if via != Some(Source::Oldest) {
            lv.stale_arrivals += 1;
        }
        let entries = lv.deadlines.len() + lv.plain.len() + lv.arrivals.len();
        if entries - 2 * lv.live > 2 * lv.live + 64 {
            lv.compact(&self.slab);
        } else {
            lv.drop_stale_tops(&self.slab, seq);
        }
        item
    }
}

#[cfg(test)]
impl<T> ReadyQueue<T> {
    /// Panics unless the structural invariants of the module docs hold.
    fn check_invariants(&self) {
        let live = |slot: u32, seq: u64| self.slab[slot as usize].seq == seq;
        let mut total = 0;
        for (level, lv) in self.levels.iter().enumerate() {
            let bit = self.nonempty[level / 64] >> (level % 64) & 1 == 1;
            assert_eq!(bit, lv.live > 0, "bitmap of level {level}");
            total += lv.live;
            if lv.live == 0 {
                assert!(lv.deadlines.is_empty() && lv.plain.is_empty() && lv.arrivals.is_empty());
                continue;
            }
            assert!(lv.deadlines.peek().is_none_or(|e| live(e.slot, e.seq())));
            assert!(lv.plain.peek().is_none_or(|e| live(e.slot, e.seq())));
            assert!(lv.arrivals.front().is_some_and(|e| live(e.slot, e.seq)));
            let stale_d = lv
                .deadlines
                .iter()
                .filter(|e| !live(e.slot, e.seq()))
                .count();
            let stale_p = lv.plain.iter().filter(|e| !live(e.slot, e.seq())).count();
            assert_eq!((stale_d, stale_p), (lv.stale_deadlines, lv.stale_plain));
            let live_arrivals = lv.arrivals.iter().filter(|e| live(e.slot, e.seq)).count();
            assert_eq!(live_arrivals, lv.live);
            assert_eq!(lv.arrivals.len() - live_arrivals, lv.stale_arrivals);
            assert_eq!(
                lv.deadlines.len() + lv.plain.len() - stale_d - stale_p,
                lv.live
            );
        }
        assert_eq!(total, self.len);
    }
}

impl<T> Default for ReadyQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}
