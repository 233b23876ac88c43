use super::*;
use crate::{Clock, FakeClock, Priority};
use proptest::prelude::*;
use std::cmp::Ordering;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn key(p: Priority, now: Instant) -> ReadyKey {
    ReadyKey::new(p, now)
}

fn drain<T>(q: &mut ReadyQueue<T>, now: Instant) -> Vec<T> {
    std::iter::from_fn(|| q.pop(now)).collect()
}

#[test]
fn fifo_among_equals() {
    let clock = FakeClock::new();
    let mut q = ReadyQueue::new();
    for i in 0..5 {
        q.push(key(Priority::NORMAL, clock.now()), i);
    }
    assert_eq!(q.len(), 5);
    assert_eq!(drain(&mut q, clock.now()), vec![0, 1, 2, 3, 4]);
    assert!(q.is_empty());
}

#[test]
fn fifo_among_equals_with_equal_deadlines() {
    let clock = FakeClock::new();
    let deadline = clock.now() + ms(500);
    let mut q = ReadyQueue::new();
    for i in 0..4 {
        q.push(key(Priority::NORMAL, clock.now()).deadline(deadline), i);
    }
    assert_eq!(drain(&mut q, clock.now()), vec![0, 1, 2, 3]);
}

#[test]
fn higher_priority_first() {
    let clock = FakeClock::new();
    let mut q = ReadyQueue::new();
    q.push(key(Priority::LOW, clock.now()), "low");
    q.push(key(Priority::CRITICAL, clock.now()), "critical");
    q.push(key(Priority::NORMAL, clock.now()), "normal");
    q.push(key(Priority::HIGH, clock.now()), "high");
    assert_eq!(
        drain(&mut q, clock.now()),
        vec!["critical", "high", "normal", "low"]
    );
}

#[test]
fn boost_is_evaluated_at_pop_time() {
    let clock = FakeClock::new();
    let t0 = clock.now();
    let mut q = ReadyQueue::new();
    // Pushed long before its deadline (1 s away, horizon 100 ms): no boost yet.
    q.push(
        key(Priority::NORMAL, t0).deadline(t0 + ms(1000)),
        "deadline",
    );
    q.push(key(Priority::new(138), t0), "ten levels higher");
    assert_eq!(q.peek(clock.now()), Some(&"ten levels higher"));

    // 60 ms before the deadline the boost is floor(64 * 40 / 100) = 25 > 10 levels.
    clock.advance(ms(940));
    assert_eq!(q.config().deadline_boost(t0 + ms(1000), clock.now()), 25);
    assert_eq!(q.pop(clock.now()), Some("deadline"));
    assert_eq!(q.pop(clock.now()), Some("ten levels higher"));
}

#[test]
fn boost_overtakes_an_older_equal_priority_task() {
    let clock = FakeClock::new();
    let t0 = clock.now();
    let mut q = ReadyQueue::new();
    q.push(key(Priority::NORMAL, t0), "older, no deadline");
    q.push(key(Priority::NORMAL, t0).deadline(t0 + ms(300)), "deadline");
    // Equal effective priority: FIFO.
    assert_eq!(q.peek(t0), Some(&"older, no deadline"));
    // Within the horizon the deadline task gains levels, without being re-pushed.
    clock.advance(ms(250));
    assert_eq!(q.pop(clock.now()), Some("deadline"));
}

#[test]
fn boost_rises_linearly_to_max_boost() {
    let c = ReadyQueueConfig::default();
    let d = Instant::now() + ms(1000);
    assert_eq!(c.deadline_boost(d, d - ms(100)), 0);
    assert_eq!(c.deadline_boost(d, d - ms(75)), 16);
    assert_eq!(c.deadline_boost(d, d - ms(50)), 32);
    assert_eq!(c.deadline_boost(d, d - ms(1)), 63);
    assert_eq!(c.deadline_boost(d, d), 64);
    let off = ReadyQueueConfig {
        boost_horizon: Duration::ZERO,
        ..c
    };
    assert_eq!(off.deadline_boost(d, d - ms(1)), 0);
}

