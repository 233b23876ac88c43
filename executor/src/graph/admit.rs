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
//! The budget ledger is the monitor crate's [`Admission`]; the wait queue is this
//! file's own, because what waits is a parked task (its waker), granted in place.
//!
//! Invariants:
//! - `in_flight` counts the permits held (granted and not yet released); a permit is
//!   taken only while `in_flight < limit` and, for declared needs, while they fit the
//!   budget. Lowering the limit never revokes a permit: `in_flight` drains to it.
//! - Waiting is ordered by the task's base priority, higher first, FIFO within a
//!   priority. Only the head is ever granted (a big high-priority task is not starved
//!   by smaller ones slipping past), and while anything waits a newly started task
//!   queues behind it instead of taking a free slot.
//! - Every permit is released exactly once: when the task reports its end
//!   ([`Ticket::finish`]), or when its runner is dropped (cancelled, shut down). A
//!   release grants what it freed to the waiting head(s) *before* anyone else can take
//!   it (hand-off), then wakes them; a woken task finds its permit in its waiter slot.
//! - No lost wake-up: a releaser decrements `in_flight` and then reads `queued`; a
//!   waiter increments `queued` (under the queue lock) and then tries to take a permit.
//!   Each side puts a `SeqCst` fence between its write and its read, so at least one
//!   of them sees the other. (`SeqCst` accesses alone would do on real hardware, but
//!   loom models them as acquire/release and reports a lost wake-up; with the fences
//!   the `gate` model in `loom-tests/` checks the hand-off.)
//! - Lock order: the wait queue, then a waiter's slot, then the admission ledger. Wakers
//!   are woken with no lock held.
//! - The backlog (`backlog.rs`) counts submitted tasks that have not started: every
//!   ticket leaves it exactly once, when it gets its permit or is dropped unstarted.
//!   (A `TaskGraph` reserves its tasks' room when it submits them, or just before it
//!   drops them unsubmitted, so that leaving always balances.)
//! - After [`Gate::close`] (runtime shutdown) nothing is granted; waiters and
//!   submitters waiting for room are released (their tasks are cancelled by shutdown).

use std::collections::BinaryHeap;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use taskweave_monitor::{
    Admission, Budget, ConcurrencyController, ControllerConfig, Decision, Permit, Pressure,
    Requirements,
};
use taskweave_scheduler::TaskSpec;

use crossbeam_utils::CachePadded;

use super::backlog::Backlog;
use crate::sync::{fence, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};

use Ordering::{Acquire, Relaxed, Release, SeqCst};

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
}

