//! The executor's side of ExecutableTasks: the dependency graph, the ready heap, and
//! the tasks not yet started, under one lock.
//!
//! Invariants (under `inner`'s lock):
//! - The graph owns every submitted task until it ends, as its slot's payload, an
//!   [`ExecTask`] (no map of our own, and no entry in the runtime's owned-task list:
//!   shutdown finds ExecutableTasks here). The payload holds the task's first
//!   `Notified` until the task starts and the runtime's `OwnedTask` reference until
//!   it ends. A worker picking a `Start` item takes the `Notified` (the graph marks
//!   the task running; once the lock is released, the worker notes the task's slot in
//!   its header for the report of its end, see `ended.rs`); that report takes the
//!   `OwnedTask` out of the slot. A task doomed before it starts (cancelled, or a
//!   dependency failed) leaves the graph whole, and its `Notified` is cancelled
//!   *outside* the lock, which drops the future without polling it. A `Start` item of
//!   a task cancelled while queued is stale (its slot's generation moved on) and is
//!   skipped by the pop that meets it.
//! - A started task that wakes goes back into the heap as a `Wake` item with its own
//!   key, read from its running slot (which its header names), so its priority and
//!   deadline boost survive wake-ups.
//! - `ready_len` mirrors the number of tasks in the heap, stale starts included (a hint
//!   read without the lock, so plain `spawn` work pays one relaxed load per tick for
//!   all of this). Tasks that became ready together with equal keys may share one heap
//!   item, in the order the heap would give them one by one (`dispatch/ready.rs`).
//! - After `close`, nothing enters the graph or the heap: a submission is refused,
//!   what would become ready is doomed, `close` hands every task still held (not
//!   started, or running) to the caller to cancel, and ends are no longer recorded.
//! - Workers meet the graph through [`Dispatch::exchange`]: one lock for a batch of
//!   ends (`ended.rs`) and the next pick of ready tasks. A pick takes one task, or k
//!   (at most `max`) while the heap holds 2k tasks per worker, best first; picked
//!   tasks run in heap order on that worker. So with few ready tasks the order is the
//!   heap's, strictly; with more, every picked task is better than the half left for
//!   the other workers, and a task that becomes ready (or wakes) waits for at most
//!   `max - 1` tasks picked before it, per worker. (The worker asks for batches only
//!   while its recent ExecutableTasks were short, see `worker.rs`.)
//! - Before it picks from the heap, an exchange starts directly (never queued) the
//!   tasks its own ends released that lead the heap, up to the pick's size (and at most
//!   16, `MAX_STARTED_DIRECTLY`), in release order: with the heap empty, any (each
//!   would be the next pick anyway); when the worker picks batches (short tasks) and
//!   other workers share the heap, those ahead of the heap's best or tied with it but
//!   for push order (`ReadyQueue::standing`). So with one worker, or long tasks, the
//!   order is exactly the heap's; with several workers running short tasks, ties go
//!   first to the worker whose task released them (a task run where its dependency ran
//!   finds its data in that core's cache; moving it costs more than it runs), and FIFO
//!   among ties holds per worker, not across workers. Priorities, deadlines and ranks
//!   are never overtaken, and a tied task left in the heap still ages: once it starves
//!   (`ReadyQueue` docs) it wins its ties again. Like picked tasks, these are not
//!   stealable: with the heap empty, a worker keeps up to 16 released short tasks even
//!   while another worker is idle, since waking a parked worker takes longer than they
//!   run (handing all but one to an idle worker made the `dag` bench's random DAG a
//!   fifth slower in its narrow tail). Long tasks are picked one at a time, so the
//!   others go to the heap.
//! - An exchange that starts one task for a worker of short tasks, and leaves the heap
//!   empty, claims the task's chain (`dispatch/claim.rs`): the next links' first-run
//!   references, which the worker runs one after the other, each as the one before
//!   succeeds while the heap stays empty, recording their starts with the held-back
//!   ends; otherwise it gives them back on its next exchange, before any end is
//!   recorded. With the heap empty each would have been started directly anyway.
//! - Ends a worker held back (`buffered.rs`) are recorded by its next exchange, or
//!   first by any query of what ends change (`lock_recorded`: a task's state, the
//!   counts, forgetting finished records, cancelling), under this lock either way.
//! - A worker that finds the lock taken spins for a while (about 100 µs at most)
//!   before it blocks on it: an exchange holds it for microseconds, and blocking
//!   costs both workers a futex round trip.
//! - The clock is read at most once per operation, and only when a key enters the
//!   heap (the stamp that aging measures from) or the heap chooses among its items
//!   (`Now`); a narrow graph's step, one end releasing one task into an empty heap,
//!   reads it not at all.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use taskweave_scheduler::{
    DependencyGraph, GraphError, ReadyKey, Released, SlotRef, SpecBatch, TaskId, TaskSpec,
    TaskState,
};

