//! Linux pressure stall information (PSI): parsing and per-tick stall shares.
//!
//! Format (kernel `Documentation/accounting/psi.rst`), one file per resource, system-wide
//! in `/proc/pressure/{cpu,memory,io}` and per cgroup v2 in `{cpu,memory,io}.pressure`:
//!
//! ```text
//! some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//! full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//! ```
//!
//! Invariants:
//! - Only `total=` (cumulative stall time in microseconds) is used; the `avg*` fields are
//!   exponentially smoothed and lag by seconds. The share for a tick is
//!   `Δtotal / Δwall`, clamped to `0.0..=1.0`; a counter that goes backwards counts as 0.
//! - The first reading of a source gives no share (nothing to take a difference from).
//! - An absent file (`NotFound`) or PSI switched off in the kernel (`EOPNOTSUPP`) makes
//!   that resource's share `None`, not an error. A file with a line that is not `some …`
//!   / `full …`, a missing or non-numeric `total=`, or no `some` line is
//!   [`ProbeError::Malformed`].
//! - Source choice: the cgroup v2 file of this process's cgroup when it exists (it is what
//!   limits us in a container), otherwise the system-wide file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::pressure::{PsiShares, StallShare};
use crate::probe::{Probe, ProbeError, Sample};

/// Cumulative stall times of one PSI file, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PsiTotals {
    /// `total=` of the `some` line.
    pub some: u64,
    /// `total=` of the `full` line, if the file has one.
    pub full: Option<u64>,
}

/// Parses the text of one PSI file; `source_name` only labels errors.
///
/// ```
/// use taskweave_monitor::psi::{parse_psi, PsiTotals};
///
/// let text = "some avg10=1.00 avg60=0.50 avg300=0.10 total=1500\n\
///             full avg10=0.00 avg60=0.00 avg300=0.00 total=20\n";
/// assert_eq!(parse_psi(text, "io").unwrap(), PsiTotals { some: 1500, full: Some(20) });
/// assert!(parse_psi("some avg10=1.00", "io").is_err());
/// ```
pub fn parse_psi(text: &str, source_name: &str) -> Result<PsiTotals, ProbeError> {
    let malformed = |detail: String| ProbeError::Malformed {
        source_name: source_name.to_owned(),
        detail,
    };
    let mut some = None;
    let mut full = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_ascii_whitespace();
        let slot = match words.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => return Err(malformed(format!("unexpected line {line:?}"))),
        };
        let total = words
            .find_map(|w| w.strip_prefix("total="))
            .ok_or_else(|| malformed(format!("no total= in {line:?}")))?;
        let total = total
            .parse::<u64>()
            .map_err(|e| malformed(format!("total={total:?} in {line:?}: {e}")))?;
        *slot = Some(total);
    }
    let some = some.ok_or_else(|| malformed("no `some` line".to_owned()))?;
    Ok(PsiTotals { some, full })
}

/// `Δtotal / Δwall` as a fraction in `0.0..=1.0`; `0.0` for an empty interval or a
/// counter that went backwards.
///
/// ```
/// use std::time::Duration;
/// use taskweave_monitor::psi::stall_share;
///
/// // 50 ms of stall in a 200 ms tick.
/// assert_eq!(stall_share(1_000_000, 1_050_000, Duration::from_millis(200)), 0.25);
/// ```
pub fn stall_share(previous_us: u64, current_us: u64, wall: Duration) -> f32 {
    let wall_us = wall.as_micros();
    if wall_us == 0 {
        return 0.0;
    }
    let stalled = current_us.saturating_sub(previous_us) as f64;
    (stalled / wall_us as f64).clamp(0.0, 1.0) as f32
}

/// One PSI file and its previous reading.
#[derive(Debug, Clone)]
struct PsiSource {
    path: Option<PathBuf>,
    previous: Option<(PsiTotals, Instant)>,
}

impl PsiSource {
    fn new(path: Option<PathBuf>) -> Self {
        PsiSource {
            path,
            previous: None,
        }
    }