#[test]
fn overdue_first_by_earliest_deadline() {
    let clock = FakeClock::new();
    let t0 = clock.now();
    let mut q = ReadyQueue::new();
    q.push(key(Priority::CRITICAL, t0), "critical");
    q.push(key(Priority::LOW, t0).deadline(t0 + ms(30)), "low, due 30");
    q.push(
        key(Priority::NORMAL, t0).deadline(t0 + ms(20)),
        "normal, due 20",
    );
    q.push(
        key(Priority::HIGH, t0).deadline(t0 + ms(500)),
        "high, due 500",
    );
    q.push(key(Priority::LOW, t0).deadline(t0 + ms(20)), "low, due 20");
    clock.advance(ms(40));
    assert_eq!(
        drain(&mut q, clock.now()),
        vec![
            "normal, due 20", // overdue, earliest deadline, pushed first
            "low, due 20",
            "low, due 30",
            "critical", // 255 > 192 + no boost (460 ms left)
            "high, due 500"
        ]
    );
}

#[test]
fn critical_path_preference_among_equals() {
    let clock = FakeClock::new();
    let t0 = clock.now();
    let mut q = ReadyQueue::new();
    q.push(key(Priority::NORMAL, t0).rank(ms(1)), "short");
    q.push(key(Priority::NORMAL, t0).rank(ms(5)), "long");
    q.push(key(Priority::NORMAL, t0).rank(ms(3)), "medium");
    // A deadline far away gives no boost: it competes on rank too.
    q.push(
        key(Priority::NORMAL, t0).rank(ms(4)).deadline(t0 + ms(900)),
        "far deadline",
    );
    // Priority still comes before rank.
    q.push(key(Priority::new(129), t0), "one level higher");
    assert_eq!(
        drain(&mut q, t0),
        vec![
            "one level higher",
            "long",
            "far deadline",
            "medium",
            "short"
        ]
    );
}

/// Pushes one fresh `stream` task and pops once per `step` until `victim` comes out;
/// returns the number of pops.
fn pops_until_victim(config: ReadyQueueConfig, victim: ReadyKey, stream: ReadyKey) -> usize {
    let clock = FakeClock::starting_at(victim.enqueued_at);
    let step = ms(1);
    let mut q = ReadyQueue::with_config(config);
    q.push(victim, "victim");
    for pops in 1..=100_000 {
        q.push(
            ReadyKey {
                enqueued_at: clock.now(),
                ..stream
            },
            "stream",
        );
        if q.pop(clock.now()) == Some("victim") {
            return pops;
        }
        clock.advance(step);
    }
    panic!("starved");
}

#[test]
fn aging_bounds_the_wait_of_a_low_priority() {
    let config = ReadyQueueConfig::default();
    let t0 = Instant::now();
    let pops = pops_until_victim(
        config,
        key(Priority::LOW, t0),
        key(Priority::HIGH, t0).rank(ms(50)),
    );
    // LOW + aging reaches HIGH after (192 - 64) levels = 128 * 10 ms = 1280 one-ms steps;
    // aging is saturated then, so the starvation guard wins the tie despite the rank.
    let gap = u32::from(Priority::HIGH.get() - Priority::LOW.get()).min(config.max_aging);
    let bound = (config.aging_interval * gap).as_millis() as usize + 1;
    assert_eq!(pops, bound);

    // Without the rank handicap the victim wins the tie on FIFO at the same point.
    let pops = pops_until_victim(config, key(Priority::LOW, t0), key(Priority::HIGH, t0));
    assert_eq!(pops, bound);
}

#[test]
fn aging_cap_decides_whether_critical_can_starve_low() {
    let t0 = Instant::now();
    let capped = ReadyQueueConfig::default();
    let q_clock = FakeClock::starting_at(t0);
    let mut q = ReadyQueue::with_config(capped);
    q.push(key(Priority::LOW, t0), "victim");
    for _ in 0..5000 {
        q.push(key(Priority::CRITICAL, q_clock.now()), "stream");
        assert_eq!(q.pop(q_clock.now()), Some("stream"), "documented: cap 128");
        q_clock.advance(ms(1));
    }

    let uncapped = ReadyQueueConfig {
        max_aging: 255,
        ..capped
    };
    let pops = pops_until_victim(
        uncapped,
        key(Priority::LOW, t0),
        key(Priority::CRITICAL, t0),
    );
    assert_eq!(pops, (255 - 64) * 10 + 1);
}

#[test]
fn starvation_guard_within_a_level() {
    // A same-level stream with a larger rank would win every tie on rank; once the old
    // task's aging saturates (128 * 10 ms) it wins instead.
    let t0 = Instant::now();
    let pops = pops_until_victim(
        ReadyQueueConfig::default(),
        key(Priority::NORMAL, t0),
        key(Priority::NORMAL, t0).rank(ms(100)),
    );
    assert_eq!(pops, 1281);
}

