//! When and how a supervised task is restarted: [`RestartPolicy`], [`RestartConfig`]
//! (policy + [`Backoff`] + restart budget + stable window), and the pure decision logic
//! ([`RestartTracker`]) the runner consults after every failed run.
//!
//! Invariants:
//! - The decision is a pure function of the configuration, the failure, the run's
//!   start instant, the current instant and a seed — no clock is read here, so the
//!   backoff sequences and the stable window are tested with made-up instants.
//! - The restart budget counts restarts since the last reset. A run that stayed up
//!   for at least `stable_after` resets the count before its failure is judged, which
//!   also restarts the backoff sequence from its first delay.
//! - A [`Failure::FactoryPanic`] is never restarted, whatever the policy: the factory
//!   is what makes new runs, and it just failed to make one.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{Failure, RestartConfigError};
use crate::graph::Backoff;

/// The predicate of [`RestartPolicy::OnFailure`].
pub type FailurePredicate<E> = Arc<dyn Fn(&Failure<E>) -> bool + Send + Sync>;

/// Which failed runs of a supervised task are restarted. A run that returns `Ok` is
/// never restarted: its value is the task's final outcome.
///
/// ```
/// use taskweave_executor::supervise::{Failure, RestartPolicy};
///
/// let err = Failure::Error("disk full");
/// let panic = Failure::<&str>::Panic("index out of bounds".into());
/// assert!(RestartPolicy::Always.restarts(&err) && RestartPolicy::Always.restarts(&panic));
/// assert!(!RestartPolicy::OnPanic.restarts(&err) && RestartPolicy::OnPanic.restarts(&panic));
/// assert!(!RestartPolicy::Never.restarts(&panic));
/// let transient = RestartPolicy::on_failure(|f: &Failure<&str>| f.error() == Some(&"busy"));
/// assert!(transient.restarts(&Failure::Error("busy")) && !transient.restarts(&err));
/// ```
pub enum RestartPolicy<E> {
    /// Never restart: the first failure is final.
    Never,
    /// Restart after any failure: a returned error or a panic.
    Always,
    /// Restart after a panic; a returned error is final.
    OnPanic,
    /// Restart when the predicate returns true for the failure (an error or a panic).
    /// A predicate that panics counts as `false`.
    OnFailure(FailurePredicate<E>),
}

impl<E> RestartPolicy<E> {
    /// [`RestartPolicy::OnFailure`] with `predicate`.
    ///
    /// ```
    /// use taskweave_executor::supervise::{Failure, RestartPolicy};
    ///
    /// let policy = RestartPolicy::on_failure(|f: &Failure<std::io::Error>| {
    ///     f.error().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
    /// });
    /// let timed_out = Failure::Error(std::io::ErrorKind::TimedOut.into());
    /// assert!(policy.restarts(&timed_out));
    /// ```
    pub fn on_failure(predicate: impl Fn(&Failure<E>) -> bool + Send + Sync + 'static) -> Self {
        RestartPolicy::OnFailure(Arc::new(predicate))
    }

    /// True if this policy restarts after `failure`. Never true for
    /// [`Failure::FactoryPanic`] (see the module docs).
    pub fn restarts(&self, failure: &Failure<E>) -> bool {
        if matches!(failure, Failure::FactoryPanic(_)) {
            return false;
        }
        match self {
            RestartPolicy::Never => false,
            RestartPolicy::Always => true,
            RestartPolicy::OnPanic => matches!(failure, Failure::Panic(_)),
            RestartPolicy::OnFailure(predicate) => {
                catch_unwind(AssertUnwindSafe(|| predicate(failure))).unwrap_or(false)
            }
        }
    }

    /// True for [`RestartPolicy::Never`].
    pub fn is_never(&self) -> bool {
        matches!(self, RestartPolicy::Never)
    }
}

impl<E> Clone for RestartPolicy<E> {
    fn clone(&self) -> Self {
        match self {
            RestartPolicy::Never => RestartPolicy::Never,
            RestartPolicy::Always => RestartPolicy::Always,
            RestartPolicy::OnPanic => RestartPolicy::OnPanic,
            RestartPolicy::OnFailure(p) => RestartPolicy::OnFailure(p.clone()),
        }
    }
}

