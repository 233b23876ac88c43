//! The ready heap's key and tuning.
//!
//! Invariants:
//! - [`ReadyQueueConfig`]'s formulas (`deadline_boost`, `aging`, `is_starving`) are the
//!   reference; `Tuning` is the same arithmetic in precomputed nanoseconds for the hot
//!   path, and the two agree (tested through the queue against a brute-force model).
//! - A zero horizon or zero `max_boost` disables the boost; a zero interval or zero
//!   `max_aging` disables aging and the starvation guard.

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

/// Tuning of the deadline boost and of aging; see [`ReadyQueue`](super::ReadyQueue)
/// for the formulas.
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

/// [`ReadyQueueConfig`] in nanoseconds, precomputed for `select`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tuning {
    horizon: u64,
    max_boost: u64,
    interval: u64,
    max_aging: u64,
    /// Wait after which a level is starving; `u64::MAX` if never.
    pub(super) starve_after: u64,
}

/// `d` in nanoseconds, `u64::MAX` if it does not fit.
pub(super) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Tuning {
    pub(super) fn new(c: &ReadyQueueConfig) -> Self {
        let nanos = saturating_nanos;
        let (interval, max_aging) = if c.aging_interval.is_zero() || c.max_aging == 0 {
            (0, 0)
        } else {
            (nanos(c.aging_interval), u64::from(c.max_aging))
        };
        let (horizon, max_boost) = if c.boost_horizon.is_zero() || c.max_boost == 0 {
            (0, 0)
        } else {
            (nanos(c.boost_horizon), u64::from(c.max_boost))
        };
        Tuning {
            horizon,
            max_boost,
            interval,
            max_aging,
            starve_after: if interval == 0 {
                u64::MAX
            } else {
                interval.saturating_mul(max_aging)
            },
        }
    }

    /// Boost with `left` nanoseconds to go before the deadline (`left > 0`).
    pub(super) fn boost(&self, left: u64) -> u32 {
        if left >= self.horizon {
            return 0; // also when the boost is off (horizon 0)
        }
        let closer = self.horizon - left;
        let levels = match closer.checked_mul(self.max_boost) {
            Some(product) => product / self.horizon,
            None => {
                (u128::from(closer) * u128::from(self.max_boost) / u128::from(self.horizon)) as u64
            }
        };
        levels as u32
    }

    pub(super) fn aging(&self, waited: u64) -> u32 {
        if waited < self.interval || self.interval == 0 {
            return 0;
        }
        (waited / self.interval).min(self.max_aging) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_matches_the_config_formulas() {
        let configs = [
            ReadyQueueConfig::default(),
            ReadyQueueConfig {
                boost_horizon: Duration::from_nanos(7),
                max_boost: u32::MAX,
                aging_interval: Duration::from_nanos(3),
                max_aging: 5,
            },
            ReadyQueueConfig {
                boost_horizon: Duration::ZERO,
                max_boost: 10,
                aging_interval: Duration::ZERO,
                max_aging: 10,
            },
        ];
        let now = Instant::now();
        for c in configs {
            let t = Tuning::new(&c);
            for ns in [
                1u64,
                2,
                3,
                6,
                7,
                15,
                1_000,
                9_999_999,
                50_000_000,
                99_999_999,
                100_000_000,
                1 << 40,
            ] {
                let d = Duration::from_nanos(ns);
                assert_eq!(t.boost(ns), c.deadline_boost(now + d, now), "{c:?} {ns}");
                assert_eq!(t.aging(ns), c.aging(d), "{c:?} {ns}");
                assert_eq!(ns >= t.starve_after, c.is_starving(d), "{c:?} {ns}");
            }
        }
    }
}
