//! The workers' gate ledgers: what the gate's state would record for the
//! ExecutableTasks a worker starts and ends, batched, so that a run of short tasks on
//! one worker does not write the state's cache line (which every worker writes) at
//! each start and at each end.
//!
//! Each worker has one ledger, which only that worker changes (plain loads and stores
//! of its own cache line; others only read it, for counts):
//! - `spare`: at most one permit taken from the gate (counted in the state's
//!   `in_flight`) that no task holds: the last task that ended on this worker left it
//!   for the next one started here, which takes it without touching the state.
//! - `left`: tasks started here that left the backlog, not yet taken off the state's
//!   pending count.
//! - `completed`: tasks that ended here, not yet added to the gate's completion count.
//! - `sampled`, `sampled_nanos`: the latencies measured here (one start in 16, see
//!   `admit.rs`), not yet added to the gate's sums.
//!
//! Invariants:
//! - The ledger is used only while nobody waits and the limit holds: a start or an end
//!   that reads `QUEUED` (a task waits for a permit) or `ROOM` (a submitter waits for
//!   room) in the state, or more permits held than the limit, settles the ledger and
//!   takes the usual path. Tasks that declared resources always take the usual path.
//! - Settling gives the spare permit back and takes `left` off the pending count with
//!   the same read-modify-writes of the state as the usual path, so the wake-up
//!   protocols (`admit.rs`, `backlog.rs`) hold as they are: what the ledger holds back
//!   is only handed on later. A worker settles its ledger whenever it is about to do
//!   anything but run its next picked ExecutableTask (a plain task, stealing, parking,
//!   exiting: `WorkerCore::next_task`), and when `left` or `completed` reaches
//!   [`MAX_BATCHED`].
//! - So the state counts at most one permit per worker that no task holds, at most
//!   `MAX_BATCHED` started tasks per worker as pending, and the completion count and
//!   the latency samples miss at most `MAX_BATCHED` per worker. [`Gate::counts`]
//!   subtracts and adds what the ledgers hold, and the backlog's bound (`try_submit`,
//!   `submit_wait`) does not count the tasks they noted as started: each reads the
//!   ledgers after the state (acquire), and a ledger zeroes a count before it hands it
//!   on (with an RMW of the state, which releases the zeroing), so nothing is
//!   subtracted twice, only sometimes not yet.
//! - A spare permit waits at most for its worker's next start, end or settling: while
//!   a woken ExecutableTask (which needs no permit) is polled, at the longest.

use super::super::backlog::{IN_FLIGHT_MASK, IN_FLIGHT_MAX, QUEUED, ROOM};
use super::{Gate, Running};
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering::AcqRel, Ordering::Relaxed};

/// The most starts or ends a ledger holds before it settles.
pub(crate) const MAX_BATCHED: u32 = 64;

/// One worker's ledger (see the module docs). Its fields are atomics only so that
/// [`Gate::counts`] may read them from another thread: only the worker writes them.
#[derive(Default)]
pub(crate) struct Ledger {
    spare: AtomicBool,
    left: AtomicU32,
    completed: AtomicU32,
    sampled: AtomicU32,
    sampled_nanos: AtomicU64,
}

impl Ledger {
    /// Adds one to a counter only its worker writes (a load and a store, no
    /// read-modify-write); returns the new value.
    #[inline]
    fn bump(counter: &AtomicU32) -> u32 {
        let next = counter.load(Relaxed) + 1;
        counter.store(next, Relaxed);
        next
    }
}

impl Gate {
    /// Whether the state lets a ledger be used: nobody waits for a permit or for
    /// room, and no more permits are held than the limit.
    #[inline]
    fn ledger_may_hold(&self) -> bool {
        let state = self.state().load(Relaxed);
        let limit = (self.limit.load(Relaxed) as u64).min(IN_FLIGHT_MAX);
        state & (QUEUED | ROOM) == 0 && state & IN_FLIGHT_MASK <= limit
    }

    /// A start on `worker` of a task that declared nothing: takes the ledger's spare
    /// permit (true), noting that the task left the backlog if it was `counted` there;
    /// false if there is none or the ledger may not be used (then it is settled).
    #[inline]
    pub(super) fn start_from_ledger(&self, worker: usize, counted: bool) -> bool {
        let ledger = &self.ledgers[worker];
        if !ledger.spare.load(Relaxed) {
            return false;
        }
        if !self.ledger_may_hold() {
            self.settle(worker);
            return false;
        }
        ledger.spare.store(false, Relaxed);
        if counted && Ledger::bump(&ledger.left) >= MAX_BATCHED {
            self.settle(worker);
        }
        true
    }

