//! [`ConcurrencyController`]: the in-flight limit for ExecutableTasks, from pressure and
//! observed task latency. Pure: time and pressure are passed in.
//!
//! Each distinct [`Pressure`] snapshot is one *tick* (calling `update` again with the same
//! `sampled_at` changes nothing). A tick's verdict is, in this order:
//! 1. **Shrink** when CPU is saturated (`cpu_usage > cpu_high` or PSI cpu `some` >
//!    `psi_cpu_high`) or memory is short (available/total `< memory_low` or PSI memory
//!    `some` > `psi_memory_high`).
//! 2. **Grow** when the limit is actually used (peak in-flight ≥ `saturation` × limit),
//!    the CPU is mostly idle (`cpu_usage < cpu_low`) so the in-flight tasks are waiting,
//!    memory is comfortable (ratio ≥ `memory_ok`), the tasks' own busy/latency reports
//!    (if any) say they spend ≥ `io_wait_share` of their latency waiting, and the tick's
//!    mean latency is within `latency_tolerance` × the baseline (a rising latency means
//!    more concurrency only queues on some shared resource).
//! 3. **Hold** otherwise — including CPU usage inside the dead band `cpu_low..=cpu_high`.
//!
//! Hysteresis: a verdict acts only after `confirm_ticks` consecutive identical verdicts;
//! a different verdict (or Hold) resets the count, so noise alternating across a threshold
//! never moves the limit. After a shrink the count restarts (each multiplicative cut needs
//! fresh evidence, since the previous cut takes a tick to show); a confirmed grow keeps
//! growing every tick while the verdict holds (additive steps are gentle). Exception:
//! available memory below `memory_critical` shrinks at once.
//!
//! Steps (AIMD): shrink to `floor(limit × decrease_factor)` (at least one less), grow by
//! `max(increase_step, ceil(limit × increase_ratio))`. The limit always stays within
//! `min_limit..=max_limit`.

use std::time::{Duration, Instant};

use crate::pressure::Pressure;

/// Tuning of a [`ConcurrencyController`]; see the module docs for how each is used.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerConfig {
    /// Lowest limit (default 1; raised to 1 if 0).
    pub min_limit: usize,
    /// Highest limit (default 256; raised to `min_limit` if below).
    pub max_limit: usize,
    /// Starting limit (default 8, clamped into the bounds).
    pub initial_limit: usize,
    /// CPU usage above which the controller shrinks (default 0.90).
    pub cpu_high: f32,
    /// CPU usage below which it may grow (default 0.60); between the two it holds.
    pub cpu_low: f32,
    /// PSI cpu `some` share above which it shrinks (default 0.25).
    pub psi_cpu_high: f32,
    /// Available/total memory below which it shrinks (default 0.10).
    pub memory_low: f32,
    /// Available/total memory needed to grow (default 0.20).
    pub memory_ok: f32,
    /// Available/total memory below which it shrinks without confirmation (default 0.05).
    pub memory_critical: f32,
    /// PSI memory `some` share above which it shrinks (default 0.10).
    pub psi_memory_high: f32,
    /// Consecutive identical verdicts needed before acting (default 3; at least 1).
    pub confirm_ticks: u32,
    /// Multiplicative decrease (default 0.75).
    pub decrease_factor: f32,
    /// Minimum additive increase (default 1).
    pub increase_step: usize,
    /// Proportional part of the increase (default 0.10).
    pub increase_ratio: f32,
    /// Share of the limit that must be in flight for growth to make sense (default 0.9).
    pub saturation: f32,
    /// Mean latency above `latency_tolerance` × baseline blocks growth (default 2.0).
    pub latency_tolerance: f32,
    /// With busy times reported, the waiting share of latency needed to grow (default 0.5).
    pub io_wait_share: f32,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            min_limit: 1,
            max_limit: 256,
            initial_limit: 8,
            cpu_high: 0.90,
            cpu_low: 0.60,
            psi_cpu_high: 0.25,
            memory_low: 0.10,
            memory_ok: 0.20,
            memory_critical: 0.05,
            psi_memory_high: 0.10,
            confirm_ticks: 3,
            decrease_factor: 0.75,
            increase_step: 1,
            increase_ratio: 0.10,
            saturation: 0.9,
            latency_tolerance: 2.0,
            io_wait_share: 0.5,
        }
    }
}

