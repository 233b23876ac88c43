//! [`Admission`]: holds back work whose declared CPU/memory does not fit the budget.
//!
//! Invariants:
//! - Amounts are accounted in whole units: cores in millicores (nearest) and memory
//!   in bytes, so releasing exactly undoes admitting (no float drift).
//! - `used ≤ budget ≤ capacity` holds after every `try_admit`; lowering the budget (from
//!   pressure) can leave `used > budget` until permits drop, never admits past it.
//! - `capacity` is what the machine could ever give. A request above it is
//!   [`Refusal::Never`] (reject at submit); a request that fits the capacity but not the
//!   current headroom is [`Refusal::WouldExceed`] (wait).
//! - Every [`Permit`] releases exactly what it took, once, when dropped.
//! - The pending queue holds at most `pending_capacity` items and is ordered by priority
//!   (higher `u8` first), FIFO among equal priorities. [`Admission::pop_admissible`] only
//!   ever takes the head: a big high-priority request is not starved by small
//!   lower-priority ones slipping past it.
//! - One mutex guards the ledger, one the queue; when both are needed the queue lock is
//!   taken first. Permits only take the ledger lock.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::pressure::Pressure;

/// What a task declares it needs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Requirements {
    /// CPU cores kept busy (fractions allowed; negative or NaN counts as 0).
    pub cores: f32,
    /// Peak memory in bytes.
    pub memory: u64,
}

impl Requirements {
    /// `cores` cores and `memory` bytes.
    pub fn new(cores: f32, memory: u64) -> Self {
        Requirements { cores, memory }
    }
}

/// An amount of cores and memory (a capacity, budget or usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Budget {
    /// Thousandths of a core.
    pub millicores: u64,
    /// Bytes.
    pub memory: u64,
}

impl Budget {
    /// `cores` cores (to the nearest millicore) and `memory` bytes.
    pub fn new(cores: f32, memory: u64) -> Self {
        Budget {
            millicores: millicores(cores),
            memory,
        }
    }

    /// This machine: its available parallelism and `memory_total` bytes.
    pub fn machine(memory_total: u64) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Budget {
            millicores: cores as u64 * 1000,
            memory: memory_total,
        }
    }

    fn fits(&self, used: &Budget, extra: &Budget) -> bool {
        used.millicores.saturating_add(extra.millicores) <= self.millicores
            && used.memory.saturating_add(extra.memory) <= self.memory
    }
}

fn millicores(cores: f32) -> u64 {
    if cores.is_nan() || cores <= 0.0 {
        0
    } else {
        (f64::from(cores) * 1000.0).round().min(u64::MAX as f64) as u64
    }
}

