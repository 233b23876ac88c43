//! Retry policies and backoff schedules for ExecutableTasks (and, later, supervised
//! tasks).
//!
//! A [`Backoff`] maps the number of the retry (1 for the first retry) to a delay; it
//! is a pure function of that number and, for jittered schedules, of a seeded random
//! stream, so every schedule is testable without a clock.

use std::time::Duration;

/// How long to wait before each retry.
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::graph::Backoff;
///
/// let fib = Backoff::fibonacci(Duration::from_millis(10), Duration::from_secs(1));
/// let delays: Vec<_> = (1..=6).map(|n| fib.delay(n, 0).as_millis()).collect();
/// assert_eq!(delays, [10, 10, 20, 30, 50, 80]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial + step * (n - 1)`, capped.
    Linear {
        /// Delay before the first retry.
        initial: Duration,
        /// Added for each further retry.
        step: Duration,
        /// Upper bound.
        cap: Duration,
    },
    /// `initial * factor^(n - 1)`, capped; with jitter the delay is drawn uniformly
    /// from `[delay * (1 - jitter), delay]` ("equal/decorrelated" style), so retries
    /// of many tasks do not line up.
    Exponential {
        /// Delay before the first retry.
        initial: Duration,
        /// Growth per retry (≥ 1).
        factor: f64,
        /// Upper bound.
        cap: Duration,
        /// Fraction of the delay that is randomised, in `[0, 1]`.
        jitter: f64,
    },
    /// `unit * fib(n)` with fib(1) = fib(2) = 1, capped.
    Fibonacci {
        /// The delay of fib = 1.
        unit: Duration,
        /// Upper bound.
        cap: Duration,
    },
}

impl Backoff {
    /// A fixed delay.
    pub fn fixed(delay: Duration) -> Backoff {
        Backoff::Fixed(delay)
    }

    /// A linearly growing delay.
    pub fn linear(initial: Duration, step: Duration, cap: Duration) -> Backoff {
        Backoff::Linear { initial, step, cap }
    }

    /// A doubling delay with the given cap and jitter fraction (clamped to `[0, 1]`).
    pub fn exponential(initial: Duration, cap: Duration, jitter: f64) -> Backoff {
        Backoff::Exponential {
            initial,
            factor: 2.0,
            cap,
            jitter: if jitter.is_nan() {
                0.0
            } else {
                jitter.clamp(0.0, 1.0)
            },
        }
    }

    /// A Fibonacci-growing delay.
    pub fn fibonacci(unit: Duration, cap: Duration) -> Backoff {
        Backoff::Fibonacci { unit, cap }
    }

    /// The delay before retry number `retry` (1-based). `seed` drives the jitter:
    /// the same (retry, seed) always gives the same delay.
    pub fn delay(&self, retry: u32, seed: u64) -> Duration {
        let n = retry.max(1);
        match *self {
            Backoff::Fixed(d) => d,
            Backoff::Linear { initial, step, cap } => {
                initial.saturating_add(step.saturating_mul(n - 1)).min(cap)
            }
            Backoff::Exponential {
                initial,
                factor,
                cap,
                jitter,
            } => {
                let factor = if factor.is_finite() {
                    factor.max(1.0)
                } else {
                    1.0
                };
                let grown = initial.as_secs_f64() * factor.powi((n - 1).min(1024) as i32);
                let capped = grown.min(cap.as_secs_f64());
                let unit = unit_interval(splitmix(seed ^ u64::from(n)));
                let jitter = if jitter.is_finite() {
                    jitter.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                Duration::from_secs_f64(capped * (1.0 - jitter * unit))
            }
            Backoff::Fibonacci { unit, cap } => {
                let (mut a, mut b) = (1u64, 1u64);
                for _ in 2..n {
                    let next = a.saturating_add(b);
                    a = b;
                    b = next;
                    if b >= u64::from(u32::MAX) {
                        break; // saturated: the cap applies from here on
                    }
                }
                let fib = u32::try_from(if n <= 2 { 1 } else { b }).unwrap_or(u32::MAX);
                unit.saturating_mul(fib).min(cap)
            }
        }
    }
}

/// Which failures a retry policy retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOn {
    /// Errors returned by the task, panics and timeouts.
    AnyFailure,
    /// Only errors returned by the task.
    Errors,
    /// Only panics.
    Panics,
    /// Only timeouts.
    Timeouts,
}

