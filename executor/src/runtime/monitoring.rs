//! The runtime's resource monitor: configuration ([`MonitorConfig`]), the sampling
//! thread's life, and the status report ([`MonitorStatus`]).
//!
//! - On by default; [`Builder::disable_monitor`](super::Builder::disable_monitor) turns
//!   it off (then ExecutableTasks are not gated and nothing is sampled).
//! - The sampler ([`ResourceMonitor`], thread `taskweave-monitor`) starts lazily at the
//!   first ExecutableTask submission, so a program that only `spawn`s pays nothing. If
//!   its probe cannot start, the gate keeps working with the controller's initial limit
//!   and the configured budget (the status says why).
//! - Each tick the sampler calls the gate's `on_pressure` (`graph/admit.rs`): the
//!   controller's new limit, the memory budget, and grants to waiting tasks. The hook
//!   holds the gate only, never the runtime, so no reference cycle runs through the
//!   sampler.
//! - Shutdown stops and joins the sampler, then closes the gate (see `Shared::
//!   cancel_all_tasks`); a submission racing with shutdown cannot restart it.

use std::fmt;
use std::time::Duration;

use taskweave_monitor::{
    system_probe, Budget, ControllerConfig, Decision, Pressure, Probe, ProbeError, ResourceMonitor,
    DEFAULT_INTERVAL, MIN_INTERVAL,
};

use crate::graph::admit::{Gate, GateConfig};
use crate::sync::{Arc, AtomicBool, Mutex, Ordering};

type ProbeFactory = std::sync::Arc<dyn Fn() -> Result<Box<dyn Probe>, ProbeError> + Send + Sync>;

/// Settings of the runtime's resource monitor, for
/// [`Builder::monitor`](super::Builder::monitor).
///
/// The monitor samples the machine every `interval` (CPU usage, memory, Linux PSI),
/// adapts how many ExecutableTasks may run at once (a [`ConcurrencyController`](
/// taskweave_monitor::ConcurrencyController): it grows while tasks wait on I/O and
/// shrinks under CPU or memory pressure), holds back tasks whose declared resources do
/// not fit the budget, and bounds how many submitted tasks may wait to start.
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::monitor::MonitorConfig;
/// use taskweave_executor::runtime::Builder;
///
/// let rt = Builder::new_multi_thread()
///     .monitor(
///         MonitorConfig::new()
///             .interval(Duration::from_millis(500))
///             .limits(4, 64)
///             .memory_budget(2 << 30)
///             .pending_capacity(10_000),
///     )
///     .build()
///     .unwrap();
/// let status = rt.monitor_status().unwrap();
/// assert_eq!(status.pending_capacity, 10_000);
/// assert!(status.limit >= 4 && status.limit <= 64);
/// ```
#[derive(Clone)]
pub struct MonitorConfig {
    interval: Duration,
    controller: Option<ControllerConfig>,
    min_limit: Option<usize>,
    max_limit: Option<usize>,
    initial_limit: Option<usize>,
    pending_capacity: usize,
    memory_fraction: f32,
    memory_budget: Option<u64>,
    probe: Option<ProbeFactory>,
}

impl MonitorConfig {
    /// The defaults: 1 s interval; controller defaults with the lower bound raised to
    /// the worker count (CPU-bound work still fills the workers) and a starting limit
    /// of at least 8; 65,536 pending tasks; memory budget 90% of physical memory; the
    /// system probe (sysinfo + PSI).
    pub fn new() -> Self {
        MonitorConfig {
            interval: DEFAULT_INTERVAL,
            controller: None,
            min_limit: None,
            max_limit: None,
            initial_limit: None,
            pending_capacity: 1 << 16,
            memory_fraction: 0.9,
            memory_budget: None,
            probe: None,
        }
    }

    /// How often the machine is sampled (at least 200 ms, else `build` fails).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The whole controller configuration (thresholds, steps, bounds). The
    /// [`limits`](Self::limits) and [`initial_limit`](Self::initial_limit) settings
    /// override its bounds.
    pub fn controller(mut self, controller: ControllerConfig) -> Self {
        self.controller = Some(controller);
        self
    }

    /// Bounds of the in-flight limit.
    pub fn limits(mut self, min: usize, max: usize) -> Self {
        self.min_limit = Some(min);
        self.max_limit = Some(max);
        self
    }

    /// The limit before the first tick (clamped into the bounds).
    pub fn initial_limit(mut self, limit: usize) -> Self {
        self.initial_limit = Some(limit);
        self
    }

    /// A fixed in-flight limit: `limits(n, n)` and `initial_limit(n)`.
    pub fn fixed_limit(self, limit: usize) -> Self {
        self.limits(limit, limit).initial_limit(limit)
    }

    /// How many submitted ExecutableTasks may wait to start before
    /// [`Handle::try_submit`](crate::Handle::try_submit) refuses with
    /// `SubmitError::QueueFull` and [`Handle::submit_wait`](crate::Handle::submit_wait)
    /// waits (default 65,536; at least 1).
    pub fn pending_capacity(mut self, capacity: usize) -> Self {
        self.pending_capacity = capacity;
        self
    }