impl<E> fmt::Debug for RestartPolicy<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::Never => f.write_str("Never"),
            RestartPolicy::Always => f.write_str("Always"),
            RestartPolicy::OnPanic => f.write_str("OnPanic"),
            RestartPolicy::OnFailure(_) => f.write_str("OnFailure(..)"),
        }
    }
}

/// How a supervised task is restarted: the [`RestartPolicy`], the [`Backoff`] between
/// a failure and the next run, the restart budget and the stable window. Built with
/// [`RestartConfig::builder`], which checks the combination.
///
/// Defaults: exponential backoff from 100 ms doubling up to 30 s with 10% jitter, at
/// most 5 restarts, no stable window (the restart count never resets).
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::supervise::{Backoff, RestartConfig, RestartPolicy};
///
/// let config = RestartConfig::<std::io::Error>::builder(RestartPolicy::Always)
///     .backoff(Backoff::fibonacci(Duration::from_millis(10), Duration::from_secs(5)))
///     .max_restarts(10)
///     .stable_after(Duration::from_secs(60))
///     .build()
///     .unwrap();
/// assert_eq!(config.max_restarts(), Some(10));
/// assert_eq!(config.stable_after(), Some(Duration::from_secs(60)));
/// ```
pub struct RestartConfig<E> {
    policy: RestartPolicy<E>,
    backoff: Backoff,
    max_restarts: Option<u32>,
    stable_after: Option<Duration>,
}

impl<E> RestartConfig<E> {
    /// The default restart budget.
    pub const DEFAULT_MAX_RESTARTS: u32 = 5;

    /// A builder for `policy` with the defaults above.
    pub fn builder(policy: RestartPolicy<E>) -> RestartConfigBuilder<E> {
        RestartConfigBuilder {
            policy,
            backoff: Backoff::exponential(Duration::from_millis(100), Duration::from_secs(30), 0.1),
            max_restarts: Some(Self::DEFAULT_MAX_RESTARTS),
            stable_after: None,
        }
    }

    /// A configuration that never restarts: the task runs once and its failure, if
    /// any, is reported (panics caught, like any supervised task).
    ///
    /// ```
    /// use taskweave_executor::supervise::RestartConfig;
    ///
    /// assert!(RestartConfig::<()>::never().policy().is_never());
    /// ```
    pub fn never() -> Self {
        RestartConfig {
            policy: RestartPolicy::Never,
            backoff: Backoff::fixed(Duration::ZERO),
            max_restarts: Some(0),
            stable_after: None,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &RestartPolicy<E> {
        &self.policy
    }

    /// The backoff schedule; the delay before the `n`-th restart since the last reset
    /// is `backoff().delay(n, seed)`.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    /// Restarts allowed since the last reset; `None` means unlimited.
    pub fn max_restarts(&self) -> Option<u32> {
        self.max_restarts
    }

    /// How long a run must stay up for the restart count to reset; `None` means never.
    pub fn stable_after(&self) -> Option<Duration> {
        self.stable_after
    }
}

impl<E> Clone for RestartConfig<E> {
    fn clone(&self) -> Self {
        RestartConfig {
            policy: self.policy.clone(),
            backoff: self.backoff.clone(),
            max_restarts: self.max_restarts,
            stable_after: self.stable_after,
        }
    }
}

impl<E> fmt::Debug for RestartConfig<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartConfig")
            .field("policy", &self.policy)
            .field("backoff", &self.backoff)
            .field("max_restarts", &self.max_restarts)
            .field("stable_after", &self.stable_after)
            .finish()
    }
}