/// Why [`Admission::try_admit`] did not admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Fits the machine but not what is free now: wait for permits to be released.
    WouldExceed,
    /// More than the machine could ever give: reject at submit.
    Never,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::WouldExceed => f.write_str("resources busy: the request must wait"),
            Refusal::Never => f.write_str("the request exceeds the machine's capacity"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Why [`Admission::try_enqueue`] did not queue; the item is handed back.
#[derive(Debug, PartialEq, Eq)]
pub enum EnqueueError<T> {
    /// The pending queue is full: backpressure, try again later.
    Full(T),
    /// The request could never be admitted.
    Never(T),
}

impl<T> EnqueueError<T> {
    /// The item that was not queued.
    pub fn into_inner(self) -> T {
        match self {
            EnqueueError::Full(t) | EnqueueError::Never(t) => t,
        }
    }
}

impl<T> fmt::Display for EnqueueError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnqueueError::Full(_) => f.write_str("the pending queue is full"),
            EnqueueError::Never(_) => f.write_str("the request exceeds the machine's capacity"),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for EnqueueError<T> {}

#[derive(Debug)]
struct Ledger {
    capacity: Budget,
    budget: Budget,
    used: Budget,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Resources held by one admitted task; released on drop.
#[derive(Debug)]
pub struct Permit {
    ledger: Arc<Mutex<Ledger>>,
    taken: Budget,
}

impl Permit {
    /// What this permit holds.
    pub fn amount(&self) -> Budget {
        self.taken
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut l = lock(&self.ledger);
        l.used.millicores -= self.taken.millicores;
        l.used.memory -= self.taken.memory;
    }
}

struct Pending<T> {
    priority: u8,
    seq: u64,
    need: Budget,
    item: T,
}

impl<T> PartialEq for Pending<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Pending<T> {}
impl<T> PartialOrd for Pending<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Pending<T> {
    /// Max-heap order: higher priority, then older (smaller `seq`) first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

struct Queue<T> {
    heap: BinaryHeap<Pending<T>>,
    next_seq: u64,
}

/// A cores/memory budget with a bounded, priority-ordered queue of waiting items.
/// Cloning gives another handle to the same budget and queue.
///
/// ```
/// use taskweave_monitor::{Admission, Budget, Refusal, Requirements};
///
/// let admission: Admission<&str> = Admission::new(Budget::new(2.0, 1 << 30), 8);
/// let big = admission.try_admit(Requirements::new(1.5, 512 << 20)).unwrap();
/// assert_eq!(admission.try_admit(Requirements::new(1.0, 0)).unwrap_err(), Refusal::WouldExceed);
/// assert_eq!(admission.try_admit(Requirements::new(4.0, 0)).unwrap_err(), Refusal::Never);
/// drop(big); // releases its share
/// assert!(admission.try_admit(Requirements::new(1.0, 0)).is_ok());
/// ```
pub struct Admission<T> {
    ledger: Arc<Mutex<Ledger>>,
    queue: Arc<Mutex<Queue<T>>>,
    pending_capacity: usize,
}

impl<T> Clone for Admission<T> {
    fn clone(&self) -> Self {
        Admission {
            ledger: Arc::clone(&self.ledger),
            queue: Arc::clone(&self.queue),
            pending_capacity: self.pending_capacity,
        }
    }
}

impl<T> fmt::Debug for Admission<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admission")
            .field("ledger", &*lock(&self.ledger))
            .field("pending", &self.pending_len())
            .field("pending_capacity", &self.pending_capacity)
            .finish()
    }
}

impl<T> Admission<T> {
    /// Budget = capacity = `capacity`; at most `pending_capacity` waiting items.
    pub fn new(capacity: Budget, pending_capacity: usize) -> Self {
        Admission {
            ledger: Arc::new(Mutex::new(Ledger {
                capacity,
                budget: capacity,
                used: Budget::default(),
            })),
            queue: Arc::new(Mutex::new(Queue {
                heap: BinaryHeap::new(),
                next_seq: 0,
            })),
            pending_capacity,
        }
    }

    /// Sets the current budget (clamped to the capacity).
    pub fn set_budget(&self, budget: Budget) {
        let mut l = lock(&self.ledger);
        l.budget = Budget {
            millicores: budget.millicores.min(l.capacity.millicores),
            memory: budget.memory.min(l.capacity.memory),
        };
    }

    /// Derives the memory budget from a pressure snapshot: what our permits hold plus
    /// what the machine has available, minus `headroom` (a fraction of total memory kept
    /// free, e.g. 0.1), clamped to the capacity. Without a memory reading the budget is
    /// left alone. Cores stay at capacity: CPU is time-shared, and backing off under CPU
    /// pressure is the [`ConcurrencyController`](crate::ConcurrencyController)'s job.
    ///
    /// This assumes admitted tasks have already allocated what they declared (so they
    /// are not counted twice); tasks that have not yet allocated make it optimistic for
    /// up to one sampling interval.
    pub fn update_from_pressure(&self, pressure: &Pressure, headroom: f32) {
        if pressure.memory_total == 0 {
            return;
        }
        let mut l = lock(&self.ledger);
        let reserve = (pressure.memory_total as f64 * f64::from(headroom.clamp(0.0, 1.0))) as u64;
        let memory = l
            .used
            .memory
            .saturating_add(pressure.memory_available)
            .saturating_sub(reserve)
            .min(l.capacity.memory);
        l.budget = Budget {
            millicores: l.capacity.millicores,
            memory,
        };
    }

    /// The machine capacity.
    pub fn capacity(&self) -> Budget {
        lock(&self.ledger).capacity
    }

    /// The current budget.
    pub fn budget(&self) -> Budget {
        lock(&self.ledger).budget
    }

    /// What live permits hold.
    pub fn used(&self) -> Budget {
        lock(&self.ledger).used
    }

    /// Admits now if `req` fits the free budget.
    pub fn try_admit(&self, req: Requirements) -> Result<Permit, Refusal> {
        self.admit_budget(Budget::new(req.cores, req.memory))
    }

    fn admit_budget(&self, need: Budget) -> Result<Permit, Refusal> {
        let mut l = lock(&self.ledger);
        if !l.capacity.fits(&Budget::default(), &need) {
            return Err(Refusal::Never);
        }
        if !l.budget.fits(&l.used, &need) {
            return Err(Refusal::WouldExceed);
        }
        l.used.millicores += need.millicores;
        l.used.memory += need.memory;
        Ok(Permit {
            ledger: Arc::clone(&self.ledger),
            taken: need,
        })
    }

    /// Queues `item` to wait for `req` at `priority` (higher first). Errors are
    /// backpressure ([`EnqueueError::Full`]) or an impossible request
    /// ([`EnqueueError::Never`]).
    pub fn try_enqueue(
        &self,
        item: T,
        req: Requirements,
        priority: u8,
    ) -> Result<(), EnqueueError<T>> {
        let need = Budget::new(req.cores, req.memory);
        if !self.capacity().fits(&Budget::default(), &need) {
            return Err(EnqueueError::Never(item));
        }
        let mut q = lock(&self.queue);
        if q.heap.len() >= self.pending_capacity {
            return Err(EnqueueError::Full(item));
        }
        let seq = q.next_seq;
        q.next_seq += 1;
        q.heap.push(Pending {
            priority,
            seq,
            need,
            item,
        });
        Ok(())
    }

    /// Admits the highest-priority waiting item if it fits now.
    pub fn pop_admissible(&self) -> Option<(T, Permit)> {
        let mut q = lock(&self.queue);
        let head = q.heap.peek()?;
        let permit = self.admit_budget(head.need).ok()?;
        let pending = q.heap.pop()?;
        Some((pending.item, permit))
    }

    /// Admits waiting items in priority order until the head does not fit.
    pub fn drain_admissible(&self) -> Vec<(T, Permit)> {
        std::iter::from_fn(|| self.pop_admissible()).collect()
    }

    /// Items waiting.
    pub fn pending_len(&self) -> usize {
        lock(&self.queue).heap.len()
    }

    /// The most items that may wait.
    pub fn pending_capacity(&self) -> usize {
        self.pending_capacity
    }
}