use crossbeam_utils::CachePadded;

use super::buffered::{BufferedEnds, Recorded};
use super::ended::{self, End};
use crate::sync::Mutex;
use crate::task::{HeldTask, Notified, OwnedTask, NO_END_REPORT};

mod claim;
mod pick;
mod ready;

pub(crate) use claim::{Claims, MAX_CLAIMED};

use pick::Notes;
pub(crate) use pick::{Pick, MAX_PICK};
use ready::ReadyTasks;

/// A submitted ExecutableTask as the graph holds it (see the module invariants): its
/// first `Notified` until it starts, and the runtime's ownership until it ends, in one
/// word (`HeldTask`).
pub(crate) struct ExecTask(HeldTask);

// One word, with a niche for `Option`: the graph's slots stay one cache line.
const _: () = assert!(std::mem::size_of::<Option<ExecTask>>() == std::mem::size_of::<usize>());

impl ExecTask {
    #[inline]
    pub(crate) fn new(notified: Notified, owned: OwnedTask) -> ExecTask {
        ExecTask(HeldTask::new(owned, notified))
    }

    /// Cancels a task that never started: its future is dropped unpolled, and its
    /// handle resolves with `cause` (see `Notified::cancel`).
    pub(crate) fn cancel(self, cause: Option<u64>) {
        let (owned, notified) = self.0.into_parts();
        if let Some(notified) = notified {
            notified.cancel(cause);
        }
        // The task completed above; this only drops the ownership reference.
        drop(owned);
    }

    /// Marks cancelled a task whose `Notified` a worker holds (claimed, `claim.rs`):
    /// that worker's run or give-back cancels it. Never schedules anything (it is
    /// called under the dispatch lock); the caller's abort afterwards is then a no-op.
    fn abort_claimed(&self) {
        let marked = self.0.raw().state().cancel_if_notified();
        debug_assert!(marked, "a claimed task is notified");
    }

    /// Cancels the task at runtime shutdown, started or not (a running task's future
    /// is dropped, or stopped at its next await point if it is being polled).
    pub(crate) fn shutdown(self) {
        let (owned, notified) = self.0.into_parts();
        drop(notified);
        owned.shutdown();
    }
}

/// Why [`Dispatch::submit`] refused a batch.
pub(crate) enum Refused {
    Graph(GraphError),
    /// The runtime is shutting down (`close` ran).
    Closed,
}

/// The specs of a submission: one task (`Handle::submit`) or a batch (`TaskGraph`),
/// which the graph adds alike (a lone spec goes through its reused column store).
#[derive(Clone, Copy)]
pub(crate) enum Specs<'a> {
    One(&'a TaskSpec),
    Batch(&'a SpecBatch),
}

impl Specs<'_> {
    fn len(self) -> usize {
        match self {
            Specs::One(_) => 1,
            Specs::Batch(batch) => batch.len(),
        }
    }
}

struct Inner {
    /// Holds every submitted task until it ends, as its slot's payload.
    graph: DependencyGraph<ExecTask>,
    ready: ReadyTasks,
    /// Reused by submissions and cancellations (an exchange brings its caller's own).
    scratch: Released<ExecTask>,
    closed: bool,
    /// Finished-task records kept for dependency look-ups before they are forgotten.
    max_finished_records: usize,
    /// Counters for `GraphMetrics` (`stats.rs`), moved under this lock.
    stats: super::stats::GraphStats,
    /// The stamp the graph puts on the keys of tasks an exchange's ends release: a
    /// placeholder (any instant does), which [`Inner::apply`] replaces with the
    /// exchange's own reading as they enter the heap.
    placeholder_stamp: Instant,
}

/// The clock reading of one dispatch operation, taken at most once, and only if
/// needed: a key entering the heap is stamped with it, and a pop from the heap
/// (aging, deadline boost) depends on it.
struct Now(Option<Instant>);

