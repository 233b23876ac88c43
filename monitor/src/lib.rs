//! taskweave's resource monitor: the executor-free half of adaptive concurrency.
//!
//! - [`Probe`]s read the machine: [`SysinfoProbe`] (CPU usage, RAM, this process's RSS
//!   and disk rates, load average), [`PsiProbe`] (Linux pressure stall information from
//!   `/proc/pressure/*` or the process's cgroup v2), [`Merged`] to combine them, and the
//!   scripted [`FakeProbe`] for tests. [`system_probe`] builds the usual combination.
//! - [`ResourceMonitor`] samples a probe on its own thread (interval ≥ 200 ms) and
//!   publishes [`Pressure`] snapshots with lock-free reads.
//! - [`ConcurrencyController`] turns snapshots and task latencies into an in-flight limit
//!   (AIMD with hysteresis and bounds); it is pure, time is passed in.
//! - [`Admission`] holds back work whose declared cores/memory do not fit the budget,
//!   refuses what never can, and bounds the waiting queue (backpressure).
//!
//! Nothing here knows about the executor; the crate is a leaf.
//!
//! ```
//! use std::time::Duration;
//! use taskweave_monitor::{ConcurrencyController, ControllerConfig, FakeProbe, ResourceMonitor, Sample};
//!
//! let probe = FakeProbe::new([Sample::default().with_cpu(0.3).with_memory(6 << 30, 8 << 30)]);
//! let monitor = ResourceMonitor::start(probe, Duration::from_millis(200)).unwrap();
//! let mut controller = ConcurrencyController::new(ControllerConfig::default());
//! let pressure = monitor.latest();
//! let limit = controller.update(&pressure, pressure.sampled_at);
//! assert_eq!(limit, 8);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod admission;
mod controller;
mod monitor;
mod pressure;
mod probe;
pub mod psi;
mod sysinfo_probe;

pub use admission::{Admission, Budget, EnqueueError, Permit, Refusal, Requirements};
pub use controller::{ConcurrencyController, ControllerConfig, Decision, ShrinkReason};
pub use monitor::{MonitorError, ResourceMonitor, DEFAULT_INTERVAL, MIN_INTERVAL};
pub use pressure::{LoadAverage, Pressure, PressureCell, PsiShares, StallShare};
pub use probe::{FakeProbe, Merged, Probe, ProbeError, Sample};
pub use psi::{PsiPaths, PsiProbe};
pub use sysinfo_probe::{SysinfoProbe, MINIMUM_CPU_UPDATE_INTERVAL};

/// The usual probe: [`SysinfoProbe`] merged with a discovered [`PsiProbe`].
pub type SystemProbe = Merged<SysinfoProbe, PsiProbe>;

/// Builds a [`SystemProbe`].
pub fn system_probe() -> Result<SystemProbe, ProbeError> {
    Ok(Merged::new(SysinfoProbe::new()?, PsiProbe::discover()?))
}
