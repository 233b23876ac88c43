//! A worker thread: run local tasks, look at the injector, steal, park.
//!
//! Invariants:
//! - Only the owning thread pushes to or pops from a worker's deque; thieves use its
//!   `Stealer` and take from the front (FIFO), in batches.
//! - Every `global_queue_interval` ticks the worker takes from the injector, then from
//!   its own deque, before anything else (the LIFO slot, the ExecutableTasks it picked,
//!   the ready heap), so neither outside tasks nor plain local tasks starve behind a
//!   busy stream of other work. A task that wakes itself goes to the back of the
//!   deque, behind the work already there.
//! - ExecutableTasks: the worker picks ready tasks from the heap, a few at a time
//!   while it holds many (its share, see `Dispatch::exchange`) and the tasks this
//!   worker started recently were short (at most `SHORT_TASK` each on average, timed
//!   between the exchanges that read the clock), and runs them in the order picked.
//!   The end of a task it ran is applied to the graph at once, except while the
//!   worker holds a batch of short tasks or the heap holds plenty: then it is held
//!   back for the worker's next exchange (`graph/ended.rs`), which happens when it has
//!   no picked task left and ends or ready tasks wait, before it steals or parks, when
//!   it holds `MAX_BUFFERED_ENDS`, and (if its tasks are not short) before its next
//!   picked task once the heap runs low. Picked tasks are not stealable: a task picked
//!   by a worker runs on it. Held-back ends are in the dispatch's buffer for this
//!   worker, which only this worker adds to, and which queries of the graph record
//!   (`graph/buffered.rs`).
//! - The worker's gate ledger (`graph/admit/ledger.rs`) may hold back a spare permit
//!   and some backlog leavings and completions only while the worker goes from one
//!   picked ExecutableTask to the next: `next_task` settles it before anything else
//!   (a plain task, stealing, parking), and so does the exit.
//! - A task spawned or woken by a running task takes the worker's LIFO slot and runs
//!   right after it, at most `MAX_LIFO_POLLS_PER_TICK` times in a row; the slot is not
//!   stealable, so whatever it displaces goes to the deque.
//! - A worker steals only while it is counted as *searching* and parks only through
//!   `Idle::transition_worker_to_parked` (see `idle.rs` for why no wake-up is lost).
//! - On exit (shutdown) the worker stops being the thread's worker before it drops
//!   the tasks left in its deque, so anything they schedule goes to the injector, which
//!   shutdown drains.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Instant;

use taskweave_scheduler::{Released, SlotRef};

use super::context;
use super::queue::{Steal, Worker};
use super::shared::Shared;
use crate::graph::dispatch::{Claims, ExecTask, Pick, MAX_CLAIMED, MAX_PICK};
use crate::graph::ended::{End, MAX_BUFFERED_ENDS};
use crate::sync::Arc;
use crate::task::Notified;

/// Consecutive LIFO-slot polls after one task before the slot's task must queue.
const MAX_LIFO_POLLS_PER_TICK: u32 = 3;

/// A worker picks ExecutableTasks in batches only while the ones it started recently
/// took at most this long each, on average: batching saves lock trips that matter
/// only for short tasks, and a task picked behind long ones would wait too long.
const SHORT_TASK: std::time::Duration = std::time::Duration::from_micros(10);

/// References to its runtime a worker keeps for freed tasks before it releases them
/// ([`WorkerCore::keep_runtime_reference`]).
const KEPT_RUNTIME_REFERENCES: usize = 64;

