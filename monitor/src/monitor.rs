//! [`ResourceMonitor`]: the sampling thread that publishes [`Pressure`] snapshots.
//!
//! Protocol:
//! - `start` validates the interval (≥ [`MIN_INTERVAL`], 200 ms: sysinfo's minimum CPU
//!   refresh interval), takes the first sample on the caller's thread (so `latest()` is a
//!   real reading from the start and a broken probe fails `start`), then spawns the
//!   thread `taskweave-monitor`.
//! - The thread waits on a condvar with a timeout until the next deadline (deadlines are
//!   `start + k·interval`; ticks missed because a sample ran long are skipped, not
//!   bunched up), samples, and publishes into the [`PressureCell`]. Readers never wait
//!   for it (see `pressure.rs`).
//! - A probe error keeps the previous snapshot and bumps `error_count`; the thread goes
//!   on.
//! - With [`ResourceMonitor::start_with`], a hook runs on the sampling thread right after
//!   each snapshot the thread publishes (not for the first one, taken by `start`), so a
//!   consumer can act once per tick without a thread of its own. Its time is not part of
//!   `busy_time`.
//! - Drop (or [`ResourceMonitor::stop`]) sets the stop flag under the mutex and notifies
//!   the condvar; the thread checks the flag before and after every wait, so it exits
//!   within one sample's duration, and the dropper joins it.
//!
//! Counters: `sample_count` counts published samples (including the first one taken in
//! `start`); `busy_time` sums the wall time spent inside `Probe::sample` on the sampling
//! thread, the monitor's own cost.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::pressure::{Pressure, PressureCell};
use crate::probe::{Probe, ProbeError};

/// The smallest sampling interval [`ResourceMonitor::start`] accepts.
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// The interval the runtime is expected to use by default (1 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Why a monitor could not start.
#[derive(Debug)]
pub enum MonitorError {
    /// The requested interval is below [`MIN_INTERVAL`].
    IntervalTooShort {
        /// What was asked for.
        requested: Duration,
        /// The minimum.
        minimum: Duration,
    },
    /// The first sample failed.
    Probe(ProbeError),
    /// The sampling thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for MonitorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorError::IntervalTooShort { requested, minimum } => write!(
                f,
                "monitor interval {requested:?} is below the minimum {minimum:?}"
            ),
            MonitorError::Probe(e) => write!(f, "first monitor sample failed: {e}"),
            MonitorError::Spawn(e) => write!(f, "spawning the monitor thread: {e}"),
        }
    }
}

impl std::error::Error for MonitorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MonitorError::IntervalTooShort { .. } => None,
            MonitorError::Probe(e) => Some(e),
            MonitorError::Spawn(e) => Some(e),
        }
    }
}

#[derive(Debug)]
struct Shared {
    cell: PressureCell,
    samples: AtomicU64,
    errors: AtomicU64,
    busy_nanos: AtomicU64,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A running sampling thread and the latest [`Pressure`] it published.
///
/// ```
/// use std::time::Duration;
/// use taskweave_monitor::{FakeProbe, ResourceMonitor, Sample};
///
/// let probe = FakeProbe::new([Sample::default().with_cpu(0.25)]);
/// let monitor = ResourceMonitor::start(probe, Duration::from_millis(200)).unwrap();
/// assert_eq!(monitor.latest().cpu_usage, 0.25);
/// assert!(ResourceMonitor::start(FakeProbe::default(), Duration::from_millis(10)).is_err());
/// drop(monitor); // stops and joins the thread
/// ```
#[derive(Debug)]
pub struct ResourceMonitor {
    shared: Arc<Shared>,
    interval: Duration,
    thread: Option<JoinHandle<()>>,
}

impl ResourceMonitor {
    /// Takes a first sample and starts sampling `probe` every `interval` on a thread
    /// named `taskweave-monitor`.
    pub fn start<P: Probe + 'static>(
        probe: P,
        interval: Duration,
    ) -> Result<ResourceMonitor, MonitorError> {
        ResourceMonitor::start_with(probe, interval, |_: &Pressure| {})
    }

