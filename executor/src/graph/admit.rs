//! The monitor's gate for ExecutableTasks: in-flight permits, resource admission, the
//! priority-ordered wait for a permit, and the bound on pending tasks (backpressure).
//!
//! Where it acts: each ExecutableTask's runner (`run.rs`) holds a [`Ticket`]. On the
//! task's first poll — after the ready heap picked it, before its body runs — the
//! ticket must take a permit: a free in-flight slot (`in_flight < limit`, the limit set
//! by the [`ConcurrencyController`] each monitor tick) and, for a task that declared
//! resources, a share of the cores/memory budget ([`Admission`]). Without one the task
//! waits here (its poll returns `Pending`) and is woken with the permit already
//! granted. Only that first start is gated: once started, a task's wake-ups never are,
//! and plain `spawn` never meets the gate. Gating at start, not at submit, means a
//! dependent submitted before its dependency holds nothing while it waits for it.
//!
//! The budget ledger is the monitor crate's [`Admission`]; the wait queue is the
//! gate's own (`admit/wait.rs`), because what waits is a parked task (its waker),
//! granted in place. A task's side of all this, its ticket, is in `admit/ticket.rs`.
//!
//! The counters every task writes live in one atomic word, the *state* (layout in
//! `backlog.rs`, which shares it): the permits held (`in_flight`), the `QUEUED` flag
//! (the wait queue is not empty) and the backlog's pending count. The common start —
//! a task that declared nothing, a free slot, nobody waiting — is one CAS of the state
//! (take a slot, leave the backlog); the common end is one `fetch_sub` of it plus the
//! completion count on the same cache line. No fence, no lock, no clock (but for the
//! sampled starts). On a worker running a batch of such tasks, even that is batched:
//! an end leaves its permit in the worker's ledger for the worker's next start, and
//! the ledger hands on leavings and completions every few tasks (`admit/ledger.rs`),
//! as long as nobody waits.
//!
//! Invariants:
//! - `in_flight` counts the permits held (granted and not yet released); a permit is
//!   taken only while `in_flight < limit` and, for declared needs, while they fit the
//!   budget. Lowering the limit never revokes a permit: `in_flight` drains to it. The
//!   state counts at most `IN_FLIGHT_MAX` (2^24 − 1) permits; a higher limit acts as
//!   that one.
//! - Waiting is ordered by the task's base priority, higher first, FIFO within a
//!   priority. Only the head is ever granted (a big high-priority task is not starved
//!   by smaller ones slipping past), and while anything waits a newly started task
//!   queues behind it instead of taking a free slot: the start's CAS fails while
//!   `QUEUED` is set, so that check and the slot are one atomic step.
//! - `QUEUED` is set exactly while the wait queue holds entries (abandoned ones
//!   included): it is changed only under the queue lock, when an entry goes into an
//!   empty queue or the last one leaves it.
//! - Every permit is released exactly once: when the task reports its end
//!   ([`Ticket::finish`]), or when its runner is dropped (cancelled, shut down), which
//!   ends its ticket with [`Ticket::abandon`]. A ticket holds no reference to the gate
//!   (its holder passes it in; the runner borrows it from its runtime, which its
//!   task's scheduler keeps alive: see `run.rs`), so it cannot give anything back by
//!   itself: dropping one that still holds something is a bug (a debug assertion). A
//!   release grants what it freed to the waiting head(s) *before* anyone else can take
//!   it (hand-off: starters other than the head stay out while `QUEUED` is set), then
//!   wakes them; a woken task finds its permit in its waiter slot.
//! - No lost wake-up, with no fence: a releaser decrements `in_flight` with an RMW of
//!   the state and reads `QUEUED` in the value that RMW returned; a waiter, under the
//!   queue lock, sets `QUEUED` with an RMW of the state and then tries to take a slot
//!   (a CAS of the state). RMWs of one word are totally ordered (its modification
//!   order), and each reads the latest value in that order: if the release comes
//!   first, the waiter's CAS sees the freed slot; if the flag comes first, the releaser
//!   sees it and grants under the lock, after the waiter's attempt. (The `gate` models
//!   in `loom-tests/` check the hand-off; they fail if the flag is set after the
//!   attempt.) A monitor tick takes the queue lock after it stores a new limit, so a
//!   waiter queued before it is granted by it and one queued after sees the limit.
//! - Lock order: the wait queue, then a waiter's slot, then the admission ledger. Wakers
//!   are woken with no lock held.
//! - The backlog (`backlog.rs`) counts submitted tasks that have not started: every
//!   ticket leaves it exactly once, when it gets its permit or is abandoned unstarted.
//!   (A `TaskGraph` reserves its tasks' room when it submits them, or just before it
//!   drops them unsubmitted, so that leaving always balances.)
//! - After [`Gate::close`] (runtime shutdown) nothing is granted; waiters and
//!   submitters waiting for room are released (their tasks are cancelled by shutdown).