    /// Reads the file at `now` and returns the share since the previous reading.
    fn tick(&mut self, now: Instant) -> Result<Option<StallShare>, ProbeError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Unsupported) => {
                self.previous = None;
                return Ok(None);
            }
            Err(error) => {
                return Err(ProbeError::Io {
                    source_name: name,
                    error,
                })
            }
        };
        let totals = parse_psi(&text, &name)?;
        let share = self.previous.map(|(prev, at)| {
            let wall = now.saturating_duration_since(at);
            StallShare {
                some: stall_share(prev.some, totals.some, wall),
                full: match (prev.full, totals.full) {
                    (Some(p), Some(c)) => Some(stall_share(p, c, wall)),
                    _ => None,
                },
            }
        });
        self.previous = Some((totals, now));
        Ok(share)
    }
}

/// Where [`PsiProbe`] reads from; `None` = not available.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PsiPaths {
    /// CPU pressure file.
    pub cpu: Option<PathBuf>,
    /// Memory pressure file.
    pub memory: Option<PathBuf>,
    /// I/O pressure file.
    pub io: Option<PathBuf>,
}

impl PsiPaths {
    /// The files of this process's cgroup v2 where present, else `/proc/pressure/*`.
    /// Files are not checked for existence here; a missing one reads as `None`.
    pub fn discover() -> Self {
        let cgroup = own_cgroup_dir();
        let pick = |resource: &str| {
            if let Some(dir) = &cgroup {
                let file = dir.join(format!("{resource}.pressure"));
                if file.exists() {
                    return Some(file);
                }
            }
            Some(Path::new("/proc/pressure").join(resource))
        };
        PsiPaths {
            cpu: pick("cpu"),
            memory: pick("memory"),
            io: pick("io"),
        }
    }

    /// The three files `{cpu,memory,io}.pressure` of a cgroup v2 directory.
    pub fn cgroup(dir: &Path) -> Self {
        PsiPaths {
            cpu: Some(dir.join("cpu.pressure")),
            memory: Some(dir.join("memory.pressure")),
            io: Some(dir.join("io.pressure")),
        }
    }
}

/// This process's cgroup v2 directory under `/sys/fs/cgroup`, from `/proc/self/cgroup`'s
/// `0::/path` line; `None` off Linux, on cgroup v1, or for the root cgroup.
fn own_cgroup_dir() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let rel = rel.trim_start_matches('/');
    (!rel.is_empty()).then(|| Path::new("/sys/fs/cgroup").join(rel))
}

/// PSI stall shares per tick for cpu, memory and io.
#[derive(Debug, Clone)]
pub struct PsiProbe {
    cpu: PsiSource,
    memory: PsiSource,
    io: PsiSource,
}

impl PsiProbe {
    /// A probe on the discovered files ([`PsiPaths::discover`]), primed with a first
    /// reading so that the next sample already has shares.
    pub fn discover() -> Result<Self, ProbeError> {
        let mut probe = PsiProbe::with_paths(PsiPaths::discover());
        probe.sample_at(Instant::now())?;
        Ok(probe)
    }

    /// A probe on explicit files, not primed (the first sample has no shares).
    pub fn with_paths(paths: PsiPaths) -> Self {
        PsiProbe {
            cpu: PsiSource::new(paths.cpu),
            memory: PsiSource::new(paths.memory),
            io: PsiSource::new(paths.io),
        }
    }

    /// Reads all three files as of `now` (the wall time used for Δwall).
    pub fn sample_at(&mut self, now: Instant) -> Result<Sample, ProbeError> {
        Ok(Sample::default().with_psi(PsiShares {
            cpu: self.cpu.tick(now)?,
            memory: self.memory.tick(now)?,
            io: self.io.tick(now)?,
        }))
    }
}