/// The worker's own state; lives on its thread's stack while it runs.
pub(crate) struct WorkerCore {
    index: usize,
    /// References to this runtime that ExecutableTasks freed here gave up, released in
    /// batches of [`KEPT_RUNTIME_REFERENCES`] (see [`keep_runtime_reference`]). Declared
    /// before `shared`, so they go first when the worker is dropped.
    ///
    /// [`keep_runtime_reference`]: Self::keep_runtime_reference
    kept_references: RefCell<Vec<Arc<Shared>>>,
    shared: Arc<Shared>,
    local: Worker<Notified>,
    /// The next task to run, ahead of the deque; only this worker sees it.
    lifo_slot: std::cell::Cell<Option<Notified>>,
    /// Ready ExecutableTasks picked from the heap, best first, to run on this worker.
    picked: RefCell<VecDeque<Notified>>,
    /// The chain the last exchange claimed after the task in `claims_after`, handed
    /// over one by one as each link succeeds (`graph/dispatch/claim.rs`).
    claims: RefCell<Claims>,
    /// The slot of the task whose success hands over the first of `claims` (`None`
    /// when there are none): the last picked task, or the last handed over.
    claims_after: std::cell::Cell<Option<SlotRef>>,
    /// True while that task is the one running (taken from `picked`, not ended yet).
    claims_armed: std::cell::Cell<bool>,
    /// How many tasks the next exchange may claim: halved (down to 1) each time claims
    /// go back unused, as when the links of a chain await (each would cost a claim
    /// and a give-back), doubled (up to `MAX_CLAIMED`) each time they are all used.
    claim_depth: std::cell::Cell<usize>,
    /// Ends of ExecutableTasks run here, on their way to the graph (scratch for each
    /// exchange, which also records the ends held back in the dispatch's buffer for
    /// this worker).
    ended: RefCell<Vec<End>>,
    /// Ends this worker held back since its last exchange (fewer if a query recorded
    /// them meanwhile, see `graph/buffered.rs`).
    held_back: std::cell::Cell<usize>,
    /// How many of those were handed over to a claimed task (`hand_over`): their one
    /// dependent is already running here, so nobody waits for them to be recorded.
    handed_over: std::cell::Cell<usize>,
    /// The graph's ownership of tasks whose end the last exchange recorded, dropped
    /// outside the lock; kept between exchanges so that recording ends allocates
    /// nothing.
    finished: RefCell<Vec<ExecTask>>,
    /// What the last exchange's ends released (emptied by each exchange): this
    /// worker's own, so it stays in this core's cache.
    released: RefCell<Released<ExecTask>>,
    /// Batch pacing: the clock reading of this worker's last exchange that took one,
    /// the ExecutableTasks it started since, and whether the tasks it ran recently
    /// were short (see [`SHORT_TASK`]).
    paced_at: std::cell::Cell<Option<Instant>>,
    started_since: std::cell::Cell<u32>,
    short_tasks: std::cell::Cell<bool>,
    /// True while `picked` or `ended` may be non-empty, or ends are held back: the one
    /// check a tick makes before the heap's hint when this worker runs no
    /// ExecutableTasks.
    exec_local: std::cell::Cell<bool>,
    tick: std::cell::Cell<u32>,
    is_searching: std::cell::Cell<bool>,
    rng: std::cell::Cell<u32>,
}

impl WorkerCore {
    pub(crate) fn new(index: usize, shared: Arc<Shared>, local: Worker<Notified>) -> WorkerCore {
        WorkerCore {
            index,
            kept_references: RefCell::new(Vec::with_capacity(KEPT_RUNTIME_REFERENCES)),
            shared,
            local,
            lifo_slot: std::cell::Cell::new(None),
            picked: RefCell::new(VecDeque::with_capacity(MAX_PICK)),
            claims: RefCell::new(Claims::with_capacity(MAX_CLAIMED)),
            claims_after: std::cell::Cell::new(None),
            claims_armed: std::cell::Cell::new(false),
            claim_depth: std::cell::Cell::new(MAX_CLAIMED),
            ended: RefCell::new(Vec::with_capacity(MAX_BUFFERED_ENDS)),
            held_back: std::cell::Cell::new(0),
            handed_over: std::cell::Cell::new(0),
            finished: RefCell::new(Vec::with_capacity(MAX_BUFFERED_ENDS)),
            released: RefCell::new(Released::default()),
            paced_at: std::cell::Cell::new(None),
            started_since: std::cell::Cell::new(0),
            short_tasks: std::cell::Cell::new(false),
            exec_local: std::cell::Cell::new(false),
            tick: std::cell::Cell::new(0),
            // Workers start awake and not searching (Idle::new counts them so).
            is_searching: std::cell::Cell::new(false),
            rng: std::cell::Cell::new(0x9E37_79B9 ^ (index as u32 + 1).wrapping_mul(0x85EB_CA6B)),
        }
    }