/// Why a tick wanted to shrink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShrinkReason {
    /// `cpu_usage > cpu_high`.
    Cpu,
    /// PSI cpu `some` above `psi_cpu_high`.
    CpuStall,
    /// Available memory ratio below `memory_low` (or `memory_critical`).
    Memory,
    /// PSI memory `some` above `psi_memory_high`.
    MemoryStall,
}

/// A tick's verdict (before hysteresis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Pressure: fewer tasks in flight.
    Shrink(ShrinkReason),
    /// Waiting-bound work with spare CPU and memory: more tasks in flight.
    Grow,
    /// Neither.
    Hold,
}

/// Turns pressure and task completions into an in-flight limit (AIMD with hysteresis).
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_monitor::{ConcurrencyController, ControllerConfig, Pressure};
///
/// let mut c = ConcurrencyController::new(ControllerConfig::default());
/// let t0 = Instant::now();
/// for tick in 1..=3 {
///     let mut p = Pressure::empty(t0 + Duration::from_secs(tick));
///     p.cpu_usage = 0.97; // CPU saturated three ticks in a row
///     c.update(&p, p.sampled_at);
/// }
/// assert_eq!(c.limit(), 6); // 8 × 0.75
/// ```
#[derive(Debug, Clone)]
pub struct ConcurrencyController {
    config: ControllerConfig,
    limit: usize,
    shrink_streak: u32,
    grow_streak: u32,
    last_sampled_at: Option<Instant>,
    last_tick: Option<Instant>,
    // Window since the previous tick.
    completions: u64,
    latency_sum: Duration,
    busy_sum: Duration,
    busy_latency_sum: Duration,
    in_flight: usize,
    peak_in_flight: usize,
    // Derived.
    baseline_latency: Option<Duration>,
    throughput: f64,
    changes: u64,
    last_decision: Decision,
}

impl ConcurrencyController {
    /// A controller at `config.initial_limit` (bounds normalised as documented).
    pub fn new(mut config: ControllerConfig) -> Self {
        config.min_limit = config.min_limit.max(1);
        config.max_limit = config.max_limit.max(config.min_limit);
        config.confirm_ticks = config.confirm_ticks.max(1);
        config.increase_step = config.increase_step.max(1);
        let limit = config
            .initial_limit
            .clamp(config.min_limit, config.max_limit);
        ConcurrencyController {
            config,
            limit,
            shrink_streak: 0,
            grow_streak: 0,
            last_sampled_at: None,
            last_tick: None,
            completions: 0,
            latency_sum: Duration::ZERO,
            busy_sum: Duration::ZERO,
            busy_latency_sum: Duration::ZERO,
            in_flight: 0,
            peak_in_flight: 0,
            baseline_latency: None,
            throughput: 0.0,
            changes: 0,
            last_decision: Decision::Hold,
        }
    }

    /// The current in-flight limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The configuration in use (after normalisation).
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Reports how many tasks are in flight now (call on admit and completion); the
    /// peak over a tick decides whether the limit is being used.
    pub fn observe_in_flight(&mut self, in_flight: usize) {
        self.in_flight = in_flight;
        self.peak_in_flight = self.peak_in_flight.max(in_flight);
    }

    /// Reports a finished task's latency (admission to completion).
    pub fn record_completion(&mut self, latency: Duration) {
        self.completions += 1;
        self.latency_sum += latency;
    }

    /// Reports `count` finished tasks whose latencies add up to `total_latency` (the same
    /// as `count` calls of [`record_completion`](Self::record_completion), for callers
    /// that aggregate completions between ticks).
    pub fn record_completions(&mut self, count: u64, total_latency: Duration) {
        self.completions += count;
        self.latency_sum += total_latency;
    }

    /// Reports a finished task's latency and the time it was actually running (polled);
    /// lets the controller see how much of the latency was waiting.
    pub fn record_completion_with_busy(&mut self, latency: Duration, busy: Duration) {
        self.record_completion(latency);
        self.busy_sum += busy.min(latency);
        self.busy_latency_sum += latency;
    }

    /// Completions per second over the last tick.
    pub fn throughput(&self) -> f64 {
        self.throughput
    }

    /// The lowest recent mean task latency, the reference for "latency is rising".
    pub fn baseline_latency(&self) -> Option<Duration> {
        self.baseline_latency
    }

    /// How many times the limit has changed.
    pub fn limit_changes(&self) -> u64 {
        self.changes
    }

    /// The verdict of the last tick (before hysteresis).
    pub fn last_decision(&self) -> Decision {
        self.last_decision
    }