impl Probe for PsiProbe {
    fn sample(&mut self) -> Result<Sample, ProbeError> {
        self.sample_at(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const PROC_CPU: &str = "some avg10=0.69 avg60=5.11 avg300=9.16 total=880601464\n\
                            full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    const OLD_KERNEL_CPU: &str = "some avg10=0.10 avg60=0.20 avg300=0.30 total=42\n";
    const CGROUP_MEM: &str = "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345\n\
                              full avg10=0.00 avg60=0.00 avg300=0.00 total=678\n";

    #[test]
    fn parses_some_and_full_lines() {
        assert_eq!(
            parse_psi(PROC_CPU, "cpu").unwrap(),
            PsiTotals {
                some: 880_601_464,
                full: Some(0)
            }
        );
        assert_eq!(
            parse_psi(CGROUP_MEM, "memory.pressure").unwrap(),
            PsiTotals {
                some: 12345,
                full: Some(678)
            }
        );
        assert_eq!(
            parse_psi(OLD_KERNEL_CPU, "cpu").unwrap(),
            PsiTotals {
                some: 42,
                full: None
            }
        );
    }

    #[test]
    fn malformed_text_is_a_clear_error() {
        for (text, needle) in [
            ("", "no `some` line"),
            ("full avg10=0 total=3\n", "no `some` line"),
            ("some avg10=0.00 avg60=0.00\n", "no total="),
            ("some avg10=0.00 total=abc\n", "total=\"abc\""),
            ("some total=-5\n", "total=\"-5\""),
            ("partial avg10=0.00 total=1\n", "unexpected line"),
        ] {
            let err = parse_psi(text, "cpu").unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, ProbeError::Malformed { .. }), "{text:?}");
            assert!(msg.contains(needle), "{text:?}: {msg}");
            assert!(msg.contains("cpu"), "{msg}");
        }
    }

    #[test]
    fn stall_share_is_delta_total_over_delta_wall() {
        let ms = Duration::from_millis;
        assert_eq!(stall_share(100, 100, ms(200)), 0.0);
        assert_eq!(stall_share(0, 100_000, ms(200)), 0.5);
        assert_eq!(stall_share(0, 400_000, ms(200)), 1.0); // clamped
        assert_eq!(stall_share(500, 100, ms(200)), 0.0); // counter went backwards
        assert_eq!(stall_share(0, 100, Duration::ZERO), 0.0);
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "taskweave-monitor-psi-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn psi_text(some: u64, full: u64) -> String {
        format!(
            "some avg10=0.00 avg60=0.00 avg300=0.00 total={some}\n\
             full avg10=0.00 avg60=0.00 avg300=0.00 total={full}\n"
        )
    }

    #[test]
    fn probe_turns_total_changes_into_shares_and_missing_files_into_none() {
        let dir = temp_dir("delta");
        // A cgroup with memory.pressure and cpu.pressure but no io.pressure.
        fs::write(dir.join("cpu.pressure"), psi_text(1_000, 0)).unwrap();
        fs::write(dir.join("memory.pressure"), psi_text(0, 0)).unwrap();
        let mut probe = PsiProbe::with_paths(PsiPaths::cgroup(&dir));
        let t0 = Instant::now();

        let first = probe.sample_at(t0).unwrap();
        assert_eq!(first.psi, PsiShares::default(), "no previous reading yet");

        fs::write(dir.join("cpu.pressure"), psi_text(1_000 + 250_000, 50_000)).unwrap();
        fs::write(dir.join("memory.pressure"), psi_text(100_000, 0)).unwrap();
        let second = probe.sample_at(t0 + Duration::from_millis(500)).unwrap();
        assert_eq!(
            second.psi.cpu,
            Some(StallShare {
                some: 0.5,
                full: Some(0.1)
            })
        );
        assert_eq!(
            second.psi.memory,
            Some(StallShare {
                some: 0.2,
                full: Some(0.0)
            })
        );
        assert_eq!(second.psi.io, None);

        fs::write(dir.join("io.pressure"), "garbage\n").unwrap();
        let err = probe.sample_at(t0 + Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("io.pressure"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_paths_means_no_shares() {
        let mut probe = PsiProbe::with_paths(PsiPaths::default());
        assert_eq!(
            probe.sample_at(Instant::now()).unwrap().psi,
            PsiShares::default()
        );
    }

    #[test]
    fn discovered_system_files_parse_where_present() {
        // Not an assertion about this machine having PSI: absent files are fine.
        let mut probe = PsiProbe::discover().unwrap();
        probe.sample().unwrap();
    }
}