    /// This worker's index in its runtime.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Takes over `reference` to this worker's runtime from a task freed here, and
    /// releases such references in batches. Every task cell holds one; the thread that
    /// builds tasks takes them and the worker that frees them gives them back, so
    /// releasing each at once would move the count's cache line between the two cores
    /// with every task. Returns it if it is another runtime's.
    pub(crate) fn keep_runtime_reference(&self, reference: Arc<Shared>) -> Option<Arc<Shared>> {
        if !self.serves(&reference) {
            return Some(reference);
        }
        let mut kept = self.kept_references.borrow_mut();
        kept.push(reference);
        if kept.len() >= KEPT_RUNTIME_REFERENCES {
            // None is the last: the worker holds its own.
            kept.clear();
        }
        None
    }

    /// True if this worker belongs to the runtime whose shared state is `shared`.
    pub(crate) fn serves(&self, shared: &Shared) -> bool {
        std::ptr::eq(&*self.shared, shared)
    }

    /// Schedules a task spawned or woken by a task this worker is running: it takes
    /// the LIFO slot and runs next (message passing stays on one warm core); whatever
    /// held the slot moves to the back of the deque, where others may steal it.
    pub(crate) fn schedule_local(&self, task: Notified) {
        if let Some(previous) = self.lifo_slot.replace(Some(task)) {
            self.push_back(previous);
        }
    }

    /// Records the end of an ExecutableTask run on this worker. While this worker
    /// holds a batch of short tasks it picked, or the heap holds plenty of ready work
    /// (enough for every worker to pick batches), the end is held back for the
    /// worker's next trip to the graph (or a query's, see `graph/buffered.rs`);
    /// otherwise, or once [`MAX_BUFFERED_ENDS`] are held back, it is applied at once —
    /// and if the worker has no picked task left, it picks its next ones on the same
    /// trip.
    ///
    /// The end of the task whose success hands over this worker's next claimed task
    /// does that instead, while the heap is empty (see [`hand_over`](Self::hand_over));
    /// otherwise the claims go back to the graph on the same trip.
    pub(crate) fn buffer_end(&self, end: End) {
        self.exec_local.set(true);
        if self.claims_armed.get() && self.claims_after.get() == Some(end.at) {
            self.claims_armed.set(false);
            if end.outcome.is_ok() && self.hand_over(end) {
                return;
            }
        }
        let gives_back = !self.claims.borrow().is_empty();
        let holds_short_picks = self.batches_ends() && !self.picked.borrow().is_empty();
        if !gives_back
            && (holds_short_picks || self.ready_is_plenty())
            && self.held_back.get() + 1 < MAX_BUFFERED_ENDS
        {
            self.shared.dispatch.buffer_end(self.index, end);
            self.held_back.set(self.held_back.get() + 1);
            return;
        }
        self.ended.borrow_mut().push(end);
        let max_pick = if self.picked.borrow().is_empty() {
            MAX_PICK
        } else {
            0
        };
        self.exchange(max_pick);
    }

    /// Runs the next claimed task after the one that just succeeded with `end`, if the
    /// heap is still empty (the claimed task would be the next pick anyway): holds the
    /// end back marked as handed to it, notes its slot for its own end's report, and
    /// queues it to run next. Returns false (changing nothing) if the heap holds work.
    fn hand_over(&self, end: End) -> bool {
        if self.shared.dispatch.has_ready() || self.held_back.get() + 1 >= MAX_BUFFERED_ENDS {
            return false;
        }
        let Some((at, task)) = self.claims.borrow_mut().pop_front() else {
            return false;
        };
        let handed = End {
            handed_to: Some(at),
            ..end
        };
        self.shared.dispatch.buffer_end(self.index, handed);
        self.held_back.set(self.held_back.get() + 1);
        self.handed_over.set(self.handed_over.get() + 1);
        crate::graph::ended::note_start(task.raw(), at);
        let more = !self.claims.borrow().is_empty();
        self.claims_after.set(more.then_some(at));
        self.picked.borrow_mut().push_front(task);
        true
    }

