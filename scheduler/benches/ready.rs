//! Ready-queue push and pop cost at 64k queued entries.
//!
//! `cargo bench -p taskweave-scheduler --bench ready`
//!
//! Each measurement keeps the queue at about 65,536 entries: a timed chunk of pushes
//! (or pops) is followed by an untimed chunk of the opposite operation. Keys are
//! pseudo-random: `mixed` spreads tasks over four priority levels with a deadline on a
//! quarter of them (inside and beyond the boost horizon) and random ranks; `dag` is the
//! task-graph case, one level, no deadlines, random ranks.

// `criterion_group!` generates an undocumented `pub fn benches()`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use taskweave_scheduler::{Priority, ReadyKey, ReadyQueue};

const SIZE: usize = 1 << 16;
const CHUNK: usize = 4096;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `count` keys stamped 100 ns apart from `base`.
fn keys(count: usize, base: Instant, mixed: bool, seed: u64) -> Vec<ReadyKey> {
    let mut rng = XorShift(seed);
    (0..count)
        .map(|i| {
            let r = rng.next();
            let at = base + Duration::from_nanos(100 * i as u64);
            let rank = Duration::from_micros(r % 10_000);
            if !mixed {
                return ReadyKey::new(Priority::NORMAL, at).rank(rank);
            }
            let levels = [
                Priority::LOW,
                Priority::NORMAL,
                Priority::HIGH,
                Priority::CRITICAL,
            ];
            let key = ReadyKey::new(levels[(r >> 20) as usize % 4], at).rank(rank);
            if (r >> 24).is_multiple_of(4) {
                key.deadline(at + Duration::from_micros((r >> 30) % 300_000))
            } else {
                key
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ready_queue_64k");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for (name, mixed) in [("mixed", true), ("dag", false)] {
        let base = Instant::now();
        let fill = keys(SIZE, base, mixed, 1);
        let extra = keys(CHUNK, base + Duration::from_millis(7), mixed, 2);
        let now = base + Duration::from_millis(10);
        let full = || {
            let mut q = ReadyQueue::new();
            for (i, k) in fill.iter().enumerate() {
                q.push(*k, i);
            }
            q
        };

        group.bench_function(format!("push/{name}"), |b| {
            let mut q = full();
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let t = Instant::now();
                    for (i, k) in extra[..n].iter().enumerate() {
                        black_box(q.push(*k, i));
                    }
                    timed += t.elapsed();
                    for _ in 0..n {
                        black_box(q.pop(now));
                    }
                    left -= n;
                }
                timed
            });
        });

        group.bench_function(format!("pop/{name}"), |b| {
            let mut q = full();
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters as usize;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let t = Instant::now();
                    for _ in 0..n {
                        black_box(q.pop(now));
                    }
                    timed += t.elapsed();
                    for (i, k) in extra[..n].iter().enumerate() {
                        q.push(*k, i);
                    }
                    left -= n;
                }
                timed
            });
        });

        group.throughput(Throughput::Elements(CHUNK as u64));
        group.bench_function(format!("pop_4096_of_64k/{name}"), |b| {
            b.iter_batched(
                full,
                |mut q| {
                    for _ in 0..CHUNK {
                        black_box(q.pop(now));
                    }
                    q
                },
                BatchSize::LargeInput,
            );
        });
        group.throughput(Throughput::Elements(1));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