#[test]
fn aging_lifts_a_waiting_level() {
    let clock = FakeClock::new();
    let t0 = clock.now();
    let mut q = ReadyQueue::new();
    q.push(key(Priority::new(100), t0), "old, 100");
    clock.advance(ms(55)); // level 100 has aged 5 levels
    q.push(key(Priority::new(104), clock.now()), "new, 104");
    assert_eq!(q.pop(clock.now()), Some("old, 100"));
}

#[test]
fn remove_takes_an_entry_out() {
    let t0 = Instant::now();
    let mut q = ReadyQueue::new();
    let a = q.push(key(Priority::NORMAL, t0), "a");
    let b = q.push(key(Priority::HIGH, t0).deadline(t0 + ms(5)), "b");
    let c = q.push(key(Priority::NORMAL, t0), "c");
    assert_eq!(q.remove(b), Some("b"));
    assert_eq!(q.remove(b), None);
    assert_eq!(q.len(), 2);
    assert_eq!(q.pop(t0 + ms(10)), Some("a"));
    assert_eq!(q.remove(a), None, "popped already");
    let d = q.push(key(Priority::NORMAL, t0), "d"); // may reuse a's slot
    assert_ne!(a, d);
    assert_eq!(q.remove(a), None, "an old id never names a new entry");
    assert_eq!(q.remove(c), Some("c"));
    assert_eq!(drain(&mut q, t0), vec!["d"]);
}

#[test]
fn stale_entries_are_compacted() {
    // One old, low-rank task stays; a stream of higher-rank tasks passes it, each
    // leaving a stale arrival entry behind the old one.
    let t0 = Instant::now();
    let mut q = ReadyQueue::new();
    q.push(key(Priority::NORMAL, t0), 0);
    for i in 1..10_000 {
        q.push(key(Priority::NORMAL, t0).rank(ms(1)), i);
        assert_eq!(q.pop(t0), Some(i));
        let lv = &q.levels[128];
        let entries = lv.deadlines.len() + lv.plain.len() + lv.arrivals.len();
        assert!(
            entries <= 4 * lv.live + 66,
            "{entries} entries for {}",
            lv.live
        );
    }
    assert_eq!(drain(&mut q, t0), vec![0]);
    assert!(q.levels[128].arrivals.is_empty());
    assert_eq!(q.nonempty, [0; 4]);
}

#[test]
fn arrival_times_are_clamped_to_push_order() {
    let t0 = Instant::now();
    let mut q = ReadyQueue::new();
    q.push(
        key(Priority::new(100), t0 + ms(100)),
        "later stamp, pushed first",
    );
    // An earlier stamp pushed later is treated as pushed at t0 + 100 ms.
    q.push(key(Priority::new(91), t0), "earlier stamp");
    // At t0 + 150 ms level 91 has aged 5 levels, not 15: 96 < 100 + 5 (unclamped it
    // would be 106 and win).
    assert_eq!(q.pop(t0 + ms(150)), Some("later stamp, pushed first"));
}

#[test]
fn clear_empties() {
    let t0 = Instant::now();
    let mut q = ReadyQueue::new();
    for i in 0..10 {
        q.push(key(Priority::new(i * 20), t0), i);
    }
    q.clear();
    assert!(q.is_empty());
    assert_eq!(q.pop(t0), None);
    q.push(key(Priority::LOW, t0), 1);
    assert_eq!(q.pop(t0), Some(1));
}

// ---- Reference model: the documented semantics, by brute force. ----

#[derive(Clone, Debug)]
struct RefTask {
    seq: u64,
    level: u8,
    deadline: Option<Instant>,
    rank: Duration,
    enqueued_at: Instant,
    item: u32,
}

#[derive(Default)]
struct Reference {
    tasks: Vec<RefTask>,
    last: Option<Instant>,
}

/// A contender's standing in the reference model: effective priority, starving, rank,
/// push order (earlier wins).
type RefScore = (u32, bool, Duration, Reverse<u64>);

impl Reference {
    fn push(&mut self, seq: u64, k: ReadyKey, item: u32) {
        let enqueued_at = self.last.map_or(k.enqueued_at, |l| l.max(k.enqueued_at));
        self.last = Some(enqueued_at);
        self.tasks.push(RefTask {
            seq,
            level: k.priority.get(),
            deadline: k.deadline,
            rank: k.rank,
            enqueued_at,
            item,
        });
    }