impl Now {
    /// Reads the clock now if `eager` (outside the lock), else at the first `get`.
    #[inline]
    fn new(eager: bool) -> Now {
        Now(eager.then(Instant::now))
    }

    /// An operation that already read the clock.
    fn known(now: Instant) -> Now {
        Now(Some(now))
    }

    /// The reading (taken now if not yet).
    fn get(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

/// What [`Dispatch::exchange`] did.
pub(crate) struct Exchanged {
    /// How many tasks became ready.
    pub(crate) released: usize,
    /// The clock reading the exchange took, if it needed one.
    pub(crate) now: Option<Instant>,
    /// The slot of the one task picked whose chain the exchange claimed (`claim.rs`).
    pub(crate) claimed_after: Option<SlotRef>,
}

/// Rounds of spinning (each up to 32 pauses, so about 100 µs in all at most) before
/// an exchange blocks on the lock: long enough to outlast an exchange, short enough
/// to give up when the holder was preempted.
#[cfg(not(taskweave_loom))]
const EXCHANGE_SPINS: usize = 64;

/// The ExecutableTask state of one runtime.
pub(crate) struct Dispatch {
    /// On its own cache lines: the lock word and what it guards move between the
    /// workers with every operation, and must not drag unrelated fields along.
    inner: CachePadded<Mutex<Inner>>,
    /// Read by every worker's loop (`has_ready`): kept off the lock's lines.
    ready_len: CachePadded<AtomicUsize>,
    /// Ends held back on the workers, recorded in batches (`buffered.rs`).
    buffered: BufferedEnds,
    limits: super::MachineLimits,
}

/// Tasks to cancel once the lock is released, each with the root cause when a
/// dependency's failure dooms it (`None`: cancelled itself, or shutdown).
pub(crate) type Doomed = Vec<(ExecTask, Option<TaskId>)>;

impl Dispatch {
    pub(crate) fn new(
        max_finished_records: usize,
        ready_queue: taskweave_scheduler::ReadyQueueConfig,
        limits: super::MachineLimits,
        workers: usize,
    ) -> Dispatch {
        Dispatch {
            inner: CachePadded::new(Mutex::new(Inner {
                graph: DependencyGraph::with_payloads(),
                ready: ReadyTasks::new(ready_queue),
                scratch: Released::default(),
                closed: false,
                max_finished_records,
                stats: Default::default(),
                placeholder_stamp: Instant::now(),
            })),
            ready_len: CachePadded::new(AtomicUsize::new(0)),
            buffered: BufferedEnds::new(workers),
            limits,
        }
    }

    /// What this machine offers, for refusing impossible tasks.
    pub(crate) fn limits(&self) -> &super::MachineLimits {
        &self.limits
    }

    /// The lock, for a worker's exchange: held for a few microseconds at most, so a
    /// worker that finds it taken spins a while before it blocks (blocking would
    /// cost both workers a futex round trip, longer than the wait).
    fn lock_for_exchange(&self) -> crate::sync::MutexGuard<'_, Inner> {
        #[cfg(not(taskweave_loom))]
        for _ in 0..EXCHANGE_SPINS {
            if let Some(guard) = self.inner.try_lock() {
                return guard;
            }
            for _ in 0..32 {
                std::hint::spin_loop();
                if !self.inner.is_locked() {
                    break;
                }
            }
        }
        self.inner.lock()
    }

    /// The lock, for a query of what ends change: every buffered end is recorded first
    /// (see `buffered.rs`), leaving in `recorded` what that takes outside the lock.
    fn lock_recorded(&self, recorded: &mut Recorded) -> crate::sync::MutexGuard<'_, Inner> {
        let mut guard = self.inner.lock();
        let mut ends = Vec::new();
        self.buffered.drain_all_into(&mut ends);
        if !ends.is_empty() {
            let inner = &mut *guard;
            let mut done = Released::default();
            inner.record(&mut ends, &mut done, &mut recorded.finished);
            recorded.released += inner.apply(&mut done, &mut recorded.doomed, &mut Now::new(false));
            self.ready_len.store(inner.ready.len(), Relaxed);
        }
        guard
    }