    /// Arms the claims if the task about to run is the one whose success hands them
    /// over: the last picked one (an exchange claims only when it picks exactly one
    /// task into an empty `picked`, and a hand-over queues exactly one).
    fn arm_claims(&self) {
        if self.claims_after.get().is_some() && self.picked.borrow().is_empty() {
            self.claims_armed.set(true);
        }
    }

    /// Applies the buffered ends to the graph and picks up to `max_pick` ready tasks
    /// (see `Dispatch::exchange`) into `picked`, under one lock.
    fn exchange(&self, max_pick: usize) {
        let shared = &*self.shared;
        // Taken out of the cells for the call: dropping and cancelling below may run
        // code that reports more ends here.
        let mut ends = std::mem::take(&mut *self.ended.borrow_mut());
        let mut picked = std::mem::take(&mut *self.picked.borrow_mut());
        let mut finished = std::mem::take(&mut *self.finished.borrow_mut());
        let mut claims = std::mem::take(&mut *self.claims.borrow_mut());
        let depth = self.claim_depth.get();
        if !claims.is_empty() {
            self.claim_depth.set((depth / 2).max(1));
        } else if self.claims_after.get().is_none() && self.handed_over.get() > 0 {
            // The last claims were all handed over.
            self.claim_depth.set((depth * 2).min(MAX_CLAIMED));
        }
        let mut doomed = Vec::new();
        let pick = Pick {
            into: &mut picked,
            // Batches only of short tasks: a long one ahead in a batch would hold
            // back a better task that becomes ready meanwhile for too long.
            max: if self.short_tasks.get() {
                max_pick
            } else {
                max_pick.min(1)
            },
            spread: shared.remotes.len(),
            max_claims: self.claim_depth.get(),
        };
        let exchanged = shared.dispatch.exchange(
            &mut ends,
            // Only this worker adds to its buffer: none held back, none there.
            (self.held_back.get() > 0).then_some(self.index),
            pick,
            &mut claims,
            &mut self.released.borrow_mut(),
            &mut finished,
            &mut doomed,
        );
        // It recorded the ends held back too (re-entrant reports below count anew).
        self.held_back.set(0);
        self.handed_over.set(0);
        // It gave back the claims this worker held, and may have claimed anew.
        *self.claims.borrow_mut() = claims;
        self.claims_after.set(exchanged.claimed_after);
        self.claims_armed.set(false);
        // A worker whose tasks are not (yet) known to be short reads the clock for its
        // pace even when the exchange did not (a narrow graph's step): otherwise a
        // chain on a fresh worker would never show its tasks short.
        let now = exchanged
            .now
            .or_else(|| (!self.short_tasks.get()).then(Instant::now));
        if let Some(now) = now {
            self.pace(now);
        }
        let released = exchanged.released;
        {
            // Give the (now empty) buffers back, keeping their capacity, unless
            // something was buffered meanwhile.
            let mut ended = self.ended.borrow_mut();
            if ended.is_empty() {
                *ended = ends;
            }
            let mut cell = self.picked.borrow_mut();
            if cell.is_empty() {
                *cell = picked;
            } else {
                cell.extend(picked);
            }
            self.exec_local.set(!cell.is_empty() || !ended.is_empty());
        }
        // Dropping a task may run user code (its output's destructor) that re-enters
        // this worker, so the buffer is out of its cell meanwhile.
        finished.clear();
        {
            let mut cell = self.finished.borrow_mut();
            if cell.capacity() == 0 {
                *cell = finished;
            }
        }
        if released > 0 && shared.dispatch.has_ready() {
            shared.notify_one();
        }
        crate::graph::cancel_doomed(doomed);
    }

    /// Notes an exchange's clock reading: the ExecutableTasks started since the
    /// previous reading were short if they took at most [`SHORT_TASK`] each on average
    /// (time parked or spent on other work counts too, which errs towards strict
    /// order). With none started, the verdict stands.
    fn pace(&self, now: Instant) {
        let started = self.started_since.replace(0);
        if let Some(since) = self.paced_at.replace(Some(now)) {
            if started > 0 {
                let elapsed = now.saturating_duration_since(since);
                self.short_tasks.set(elapsed <= SHORT_TASK * started);
            }
        }
    }