    /// Like [`start`](Self::start), and calls `on_sample` on the sampling thread with
    /// every snapshot the thread publishes after the first (one call per tick; a tick
    /// whose probe fails calls nothing). Keep it short: the next tick waits for it.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use std::time::{Duration, Instant};
    /// use taskweave_monitor::{FakeProbe, Pressure, ResourceMonitor, Sample};
    ///
    /// let ticks = Arc::new(AtomicU64::new(0));
    /// let seen = ticks.clone();
    /// let probe = FakeProbe::new([Sample::default().with_cpu(0.5)]);
    /// let monitor = ResourceMonitor::start_with(probe, Duration::from_millis(200), move |p: &Pressure| {
    ///     assert_eq!(p.cpu_usage, 0.5);
    ///     seen.fetch_add(1, Ordering::SeqCst);
    /// })
    /// .unwrap();
    /// let deadline = Instant::now() + Duration::from_secs(10);
    /// while ticks.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
    ///     std::thread::sleep(Duration::from_millis(20));
    /// }
    /// assert!(ticks.load(Ordering::SeqCst) >= 1);
    /// drop(monitor);
    /// ```
    pub fn start_with<P, F>(
        mut probe: P,
        interval: Duration,
        on_sample: F,
    ) -> Result<ResourceMonitor, MonitorError>
    where
        P: Probe + 'static,
        F: FnMut(&Pressure) + Send + 'static,
    {
        if interval < MIN_INTERVAL {
            return Err(MonitorError::IntervalTooShort {
                requested: interval,
                minimum: MIN_INTERVAL,
            });
        }
        let started = Instant::now();
        let first = probe.sample().map_err(MonitorError::Probe)?;
        let shared = Arc::new(Shared {
            cell: PressureCell::new(Pressure::from_sample(&first, Instant::now())),
            samples: AtomicU64::new(1),
            errors: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("taskweave-monitor".into())
            .spawn(move || run(probe, interval, started, &thread_shared, on_sample))
            .map_err(MonitorError::Spawn)?;
        Ok(ResourceMonitor {
            shared,
            interval,
            thread: Some(thread),
        })
    }

    /// The latest published snapshot (lock-free).
    pub fn latest(&self) -> Arc<Pressure> {
        self.shared.cell.load()
    }

    /// Samples published so far, the one taken by `start` included.
    pub fn sample_count(&self) -> u64 {
        self.shared.samples.load(Ordering::Relaxed)
    }

    /// Ticks whose probe call failed (the previous snapshot stayed published).
    pub fn error_count(&self) -> u64 {
        self.shared.errors.load(Ordering::Relaxed)
    }

    /// Total wall time the sampling thread spent inside `Probe::sample`.
    pub fn busy_time(&self) -> Duration {
        Duration::from_nanos(self.shared.busy_nanos.load(Ordering::Relaxed))
    }

    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Stops the sampling thread and waits for it to exit (same as dropping).
    pub fn stop(self) {}

    fn shutdown(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panicking probe already ended the thread; nothing more to do.
            let _ = thread.join();
        }
    }
}

impl Drop for ResourceMonitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits until `deadline` or until stopped; returns `true` when stopped.
fn wait_until(shared: &Shared, deadline: Instant) -> bool {
    let mut stopped = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if *stopped {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        stopped = shared
            .wake
            .wait_timeout(stopped, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn run<P: Probe>(
    mut probe: P,
    interval: Duration,
    started: Instant,
    shared: &Shared,
    mut on_sample: impl FnMut(&Pressure),
) {
    let mut deadline = started + interval;
    while !wait_until(shared, deadline) {
        let before = Instant::now();
        let result = probe.sample();
        let after = Instant::now();
        let busy = u64::try_from((after - before).as_nanos()).unwrap_or(u64::MAX);
        shared.busy_nanos.fetch_add(busy, Ordering::Relaxed);
        match result {
            Ok(sample) => {
                let pressure = Pressure::from_sample(&sample, after);
                shared.cell.publish(pressure.clone());
                shared.samples.fetch_add(1, Ordering::Relaxed);
                on_sample(&pressure);
            }
            Err(_) => {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        deadline += interval;
        if deadline <= after {
            // Skip the ticks we missed instead of sampling back to back.
            let behind = (after - deadline).as_nanos() / interval.as_nanos() + 1;
            deadline += interval * u32::try_from(behind).unwrap_or(u32::MAX);
        }
    }
}
