//! Task metadata: the part of an ExecutableTask that the scheduler reads.
//!
//! Invariants:
//! - A [`TaskSpec`] is plain data (no future, no executor types); the executor keeps the
//!   future next to it.
//! - [`Priority`] orders numerically: a larger number is more urgent.
//! - [`TaskSpec::validate`] is the only check of field values; the dependency graph runs
//!   it on every spec of a batch before adding anything.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{SpecError, TaskId};

/// A task's dependency list: up to four ids are stored inline, so the common task
/// (a few dependencies) costs no allocation of its own — building a large graph is
/// then not dominated by one small allocation and free per task.
pub type Dependencies = smallvec::SmallVec<[TaskId; 4]>;

/// How urgent a task is: higher runs first. 256 levels; [`Default`] is
/// [`Priority::NORMAL`].
///
/// ```
/// use taskweave_scheduler::Priority;
///
/// assert!(Priority::HIGH > Priority::NORMAL);
/// assert_eq!(Priority::default(), Priority::NORMAL);
/// assert_eq!(Priority::new(200).get(), 200);
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(u8);

impl Priority {
    /// Background work (64).
    pub const LOW: Priority = Priority(64);
    /// The default (128).
    pub const NORMAL: Priority = Priority(128);
    /// Latency-sensitive work (192).
    pub const HIGH: Priority = Priority(192);
    /// The most urgent level (255).
    pub const CRITICAL: Priority = Priority(255);

    /// A priority level; 0 is the least urgent, 255 the most.
    #[inline]
    pub const fn new(level: u8) -> Self {
        Priority(level)
    }

    /// The level as a number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::NORMAL
    }
}

impl From<u8> for Priority {
    fn from(level: u8) -> Self {
        Priority(level)
    }
}

impl fmt::Debug for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Priority::LOW => f.write_str("Priority::LOW"),
            Priority::NORMAL => f.write_str("Priority::NORMAL"),
            Priority::HIGH => f.write_str("Priority::HIGH"),
            Priority::CRITICAL => f.write_str("Priority::CRITICAL"),
            Priority(p) => write!(f, "Priority({p})"),
        }
    }
}

/// What a task declares it needs while it runs. Admission control (the monitor crate)
/// compares this with the machine's budget; the scheduler only validates it.
///
/// Defaults: one core, no declared memory, no I/O.
///
/// ```
/// use taskweave_scheduler::ResourceRequirements;
///
/// let r = ResourceRequirements::new()
///     .cpu_cores(0.5)
///     .memory_bytes(64 << 20)
///     .io_intensity(0.8);
/// assert!(r.validate().is_ok());
/// assert!(ResourceRequirements::new().io_intensity(1.5).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResourceRequirements {
    /// CPU cores the task keeps busy (fractions allowed); finite and `>= 0`.
    pub cpu_cores: f32,
    /// Peak memory the task needs, in bytes.
    pub memory_bytes: u64,
    /// Share of its time the task waits on I/O, `0.0` (pure CPU) to `1.0` (pure I/O).
    pub io_intensity: f32,
}

impl ResourceRequirements {
    /// One core, no declared memory, no I/O.
    #[inline]
    pub const fn new() -> Self {
        ResourceRequirements {
            cpu_cores: 1.0,
            memory_bytes: 0,
            io_intensity: 0.0,
        }
    }

    /// Sets [`cpu_cores`](Self::cpu_cores).
    pub fn cpu_cores(mut self, cores: f32) -> Self {
        self.cpu_cores = cores;
        self
    }

    /// Sets [`memory_bytes`](Self::memory_bytes).
    pub const fn memory_bytes(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// Sets [`io_intensity`](Self::io_intensity).
    pub fn io_intensity(mut self, share: f32) -> Self {
        self.io_intensity = share;
        self
    }

    /// Checks that `cpu_cores` is finite and `>= 0` and `io_intensity` is in
    /// `0.0..=1.0` (NaN fails both).
    ///
    /// ```
    /// use taskweave_scheduler::{ResourceRequirements, SpecError};
    ///
    /// let nan = ResourceRequirements::new().cpu_cores(f32::NAN).validate();
    /// assert!(matches!(nan, Err(SpecError::InvalidCpuCores(_))));
    /// ```
    #[inline]
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(self.cpu_cores.is_finite() && self.cpu_cores >= 0.0) {
            return Err(SpecError::InvalidCpuCores(self.cpu_cores));
        }
        if !(0.0..=1.0).contains(&self.io_intensity) {
            return Err(SpecError::InvalidIoIntensity(self.io_intensity));
        }
        Ok(())
    }
}

