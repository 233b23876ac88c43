//! Unit tests of the timing wheel (a child module of `wheel`, kept in its own file for
//! length). Wakers record their id when woken, so tests assert exactly which timers
//! fired, in which order, and at which `advance`.

use super::*;
use crate::sync::Mutex;
use std::sync::Arc as StdArc; // `Waker: From<std::sync::Arc<impl Wake>>` needs std's Arc.
use std::task::Wake;

/// A log of fired timer ids.
#[derive(Clone, Default)]
struct Log(StdArc<Mutex<Vec<u64>>>);

struct IdWaker {
    id: u64,
    log: Log,
}

impl Wake for IdWaker {
    fn wake(self: StdArc<Self>) {
        self.log.0.lock().push(self.id);
    }
}

impl Log {
    fn waker(&self, id: u64) -> Waker {
        Waker::from(StdArc::new(IdWaker {
            id,
            log: self.clone(),
        }))
    }

    fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *self.0.lock())
    }
}

/// Advances `wheel` to `now`, wakes what fired and returns the fired ids in order.
fn advance(wheel: &mut Wheel, log: &Log, now: u64) -> Vec<u64> {
    let mut fired = Vec::new();
    wheel.advance(now, &mut fired);
    fired.into_iter().for_each(Waker::wake);
    log.take()
}

/// A tiny xorshift64* generator: deterministic, no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn level_for_matches_the_differing_group() {
    assert_eq!(level_for(0, 1), 0);
    assert_eq!(level_for(0, 63), 0);
    assert_eq!(level_for(0, 64), 1);
    assert_eq!(level_for(63, 64), 1);
    assert_eq!(level_for(64, 127), 0);
    assert_eq!(level_for(0, 4095), 1);
    assert_eq!(level_for(0, 4096), 2);
    assert_eq!(level_for(0, 1 << 30), 5);
    assert_eq!(level_for(0, MAX_DURATION), 5);
    assert_eq!(
        level_for(0, 1 << 40),
        5,
        "far deadlines fold into the top level"
    );
}

#[test]
fn fires_in_deadline_order_across_levels() {
    let deadlines = [
        4097,
        1,
        262_144,
        63,
        (1 << 30) + 7,
        64,
        5,
        4095,
        65,
        300_000,
        4096,
        262_143,
        (1 << 24) + 1,
        2,
    ];
    let log = Log::default();
    let mut wheel = Wheel::new();
    for (id, &d) in deadlines.iter().enumerate() {
        wheel.insert(d, log.waker(id as u64));
    }
    assert_eq!(wheel.len(), deadlines.len());
    let mut order = Vec::new();
    let mut last = 0;
    while let Some(next) = wheel.next_expiration() {
        assert!(next > last, "next_expiration must move forward");
        for id in advance(&mut wheel, &log, next) {
            let d = deadlines[id as usize];
            assert!(
                d <= next && d > last,
                "timer {d} fired at {next} (previous advance {last})"
            );
            order.push(d);
        }
        last = next;
    }
    let mut sorted = deadlines.to_vec();
    sorted.sort_unstable();
    assert_eq!(order, sorted);
    assert!(wheel.is_empty());
}

#[test]
fn one_big_advance_fires_everything_sorted() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    let mut rng = Rng(7);
    let mut deadlines: Vec<u64> = (0..500).map(|_| 1 + rng.below(1 << 26)).collect();
    for (id, &d) in deadlines.iter().enumerate() {
        wheel.insert(d, log.waker(id as u64));
    }
    let fired: Vec<u64> = advance(&mut wheel, &log, 1 << 26)
        .iter()
        .map(|&id| deadlines[id as usize])
        .collect();
    deadlines.sort_unstable();
    assert_eq!(fired, deadlines);
    assert_eq!(wheel.elapsed(), 1 << 26);
}

#[test]
fn next_expiration_is_exact_near_and_a_lower_bound_far() {
    let mut wheel = Wheel::new();
    assert_eq!(wheel.next_expiration(), None);
    let far = wheel.insert(1000, futures_task::noop_waker());
    let next = wheel.next_expiration().unwrap();
    assert!(next > 0 && next <= 1000, "{next}");
    let near = wheel.insert(10, futures_task::noop_waker());
    assert_eq!(wheel.next_expiration(), Some(10));
    assert!(wheel.remove(near).is_some());
    assert!(wheel.remove(far).is_some());
    assert_eq!(wheel.next_expiration(), None);
}

#[test]
fn cancelled_timers_never_fire() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    let keys: Vec<TimerKey> = (0..10)
        .map(|id| wheel.insert(10 * (id + 1), log.waker(id)))
        .collect();
    for &id in &[0, 3, 4, 9] {
        assert!(wheel.remove(keys[id]).is_some());
        assert!(
            wheel.remove(keys[id]).is_none(),
            "second remove of the same key"
        );
    }
    assert_eq!(wheel.len(), 6);
    assert_eq!(advance(&mut wheel, &log, 1000), vec![1, 2, 5, 6, 7, 8]);
    assert!(wheel.remove(keys[1]).is_none(), "removing a fired timer");
    assert!(wheel.is_empty());
}

#[test]
fn stale_keys_do_not_touch_reused_nodes() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    let _keep = wheel.insert(500, log.waker(0));
    let old = wheel.insert(100, log.waker(1));
    assert!(wheel.remove(old).is_some());
    let new = wheel.insert(100, log.waker(2));
    assert_eq!(new.index, old.index, "the freed node is reused");
    assert!(wheel.remove(old).is_none());
    assert!(wheel.waker_mut(old).is_none());
    assert!(!wheel.reschedule(old, 5));
    assert_eq!(advance(&mut wheel, &log, 100), vec![2]);
}

