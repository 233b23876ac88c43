//! Runs change nothing but the number of heap items: the order is the one the heap
//! gives the same tasks pushed one by one.

use std::time::{Duration, Instant};

use taskweave_scheduler::{Priority, ReadyKey, ReadyQueue, ReadyQueueConfig, SlotRef};

use super::{Next, ReadyTasks, MIN_RUN};

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

fn start_of(next: Next) -> u64 {
    match next {
        Next::Start(at) => at.to_bits(),
        Next::Wake(_) => unreachable!("no wake-ups queued here"),
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
    let order: Vec<u64> = std::iter::from_fn(|| ready.pop(now).map(start_of)).collect();
    let mut expected = vec![200];
    expected.extend(0..20);
    expected.push(100);
    assert_eq!(order, expected);
    assert!(ready.is_empty());
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
                for _ in 0..1 + rng.below(10) {
                    let got = ready.pop(now).map(start_of);
                    assert_eq!(got, reference.pop(now), "seed {seed}");
                }
            }
            assert_eq!(ready.len(), reference.len(), "seed {seed}");
        }
        while let Some(want) = reference.pop(now) {
            assert_eq!(ready.pop(now).map(start_of), Some(want), "seed {seed}");
        }
        assert!(ready.pop(now).is_none() && ready.is_empty());
        assert!(runs_seen, "seed {seed}: the scenario queued no run");
    }
}