impl Default for ResourceRequirements {
    fn default() -> Self {
        Self::new()
    }
}

/// The scheduling metadata of one task: identity, urgency, dependencies, the estimate
/// used for critical-path ranks, and declared resources.
///
/// Fields are public; the same-named methods are a builder.
///
/// ```
/// use std::time::{Duration, Instant};
/// use taskweave_scheduler::{Priority, TaskId, TaskSpec};
///
/// let spec = TaskSpec::new(TaskId::new(3))
///     .name("resize")
///     .priority(Priority::HIGH)
///     .deadline(Instant::now() + Duration::from_millis(50))
///     .dependencies([TaskId::new(1), TaskId::new(2)])
///     .estimated_duration(Duration::from_millis(4));
/// assert_eq!(spec.dependencies.len(), 2);
/// assert_eq!(spec.name.as_deref(), Some("resize"));
/// assert!(spec.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    /// The task's id, unique among the tasks a graph knows.
    pub id: TaskId,
    /// Base priority.
    pub priority: Priority,
    /// Soft deadline: raises the task's effective priority as it nears, and puts the
    /// task first once it is overdue. Not a timeout.
    pub deadline: Option<Instant>,
    /// Tasks that must succeed before this one may run.
    pub dependencies: Dependencies,
    /// Expected run time; only used for critical-path ranks (zero if unknown).
    pub estimated_duration: Duration,
    /// Declared resources.
    pub resources: ResourceRequirements,
    /// A human-readable name for error messages and diagnostics.
    pub name: Option<Arc<str>>,
}

impl TaskSpec {
    /// A spec with [`Priority::NORMAL`], no deadline, no dependencies, zero estimated
    /// duration, default resources and no name.
    #[inline]
    pub fn new(id: TaskId) -> Self {
        TaskSpec {
            id,
            priority: Priority::NORMAL,
            deadline: None,
            dependencies: Dependencies::new(),
            estimated_duration: Duration::ZERO,
            resources: ResourceRequirements::new(),
            name: None,
        }
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the deadline.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Adds one dependency.
    pub fn dependency(mut self, id: TaskId) -> Self {
        self.dependencies.push(id);
        self
    }

    /// Adds several dependencies.
    pub fn dependencies(mut self, ids: impl IntoIterator<Item = TaskId>) -> Self {
        self.dependencies.extend(ids);
        self
    }

    /// Sets the estimated duration.
    pub fn estimated_duration(mut self, estimate: Duration) -> Self {
        self.estimated_duration = estimate;
        self
    }

    /// Sets the resource requirements.
    pub fn resources(mut self, resources: ResourceRequirements) -> Self {
        self.resources = resources;
        self
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Checks the field values (currently the resources). Structural checks
    /// (duplicates, unknown dependencies, cycles) belong to the graph.
    #[inline]
    pub fn validate(&self) -> Result<(), SpecError> {
        self.resources.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_constants_and_debug() {
        assert_eq!(Priority::LOW.get(), 64);
        assert_eq!(Priority::NORMAL.get(), 128);
        assert_eq!(Priority::HIGH.get(), 192);
        assert_eq!(Priority::CRITICAL.get(), 255);
        assert_eq!(format!("{:?}", Priority::HIGH), "Priority::HIGH");
        assert_eq!(format!("{:?}", Priority::new(3)), "Priority(3)");
    }

    #[test]
    fn resource_validation() {
        let ok = ResourceRequirements::new();
        assert!(ok.validate().is_ok());
        assert!(ok.cpu_cores(0.0).io_intensity(1.0).validate().is_ok());
        for bad in [-0.5, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                ok.cpu_cores(bad).validate(),
                Err(SpecError::InvalidCpuCores(_))
            ));
        }
        for bad in [-0.1, 1.01, f32::NAN] {
            assert!(matches!(
                ok.io_intensity(bad).validate(),
                Err(SpecError::InvalidIoIntensity(_))
            ));
        }
    }

    #[test]
    fn builder_sets_fields() {
        let now = Instant::now();
        let s = TaskSpec::new(TaskId::new(1))
            .priority(Priority::LOW)
            .deadline(now)
            .dependency(TaskId::new(0))
            .estimated_duration(Duration::from_secs(1))
            .resources(ResourceRequirements::new().memory_bytes(10))
            .name("x");
        assert_eq!(s.priority, Priority::LOW);
        assert_eq!(s.deadline, Some(now));
        assert_eq!(s.dependencies.as_slice(), [TaskId::new(0)]);
        assert_eq!(s.resources.memory_bytes, 10);
        let bad = s.resources(ResourceRequirements::new().io_intensity(3.0));
        assert!(bad.validate().is_err());
    }
}
