//! The published resource picture: [`Pressure`] snapshots and the [`PressureCell`] that
//! hands the latest one to readers.
//!
//! Invariants:
//! - `cpu_usage` and every PSI share are fractions in `0.0..=1.0` (the constructors
//!   clamp; NaN becomes `0.0`).
//! - `memory_available <= memory_total` whenever `memory_total > 0`; `memory_total == 0`
//!   means "no memory reading", never "no memory".
//! - A PSI share is `None` when the kernel (or cgroup) does not expose that file or when
//!   there is no previous reading to take a difference from; it is never a guess.
//! - A snapshot is immutable once published; readers get an `Arc` to it.
//!
//! Why `arc-swap`: the sampling thread replaces the snapshot once per tick while any
//! number of executor threads read it on their submit path. With a `Mutex<Arc<_>>` or an
//! `RwLock<Arc<_>>`, a reader preempted while holding the lock would make the sampler (and
//! every other reader) wait behind it. `ArcSwap::load_full` is lock-free (a couple of
//! atomic operations, no syscalls), so reads never block the sampler and the sampler
//! never blocks readers. `arc-swap` is a small, dependency-free, widely used crate;
//! hand-rolling the same with `AtomicPtr` would need `unsafe`, which this crate forbids.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::probe::Sample;

/// Linux load averages (runnable + uninterruptible tasks, exponentially averaged).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadAverage {
    /// One-minute average.
    pub one: f64,
    /// Five-minute average.
    pub five: f64,
    /// Fifteen-minute average.
    pub fifteen: f64,
}

/// Share of one tick's wall time during which tasks were stalled on a resource
/// (Linux pressure stall information, computed from the change of `total`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StallShare {
    /// At least one task was stalled (`some` line), `0.0..=1.0`.
    pub some: f32,
    /// All non-idle tasks were stalled at once (`full` line), `0.0..=1.0`; `None` when
    /// the file has no `full` line (system-wide `cpu` on kernels before 5.13).
    pub full: Option<f32>,
}

/// PSI stall shares for the three resources; each is `None` where unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PsiShares {
    /// CPU stall share.
    pub cpu: Option<StallShare>,
    /// Memory stall share (reclaim, swap-in, thrashing).
    pub memory: Option<StallShare>,
    /// I/O stall share.
    pub io: Option<StallShare>,
}

/// One snapshot of machine and process resource pressure.
#[derive(Debug, Clone, PartialEq)]
pub struct Pressure {
    /// Machine-wide CPU usage over the last tick, `0.0..=1.0` (`0.0` if not measured).
    pub cpu_usage: f32,
    /// Memory the kernel estimates is available for new allocations, in bytes.
    pub memory_available: u64,
    /// Total RAM in bytes; `0` when the probe did not read memory.
    pub memory_total: u64,
    /// Resident set size of this process, in bytes.
    pub process_rss: u64,
    /// Bytes per second this process read from storage over the last tick.
    pub process_disk_read_per_sec: u64,
    /// Bytes per second this process wrote to storage over the last tick.
    pub process_disk_write_per_sec: u64,
    /// Load average, where the platform has one.
    pub load_average: Option<LoadAverage>,
    /// PSI stall shares over the last tick, where available.
    pub psi: PsiShares,
    /// When the probe produced this snapshot.
    pub sampled_at: Instant,
}

fn unit(x: f32) -> f32 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

fn unit_share(s: StallShare) -> StallShare {
    StallShare {
        some: unit(s.some),
        full: s.full.map(unit),
    }
}

impl Pressure {
    /// A snapshot with no readings at all (no pressure), taken at `at`.
    pub fn empty(at: Instant) -> Self {
        Pressure {
            cpu_usage: 0.0,
            memory_available: 0,
            memory_total: 0,
            process_rss: 0,
            process_disk_read_per_sec: 0,
            process_disk_write_per_sec: 0,
            load_average: None,
            psi: PsiShares::default(),
            sampled_at: at,
        }
    }

    /// Builds a snapshot from a probe [`Sample`]; readings the probe did not provide
    /// take their "unknown" value (`0`, `None`). Fractions are clamped to `0.0..=1.0`
    /// and `memory_available` to `memory_total`.
    ///
    /// ```
    /// use std::time::Instant;
    /// use taskweave_monitor::{Pressure, Sample};
    ///
    /// let s = Sample { cpu_usage: Some(1.7), ..Sample::default() }.with_memory(5, 4);
    /// let p = Pressure::from_sample(&s, Instant::now());
    /// assert_eq!(p.cpu_usage, 1.0);
    /// assert_eq!(p.memory_available, 4);
    /// ```
    pub fn from_sample(sample: &Sample, at: Instant) -> Self {
        let memory_total = sample.memory_total.unwrap_or(0);
        let mut memory_available = sample.memory_available.unwrap_or(0);
        if memory_total > 0 {
            memory_available = memory_available.min(memory_total);
        }
        Pressure {
            cpu_usage: unit(sample.cpu_usage.unwrap_or(0.0)),
            memory_available,
            memory_total,
            process_rss: sample.process_rss.unwrap_or(0),
            process_disk_read_per_sec: sample.process_disk_read_per_sec.unwrap_or(0),
            process_disk_write_per_sec: sample.process_disk_write_per_sec.unwrap_or(0),
            load_average: sample.load_average,
            psi: PsiShares {
                cpu: sample.psi.cpu.map(unit_share),
                memory: sample.psi.memory.map(unit_share),
                io: sample.psi.io.map(unit_share),
            },
            sampled_at: at,
        }
    }

    /// `memory_available / memory_total`, or `None` without a memory reading.
    pub fn memory_available_ratio(&self) -> Option<f32> {
        (self.memory_total > 0).then(|| self.memory_available as f32 / self.memory_total as f32)
    }
}

/// The cell the sampler publishes into and readers load from; lock-free both ways.
#[derive(Debug)]
pub struct PressureCell {
    current: ArcSwap<Pressure>,
}

impl PressureCell {
    /// A cell holding `initial`.
    pub fn new(initial: Pressure) -> Self {
        PressureCell {
            current: ArcSwap::from_pointee(initial),
        }
    }

    /// The latest snapshot (lock-free; never waits for the publisher).
    pub fn load(&self) -> Arc<Pressure> {
        self.current.load_full()
    }

    /// Replaces the snapshot; readers holding the old `Arc` keep it alive.
    pub fn publish(&self, pressure: Pressure) {
        self.current.store(Arc::new(pressure));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_sample_clamps_and_defaults() {
        let now = Instant::now();
        let mut s = Sample::default().with_memory(10, 100);
        s.cpu_usage = Some(f32::NAN);
        s.psi.io = Some(StallShare {
            some: -0.5,
            full: Some(3.0),
        });
        let p = Pressure::from_sample(&s, now);
        assert_eq!(p.cpu_usage, 0.0);
        assert_eq!(p.memory_available_ratio(), Some(0.1));
        assert_eq!(
            p.psi.io,
            Some(StallShare {
                some: 0.0,
                full: Some(1.0)
            })
        );
        assert_eq!(p.psi.cpu, None);
        assert_eq!(Pressure::empty(now).memory_available_ratio(), None);
    }

    #[test]
    fn cell_publishes_new_snapshots_and_keeps_old_ones_alive() {
        let now = Instant::now();
        let cell = PressureCell::new(Pressure::empty(now));
        let old = cell.load();
        let mut next = Pressure::empty(now);
        next.cpu_usage = 0.5;
        cell.publish(next);
        assert_eq!(old.cpu_usage, 0.0);
        assert_eq!(cell.load().cpu_usage, 0.5);
    }
}