    /// Holds back the end of a task run on `worker` (called by that worker only, fewer
    /// than `MAX_BUFFERED_ENDS` times between two of its exchanges that drain its
    /// buffer) for its next exchange, or a query's (`buffered.rs`).
    pub(crate) fn buffer_end(&self, worker: usize, end: End) {
        self.buffered.push(worker, end);
    }

    /// True if the heap may hold work (a hint).
    pub(crate) fn has_ready(&self) -> bool {
        self.ready_len.load(Relaxed) > 0
    }

    /// Items in the heap, stale ones included (a hint, for metrics).
    pub(crate) fn ready_len(&self) -> usize {
        self.ready_len.load(Relaxed)
    }

    /// Adds a batch. `tasks` pairs each spec with its not-yet-scheduled task, in the
    /// same order. On error nothing is added and the tasks are handed back.
    pub(crate) fn submit(
        &self,
        specs: Specs<'_>,
        tasks: Vec<ExecTask>,
        doomed: &mut Doomed,
    ) -> Result<usize, (Refused, Vec<ExecTask>)> {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        if inner.closed {
            return Err((Refused::Closed, tasks));
        }
        if inner.graph.finished_len() > inner.max_finished_records {
            inner.graph.forget_all_finished();
        }
        let mut out = std::mem::take(&mut inner.scratch);
        out.clear();
        let added = match specs {
            Specs::One(spec) => {
                let one = std::slice::from_ref(spec);
                inner.graph.add_batch_payloads(one, tasks, now, &mut out)
            }
            Specs::Batch(batch) => inner
                .graph
                .add_spec_batch_payloads(batch, tasks, now, &mut out),
        };
        let result = match added {
            Ok(()) => {
                inner.stats.add_submitted(specs.len());
                Ok(inner.apply(&mut out, doomed, &mut Now::known(now)))
            }
            Err((e, tasks)) => Err((Refused::Graph(e), tasks)),
        };
        inner.scratch = out;
        self.ready_len.store(inner.ready.len(), Relaxed);
        result
    }

    /// Puts a started task that was woken back into the heap, with its own key (its
    /// priority, deadline and rank, read from its graph slot, which its header names
    /// while it runs). Returns false (and drops it) after `close`. Every held-back end
    /// is recorded first (leaving in `recorded` what that takes outside the lock): the
    /// task may have been handed over by an end still held back, which marks it
    /// running (`claim.rs`), and it may end on another worker next.
    pub(crate) fn push_wake(&self, task: Notified, recorded: &mut Recorded) -> bool {
        let now = Instant::now();
        let mut inner = self.lock_recorded(recorded);
        if inner.closed {
            drop(inner);
            drop(task);
            return false;
        }
        let key = match task.raw().end_report().load(Relaxed) {
            NO_END_REPORT => None,
            bits => inner.graph.running_key(SlotRef::from_bits(bits), now),
        }
        // A started task names its running slot until its end is reported, and it is
        // not woken after that; a plain key keeps it runnable if that ever changes.
        .unwrap_or_else(|| ReadyKey::new(taskweave_scheduler::Priority::NORMAL, now));
        inner.ready.push_wake(key, task);
        self.ready_len.store(inner.ready.len(), Relaxed);
        true
    }

