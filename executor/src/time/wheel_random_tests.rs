//! Randomized tests of the timing wheel (a child of `wheel`'s tests): many timers, and
//! random operation sequences checked against a plain map of live deadlines.

use super::*;
use std::collections::HashMap;

#[test]
fn many_entries_and_memory_reuse() {
    let log = Log::default();
    let mut wheel = Wheel::new();
    let mut rng = Rng(42);
    let n = 100_000;
    let entries: Vec<(u64, TimerKey)> = (0..n)
        .map(|id| {
            let d = 1 + rng.below(1 << 20);
            (d, wheel.insert(d, log.waker(id)))
        })
        .collect();
    for (_, key) in entries.iter().step_by(2) {
        assert!(wheel.remove(*key).is_some());
    }
    assert_eq!(wheel.len(), n as usize / 2);
    let mut fired = 0;
    let mut last = 0;
    let mut now = 0;
    while now < 1 << 20 {
        now += 1 + rng.below(5000);
        for id in advance(&mut wheel, &log, now) {
            assert_eq!(id % 2, 1, "cancelled timer {id} fired");
            let d = entries[id as usize].0;
            assert!(d <= now && d >= last, "out of order");
            last = d;
            fired += 1;
        }
    }
    assert_eq!(fired, n / 2);
    assert!(wheel.is_empty());
    assert!(
        wheel.nodes.capacity() <= SHRINK_ABOVE,
        "an emptied slab is shrunk"
    );
}

/// Random inserts, removes, reschedules and advances checked against a plain map.
#[test]
fn randomized_against_reference() {
    for seed in 1..=100u64 {
        let log = Log::default();
        let mut wheel = Wheel::new();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut live: HashMap<u64, (u64, TimerKey)> = HashMap::new();
        let mut dead: Vec<TimerKey> = Vec::new();
        let mut next_id = 0;
        for _ in 0..3000 {
            let now = wheel.elapsed();
            let distance = |rng: &mut Rng| match rng.below(10) {
                0 => rng.below(3), // now or just after
                1..=4 => rng.below(200),
                5..=7 => rng.below(1 << 14),
                8 => rng.below(1 << 26),
                _ => rng.below(1 << 38),
            };
            let deadline = |rng: &mut Rng| match rng.below(10) {
                0 => now.saturating_sub(rng.below(50)), // in the past
                _ => now + distance(rng),
            };
            match rng.below(10) {
                0..=3 => {
                    let d = deadline(&mut rng);
                    live.insert(next_id, (d, wheel.insert(d, log.waker(next_id))));
                    next_id += 1;
                }
                4 if !live.is_empty() => {
                    let id = *live
                        .keys()
                        .nth(rng.below(live.len() as u64) as usize)
                        .unwrap();
                    let (_, key) = live.remove(&id).unwrap();
                    assert!(wheel.remove(key).is_some());
                    dead.push(key);
                }
                5 if !dead.is_empty() => {
                    let key = dead[rng.below(dead.len() as u64) as usize];
                    assert!(wheel.remove(key).is_none(), "stale key matched");
                }
                6 if !live.is_empty() => {
                    let id = *live
                        .keys()
                        .nth(rng.below(live.len() as u64) as usize)
                        .unwrap();
                    let d = deadline(&mut rng);
                    let entry = live.get_mut(&id).unwrap();
                    assert!(wheel.reschedule(entry.1, d));
                    entry.0 = d;
                }
                _ => {
                    let target = match rng.below(3) {
                        0 => wheel.next_expiration().unwrap_or(now),
                        _ => now + distance(&mut rng) % (1 << 27),
                    };
                    let fired = advance(&mut wheel, &log, target);
                    let mut expected: Vec<u64> = live
                        .iter()
                        .filter(|(_, (d, _))| *d <= target)
                        .map(|(&id, _)| id)
                        .collect();
                    let mut got = fired.clone();
                    got.sort_unstable();
                    expected.sort_unstable();
                    assert_eq!(got, expected, "seed {seed}: wrong set fired at {target}");
                    // Overdue timers first (any order), then non-decreasing deadlines.
                    let ds: Vec<u64> = fired.iter().map(|id| live[id].0).collect();
                    let split = ds.iter().take_while(|&&d| d <= now).count();
                    assert!(
                        ds[split..].iter().all(|&d| d > now),
                        "seed {seed}: overdue fired late"
                    );
                    assert!(
                        ds[split..].windows(2).all(|w| w[0] <= w[1]),
                        "seed {seed}: order {ds:?}"
                    );
                    for id in fired {
                        dead.push(live.remove(&id).unwrap().1);
                    }
                }
            }
            assert_eq!(wheel.len(), live.len());
            match live.values().map(|(d, _)| *d).min() {
                None => assert_eq!(wheel.next_expiration(), None),
                Some(min) => {
                    let next = wheel
                        .next_expiration()
                        .expect("live timers but no expiration");
                    assert!(
                        next <= min.max(wheel.elapsed()),
                        "seed {seed}: next {next} after {min}"
                    );
                    assert!(next >= wheel.elapsed());
                }
            }
        }
    }
}