/// A held permit: an in-flight slot and, for declared needs, the admission share.
pub(crate) struct Running {
    permit: Option<Permit>,
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

/// A waiting task's slot: how the grant reaches it.
enum WaitState {
    /// Not yet granted; the waker to wake when it is (`None` after `close`).
    Waiting(Option<Waker>),
    /// Granted; the task takes it on its next poll.
    Granted(Running),
    /// The task was dropped; the queue entry is skipped.
    Abandoned,
}

struct Waiter {
    state: Mutex<WaitState>,
}

struct Entry {
    priority: u8,
    seq: u64,
    need: Requirements,
    waiter: Arc<Waiter>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Max-heap order: higher priority, then older (smaller `seq`).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct WaitQueue {
    heap: BinaryHeap<Entry>,
    next_seq: u64,
}

/// Completions since the runtime started (cumulative; each tick takes the difference),
/// and the latencies of the sampled ones.
#[derive(Default)]
struct Finished {
    count: AtomicU64,
    sampled: AtomicU64,
    sampled_nanos: AtomicU64,
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
/// The counters every task writes (`in_flight` at start and end, `finished` at end)
/// have a cache line each; the rest is read-mostly.
pub(crate) struct Gate {
    in_flight: CachePadded<AtomicUsize>,
    finished: CachePadded<Finished>,
    limit: AtomicUsize,
    /// Entries in the wait queue, abandoned ones included (readable without the lock).
    queued: AtomicUsize,
    /// Tasks waiting for a permit (abandoned ones excluded).
    waiting: AtomicUsize,
    queue: Mutex<WaitQueue>,
    admission: Admission<()>,
    memory_headroom: f32,
    ticks: Mutex<Ticks>,
    /// Submitted tasks not yet started (backpressure).
    pub(crate) backlog: Backlog,
    closed: AtomicBool,
    /// The most permits ever held at once, and since the last tick.
    peak_in_flight: AtomicUsize,
    tick_peak: AtomicUsize,
    /// Permits released without a completion (the task was cancelled or dropped).
    abandoned: AtomicU64,
    /// Set each tick: the next start measures its latency.
    sample_next: AtomicBool,
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

/// What a ticket counts for in the backlog.
pub(crate) enum Pending {
    /// Counted (reserved by whoever created the ticket, or — for a `TaskGraph` —
    /// reserved when the batch is submitted, or just before an unsubmitted batch is
    /// dropped, so the tickets' leaving always balances).
    Counted,
    /// Not counted (any more).
    No,
}

enum Stage {
    /// Not started: the next poll asks for a permit.
    Ready,
    /// Queued for a permit.
    Waiting(Arc<Waiter>),
    /// Holding a permit.
    Running(Running),
    /// Released at the task's end.
    Finished,
}

/// One ExecutableTask's passage through the gate; lives in its runner.
pub(crate) struct Ticket {
    gate: Arc<Gate>,
    need: Requirements,
    priority: u8,
    stage: Stage,
    pending: Pending,
}

fn needs_ledger(need: &Requirements) -> bool {
    need.cores > 0.0 || need.memory > 0
}

impl Gate {
    pub(crate) fn new(config: GateConfig) -> Gate {
        let controller = ConcurrencyController::new(config.controller);
        Gate {
            in_flight: CachePadded::new(AtomicUsize::new(0)),
            finished: CachePadded::new(Finished::default()),
            limit: AtomicUsize::new(controller.limit()),
            queued: AtomicUsize::new(0),
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

    /// Takes a permit for `need` if a slot is free and `need` fits the budget.
    fn try_acquire(&self, need: &Requirements) -> Option<Running> {
        let limit = self.limit.load(Relaxed);
        let mut current = self.in_flight.load(SeqCst);
        loop {
            if current >= limit {
                return None;
            }
            match self
                .in_flight
                .compare_exchange_weak(current, current + 1, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        let permit = if needs_ledger(need) {
            match self.admission.try_admit(*need) {
                Ok(permit) => Some(permit),
                Err(_) => {
                    // Whoever is refused here queues and retries the head, so this
                    // slot is not lost to a waiter.
                    self.in_flight.fetch_sub(1, SeqCst);
                    return None;
                }
            }
        } else {
            None
        };
        let now_in_flight = current + 1;
        if now_in_flight > self.tick_peak.load(Relaxed) {
            self.tick_peak.fetch_max(now_in_flight, Relaxed);
        }
        if now_in_flight > self.peak_in_flight.load(Relaxed) {
            self.peak_in_flight.fetch_max(now_in_flight, Relaxed);
        }
        Some(Running {
            permit,
            since: (sample_latency()
                || (self.sample_next.load(Relaxed) && self.sample_next.swap(false, Relaxed)))
            .then(Instant::now),
        })
    }

    /// Gives a permit back; `completed` records the task's latency for the controller.
    /// Does not grant (see `release`).
    fn give_back(&self, running: Running, completed: bool) {
        drop(running.permit);
        self.in_flight.fetch_sub(1, SeqCst);
        if completed {
            if let Some(since) = running.since {
                let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.finished.sampled_nanos.fetch_add(nanos, Relaxed);
                self.finished.sampled.fetch_add(1, Release);
            }
            self.finished.count.fetch_add(1, Relaxed);
        } else {
            self.abandoned.fetch_add(1, Relaxed);
        }
    }

    /// Gives a permit back and grants what it freed to the waiting head(s).
    fn release(&self, running: Running, completed: bool) {
        self.give_back(running, completed);
        self.grant_waiting();
    }

    /// Grants permits to waiting tasks, head first, while they fit.
    fn grant_waiting(&self) {
        // Pairs with the fence in `enqueue` (see the module invariants).
        fence(SeqCst);
        if self.queued.load(SeqCst) == 0 {
            return;
        }
        let woken = {
            let mut queue = self.queue.lock();
            self.grant_locked(&mut queue)
        };
        for (_, waker) in woken {
            waker.wake();
        }
    }

    /// Under the queue lock: pops granted heads (and abandoned ones) and returns the
    /// wakers to wake once the lock is released.
    fn grant_locked(&self, queue: &mut WaitQueue) -> Vec<(Arc<Waiter>, Waker)> {
        let mut woken = Vec::new();
        while let Some(head) = queue.heap.peek() {
            let abandoned = matches!(*head.waiter.state.lock(), WaitState::Abandoned);
            if !abandoned {
                if self.closed.load(Acquire) {
                    break;
                }
                let Some(running) = self.try_acquire(&head.need) else {
                    break;
                };
                let entry = queue.heap.pop().expect("peeked");
                self.queued.fetch_sub(1, SeqCst);
                let mut state = entry.waiter.state.lock();
                match std::mem::replace(&mut *state, WaitState::Granted(running)) {
                    WaitState::Waiting(waker) => {
                        drop(state);
                        self.waiting.fetch_sub(1, Relaxed);
                        if let Some(waker) = waker {
                            woken.push((entry.waiter.clone(), waker));
                        }
                    }
                    // Dropped between the check above and now: take the grant back.
                    WaitState::Abandoned | WaitState::Granted(_) => {
                        let granted = std::mem::replace(&mut *state, WaitState::Abandoned);
                        drop(state);
                        if let WaitState::Granted(running) = granted {
                            self.give_back(running, false);
                        }
                    }
                }
                continue;
            }
            queue.heap.pop();
            self.queued.fetch_sub(1, SeqCst);
        }
        woken
    }

    /// Queues a task for a permit (and grants what fits at once, possibly to it).
    fn enqueue(
        &self,
        need: Requirements,
        priority: u8,
        waker: &Waker,
    ) -> Result<Running, Arc<Waiter>> {
        let waiter = Arc::new(Waiter {
            state: Mutex::new(WaitState::Waiting(Some(waker.clone()))),
        });
        let woken = {
            let mut queue = self.queue.lock();
            if self.closed.load(Acquire) {
                // Shutting down: never granted; shutdown cancels the task.
                *waiter.state.lock() = WaitState::Waiting(None);
                return Err(waiter);
            }
            let seq = queue.next_seq;
            queue.next_seq += 1;
            queue.heap.push(Entry {
                priority,
                seq,
                need,
                waiter: waiter.clone(),
            });
            self.waiting.fetch_add(1, Relaxed);
            self.queued.fetch_add(1, SeqCst);
            // Pairs with the fence in `grant_waiting`: a release that missed this entry
            // left its permit where `grant_locked` now finds it.
            fence(SeqCst);
            self.grant_locked(&mut queue)
        };
        for (granted, waker) in woken {
            if !Arc::ptr_eq(&granted, &waiter) {
                waker.wake();
            }
        }
        let mut state = waiter.state.lock();
        if matches!(*state, WaitState::Granted(_)) {
            if let WaitState::Granted(running) =
                std::mem::replace(&mut *state, WaitState::Abandoned)
            {
                return Ok(running);
            }
        }
        drop(state);
        Err(waiter)
    }

    // ---- Monitor ticks -------------------------------------------------------------

    /// One monitor tick: feeds the controller what happened since the last one, sets
    /// the new limit and memory budget, and grants what now fits.
    pub(crate) fn on_pressure(&self, pressure: &Pressure) {
        let in_flight = self.in_flight.load(Relaxed);
        let peak = self.tick_peak.swap(in_flight, Relaxed).max(in_flight);
        let limit = {
            let mut ticks = self.ticks.lock();
            let count = self.finished.count.load(Relaxed);
            // Sampled count first (acquire, pairing with the release in `give_back`):
            // each one counted has its latency in the sum (later ones may too).
            let sampled = self.finished.sampled.load(Acquire);
            let sampled_nanos = self.finished.sampled_nanos.load(Relaxed);
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
        self.limit.store(limit, SeqCst);
        self.sample_next.store(true, Relaxed);
        if pressure.memory_total > 0 {
            self.admission
                .update_from_pressure(pressure, self.memory_headroom);
        }
        self.grant_waiting();
    }

    // ---- Shutdown and status -----------------------------------------------------------

    /// Shutdown: grants nothing more, drops the waiters' wakers (they hold their tasks)
    /// and wakes submitters waiting for room (they then fail with `Shutdown`).
    pub(crate) fn close(&self) {
        self.closed.store(true, SeqCst);
        let entries: Vec<Entry> = {
            let mut queue = self.queue.lock();
            self.queued.store(0, SeqCst);
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
        let in_flight = self.in_flight.load(Relaxed);
        let completed = self.finished.count.load(Relaxed);
        GateCounts {
            limit: self.limit.load(Relaxed),
            in_flight,
            peak_in_flight: self.peak_in_flight.load(Relaxed),
            waiting: self.waiting.load(Relaxed),
            pending: self.backlog.len(),
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

impl Ticket {
    /// A ticket through `gate` for a task needing `need` at base `priority`.
    pub(crate) fn new(
        gate: &Arc<Gate>,
        need: Requirements,
        priority: u8,
        pending: Pending,
    ) -> Ticket {
        Ticket {
            gate: gate.clone(),
            need,
            priority,
            stage: Stage::Ready,
            pending,
        }
    }

    /// On each poll until started: `Ready` once the task holds its permit, `Pending`
    /// (woken when granted) while it waits.
    pub(crate) fn poll_start(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &self.stage {
            Stage::Running(_) | Stage::Finished => Poll::Ready(()),
            Stage::Ready => {
                if self.gate.closed.load(Acquire) {
                    // Shutting down: the task is about to be cancelled.
                    return Poll::Pending;
                }
                let fast = if self.gate.queued.load(SeqCst) == 0 {
                    self.gate.try_acquire(&self.need)
                } else {
                    None
                };
                let granted = match fast {
                    Some(running) => Ok(running),
                    None => self.gate.enqueue(self.need, self.priority, cx.waker()),
                };
                match granted {
                    Ok(running) => {
                        self.begin(running);
                        Poll::Ready(())
                    }
                    Err(waiter) => {
                        self.stage = Stage::Waiting(waiter);
                        Poll::Pending
                    }
                }
            }
            Stage::Waiting(waiter) => {
                let mut state = waiter.state.lock();
                match &mut *state {
                    WaitState::Granted(_) => {
                        let WaitState::Granted(running) =
                            std::mem::replace(&mut *state, WaitState::Abandoned)
                        else {
                            unreachable!("matched above")
                        };
                        drop(state);
                        self.begin(running);
                        Poll::Ready(())
                    }
                    WaitState::Waiting(Some(waker)) => {
                        if !waker.will_wake(cx.waker()) {
                            *waker = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                    // Closed (shutdown drops the task) or abandoned (not reached: only
                    // this ticket abandons its slot).
                    WaitState::Waiting(None) | WaitState::Abandoned => Poll::Pending,
                }
            }
        }
    }

    fn begin(&mut self, running: Running) {
        self.stage = Stage::Running(running);
        self.leave_backlog();
    }

    fn leave_backlog(&mut self) {
        if let Pending::Counted = std::mem::replace(&mut self.pending, Pending::No) {
            self.gate.backlog.unreserve(1);
        }
    }

    /// The task ended (before it reports to the graph): releases its permit, records
    /// its latency and grants what it freed.
    pub(crate) fn finish(&mut self) {
        if !matches!(self.stage, Stage::Running(_)) {
            // Never started (dropped while waiting): `Drop` abandons the wait.
            return;
        }
        if let Stage::Running(running) = std::mem::replace(&mut self.stage, Stage::Finished) {
            self.gate.release(running, true);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Running(running) => self.gate.release(running, false),
            Stage::Waiting(waiter) => {
                let previous = std::mem::replace(&mut *waiter.state.lock(), WaitState::Abandoned);
                match previous {
                    WaitState::Granted(running) => self.gate.release(running, false),
                    WaitState::Waiting(Some(_)) => {
                        self.gate.waiting.fetch_sub(1, Relaxed);
                    }
                    // After close (already uncounted) or already abandoned.
                    WaitState::Waiting(None) | WaitState::Abandoned => {}
                }
            }
            Stage::Ready | Stage::Finished => {}
        }
        self.leave_backlog();
    }
}

#[cfg(test)]
#[path = "admit_tests.rs"]
mod tests;