    /// Share of physical memory that tasks' declared memory may use at once, and the
    /// complement kept free when the budget follows the machine's available memory
    /// (default 0.9; in `(0, 1]`).
    pub fn memory_fraction(mut self, fraction: f32) -> Self {
        self.memory_fraction = fraction;
        self
    }

    /// An absolute memory budget in bytes for tasks' declared memory (instead of the
    /// fraction of physical memory). A task declaring more is refused at submit.
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = Some(bytes);
        self
    }

    /// Samples `probe` instead of the system (e.g. a scripted
    /// [`FakeProbe`](taskweave_monitor::FakeProbe) in tests; each runtime built gets a
    /// clone).
    pub fn probe<P: Probe + Clone + Sync + 'static>(mut self, probe: P) -> Self {
        self.probe = Some(std::sync::Arc::new(move || {
            Ok(Box::new(probe.clone()) as Box<dyn Probe>)
        }));
        self
    }

    /// Makes the probe with `make` when sampling starts.
    pub fn probe_with(
        mut self,
        make: impl Fn() -> Result<Box<dyn Probe>, ProbeError> + Send + Sync + 'static,
    ) -> Self {
        self.probe = Some(std::sync::Arc::new(make));
        self
    }

    /// Checks the settings (`build` reports these as `InvalidInput`).
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.interval < MIN_INTERVAL {
            return Err(format!(
                "monitor interval {:?} is below the minimum {MIN_INTERVAL:?}",
                self.interval
            ));
        }
        if self.pending_capacity == 0 {
            return Err("monitor pending_capacity must be at least 1".into());
        }
        if !(self.memory_fraction > 0.0 && self.memory_fraction <= 1.0) {
            return Err(format!(
                "monitor memory_fraction must be in (0, 1], got {}",
                self.memory_fraction
            ));
        }
        Ok(())
    }

    fn controller_config(&self, workers: usize) -> ControllerConfig {
        let mut c = self.controller.clone().unwrap_or_else(|| {
            let defaults = ControllerConfig::default();
            ControllerConfig {
                min_limit: workers.max(defaults.min_limit),
                initial_limit: defaults.initial_limit.max(workers),
                ..defaults
            }
        });
        if let Some(min) = self.min_limit {
            c.min_limit = min;
        }
        if let Some(max) = self.max_limit {
            c.max_limit = max;
        }
        if let Some(initial) = self.initial_limit {
            c.initial_limit = initial;
        }
        c
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig::new()
    }
}

impl fmt::Debug for MonitorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorConfig")
            .field("interval", &self.interval)
            .field("controller", &self.controller)
            .field("min_limit", &self.min_limit)
            .field("max_limit", &self.max_limit)
            .field("initial_limit", &self.initial_limit)
            .field("pending_capacity", &self.pending_capacity)
            .field("memory_fraction", &self.memory_fraction)
            .field("memory_budget", &self.memory_budget)
            .field("custom_probe", &self.probe.is_some())
            .finish()
    }
}

/// Where the sampling thread is in its life.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SamplerState {
    /// No ExecutableTask was submitted yet.
    NotStarted,
    /// Sampling.
    Running {
        /// Samples published so far.
        samples: u64,
        /// Ticks whose probe failed.
        errors: u64,
        /// Wall time spent inside the probe so far.
        probe_time: Duration,
        /// The sampling interval.
        interval: Duration,
    },
    /// The probe could not start (the gate runs on its initial limit and budget).
    Failed(String),
    /// Stopped by shutdown.
    Stopped,
}

/// A snapshot of the monitor and the ExecutableTask gate, from
/// [`Runtime::monitor_status`](crate::Runtime::monitor_status).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MonitorStatus {
    /// How many ExecutableTasks may run at once now.
    pub limit: usize,
    /// How many are running (hold a permit).
    pub in_flight: usize,
    /// The most that ever ran at once.
    pub peak_in_flight: usize,
    /// Started tasks waiting for a permit (limit reached or resources short).
    pub waiting: usize,
    /// Submitted tasks not yet started (waiting for dependencies, in the ready heap, or
    /// for a permit).
    pub pending: usize,
    /// The bound on `pending` for `try_submit` / `submit_wait`.
    pub pending_capacity: usize,
    /// Tasks that got a permit so far.
    pub started: u64,
    /// Tasks that finished after getting one.
    pub completed: u64,
    /// Memory that declared tasks may hold now (follows the machine's available
    /// memory, at most `memory_capacity`).
    pub memory_budget: u64,
    /// The configured memory budget; a task declaring more is refused at submit.
    pub memory_capacity: u64,
    /// Memory declared by running tasks.
    pub memory_in_use: u64,
    /// Cores declared by running tasks.
    pub cores_in_use: f64,
    /// How many times the controller changed the limit.
    pub limit_changes: u64,
    /// The controller's verdict at the last tick.
    pub last_decision: Decision,
    /// The sampler.
    pub sampler: SamplerState,
    /// The latest pressure snapshot, once sampling started.
    pub pressure: Option<std::sync::Arc<Pressure>>,
}