    /// One worker's trip to the graph: records `ends` (emptied), whose dependents are
    /// released or doomed, then picks ready tasks into `pick.into`, best first (see the
    /// module docs for how many). `finished` receives the graph's ownership of the
    /// tasks that ended, and `doomed` the tasks that will never start, for the caller
    /// to drop and cancel outside the lock. `done` is the caller's scratch buffer for
    /// what the ends release (a worker's own: shared scratch would move between the
    /// workers' caches with every exchange); it is left empty. A worker names itself
    /// as `buffered_by`: the ends it held back are recorded too. `claims` holds the
    /// tasks the worker claimed and gives back (first of all), and receives those this
    /// exchange claims (`claim.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn exchange(
        &self,
        ends: &mut Vec<End>,
        buffered_by: Option<usize>,
        mut pick: Pick<'_>,
        claims: &mut Claims,
        done: &mut Released<ExecTask>,
        finished: &mut Vec<ExecTask>,
        doomed: &mut Doomed,
    ) -> Exchanged {
        // Read the clock before taking the lock, unless this looks like a narrow
        // graph's step (one end, an empty heap), which may not need it at all.
        let mut now = Now::new(ends.len() != 1 || self.has_ready());
        let first_pick = pick.into.len();
        let mut notes = Notes::default();
        let mut leftovers = Vec::new();
        let mut guard = self.lock_for_exchange();
        let inner = &mut *guard;
        if let Some(worker) = buffered_by {
            self.buffered.drain_into(worker, ends);
        }
        done.clear();
        if !claims.is_empty() {
            inner.give_back(claims, done, doomed, &mut leftovers);
        }
        inner.record(ends, done, finished);
        let released = done.ready.len();
        inner.start_released(done, &mut pick, &mut notes, &mut now);
        let picked_directly = notes.slots().len();
        inner.apply(done, doomed, &mut now);
        // At most `max`, and at most half this worker's share of the heap: each
        // picked task is better than the other half, which the other workers find
        // as they come. A task that becomes ready (or wakes) meanwhile waits for at
        // most `max - 1` tasks picked before it, per worker.
        let share = match pick.max {
            0 => 0,
            max => (inner.ready.len() / (2 * pick.spread.max(1))).clamp(1, max.min(MAX_PICK)),
        };
        let mut wanted = share.saturating_sub(picked_directly);
        while wanted > 0 && !inner.ready.is_empty() {
            let now = now.get();
            wanted -= inner.pick_best(now, wanted, &mut |task, at| {
                pick.into.push_back(task);
                notes.push(at);
            });
        }
        // One task started, nothing left in the heap, short tasks: claim its chain.
        let one = (pick.into.len() - first_pick == 1).then(|| notes.slots()[0]);
        let claimed_after = match one.flatten() {
            Some(at) if pick.max > 1 && inner.ready.is_empty() && !inner.closed => {
                (inner.claim_chain(at, pick.max_claims, claims) > 0).then_some(at)
            }
            _ => None,
        };
        self.ready_len.store(inner.ready.len(), Relaxed);
        drop(guard);
        drop(leftovers);
        // Outside the lock: this touches each started task's header, rarely in this
        // core's cache. The worker runs the tasks only after this.
        for (task, at) in pick.into.iter().skip(first_pick).zip(notes.slots()) {
            if let Some(at) = at {
                ended::note_start(task.raw(), *at);
            }
        }
        Exchanged {
            released,
            now: now.0,
            claimed_after,
        }
    }

    /// Cancels a task that has not started. Returns `Ok(true)` if it was cancelled
    /// here, `Ok(false)` if it is running (the caller aborts it), `Err` with its state
    /// if it already finished or is unknown.
    pub(crate) fn cancel(
        &self,
        id: TaskId,
        recorded: &mut Recorded,
    ) -> Result<bool, Option<TaskState>> {
        let mut inner = self.lock_recorded(recorded);
        let inner = &mut *inner;
        let doomed = &mut recorded.doomed;
        match inner.graph.state(id) {
            Some(TaskState::Running) => return Ok(false),
            Some(TaskState::Waiting { .. } | TaskState::Ready) => {}
            other => return Err(other),
        }
        // Claimed by a worker (`claim.rs`): its `Notified` is out, as a started task's
        // is. Marked cancelled under the lock, so that a give-back sees it.
        if let Some(claimed) = inner.graph.payload(id).filter(|p| !p.0.holds_notified()) {
            claimed.abort_claimed();
            return Ok(false);
        }
        let mut done = std::mem::take(&mut inner.scratch);
        done.clear();
        // A queued task's heap item is now stale; the pop that meets it skips it.
        if inner.cancel_waiting(id, &mut done, doomed).is_err() {
            inner.scratch = done;
            return Err(inner.graph.state(id));
        }
        // Cancelling releases nothing: the clock is not read.
        inner.apply(&mut done, doomed, &mut Now::new(false));
        inner.scratch = done;
        self.ready_len.store(inner.ready.len(), Relaxed);
        Ok(true)
    }

    /// A copy of the counters (for `GraphMetrics`).
    pub(crate) fn stats(&self, recorded: &mut Recorded) -> super::stats::GraphStats {
        self.lock_recorded(recorded).stats
    }

    /// The recorded state of a task (for error reporting).
    pub(crate) fn state(&self, id: TaskId, recorded: &mut Recorded) -> Option<TaskState> {
        self.lock_recorded(recorded).graph.state(id)
    }

    /// Forgets the records of finished tasks; returns how many.
    pub(crate) fn forget_finished(&self, recorded: &mut Recorded) -> usize {
        self.lock_recorded(recorded).graph.forget_all_finished()
    }

    /// Shutdown: nothing enters the graph or the heap any more. Returns every task
    /// the graph still owns (not started, or running) and the heap's wake-ups, for the
    /// caller to cancel outside the lock ([`Closed::shutdown`]).
    pub(crate) fn close(&self) -> Closed {
        let mut inner = self.inner.lock();
        inner.closed = true;
        let tasks = inner.graph.take_all_payloads();
        let woken = inner.ready.take_wakes(Instant::now());
        self.ready_len.store(0, Relaxed);
        Closed { tasks, woken }
    }

    /// Tasks submitted and not yet ended (waiting, ready or running).
    pub(crate) fn live(&self, recorded: &mut Recorded) -> usize {
        self.lock_recorded(recorded).graph.len()
    }
}

