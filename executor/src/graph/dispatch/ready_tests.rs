//! Runs change nothing but the number of heap items: the order is the one the heap
//! gives the same tasks pushed one by one.

use std::time::{Duration, Instant};

use taskweave_scheduler::{Priority, ReadyKey, ReadyQueue, ReadyQueueConfig, SlotRef};

use super::{Popped, ReadyTasks, MIN_RUN};

/// Aging and the starvation guard within a few milliseconds, deadline boosts within
/// 20: every rule of the heap's order takes part.
fn config() -> ReadyQueueConfig {
    ReadyQueueConfig {
        boost_horizon: Duration::from_millis(20),
        max_boost: 64,
        aging_interval: Duration::from_millis(1),
        max_aging: 3,
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Up to `max` of the next tasks to start, as `pop_up_to` gives them (by slot bits).
fn pop_up_to(ready: &mut ReadyTasks, now: Instant, max: usize) -> Vec<u64> {
    let mut slots = vec![SlotRef::from_bits(u64::MAX); max];
    match ready.pop_up_to(now, &mut slots) {
        None => Vec::new(),
        Some(Popped::Starts(taken)) => slots[..taken].iter().map(|at| at.to_bits()).collect(),
        Some(Popped::Wake(_)) => unreachable!("no wake-ups queued here"),
    }
}

#[test]
fn a_stretch_of_equal_keys_is_one_heap_item_taken_in_release_order() {
    let now = Instant::now();
    let key = ReadyKey::new(Priority::NORMAL, now);
    let mut ready = ReadyTasks::new(config());
    let released: Vec<(SlotRef, ReadyKey)> =
        (0..20).map(|i| (SlotRef::from_bits(i), key)).collect();
    ready.push_starts(&released, now);
    assert_eq!(ready.len(), 20);
    assert_eq!(ready.heap.len(), 1, "one run");
    // Equal keys pushed later come after the whole run; a better key before it.
    ready.push_starts(&[(SlotRef::from_bits(100), key)], now);
    let high = ReadyKey::new(Priority::HIGH, now);
    ready.push_starts(&[(SlotRef::from_bits(200), high)], now);
    assert_eq!(
        pop_up_to(&mut ready, now, 5),
        vec![200],
        "one item, one task"
    );
    assert_eq!(
        pop_up_to(&mut ready, now, 1),
        vec![0],
        "the run, in release order"
    );
    assert_eq!(
        pop_up_to(&mut ready, now, 5),
        vec![1, 2, 3, 4, 5],
        "more of it at once"
    );
    assert_eq!(ready.len(), 15);
    let rest: Vec<u64> = (6..20).collect();
    assert_eq!(
        pop_up_to(&mut ready, now, 64),
        rest,
        "its last, and no more"
    );
    assert_eq!(pop_up_to(&mut ready, now, 64), vec![100]);
    assert!(ready.is_empty() && pop_up_to(&mut ready, now, 1).is_empty());
    // Fewer than a run's worth of equal keys are pushed one by one.
    let few: Vec<(SlotRef, ReadyKey)> = (0..MIN_RUN as u64 - 1)
        .map(|i| (SlotRef::from_bits(i), key))
        .collect();
    ready.push_starts(&few, now);
    assert_eq!(ready.heap.len(), MIN_RUN - 1);
}

#[test]
fn runs_pop_in_the_order_of_one_by_one_pushes() {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_millis(30);
    let keys = [
        ReadyKey::new(Priority::NORMAL, t0),
        ReadyKey::new(Priority::NORMAL, t0).rank(Duration::from_millis(5)),
        ReadyKey::new(Priority::HIGH, t0),
        ReadyKey::new(Priority::NORMAL, t0).deadline(deadline),
        ReadyKey::new(Priority::LOW, t0),
    ];
    for seed in 1..=20u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut ready = ReadyTasks::new(config());
        let mut reference = ReadyQueue::with_config(config());
        let mut now = t0;
        let mut next_id = 0u64;
        let mut runs_seen = false;
        for _ in 0..300 {
            now += Duration::from_micros(rng.below(400));
            if rng.below(2) == 0 {
                // A batch released together: stretches of equal keys, some long.
                let mut batch = Vec::new();
                for _ in 0..rng.below(4) {
                    let key = keys[rng.below(keys.len() as u64) as usize];
                    for _ in 0..1 + rng.below(2 * MIN_RUN as u64) {
                        batch.push((SlotRef::from_bits(next_id), key));
                        next_id += 1;
                    }
                }
                let items_before = ready.heap.len();
                ready.push_starts(&batch, now);
                runs_seen |= ready.heap.len() - items_before < batch.len();
                for (at, key) in &batch {
                    let stamped = ReadyKey {
                        enqueued_at: now,
                        ..*key
                    };
                    reference.push(stamped, at.to_bits());
                }
            } else {
                // Several at once from a run: as many one-by-one pops.
                let got = pop_up_to(&mut ready, now, 1 + rng.below(10) as usize);
                let want: Vec<u64> = (0..got.len()).filter_map(|_| reference.pop(now)).collect();
                assert_eq!(got, want, "seed {seed}");
            }
            assert_eq!(ready.len(), reference.len(), "seed {seed}");
        }
        while let Some(want) = reference.pop(now) {
            assert_eq!(pop_up_to(&mut ready, now, 1), vec![want], "seed {seed}");
        }
        assert!(pop_up_to(&mut ready, now, 1).is_empty() && ready.is_empty());
        assert!(runs_seen, "seed {seed}: the scenario queued no run");
    }
}