#[test]
fn past_and_present_deadlines_fire_on_the_next_advance() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    wheel.insert(5, log.waker(0));
    assert_eq!(advance(&mut wheel, &log, 5), vec![0]);
    wheel.insert(3, log.waker(1));
    wheel.insert(5, log.waker(2));
    assert_eq!(
        wheel.next_expiration(),
        Some(5),
        "pending timers are due now"
    );
    wheel.insert(10, log.waker(3));
    let mut fired = advance(&mut wheel, &log, 5);
    fired.sort_unstable();
    assert_eq!(fired, vec![1, 2]);
    assert_eq!(advance(&mut wheel, &log, 9), Vec::<u64>::new());
    assert_eq!(advance(&mut wheel, &log, 10), vec![3]);
    // Advancing backwards does not move `elapsed` back.
    assert_eq!(advance(&mut wheel, &log, 2), Vec::<u64>::new());
    assert_eq!(wheel.elapsed(), 10);
}

#[test]
fn reinsert_after_fire() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    let mut now = 0;
    for round in 0..200 {
        let d = now + 1 + (round * 37) % 5000;
        wheel.insert(d, log.waker(round));
        assert_eq!(advance(&mut wheel, &log, d - 1), Vec::<u64>::new());
        assert_eq!(advance(&mut wheel, &log, d), vec![round]);
        now = d;
    }
}

#[test]
fn reschedule_and_waker_replacement() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    let a = wheel.insert(1 << 20, log.waker(0));
    let b = wheel.insert(10, log.waker(1));
    assert!(wheel.reschedule(a, 20));
    assert!(wheel.reschedule(b, 1 << 20));
    *wheel.waker_mut(a).unwrap() = log.waker(2);
    assert_eq!(advance(&mut wheel, &log, 20), vec![2]);
    assert_eq!(advance(&mut wheel, &log, (1 << 20) - 1), Vec::<u64>::new());
    assert_eq!(advance(&mut wheel, &log, 1 << 20), vec![1]);
}

#[test]
fn far_future_deadlines_fold_and_never_fire_early() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    wheel.advance(12_345, &mut Vec::new());
    let deadlines = [12_345 + MAX_DURATION + 5, 1 << 37, (1 << 40) + 3];
    for (id, &d) in deadlines.iter().enumerate() {
        wheel.insert(d, log.waker(id as u64));
    }
    let huge = wheel.insert(u64::MAX, log.waker(99));
    let mut fired_at = Vec::new();
    let mut steps = 0;
    while wheel.len() > 1 {
        let next = wheel.next_expiration().unwrap();
        for id in advance(&mut wheel, &log, next) {
            assert!(
                next >= deadlines[id as usize],
                "timer {id} fired early at {next}"
            );
            fired_at.push((id, next));
        }
        steps += 1;
        assert!(steps < 10_000, "no progress");
    }
    assert_eq!(
        fired_at,
        vec![(0, deadlines[0]), (1, deadlines[1]), (2, deadlines[2])]
    );
    assert!(wheel.next_expiration().unwrap() <= MAX_TICK);
    assert!(
        wheel.remove(huge).is_some(),
        "a clamped timer is still removable"
    );
}

#[test]
fn folded_timer_in_the_current_top_slot_comes_last() {
    // Regression (found by the randomized test): at elapsed = 58 * 2^30 the current top
    // slot holds a timer a full rotation ahead; an earlier timer in slot 0 must win.
    let log = Log::default();
    let mut wheel = Wheel::new();
    wheel.advance(58 << 30, &mut Vec::new());
    let folded = (58 << 30) + (1 << 36) + 7;
    let sooner = (1 << 36) + 3;
    wheel.insert(folded, log.waker(1));
    wheel.insert(sooner, log.waker(2));
    assert!(wheel.next_expiration().unwrap() <= sooner);
    let mut order = Vec::new();
    while let Some(next) = wheel.next_expiration() {
        order.extend(
            advance(&mut wheel, &log, next)
                .into_iter()
                .map(|id| (id, next)),
        );
    }
    assert_eq!(order, vec![(2, sooner), (1, folded)]);
}

#[test]
fn cancelled_long_timeouts_free_their_nodes() {
    let mut wheel = Wheel::new();
    let _keep = wheel.insert(1 << 35, futures_task::noop_waker());
    for _ in 0..100 {
        let keys: Vec<TimerKey> = (0..1000)
            .map(|i| wheel.insert((1 << 33) + i, futures_task::noop_waker()))
            .collect();
        keys.into_iter()
            .for_each(|k| assert!(wheel.remove(k).is_some()));
    }
    assert_eq!(wheel.len(), 1);
    assert!(
        wheel.nodes.len() <= 1001,
        "nodes are reused, not piled up: {}",
        wheel.nodes.len()
    );
}

#[test]
fn drain_hands_back_every_waker() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    let stale = wheel.insert(7, log.waker(0));
    for id in 1..=5 {
        wheel.insert(id * 1000, log.waker(id));
    }
    let mut fired = Vec::new();
    wheel.drain(&mut fired);
    assert_eq!(fired.len(), 6);
    assert!(wheel.is_empty() && wheel.next_expiration().is_none());
    assert!(wheel.remove(stale).is_none());
    wheel.insert(3, log.waker(9));
    assert_eq!(advance(&mut wheel, &log, 3), vec![9]);
}

#[path = "wheel_random_tests.rs"]
mod random;