/// What [`Dispatch::close`] took from the graph and the heap.
pub(crate) struct Closed {
    tasks: Vec<ExecTask>,
    woken: Vec<Notified>,
}

impl Closed {
    /// Cancels every task (outside the dispatch lock: a future's destructor may
    /// submit, wake or drop other tasks).
    pub(crate) fn shutdown(self) {
        // Wake-ups first: each is a reference to a running task cancelled below.
        drop(self.woken);
        for task in self.tasks {
            task.shutdown();
        }
    }
}

impl Inner {
    /// Records `ends` (emptied) in the graph: what they release or doom goes to
    /// `done`, the graph's ownership of the tasks to `finished`. After `close` they are
    /// dropped: shutdown cancels every task, and their ends are not failures for their
    /// dependents to inherit (their handles resolve as shut down).
    fn record(
        &mut self,
        ends: &mut Vec<End>,
        done: &mut Released<ExecTask>,
        finished: &mut Vec<ExecTask>,
    ) {
        if self.closed {
            ends.clear();
        }
        for end in ends.drain(..) {
            // Keys are stamped when they enter the heap (`apply`), so the graph's
            // stamp here is a placeholder.
            match self
                .graph
                .complete_at(end.at, end.outcome, self.placeholder_stamp, done)
            {
                Ok(held) => {
                    finished.extend(held);
                    self.stats.add_ended();
                    self.stats.add_outcome(end.outcome);
                    if let Some(next) = end.handed_to {
                        self.start_handed(next, done);
                    }
                }
                // Each end is reported once (ended.rs), by the slot the task
                // started in, which stays valid until then.
                Err(e) => debug_assert!(false, "refused end report: {e}"),
            }
        }
    }

    /// Cancels the waiting or ready task `id` in the graph: what that dooms goes to
    /// `done` (for [`apply`](Self::apply)), the task itself to `doomed`.
    fn cancel_waiting(
        &mut self,
        id: TaskId,
        done: &mut Released<ExecTask>,
        doomed: &mut Doomed,
    ) -> Result<(), taskweave_scheduler::StateError> {
        if let Some(task) = self.graph.cancel_payload(id, done)? {
            self.doom(doomed, task, None);
        }
        Ok(())
    }

    /// Hands a task that will never start to the caller (to cancel outside the lock)
    /// and counts it: `root` is the failed dependency that dooms it, `None` for a
    /// cancellation or shutdown.
    fn doom(&mut self, doomed: &mut Doomed, task: ExecTask, root: Option<TaskId>) {
        self.stats.add_doomed(root.is_some());
        doomed.push((task, root));
    }

    /// Applies what a graph operation released or doomed: ready tasks go into the
    /// heap (or, after `close`, are doomed), doomed ones are handed to the caller.
    /// Returns how many became ready. Leaves `done` empty.
    fn apply(
        &mut self,
        done: &mut Released<ExecTask>,
        doomed: &mut Doomed,
        now: &mut Now,
    ) -> usize {
        for (task, root) in done.failed.drain(..) {
            if let Some(task) = task {
                self.doom(doomed, task, Some(root));
            }
        }
        let released = done.ready.len();
        if self.closed {
            for (at, _) in done.ready.drain(..) {
                if let Some(task) = self.graph.take_payload(at) {
                    self.doom(doomed, task, None);
                }
            }
        } else if released > 0 {
            self.ready.push_starts(&done.ready, now.get());
            done.ready.clear();
        }
        released
    }
}
