//! Probes: where readings come from.
//!
//! Invariants:
//! - A [`Probe`] is owned by exactly one sampling thread (`Send`, not `Sync`) and is
//!   called at most once per tick; it may keep state between calls (previous counters)
//!   and turns counters into per-tick rates itself.
//! - A [`Sample`] field is `None` when that probe does not measure it; merging two
//!   samples keeps the first probe's reading wherever it has one ([`Sample::or`]).
//! - A probe error means the tick produced no usable reading; an absent optional source
//!   (a missing PSI file) is not an error.
//!
//! Implementations: [`SysinfoProbe`](crate::SysinfoProbe) (CPU, RAM, this process, load
//! average), [`PsiProbe`](crate::PsiProbe) (Linux pressure stall information),
//! [`Merged`] to combine two probes, and the scripted [`FakeProbe`] for tests.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::pressure::{LoadAverage, PsiShares};

/// What one probe read during one tick; `None` = not measured by this probe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Machine-wide CPU usage, `0.0..=1.0`.
    pub cpu_usage: Option<f32>,
    /// Available memory in bytes.
    pub memory_available: Option<u64>,
    /// Total memory in bytes.
    pub memory_total: Option<u64>,
    /// This process's resident set size in bytes.
    pub process_rss: Option<u64>,
    /// This process's storage reads, bytes per second.
    pub process_disk_read_per_sec: Option<u64>,
    /// This process's storage writes, bytes per second.
    pub process_disk_write_per_sec: Option<u64>,
    /// Load average.
    pub load_average: Option<LoadAverage>,
    /// PSI stall shares.
    pub psi: PsiShares,
}

impl Sample {
    /// Sets the CPU usage (builder style, for scripted samples).
    pub fn with_cpu(mut self, cpu_usage: f32) -> Self {
        self.cpu_usage = Some(cpu_usage);
        self
    }

    /// Sets available and total memory (builder style, for scripted samples).
    pub fn with_memory(mut self, available: u64, total: u64) -> Self {
        self.memory_available = Some(available);
        self.memory_total = Some(total);
        self
    }

    /// Sets the PSI shares (builder style, for scripted samples).
    pub fn with_psi(mut self, psi: PsiShares) -> Self {
        self.psi = psi;
        self
    }

    /// Field by field: `self`'s reading where it has one, otherwise `other`'s.
    pub fn or(self, other: Sample) -> Sample {
        Sample {
            cpu_usage: self.cpu_usage.or(other.cpu_usage),
            memory_available: self.memory_available.or(other.memory_available),
            memory_total: self.memory_total.or(other.memory_total),
            process_rss: self.process_rss.or(other.process_rss),
            process_disk_read_per_sec: self
                .process_disk_read_per_sec
                .or(other.process_disk_read_per_sec),
            process_disk_write_per_sec: self
                .process_disk_write_per_sec
                .or(other.process_disk_write_per_sec),
            load_average: self.load_average.or(other.load_average),
            psi: PsiShares {
                cpu: self.psi.cpu.or(other.psi.cpu),
                memory: self.psi.memory.or(other.psi.memory),
                io: self.psi.io.or(other.psi.io),
            },
        }
    }
}

/// Why a probe could not produce a sample.
#[derive(Debug)]
pub enum ProbeError {
    /// Reading a source failed (other than the source being absent).
    Io {
        /// The file or facility being read.
        source_name: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A source had content this crate does not understand.
    Malformed {
        /// The file or facility being read.
        source_name: String,
        /// What was wrong, with the offending text.
        detail: String,
    },
    /// sysinfo could not initialise or does not support this platform.
    Sysinfo(String),
    /// A [`FakeProbe`] script ran out (or scripted an error).
    Scripted(String),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Io { source_name, error } => write!(f, "reading {source_name}: {error}"),
            ProbeError::Malformed {
                source_name,
                detail,
            } => write!(f, "malformed {source_name}: {detail}"),
            ProbeError::Sysinfo(e) => write!(f, "sysinfo: {e}"),
            ProbeError::Scripted(e) => write!(f, "fake probe: {e}"),
        }
    }
}

impl std::error::Error for ProbeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProbeError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A source of resource readings, polled once per tick by the sampling thread.
pub trait Probe: Send {
    /// Reads the current values (rates are per second since the previous call).
    fn sample(&mut self) -> Result<Sample, ProbeError>;
}