    /// Takes one tick of pressure at `now` and returns the (possibly new) limit. A
    /// snapshot with the same `sampled_at` as the previous one is not a new tick.
    pub fn update(&mut self, pressure: &Pressure, now: Instant) -> usize {
        if self.last_sampled_at == Some(pressure.sampled_at) {
            return self.limit;
        }
        self.last_sampled_at = Some(pressure.sampled_at);

        let mean_latency = (self.completions > 0)
            .then(|| self.latency_sum / u32::try_from(self.completions).unwrap_or(u32::MAX));
        if let Some(prev) = self.last_tick {
            let secs = now.saturating_duration_since(prev).as_secs_f64();
            if secs > 0.0 {
                self.throughput = self.completions as f64 / secs;
            }
        }
        self.last_tick = Some(now);

        let decision = self.decide(pressure, mean_latency);
        self.last_decision = decision;
        if let Some(mean) = mean_latency {
            // A slowly rising minimum: follows a real shift in task mix, ignores spikes.
            self.baseline_latency = Some(match self.baseline_latency {
                Some(b) if mean > b => b + (mean - b) / 32,
                _ => mean,
            });
        }
        self.completions = 0;
        self.latency_sum = Duration::ZERO;
        self.busy_sum = Duration::ZERO;
        self.busy_latency_sum = Duration::ZERO;
        self.peak_in_flight = self.in_flight;

        let critical = pressure
            .memory_available_ratio()
            .is_some_and(|r| r < self.config.memory_critical);
        let before = self.limit;
        match decision {
            Decision::Shrink(_) => {
                self.grow_streak = 0;
                self.shrink_streak += 1;
                if critical || self.shrink_streak >= self.config.confirm_ticks {
                    self.shrink_streak = 0;
                    let cut = (self.limit as f32 * self.config.decrease_factor) as usize;
                    self.limit = cut
                        .min(self.limit.saturating_sub(1))
                        .max(self.config.min_limit);
                }
            }
            Decision::Grow => {
                self.shrink_streak = 0;
                self.grow_streak = self.grow_streak.saturating_add(1);
                if self.grow_streak >= self.config.confirm_ticks {
                    let proportional =
                        (self.limit as f32 * self.config.increase_ratio).ceil() as usize;
                    let step = proportional.max(self.config.increase_step);
                    self.limit = self.limit.saturating_add(step).min(self.config.max_limit);
                }
            }
            Decision::Hold => {
                self.shrink_streak = 0;
                self.grow_streak = 0;
            }
        }
        if self.limit != before {
            self.changes += 1;
        }
        self.limit
    }

    fn decide(&self, p: &Pressure, mean_latency: Option<Duration>) -> Decision {
        let c = &self.config;
        let memory = p.memory_available_ratio();
        let psi_cpu = p.psi.cpu.map_or(0.0, |s| s.some);
        let psi_memory = p.psi.memory.map_or(0.0, |s| s.some);
        if memory.is_some_and(|r| r < c.memory_critical) {
            return Decision::Shrink(ShrinkReason::Memory);
        }
        if p.cpu_usage > c.cpu_high {
            return Decision::Shrink(ShrinkReason::Cpu);
        }
        if psi_cpu > c.psi_cpu_high {
            return Decision::Shrink(ShrinkReason::CpuStall);
        }
        if memory.is_some_and(|r| r < c.memory_low) {
            return Decision::Shrink(ShrinkReason::Memory);
        }
        if psi_memory > c.psi_memory_high {
            return Decision::Shrink(ShrinkReason::MemoryStall);
        }
        let saturated = self.peak_in_flight as f32 >= c.saturation * self.limit as f32;
        let cpu_idle = p.cpu_usage < c.cpu_low;
        let memory_ok = memory.is_none_or(|r| r >= c.memory_ok);
        let waiting = self.busy_latency_sum.is_zero()
            || 1.0 - self.busy_sum.as_secs_f64() / self.busy_latency_sum.as_secs_f64()
                >= f64::from(c.io_wait_share);
        let latency_ok = match (mean_latency, self.baseline_latency) {
            (Some(mean), Some(base)) => {
                mean.as_secs_f64() <= base.as_secs_f64() * f64::from(c.latency_tolerance)
            }
            _ => true,
        };
        if saturated && cpu_idle && memory_ok && waiting && latency_ok && self.limit < c.max_limit {
            Decision::Grow
        } else {
            Decision::Hold
        }
    }
}