    /// Counts an ExecutableTask this worker is about to run (for [`pace`](Self::pace)).
    fn started(&self, task: Notified) -> Notified {
        self.started_since
            .set(self.started_since.get().saturating_add(1));
        task
    }

    /// The next ExecutableTask this worker picked, or a trip to the graph when it has
    /// none left and ends or ready tasks wait.
    fn next_exec_task(&self) -> Option<Notified> {
        if self.claims_armed.replace(false) {
            // The task whose success hands the claims over ran and did not end (its
            // end disarms them): they go back to the graph.
            self.exchange(0);
        }
        if self.exec_local.get() {
            let next = {
                let mut picked = self.picked.borrow_mut();
                let next = picked.pop_front();
                // The next picked task runs after this one: start loading its cell
                // now, as its memory is rarely in this core's cache.
                if let Some(after) = picked.front() {
                    after.prefetch();
                }
                next
            };
            if let Some(task) = next {
                let awaited = self.held_back.get() > self.handed_over.get();
                if awaited && !self.batches_ends() && !self.ready_is_plenty() {
                    // Ready work ran low while this worker held ends back and its
                    // tasks are not short: release their dependents before running on,
                    // so nobody idles for them. (Short tasks' ends wait for the end of
                    // the batch: a trip per task would cost more than they do. Ends
                    // handed over have no dependent left to release.)
                    self.exchange(0);
                }
                self.arm_claims();
                return Some(self.started(task));
            }
            if self.held_back.get() == 0 {
                self.exec_local.set(false);
            }
        }
        if !self.exec_local.get() && !self.shared.dispatch.has_ready() {
            return None;
        }
        self.exchange(MAX_PICK);
        let next = self.picked.borrow_mut().pop_front()?;
        self.arm_claims();
        Some(self.started(next))
    }

    /// Whether this worker holds back the ends of a batch of tasks it picked until the
    /// batch is done, even when the heap runs low: while its tasks are short and other
    /// workers share the graph's lock (each trip to it costs them a wait; alone, a
    /// worker does better releasing dependents as it goes, which keeps the tasks it
    /// runs next close to the data their dependencies just wrote).
    fn batches_ends(&self) -> bool {
        self.short_tasks.get() && self.shared.remotes.len() > 1
    }

    /// True while the ready heap holds enough for every worker to pick full batches
    /// (`2 * MAX_PICK` tasks per worker): then ends may wait in the buffer (see
    /// `buffer_end`).
    fn ready_is_plenty(&self) -> bool {
        self.shared.dispatch.ready_len() >= 2 * MAX_PICK * self.shared.remotes.len()
    }

    /// Queues a task at the back of this worker's deque and, if nobody is looking
    /// for work while someone sleeps, wakes a sleeper to steal it.
    pub(crate) fn push_back(&self, task: Notified) {
        self.local.push(task);
        if self.shared.idle.wants_helper() {
            self.shared.notify_one();
        }
    }

    /// The worker loop; returns when the runtime shuts down.
    pub(crate) fn run(self) {
        let shared = self.shared.clone();
        {
            let _entered = context::enter(super::Handle {
                shared: shared.clone(),
            });
            let _driving = context::try_enter_blocking();
            let _worker = context::set_worker(&self);
            if let Some(hook) = &shared.config.on_thread_start {
                hook();
            }
            let mut busy_since = Instant::now();
            while !shared.is_shutdown() {
                if let Some(task) = self.next_task().or_else(|| self.steal_work()) {
                    self.run_task(task);
                    continue;
                }
                self.stats().add_busy(busy_since.elapsed());
                self.park();
                busy_since = Instant::now();
            }
        }
        // No longer this thread's worker: what dropping these tasks schedules goes to
        // the injector, which shutdown drains.
        drop(self.lifo_slot.take());
        // Ends still buffered: the graph must learn of them (it counts those tasks as
        // running). Picked tasks not run are cancelled by shutdown, through the graph;
        // so are claimed ones, which this exchange gives back.
        self.exchange(0);
        self.settle_gate();
        drop(self.picked.take());
        while let Some(task) = self.local.pop() {
            drop(task);
        }
        if let Some(hook) = &shared.config.on_thread_stop {
            hook();
        }
        shared.worker_exited();
    }