use std::time::{Duration, Instant};

use taskweave_monitor::{
    Admission, Budget, ConcurrencyController, ControllerConfig, Decision, Permit, Pressure,
    Requirements,
};
use taskweave_scheduler::TaskSpec;

use crossbeam_utils::CachePadded;

use super::backlog::{Backlog, IN_FLIGHT_MASK, IN_FLIGHT_MAX, QUEUED};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};

use Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

/// What a task holds while it runs (zero for a task that declared nothing).
pub(crate) type Needs = Requirements;

/// How the gate is set up (derived from `MonitorConfig` at build time).
pub(crate) struct GateConfig {
    pub(crate) controller: ControllerConfig,
    /// The most cores/memory declared tasks may hold at once.
    pub(crate) capacity: Budget,
    /// Share of total memory kept free when the budget follows pressure.
    pub(crate) memory_headroom: f32,
    pub(crate) pending_capacity: usize,
    /// The runtime's workers (one ledger each, `admit/ledger.rs`).
    pub(crate) workers: usize,
}

/// A held permit: an in-flight slot and, for declared needs, the admission share.
pub(crate) struct Running {
    /// Boxed: only tasks that declared resources have one, and the ticket lives in
    /// every ExecutableTask's cell.
    permit: Option<Box<Permit>>,
    /// When it was granted, for sampled tasks only: one start in [`LATENCY_SAMPLE`]
    /// per thread, and the first start after each tick (reading the clock at every
    /// start and end would cost more than the rest of the gate).
    since: Option<Instant>,
}

/// One started task in this many (per thread) has its latency measured.
#[cfg(not(taskweave_loom))]
const LATENCY_SAMPLE: u32 = 16;

