//! [`SysinfoProbe`]: CPU usage, RAM, this process and load average via `sysinfo` 0.40.
//!
//! Invariants:
//! - Each sample refreshes exactly three things: global CPU usage, RAM (not swap), and
//!   this one process's memory and disk counters. It never calls `refresh_all` or
//!   enumerates processes (that costs milliseconds; this costs tens of microseconds).
//! - sysinfo ignores a CPU refresh within [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`]
//!   (200 ms) of the previous one and keeps the old usage; a probe sampled faster than
//!   that therefore repeats its CPU reading. [`ResourceMonitor`](crate::ResourceMonitor)
//!   refuses intervals below 200 ms for this reason.
//! - Disk rates are bytes since the previous sample divided by the wall time since it;
//!   the first sample reports the bytes since construction over the time since
//!   construction.

use std::time::Instant;

use sysinfo::{
    CpuRefreshKind, MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, RefreshKind,
    System,
};

use crate::pressure::LoadAverage;
use crate::probe::{Probe, ProbeError, Sample};

/// sysinfo's minimum interval between two meaningful CPU usage refreshes.
pub const MINIMUM_CPU_UPDATE_INTERVAL: std::time::Duration = sysinfo::MINIMUM_CPU_UPDATE_INTERVAL;

/// Machine CPU/RAM and this process's RSS and disk rates, read through `sysinfo`.
pub struct SysinfoProbe {
    system: System,
    pid: Pid,
    last_process_refresh: Instant,
}

impl std::fmt::Debug for SysinfoProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SysinfoProbe")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

fn sysinfo_err(e: impl std::fmt::Display) -> ProbeError {
    ProbeError::Sysinfo(e.to_string())
}

fn process_kind() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing()
        .with_memory()
        .with_disk_usage()
}

impl SysinfoProbe {
    /// Initialises sysinfo with a first CPU/RAM/process reading (the baseline for the
    /// first sample's CPU usage and disk rates).
    pub fn new() -> Result<Self, ProbeError> {
        let kind = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram());
        let mut system = System::new_with_specifics(kind).map_err(sysinfo_err)?;
        let pid = sysinfo::get_current_pid().map_err(sysinfo_err)?;
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), false, process_kind());
        Ok(SysinfoProbe {
            system,
            pid,
            last_process_refresh: Instant::now(),
        })
    }
}

impl Probe for SysinfoProbe {
    fn sample(&mut self) -> Result<Sample, ProbeError> {
        self.system.refresh_cpu_usage();
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            false,
            process_kind(),
        );
        let now = Instant::now();
        let secs = now
            .saturating_duration_since(self.last_process_refresh)
            .as_secs_f64();
        self.last_process_refresh = now;
        let per_sec = |bytes: u64| {
            if secs > 0.0 {
                (bytes as f64 / secs) as u64
            } else {
                0
            }
        };
        let process = self.system.process(self.pid);
        let disk = process.map(|p| p.disk_usage());
        let load_average = System::load_average().ok().map(|l| LoadAverage {
            one: l.one,
            five: l.five,
            fifteen: l.fifteen,
        });
        let total = self.system.total_memory();
        Ok(Sample {
            cpu_usage: Some(self.system.global_cpu_usage() / 100.0),
            memory_available: (total > 0).then(|| self.system.available_memory()),
            memory_total: (total > 0).then_some(total),
            process_rss: process.map(|p| p.memory()),
            process_disk_read_per_sec: disk.map(|d| per_sec(d.read_bytes)),
            process_disk_write_per_sec: disk.map(|d| per_sec(d.written_bytes)),
            load_average,
            psi: Default::default(),
        })
    }
}