/// How often and when to run a failed ExecutableTask again (needs a factory).
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::graph::{Backoff, RetryPolicy};
///
/// let policy = RetryPolicy::new(3, Backoff::fixed(Duration::from_millis(5)));
/// assert_eq!(policy.max_retries(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    backoff: Backoff,
    retry_on: RetryOn,
}

impl RetryPolicy {
    /// Up to `max_retries` further attempts after the first, waiting per `backoff`.
    pub fn new(max_retries: u32, backoff: Backoff) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            backoff,
            retry_on: RetryOn::AnyFailure,
        }
    }

    /// Restricts which failures are retried.
    pub fn retry_on(mut self, which: RetryOn) -> RetryPolicy {
        self.retry_on = which;
        self
    }

    /// Retries after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The backoff schedule.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// Which failures are retried.
    pub fn retries(&self) -> RetryOn {
        self.retry_on
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Maps 64 random bits to [0, 1).
fn unit_interval(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fixed_is_constant() {
        let b = Backoff::fixed(ms(7));
        assert!((1..10).all(|n| b.delay(n, n.into()) == ms(7)));
    }

    #[test]
    fn linear_grows_by_step_until_the_cap() {
        let b = Backoff::linear(ms(10), ms(5), ms(30));
        let got: Vec<_> = (1..=7).map(|n| b.delay(n, 0)).collect();
        assert_eq!(
            got,
            [ms(10), ms(15), ms(20), ms(25), ms(30), ms(30), ms(30)]
        );
    }

    #[test]
    fn exponential_doubles_until_the_cap_without_jitter() {
        let b = Backoff::exponential(ms(10), ms(100), 0.0);
        let got: Vec<_> = (1..=6).map(|n| b.delay(n, 42)).collect();
        assert_eq!(got, [ms(10), ms(20), ms(40), ms(80), ms(100), ms(100)]);
    }

    #[test]
    fn exponential_jitter_stays_in_range_and_varies_with_the_seed() {
        let b = Backoff::exponential(ms(100), ms(10_000), 0.5);
        let mut distinct = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let d = b.delay(3, seed); // un-jittered: 400 ms
            assert!(d >= ms(200) && d <= ms(400), "{d:?} outside [200, 400] ms");
            distinct.insert(d);
        }
        assert!(
            distinct.len() > 100,
            "jitter barely varies: {}",
            distinct.len()
        );
        assert_eq!(b.delay(3, 9), b.delay(3, 9), "deterministic per seed");
    }

    #[test]
    fn fibonacci_follows_the_sequence_until_the_cap() {
        let b = Backoff::fibonacci(ms(1), ms(20));
        let got: Vec<_> = (1..=9).map(|n| b.delay(n, 0).as_millis()).collect();
        assert_eq!(got, [1, 1, 2, 3, 5, 8, 13, 20, 20]);
    }

    #[test]
    fn huge_retry_numbers_saturate_instead_of_overflowing() {
        let cap = Duration::from_secs(60);
        for b in [
            Backoff::linear(ms(1), ms(1), cap),
            Backoff::exponential(ms(1), cap, 0.0),
            Backoff::fibonacci(ms(1), cap),
        ] {
            assert_eq!(b.delay(u32::MAX, 1), cap, "{b:?}");
        }
    }

    #[test]
    fn bad_jitter_and_factor_are_clamped() {
        let b = Backoff::Exponential {
            initial: ms(10),
            factor: f64::NAN,
            cap: ms(100),
            jitter: f64::INFINITY,
        };
        assert_eq!(b.delay(5, 3), ms(10));
        assert_eq!(
            Backoff::exponential(ms(10), ms(100), -3.0).delay(2, 1),
            ms(20)
        );
    }
}