    /// The oldest task of `level`, if any.
    fn oldest(&self, level: u8) -> Option<&RefTask> {
        self.tasks
            .iter()
            .filter(|t| t.level == level)
            .min_by_key(|t| t.seq)
    }

    /// The effective priority at `now` of a task at `level` with `deadline`: its
    /// level's aging (by the level's oldest task) and its deadline's boost.
    fn effective(
        &self,
        cfg: &ReadyQueueConfig,
        now: Instant,
        level: u8,
        deadline: Option<Instant>,
    ) -> u32 {
        let waited = self.oldest(level).map_or(Duration::ZERO, |o| {
            now.saturating_duration_since(o.enqueued_at)
        });
        u32::from(level) + cfg.aging(waited) + deadline.map_or(0, |d| cfg.deadline_boost(d, now))
    }

    /// The tasks that may be popped when none is overdue, with their scores.
    fn scored(&self, cfg: &ReadyQueueConfig, now: Instant) -> Vec<(RefScore, &RefTask)> {
        let earliest = |level: u8| {
            self.tasks
                .iter()
                .filter(|t| t.level == level && t.deadline.is_some())
                .min_by_key(|t| (t.deadline, t.seq))
                .map(|t| t.seq)
        };
        self.tasks
            .iter()
            .filter_map(|t| {
                let o = self.oldest(t.level).unwrap();
                let starving = cfg.is_starving(now.saturating_duration_since(o.enqueued_at));
                let is_oldest = o.seq == t.seq;
                let eligible = t.deadline.is_none()
                    || earliest(t.level) == Some(t.seq)
                    || (starving && is_oldest);
                let effective = self.effective(cfg, now, t.level, t.deadline);
                eligible.then_some((
                    (effective, starving && is_oldest, t.rank, Reverse(t.seq)),
                    t,
                ))
            })
            .collect()
    }

    fn pop(&mut self, cfg: &ReadyQueueConfig, now: Instant) -> Option<u32> {
        let overdue = self
            .tasks
            .iter()
            .filter(|t| t.deadline.is_some_and(|d| d <= now))
            .min_by_key(|t| (t.deadline, t.seq));
        let pick = match overdue {
            Some(t) => t.seq,
            None => {
                let (score, best) = self
                    .scored(cfg, now)
                    .into_iter()
                    .max_by_key(|(score, _)| *score)?;
                // The pick has the maximum effective priority of all tasks.
                let max_eff = self
                    .tasks
                    .iter()
                    .map(|t| self.effective(cfg, now, t.level, t.deadline))
                    .max()
                    .unwrap();
                assert_eq!(score.0, max_eff);
                best.seq
            }
        };
        let i = self.tasks.iter().position(|t| t.seq == pick).unwrap();
        Some(self.tasks.remove(i).item)
    }

    fn remove(&mut self, seq: u64) -> Option<u32> {
        let i = self.tasks.iter().position(|t| t.seq == seq)?;
        Some(self.tasks.remove(i).item)
    }