/// Builds a [`RestartConfig`]; see there for the defaults.
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::supervise::{Backoff, RestartConfig, RestartConfigError, RestartPolicy};
///
/// let linear = RestartConfig::<()>::builder(RestartPolicy::OnPanic)
///     .backoff(Backoff::linear(Duration::from_millis(5), Duration::from_millis(5), Duration::from_secs(1)))
///     .unlimited_restarts()
///     .build()
///     .unwrap();
/// assert_eq!(linear.max_restarts(), None);
///
/// let zero = RestartConfig::<()>::builder(RestartPolicy::Always).max_restarts(0).build();
/// assert_eq!(zero.unwrap_err(), RestartConfigError::ZeroMaxRestarts);
/// ```
pub struct RestartConfigBuilder<E> {
    policy: RestartPolicy<E>,
    backoff: Backoff,
    max_restarts: Option<u32>,
    stable_after: Option<Duration>,
}

impl<E> RestartConfigBuilder<E> {
    /// The delay schedule between a failure and the next run.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// At most `n` restarts since the last reset; the failure after the `n`-th restart
    /// is final ([`TaskStatus::Dead`](super::TaskStatus::Dead)). Zero is refused for a
    /// policy that restarts (use [`RestartPolicy::Never`] to mean "no restarts").
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = Some(n);
        self
    }

    /// No restart budget: restart as often as the policy says.
    pub fn unlimited_restarts(mut self) -> Self {
        self.max_restarts = None;
        self
    }

    /// A run that stays up at least `window` resets the restart count (and the backoff
    /// sequence) when it fails. Zero is refused: every run would count as stable and
    /// the budget would mean nothing.
    pub fn stable_after(mut self, window: Duration) -> Self {
        self.stable_after = Some(window);
        self
    }

    /// Checks and builds the configuration.
    ///
    /// # Errors
    /// [`RestartConfigError::ZeroMaxRestarts`] for a zero budget with a policy other
    /// than `Never`; [`RestartConfigError::ZeroStableWindow`] for a zero stable window.
    pub fn build(self) -> Result<RestartConfig<E>, RestartConfigError> {
        if self.max_restarts == Some(0) && !self.policy.is_never() {
            return Err(RestartConfigError::ZeroMaxRestarts);
        }
        if self.stable_after == Some(Duration::ZERO) {
            return Err(RestartConfigError::ZeroStableWindow);
        }
        Ok(RestartConfig {
            policy: self.policy,
            backoff: self.backoff,
            max_restarts: self.max_restarts,
            stable_after: self.stable_after,
        })
    }
}

impl<E> fmt::Debug for RestartConfigBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestartConfigBuilder")
            .field("policy", &self.policy)
            .field("backoff", &self.backoff)
            .field("max_restarts", &self.max_restarts)
            .field("stable_after", &self.stable_after)
            .finish()
    }
}

/// What to do after a failed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start a new run after `delay`.
    Restart {
        /// The backoff delay.
        delay: Duration,
    },
    /// The policy does not restart this failure: the task is `Failed`.
    Stop,
    /// The policy would restart, but the budget is spent: the task is `Dead`.
    Exhausted,
}

/// The restart bookkeeping of one supervised task; pure (instants are passed in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RestartTracker {
    /// Restarts since the last reset (drives the budget and the backoff).
    in_window: u32,
    /// Restarts ever (reported to the user).
    total: u32,
}

impl RestartTracker {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Restarts ever decided.
    pub(crate) fn total(&self) -> u32 {
        self.total
    }

    /// Forgets the restarts since the last reset (a manual restart is a fresh start).
    pub(crate) fn reset_window(&mut self) {
        self.in_window = 0;
    }

    /// Judges a run that started at `started` and failed at `now` (see the module
    /// invariants). `seed` drives the backoff jitter.
    pub(crate) fn on_failure<E>(
        &mut self,
        config: &RestartConfig<E>,
        failure: &Failure<E>,
        started: Instant,
        now: Instant,
        seed: u64,
    ) -> Decision {
        if !config.policy.restarts(failure) {
            return Decision::Stop;
        }
        if config
            .stable_after
            .is_some_and(|window| now.saturating_duration_since(started) >= window)
        {
            self.in_window = 0;
        }
        if config.max_restarts.is_some_and(|max| self.in_window >= max) {
            return Decision::Exhausted;
        }
        self.in_window = self.in_window.saturating_add(1);
        self.total = self.total.saturating_add(1);
        Decision::Restart {
            delay: config.backoff.delay(self.in_window, seed),
        }
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