    /// Hands on what this worker's gate ledger holds back (`graph/admit/ledger.rs`):
    /// a spare permit, backlog leavings, completions. Called before the worker does
    /// anything but run its next picked ExecutableTask.
    fn settle_gate(&self) {
        if let Some(gate) = self.shared.monitor.gate() {
            if gate.ledger_holds(self.index) {
                gate.settle(self.index);
            }
        }
    }

    fn stats(&self) -> &super::metrics::WorkerStats {
        &self.shared.stats[self.index]
    }

    fn next_task(&self) -> Option<Notified> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick.is_multiple_of(self.shared.config.global_queue_interval) {
            // Fairness: the injector, then this worker's deque, get a turn even while
            // hand-overs and the ready heap keep this worker busy.
            if let Some(task) = self.shared.steal_injector() {
                self.settle_gate();
                return Some(task);
            }
            if let Some(task) = self.local.pop() {
                self.settle_gate();
                return Some(task);
            }
        }
        if let Some(task) = self.lifo_slot.take() {
            self.settle_gate();
            return Some(task);
        }
        if let Some(task) = self.next_exec_task() {
            return Some(task);
        }
        // Whatever comes next (a plain task, stealing, parking) is no picked
        // ExecutableTask, which alone may use what the gate ledger holds back.
        self.settle_gate();
        if let Some(task) = self.local.pop() {
            return Some(task);
        }
        loop {
            match self.shared.injector.steal_batch_and_pop(&self.local) {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    fn steal_work(&self) -> Option<Notified> {
        if !self.is_searching.get() {
            if !self.shared.idle.transition_worker_to_searching() {
                return None;
            }
            self.is_searching.set(true);
        }
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        loop {
            let mut retry = false;
            let start = self.next_random(n);
            for offset in 0..n {
                let victim = (start + offset) % n;
                if victim == self.index {
                    continue;
                }
                match remotes[victim].stealer.steal_batch_and_pop(&self.local) {
                    Steal::Success(task) => {
                        self.stats().add_steal(1 + self.local.len() as u64);
                        return Some(task);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            match self.shared.injector.steal_batch_and_pop(&self.local) {
                Steal::Success(task) => return Some(task),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            if let Some(task) = self.next_exec_task() {
                return Some(task);
            }
            if !retry {
                return None;
            }
        }
    }

    fn run_task(&self, task: Notified) {
        if self.is_searching.replace(false) && self.shared.idle.transition_worker_from_searching() {
            // The last searcher found work; more may be queued behind it.
            self.shared.notify_one();
        }
        self.stats().add_poll();
        // `task.run()`, recorded while a trace session runs (trace.rs).
        self.shared.trace.run(self.index, task);
        // Run what the task handed over through the LIFO slot, a few times at most,
        // so a pair of tasks that keep waking each other cannot starve the deque.
        let mut lifo_polls = 0;
        while let Some(next) = self.lifo_slot.take() {
            if lifo_polls == MAX_LIFO_POLLS_PER_TICK || self.shared.is_shutdown() {
                self.push_back(next);
                break;
            }
            lifo_polls += 1;
            self.settle_gate();
            self.stats().add_poll();
            self.shared.trace.run(self.index, next);
        }
    }

    fn park(&self) {
        let shared = &*self.shared;
        let was_searching = self.is_searching.replace(false);
        if shared
            .idle
            .transition_worker_to_parked(self.index, was_searching)
            && shared.has_queued_work()
        {
            // Last searcher, and work appeared meanwhile (idle.rs, rule 3).
            shared.notify_one();
        }
        self.stats().add_park();
        loop {
            shared.remotes[self.index].parker.park();
            if shared.is_shutdown() {
                return;
            }
            // Notified: the notifier took us off the sleeper list and counted us as
            // searching. Still listed: a stale token; park again.
            if !shared.idle.still_parked(self.index, false) {
                self.is_searching.set(true);
                return;
            }
        }
    }

    fn next_random(&self, n: usize) -> usize {
        // xorshift32: cheap, good enough to spread victims.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        (x as usize) % n
    }
}