    /// An end on `worker` of a task that held `running`: keeps its permit as the
    /// ledger's spare and counts the completion there (`Ok`), or hands `running` back
    /// for the usual release (declared resources, a spare already kept, or a ledger
    /// that may not be used, which is then settled). A sampled latency is measured
    /// now and kept in the ledger too.
    #[inline]
    pub(super) fn finish_into_ledger(
        &self,
        worker: usize,
        running: Running,
    ) -> Result<(), Running> {
        let ledger = &self.ledgers[worker];
        if running.permit.is_some() || ledger.spare.load(Relaxed) {
            return Err(running);
        }
        if !self.ledger_may_hold() {
            self.settle(worker);
            return Err(running);
        }
        ledger.spare.store(true, Relaxed);
        if let Some(since) = running.since {
            let nanos = super::latency_nanos(since);
            let sum = ledger.sampled_nanos.load(Relaxed).saturating_add(nanos);
            ledger.sampled_nanos.store(sum, Relaxed);
            Ledger::bump(&ledger.sampled);
        }
        if Ledger::bump(&ledger.completed) >= MAX_BATCHED {
            self.settle_counts(worker);
        }
        Ok(())
    }

    /// Hands on everything `worker`'s ledger holds (see the module docs); called by
    /// that worker only.
    pub(crate) fn settle(&self, worker: usize) {
        let ledger = &self.ledgers[worker];
        if ledger.spare.load(Relaxed) {
            ledger.spare.store(false, Relaxed);
            // As a release (`give_back`, `release`), with nothing to record.
            if self.state().fetch_sub(1, AcqRel) & QUEUED != 0 {
                self.grant_waiting();
            }
        }
        self.settle_counts(worker);
    }

    /// Hands on `worker`'s backlog leavings and completions.
    fn settle_counts(&self, worker: usize) {
        let ledger = &self.ledgers[worker];
        let left = ledger.left.load(Relaxed);
        if left > 0 {
            ledger.left.store(0, Relaxed);
            self.backlog.unreserve(left as usize);
        }
        let completed = ledger.completed.load(Relaxed);
        if completed > 0 {
            ledger.completed.store(0, Relaxed);
            self.backlog
                .counts
                .completed
                .fetch_add(u64::from(completed), Relaxed);
        }
        let sampled = ledger.sampled.load(Relaxed);
        if sampled > 0 {
            let nanos = ledger.sampled_nanos.load(Relaxed);
            ledger.sampled.store(0, Relaxed);
            ledger.sampled_nanos.store(0, Relaxed);
            self.sampled.add(u64::from(sampled), nanos);
        }
    }

    /// Whether `worker`'s ledger holds anything (to settle).
    pub(crate) fn ledger_holds(&self, worker: usize) -> bool {
        let ledger = &self.ledgers[worker];
        ledger.spare.load(Relaxed)
            || ledger.left.load(Relaxed) > 0
            || ledger.completed.load(Relaxed) > 0
            || ledger.sampled.load(Relaxed) > 0
    }

    /// Counts `n` more pending tasks if they fit the backlog's capacity, not counting
    /// the tasks the ledgers noted as started (`try_submit`; see
    /// `Backlog::try_reserve_with`).
    pub(crate) fn try_reserve(&self, n: usize) -> bool {
        self.backlog.try_reserve_with(n, || self.ledger_totals().1)
    }

    /// `submit_wait`'s step: [`try_reserve`](Self::try_reserve), or registers `cx`'s
    /// waker for room (`Backlog::poll_reserve`).
    pub(crate) fn poll_reserve(
        &self,
        n: usize,
        cx: &mut std::task::Context<'_>,
        registration: &mut Option<u64>,
    ) -> std::task::Poll<bool> {
        self.backlog
            .poll_reserve_with(n, || self.ledger_totals().1, cx, registration)
    }

    /// What the ledgers hold now: spare permits, backlog leavings, completions (for
    /// [`counts`](Self::counts); read without a lock, so only as exact as the rest).
    pub(super) fn ledger_totals(&self) -> (usize, usize, u64) {
        self.ledgers.iter().fold((0, 0, 0), |(s, l, c), ledger| {
            (
                s + usize::from(ledger.spare.load(Relaxed)),
                l + ledger.left.load(Relaxed) as usize,
                c + u64::from(ledger.completed.load(Relaxed)),
            )
        })
    }
}