enum Sampler {
    Idle,
    Running(ResourceMonitor),
    Failed(String),
    Stopped,
}

/// The monitor part of a runtime's shared state.
pub(crate) struct Monitoring {
    gate: Option<Arc<Gate>>,
    /// Set once the sampler left `Idle` (started, failed, or stopped).
    sampler_settled: AtomicBool,
    sampler: Mutex<Sampler>,
    interval: Duration,
    probe: Option<ProbeFactory>,
}

impl Monitoring {
    /// No monitor: nothing is gated or sampled.
    pub(crate) fn disabled() -> Monitoring {
        Monitoring {
            gate: None,
            sampler_settled: AtomicBool::new(true),
            sampler: Mutex::new(Sampler::Stopped),
            interval: DEFAULT_INTERVAL,
            probe: None,
        }
    }

    /// A monitor per `config` for a runtime of `workers` workers on a machine with
    /// `cores` cores and `memory` bytes (if known). The sampler is not started yet.
    pub(crate) fn new(
        config: &MonitorConfig,
        workers: usize,
        cores: usize,
        memory: Option<u64>,
    ) -> Monitoring {
        let memory_capacity = config.memory_budget.unwrap_or_else(|| match memory {
            Some(total) => (total as f64 * f64::from(config.memory_fraction)) as u64,
            None => u64::MAX,
        });
        let gate = Gate::new(GateConfig {
            controller: config.controller_config(workers),
            capacity: Budget::new(cores as f32, memory_capacity),
            memory_headroom: 1.0 - config.memory_fraction,
            pending_capacity: config.pending_capacity,
            workers,
        });
        Monitoring {
            gate: Some(Arc::new(gate)),
            sampler_settled: AtomicBool::new(false),
            sampler: Mutex::new(Sampler::Idle),
            interval: config.interval,
            probe: config.probe.clone(),
        }
    }

    /// The gate, if the monitor is on.
    #[inline]
    pub(crate) fn gate(&self) -> Option<&Arc<Gate>> {
        self.gate.as_ref()
    }

    /// Starts the sampler if it has not started yet (one acquire load once it has).
    pub(crate) fn ensure_sampling(&self) {
        if self.sampler_settled.load(Ordering::Acquire) {
            return;
        }
        let Some(gate) = self.gate.clone() else {
            return;
        };
        let mut sampler = self.sampler.lock();
        if !matches!(*sampler, Sampler::Idle) {
            return;
        }
        let probe = match &self.probe {
            Some(make) => make(),
            None => system_probe().map(|p| Box::new(p) as Box<dyn Probe>),
        };
        let hook_gate = gate.clone();
        let started = probe.map_err(|e| e.to_string()).and_then(|probe| {
            ResourceMonitor::start_with(probe, self.interval, move |p: &Pressure| {
                hook_gate.on_pressure(p)
            })
            .map_err(|e| e.to_string())
        });
        *sampler = match started {
            Ok(monitor) => {
                gate.on_pressure(&monitor.latest());
                Sampler::Running(monitor)
            }
            Err(e) => Sampler::Failed(e),
        };
        self.sampler_settled.store(true, Ordering::Release);
    }

    /// Shutdown: stops and joins the sampler (it cannot start afterwards), then closes
    /// the gate.
    pub(crate) fn shutdown(&self) {
        let previous = {
            let mut sampler = self.sampler.lock();
            self.sampler_settled.store(true, Ordering::Release);
            std::mem::replace(&mut *sampler, Sampler::Stopped)
        };
        // Joined with no lock held.
        drop(previous);
        if let Some(gate) = &self.gate {
            gate.close();
        }
    }

    /// The status, or `None` when the monitor is off.
    pub(crate) fn status(&self) -> Option<MonitorStatus> {
        let gate = self.gate.as_ref()?;
        let counts = gate.counts();
        let (sampler, pressure) = match &*self.sampler.lock() {
            Sampler::Idle => (SamplerState::NotStarted, None),
            Sampler::Running(m) => (
                SamplerState::Running {
                    samples: m.sample_count(),
                    errors: m.error_count(),
                    probe_time: m.busy_time(),
                    interval: m.interval(),
                },
                Some(m.latest()),
            ),
            Sampler::Failed(e) => (SamplerState::Failed(e.clone()), None),
            Sampler::Stopped => (SamplerState::Stopped, None),
        };
        Some(MonitorStatus {
            limit: counts.limit,
            in_flight: counts.in_flight,
            peak_in_flight: counts.peak_in_flight,
            waiting: counts.waiting,
            pending: counts.pending,
            pending_capacity: counts.pending_capacity,
            started: counts.started,
            completed: counts.completed,
            memory_budget: counts.budget.memory,
            memory_capacity: counts.capacity.memory,
            memory_in_use: counts.used.memory,
            cores_in_use: counts.used.millicores as f64 / 1000.0,
            limit_changes: counts.limit_changes,
            last_decision: counts.last_decision,
            sampler,
            pressure,
        })
    }
}