impl<P: Probe + ?Sized> Probe for Box<P> {
    fn sample(&mut self) -> Result<Sample, ProbeError> {
        (**self).sample()
    }
}

/// Two probes read one after the other and merged with [`Sample::or`] (`first` wins
/// where both measure the same thing). Either probe's error fails the tick.
#[derive(Debug)]
pub struct Merged<A, B> {
    /// The preferred probe.
    pub first: A,
    /// The probe filling the gaps.
    pub second: B,
}

impl<A: Probe, B: Probe> Merged<A, B> {
    /// Combines `first` and `second`.
    pub fn new(first: A, second: B) -> Self {
        Merged { first, second }
    }
}

impl<A: Probe, B: Probe> Probe for Merged<A, B> {
    fn sample(&mut self) -> Result<Sample, ProbeError> {
        let a = self.first.sample()?;
        let b = self.second.sample()?;
        Ok(a.or(b))
    }
}

type Script = VecDeque<Result<Sample, String>>;

/// A scripted probe: returns queued samples in order; once the queue is empty it
/// repeats the last sample it returned (or errors if it never returned one).
///
/// Clones share the script, so a test can keep a clone and push more samples while a
/// [`ResourceMonitor`](crate::ResourceMonitor) owns the other.
///
/// ```
/// use taskweave_monitor::{FakeProbe, Probe, Sample};
///
/// let mut probe = FakeProbe::new([Sample::default().with_cpu(0.5)]);
/// assert_eq!(probe.sample().unwrap().cpu_usage, Some(0.5));
/// assert_eq!(probe.sample().unwrap().cpu_usage, Some(0.5)); // repeats the last one
/// ```
#[derive(Debug, Clone, Default)]
pub struct FakeProbe {
    script: Arc<Mutex<Script>>,
    last: Option<Sample>,
}

impl FakeProbe {
    /// A probe that will return `samples` in order.
    pub fn new(samples: impl IntoIterator<Item = Sample>) -> Self {
        FakeProbe {
            script: Arc::new(Mutex::new(samples.into_iter().map(Ok).collect())),
            last: None,
        }
    }

    /// Queues one more sample.
    pub fn push(&self, sample: Sample) {
        self.lock().push_back(Ok(sample));
    }

    /// Queues an error for one tick.
    pub fn push_error(&self, message: impl Into<String>) {
        self.lock().push_back(Err(message.into()));
    }

    /// Samples still queued.
    pub fn remaining(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Probe for FakeProbe {
    fn sample(&mut self) -> Result<Sample, ProbeError> {
        let next = self.lock().pop_front();
        match next {
            Some(Ok(sample)) => {
                self.last = Some(sample.clone());
                Ok(sample)
            }
            Some(Err(message)) => Err(ProbeError::Scripted(message)),
            None => self
                .last
                .clone()
                .ok_or_else(|| ProbeError::Scripted("empty script".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pressure::StallShare;

    #[test]
    fn fake_probe_plays_its_script_then_repeats() {
        let mut p = FakeProbe::default();
        assert!(matches!(p.sample(), Err(ProbeError::Scripted(_))));
        let handle = p.clone();
        handle.push(Sample::default().with_cpu(0.1));
        handle.push_error("boom");
        handle.push(Sample::default().with_cpu(0.2));
        assert_eq!(p.sample().unwrap().cpu_usage, Some(0.1));
        assert!(p.sample().is_err());
        assert_eq!(p.sample().unwrap().cpu_usage, Some(0.2));
        assert_eq!(p.sample().unwrap().cpu_usage, Some(0.2));
        assert_eq!(handle.remaining(), 0);
    }

    #[test]
    fn merged_prefers_the_first_probe_and_fills_gaps() {
        let share = StallShare {
            some: 0.3,
            full: None,
        };
        let a = FakeProbe::new([Sample::default().with_cpu(0.4)]);
        let b = FakeProbe::new([Sample::default().with_cpu(0.9).with_memory(1, 2).with_psi(
            PsiShares {
                cpu: Some(share),
                ..PsiShares::default()
            },
        )]);
        let s = Merged::new(a, b).sample().unwrap();
        assert_eq!(s.cpu_usage, Some(0.4));
        assert_eq!(s.memory_total, Some(2));
        assert_eq!(s.psi.cpu, Some(share));
        assert_eq!(s.psi.io, None);
    }
}