    /// `ReadyQueue::standing` by brute force, for a key without a deadline.
    fn standing(
        &self,
        cfg: &ReadyQueueConfig,
        now: Instant,
        level: u8,
        rank: Duration,
    ) -> Ordering {
        if self.tasks.is_empty() {
            return Ordering::Greater;
        }
        if self
            .tasks
            .iter()
            .any(|t| t.deadline.is_some_and(|d| d <= now))
        {
            return Ordering::Less;
        }
        let best = self
            .scored(cfg, now)
            .into_iter()
            .map(|((effective, starving, rank, _), _)| (effective, starving, rank))
            .max()
            .unwrap();
        (self.effective(cfg, now, level, None), false, rank).cmp(&best)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Push {
        level: u8,
        deadline_ms: Option<i64>,
        rank_ms: u64,
        stamp_back_ms: u64,
    },
    Pop,
    Advance(u64),
    Remove(usize),
    /// Asks how a key without a deadline would stand, then pushes it.
    Standing {
        level: u8,
        rank_ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let push = (
        prop::sample::select(vec![0u8, 1, 2, 5, 64, 66, 128, 255]),
        prop::option::of(-50i64..400),
        0u64..4,
        prop::sample::select(vec![0u64, 0, 0, 30]),
    )
        .prop_map(|(level, deadline_ms, rank_ms, stamp_back_ms)| Op::Push {
            level,
            deadline_ms,
            rank_ms,
            stamp_back_ms,
        });
    prop_oneof![
        5 => push,
        3 => Just(Op::Pop),
        2 => (0u64..80).prop_map(Op::Advance),
        1 => any::<usize>().prop_map(Op::Remove),
        2 => (prop::sample::select(vec![0u8, 1, 2, 5, 64, 66, 128, 255]), 0u64..4)
            .prop_map(|(level, rank_ms)| Op::Standing { level, rank_ms }),
    ]
}

fn config() -> impl Strategy<Value = ReadyQueueConfig> {
    prop::sample::select(vec![
        ReadyQueueConfig::default(),
        ReadyQueueConfig {
            boost_horizon: ms(40),
            max_boost: 3,
            aging_interval: ms(5),
            max_aging: 4,
        },
        ReadyQueueConfig {
            boost_horizon: ms(200),
            max_boost: 200,
            aging_interval: Duration::ZERO,
            max_aging: 10,
        },
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn matches_the_reference_model(cfg in config(), ops in prop::collection::vec(op(), 1..300)) {
        let clock = FakeClock::new();
        let mut q = ReadyQueue::with_config(cfg);
        let mut model = Reference::default();
        let mut ids = Vec::new();
        for (n, op) in ops.into_iter().enumerate() {
            let now = clock.now();
            match op {
                Op::Push { level, deadline_ms, rank_ms, stamp_back_ms } => {
                    let mut k = ReadyKey::new(Priority::new(level), now.checked_sub(ms(stamp_back_ms)).unwrap_or(now))
                        .rank(ms(rank_ms));
                    if let Some(d) = deadline_ms {
                        let at = if d >= 0 { now + ms(d as u64) } else { now.checked_sub(ms(d.unsigned_abs())).unwrap_or(now) };
                        k = k.deadline(at);
                    }
                    let id = q.push(k, n as u32);
                    model.push(id.seq, k, n as u32);
                    ids.push(id);
                }
                Op::Pop => {
                    let peeked = q.peek(now).copied();
                    let got = q.pop(now);
                    prop_assert_eq!(peeked, got);
                    prop_assert_eq!(got, model.pop(&cfg, now));
                }
                Op::Advance(d) => clock.advance(ms(d)),
                Op::Standing { level, rank_ms } => {
                    let k = ReadyKey::new(Priority::new(level), now).rank(ms(rank_ms));
                    let standing = q.standing(&k, now);
                    prop_assert_eq!(standing, Some(model.standing(&cfg, now, level, ms(rank_ms))));
                    // `Greater` means exactly: pushed now, it is the next pop.
                    let id = q.push(k, n as u32);
                    model.push(id.seq, k, n as u32);
                    ids.push(id);
                    prop_assert_eq!(q.peek(now) == Some(&(n as u32)), standing == Some(Ordering::Greater));
                }
                Op::Remove(i) => {
                    if !ids.is_empty() {
                        let id = ids[i % ids.len()];
                        prop_assert_eq!(q.remove(id), model.remove(id.seq));
                    }
                }
            }
            prop_assert_eq!(q.len(), model.tasks.len());
            q.check_invariants();
        }
        let now = clock.now();
        while let Some(expected) = model.pop(&cfg, now) {
            prop_assert_eq!(q.pop(now), Some(expected));
        }
        prop_assert!(q.is_empty());
        prop_assert_eq!(q.nonempty, [0; 4]);
    }
}

#[test]
fn run_heap_pops_like_a_binary_heap() {
    use super::level::{PlainEntry, RunHeap};
    use std::collections::BinaryHeap;
    // Mostly falling keys with rises mixed in, pops interleaved.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut run = RunHeap::default();
    let mut reference = BinaryHeap::new();
    let mut rank = 1_000_000u64;
    for seq in 1..5_000u64 {
        let r = next();
        rank = if r % 5 == 0 {
            rank + r % 300
        } else {
            rank.saturating_sub(r % 3)
        };
        let e = PlainEntry::new(rank, seq, seq as u32);
        run.push(e);
        reference.push(e);
        if r % 3 == 0 {
            let (a, b) = (run.pop(), reference.pop());
            assert_eq!(
                a.map(|e| (e.rank(), e.seq())),
                b.map(|e| (e.rank(), e.seq()))
            );
        }
        assert_eq!(run.len(), reference.len());
    }
    while let Some(b) = reference.pop() {
        let a = run.pop().expect("same length");
        assert_eq!((a.rank(), a.seq()), (b.rank(), b.seq()));
    }
    assert!(run.pop().is_none());
}