// Not part of any concurrency protocol (a per-thread sampling counter), so std's.
#[cfg(not(taskweave_loom))]
std::thread_local! {
    static STARTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// True for one call in [`LATENCY_SAMPLE`] on this thread. Under loom always false:
/// loom runs every execution on one OS thread, so the counter would carry over from
/// one execution to the next and make them differ.
#[cfg(taskweave_loom)]
fn sample_latency() -> bool {
    false
}

/// True for one call in [`LATENCY_SAMPLE`] on this thread.
#[cfg(not(taskweave_loom))]
fn sample_latency() -> bool {
    STARTS
        .try_with(|n| {
            let next = n.get().wrapping_add(1);
            n.set(next);
            next % LATENCY_SAMPLE == 0
        })
        .unwrap_or(false)
}

/// The sampled completions since the runtime started and their summed latencies
/// (cumulative; each tick takes the difference). The completion count itself is in
/// [`Counts`](super::backlog::Counts).
#[derive(Default)]
struct Sampled {
    count: AtomicU64,
    nanos: AtomicU64,
}

impl Sampled {
    /// Adds `count` latencies summing to `nanos`: the sum first, then the count
    /// (release), which a tick reads first (acquire).
    fn add(&self, count: u64, nanos: u64) {
        self.nanos.fetch_add(nanos, Relaxed);
        self.count.fetch_add(count, Release);
    }
}

/// The latency of a task granted its permit at `since`, in nanoseconds.
fn latency_nanos(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The controller and what it was last told.
struct Ticks {
    controller: ConcurrencyController,
    seen_count: u64,
    seen_sampled: u64,
    seen_sampled_nanos: u64,
    /// The latest sampled mean latency, standing in for ticks without a sample.
    mean_latency: Option<Duration>,
}

/// The gate of one runtime (shared by its runners and the monitor's tick hook).
///
/// What every task writes (the state word: in-flight count, `QUEUED`, pending count;
/// and the completion count) is one cache line, `backlog.counts`; the sampled
/// latencies have another; the rest is read-mostly.
pub(crate) struct Gate {
    sampled: CachePadded<Sampled>,
    /// The controller's limit (the state counts at most [`IN_FLIGHT_MAX`] permits: a
    /// higher limit acts as that one).
    limit: AtomicUsize,
    /// Tasks waiting for a permit (abandoned ones excluded).
    waiting: AtomicUsize,
    queue: Mutex<WaitQueue>,
    admission: Admission<()>,
    memory_headroom: f32,
    ticks: Mutex<Ticks>,
    /// Submitted tasks not yet started (backpressure); holds the state word.
    pub(crate) backlog: Backlog,
    closed: AtomicBool,
    /// The most permits ever held at once, and since the last tick.
    peak_in_flight: AtomicUsize,
    tick_peak: AtomicUsize,
    /// Permits released without a completion (the task was cancelled or dropped).
    abandoned: AtomicU64,
    /// Set each tick: the next start measures its latency.
    sample_next: AtomicBool,
    /// One per worker: what its starts and ends hold back from the state
    /// (`admit/ledger.rs`).
    ledgers: Box<[CachePadded<Ledger>]>,
}

/// A snapshot of the gate's counters (see `MonitorStatus`).
pub(crate) struct GateCounts {
    pub(crate) limit: usize,
    pub(crate) in_flight: usize,
    pub(crate) peak_in_flight: usize,
    pub(crate) waiting: usize,
    pub(crate) pending: usize,
    pub(crate) pending_capacity: usize,
    pub(crate) started: u64,
    pub(crate) completed: u64,
    pub(crate) budget: Budget,
    pub(crate) capacity: Budget,
    pub(crate) used: Budget,
    pub(crate) limit_changes: u64,
    pub(crate) last_decision: Decision,
}

mod ledger;
mod ticket;
mod wait;

use ledger::Ledger;

pub(crate) use ticket::{Pending, Ticket};
use wait::{Entry, WaitQueue, WaitState, Waiter};

fn needs_ledger(need: &Requirements) -> bool {
    need.cores > 0.0 || need.memory > 0
}

impl Gate {
    pub(crate) fn new(config: GateConfig) -> Gate {
        let controller = ConcurrencyController::new(config.controller);
        Gate {
            sampled: CachePadded::new(Sampled::default()),
            limit: AtomicUsize::new(controller.limit()),
            waiting: AtomicUsize::new(0),
            queue: Mutex::new(WaitQueue::default()),
            admission: Admission::new(config.capacity, 0),
            memory_headroom: config.memory_headroom,
            ticks: Mutex::new(Ticks {
                controller,
                seen_count: 0,
                seen_sampled: 0,
                seen_sampled_nanos: 0,
                mean_latency: None,
            }),
            backlog: Backlog::new(config.pending_capacity),
            closed: AtomicBool::new(false),
            peak_in_flight: AtomicUsize::new(0),
            tick_peak: AtomicUsize::new(0),
            abandoned: AtomicU64::new(0),
            sample_next: AtomicBool::new(true),
            ledgers: (0..config.workers)
                .map(|_| CachePadded::default())
                .collect(),
        }
    }

    /// What `spec` holds while it runs: for a task that declared resources, its cores
    /// (`cpu_cores × (1 − io_intensity)`, the cores it keeps busy on average) and its
    /// memory; for any other task nothing but its in-flight slot. `Err` (with the
    /// reason) if that could never fit the capacity.
    pub(crate) fn requirements(
        &self,
        spec: &TaskSpec,
        declared: bool,
    ) -> Result<Requirements, String> {
        if !declared {
            return Ok(Requirements::default());
        }
        let r = spec.resources;
        let cores = r.cpu_cores * (1.0 - r.io_intensity);
        let need = Requirements::new(cores, r.memory_bytes);
        let capacity = self.admission.capacity();
        let asked = Budget::new(need.cores, need.memory);
        if asked.memory > capacity.memory {
            return Err(format!(
                "it declares {} bytes of memory, the monitor's memory budget is {}",
                asked.memory, capacity.memory
            ));
        }
        if asked.millicores > capacity.millicores {
            return Err(format!(
                "it keeps {cores} cores busy, the monitor's budget is {} cores",
                capacity.millicores as f64 / 1000.0
            ));
        }
        Ok(need)
    }

    // ---- Permits -------------------------------------------------------------------

    /// The state word (in-flight count, `QUEUED`, pending count; see `backlog.rs`).
    fn state(&self) -> &AtomicU64 {
        &self.backlog.counts.state
    }

    /// Permits held now.
    fn in_flight(&self) -> usize {
        (self.state().load(Relaxed) & IN_FLIGHT_MASK) as usize
    }

    /// Takes an in-flight slot if one is free and — unless `head` (the wait queue's
    /// head, granted under the queue lock) — nothing waits, taking `leave` (the
    /// ticket's count in the backlog: [`PENDING_ONE`] or 0) off the state in the same
    /// CAS. Returns the state before.
    fn take_slot(&self, head: bool, leave: u64) -> Option<u64> {
        let limit = (self.limit.load(Relaxed) as u64).min(IN_FLIGHT_MAX);
        let blocked = if head { 0 } else { QUEUED };
        let state = self.state();
        let mut current = state.load(Relaxed);
        loop {
            if current & IN_FLIGHT_MASK >= limit || current & blocked != 0 {
                return None;
            }
            debug_assert!(current >= leave, "the ticket is counted in the backlog");
            match state.compare_exchange_weak(
                current,
                (current + 1).wrapping_sub(leave),
                AcqRel,
                Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        let now_in_flight = (current & IN_FLIGHT_MASK) as usize + 1;
        if now_in_flight > self.tick_peak.load(Relaxed) {
            self.tick_peak.fetch_max(now_in_flight, Relaxed);
        }
        if now_in_flight > self.peak_in_flight.load(Relaxed) {
            self.peak_in_flight.fetch_max(now_in_flight, Relaxed);
        }
        Some(current)
    }

    /// When this start happened, if it is one whose latency is measured.
    fn sample_start(&self) -> Option<Instant> {
        (sample_latency()
            || (self.sample_next.load(Relaxed) && self.sample_next.swap(false, Relaxed)))
        .then(Instant::now)
    }

    /// Takes a permit for `need` if a slot is free (for anyone but the queue's `head`:
    /// and nothing waits) and `need` fits the budget.
    fn try_acquire(&self, need: &Requirements, head: bool) -> Option<Running> {
        self.take_slot(head, 0)?;
        let permit = if needs_ledger(need) {
            match self.admission.try_admit(*need) {
                Ok(permit) => Some(Box::new(permit)),
                Err(_) => {
                    // Whoever is refused here queues and retries the head, so this
                    // slot is not lost to a waiter.
                    self.state().fetch_sub(1, AcqRel);
                    return None;
                }
            }
        } else {
            None
        };
        Some(Running {
            permit,
            since: self.sample_start(),
        })
    }

    /// Gives a permit back; `completed` records the task's latency for the controller.
    /// Returns the state before (its `QUEUED` says whether to grant). Does not grant
    /// (see `release`).
    fn give_back(&self, running: Running, completed: bool) -> u64 {
        drop(running.permit);
        let before = self.state().fetch_sub(1, AcqRel);
        if completed {
            self.backlog.counts.completed.fetch_add(1, Relaxed);
            if let Some(since) = running.since {
                self.sampled.add(1, latency_nanos(since));
            }
        } else {
            self.abandoned.fetch_add(1, Relaxed);
        }
        before
    }

    /// Gives a permit back and, if tasks wait, grants what it freed to the head(s).
    fn release(&self, running: Running, completed: bool) {
        // `QUEUED` as the release found it (see the module invariants).
        if self.give_back(running, completed) & QUEUED != 0 {
            self.grant_waiting();
        }
    }

    // ---- Monitor ticks -------------------------------------------------------------

    /// One monitor tick: feeds the controller what happened since the last one, sets
    /// the new limit and memory budget, and grants what now fits.
    pub(crate) fn on_pressure(&self, pressure: &Pressure) {
        // Spare permits in the workers' ledgers are held by no task.
        let in_flight = self.in_flight().saturating_sub(self.ledger_totals().0);
        let peak = self.tick_peak.swap(in_flight, Relaxed).max(in_flight);
        let limit = {
            let mut ticks = self.ticks.lock();
            let count = self.backlog.counts.completed.load(Relaxed);
            // Sampled count first (acquire, pairing with the release in `give_back`):
            // each one counted has its latency in the sum (later ones may too).
            let sampled = self.sampled.count.load(Acquire);
            let sampled_nanos = self.sampled.nanos.load(Relaxed);
            let completions = count.saturating_sub(ticks.seen_count);
            let samples = sampled.saturating_sub(ticks.seen_sampled);
            let nanos = sampled_nanos.saturating_sub(ticks.seen_sampled_nanos);
            ticks.seen_count = count;
            ticks.seen_sampled = sampled;
            ticks.seen_sampled_nanos = sampled_nanos;
            if let Some(mean) = nanos.checked_div(samples) {
                ticks.mean_latency = Some(Duration::from_nanos(mean));
            }
            let mean = ticks.mean_latency;
            let c = &mut ticks.controller;
            c.observe_in_flight(peak);
            c.observe_in_flight(in_flight);
            // The sampled mean stands for every completion of the tick.
            if let Some(mean) = mean.filter(|_| completions > 0) {
                let times = u32::try_from(completions).unwrap_or(u32::MAX);
                c.record_completions(completions, mean.saturating_mul(times));
            }
            c.update(pressure, Instant::now())
        };
        self.limit.store(limit, Relaxed);
        self.sample_next.store(true, Relaxed);
        if pressure.memory_total > 0 {
            self.admission
                .update_from_pressure(pressure, self.memory_headroom);
        }
        // Always under the queue lock (not only when `QUEUED` is seen): a task queued
        // before this lock is granted here under the new limit and budget, one queued
        // after it finds them (the lock orders it after the stores above).
        self.grant_waiting();
    }

    // ---- Shutdown and status -----------------------------------------------------------

    /// Shutdown: grants nothing more, drops the waiters' wakers (they hold their tasks)
    /// and wakes submitters waiting for room (they then fail with `Shutdown`).
    pub(crate) fn close(&self) {
        self.closed.store(true, SeqCst);
        let entries: Vec<Entry> = {
            let mut queue = self.queue.lock();
            self.state().fetch_and(!QUEUED, AcqRel);
            std::mem::take(&mut queue.heap).into_vec()
        };
        for entry in entries {
            let waker = {
                let mut state = entry.waiter.state.lock();
                match &mut *state {
                    WaitState::Waiting(waker) => {
                        self.waiting.fetch_sub(1, Relaxed);
                        waker.take()
                    }
                    _ => None,
                }
            };
            // Dropped with no lock held: it may drop the task, whose ticket then
            // locks its waiter slot.
            drop(waker);
        }
        self.backlog.close();
    }

    pub(crate) fn counts(&self) -> GateCounts {
        let (limit_changes, last_decision) = {
            let ticks = self.ticks.lock();
            (
                ticks.controller.limit_changes(),
                ticks.controller.last_decision(),
            )
        };
        // What the workers' ledgers hold back (`admit/ledger.rs`): spare permits are
        // held by no task, their leavings and completions are not in the state yet.
        // Read after the state and the count (acquire): a ledger zeroes what it hands
        // on before it hands it on, so nothing is counted twice.
        let in_flight = self.state().load(Acquire) & IN_FLIGHT_MASK;
        let pending = self.backlog.len();
        let completed = self.backlog.counts.completed.load(Acquire);
        let (spare, left, ledger_completed) = self.ledger_totals();
        let in_flight = (in_flight as usize).saturating_sub(spare);
        let completed = completed + ledger_completed;
        GateCounts {
            limit: self.limit.load(Relaxed),
            in_flight,
            peak_in_flight: self.peak_in_flight.load(Relaxed),
            waiting: self.waiting.load(Relaxed),
            pending: pending.saturating_sub(left),
            pending_capacity: self.backlog.capacity(),
            started: completed + self.abandoned.load(Relaxed) + in_flight as u64,
            completed,
            budget: self.admission.budget(),
            capacity: self.admission.capacity(),
            used: self.admission.used(),
            limit_changes,
            last_decision,
        }
    }
}

#[cfg(test)]
#[path = "admit_tests.rs"]
mod tests;
