//! The gate without a runtime: tickets polled by hand with counting wakers.

use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::task::Wake;
use std::time::Instant;

use taskweave_monitor::{Budget, ControllerConfig, Pressure, Requirements};

use super::{Gate, GateConfig, Pending, Ticket};
use crate::sync::{Arc, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Wakes(StdAtomicUsize);

impl Wake for Wakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A ticket, its gate and the waker its polls use; dropped, it abandons the ticket,
/// as a dropped runner does.
struct Polled {
    gate: Arc<Gate>,
    ticket: Ticket,
    wakes: std::sync::Arc<Wakes>,
    waker: Waker,
    /// The worker it starts and ends on (with that worker's ledger), if any.
    worker: Option<usize>,
}

impl Polled {
    fn new(gate: &Arc<Gate>, priority: u8, memory: u64) -> Polled {
        Polled::counted(gate, priority, memory, Pending::No)
    }
    fn counted(gate: &Arc<Gate>, priority: u8, memory: u64, pending: Pending) -> Polled {
        let wakes = std::sync::Arc::new(Wakes::default());
        Polled {
            gate: gate.clone(),
            ticket: Ticket::new(Requirements::new(0.0, memory), priority, pending),
            waker: wakes.clone().into(),
            wakes,
            worker: None,
        }
    }
    /// A task counted in the backlog that starts and ends on `worker`.
    fn on_worker(gate: &Arc<Gate>, worker: usize, memory: u64) -> Polled {
        gate.backlog.reserve(1);
        let mut task = Polled::counted(gate, 5, memory, Pending::Counted);
        task.worker = Some(worker);
        task
    }
    fn started(&mut self) -> bool {
        let mut cx = Context::from_waker(&self.waker);
        self.ticket
            .poll_start(&self.gate, || self.worker, &mut cx)
            .is_ready()
    }
    fn finish(&mut self) {
        self.ticket.finish(&self.gate, self.worker);
    }
    fn woken(&self) -> usize {
        self.wakes.0.load(SeqCst)
    }
}

impl Drop for Polled {
    fn drop(&mut self) {
        self.ticket.abandon(&self.gate);
    }
}

fn gate(limit: usize, memory: u64, pending_capacity: usize) -> Arc<Gate> {
    Arc::new(Gate::new(GateConfig {
        controller: ControllerConfig {
            min_limit: limit,
            max_limit: limit,
            initial_limit: limit,
            ..ControllerConfig::default()
        },
        capacity: Budget::new(4.0, memory),
        memory_headroom: 0.1,
        pending_capacity,
        workers: 2,
    }))
}

#[test]
fn permits_go_by_priority_then_fifo_and_pass_on_at_release() {
    let g = gate(1, 0, 8);
    let mut first = Polled::new(&g, 5, 0);
    assert!(first.started());
    let mut low = Polled::new(&g, 1, 0);
    let mut high_a = Polled::new(&g, 9, 0);
    let mut high_b = Polled::new(&g, 9, 0);
    for p in [&mut low, &mut high_a, &mut high_b] {
        assert!(!p.started());
    }
    assert_eq!(g.counts().waiting, 3);
    first.finish();
    assert_eq!((high_a.woken(), high_b.woken(), low.woken()), (1, 0, 0));
    assert!(high_a.started());
    assert!(!high_b.started() && !low.started());
    high_a.finish();
    assert!(high_b.started());
    assert!(!low.started());
    high_b.finish();
    assert!(low.started());
    low.finish();
    let c = g.counts();
    assert_eq!(
        (c.in_flight, c.waiting, c.started, c.completed),
        (0, 0, 4, 4)
    );
}

#[test]
fn the_head_is_not_overtaken_by_a_smaller_request_that_would_fit() {
    let g = gate(10, 100, 8);
    let mut holder = Polled::new(&g, 5, 60);
    assert!(holder.started());
    let mut big = Polled::new(&g, 9, 60);
    let mut small = Polled::new(&g, 1, 10);
    assert!(!big.started());
    assert!(
        !small.started(),
        "10 would fit, but the more urgent head waits"
    );
    holder.finish();
    // 60 + 10 fit together: both are granted, head first.
    assert!(big.started() && small.started());
    assert_eq!(g.counts().used.memory, 70);
    drop(big);
    drop(small);
    assert_eq!(g.counts().used.memory, 0);
}

#[test]
fn a_waiter_dropped_after_its_grant_passes_it_on() {
    let g = gate(1, 0, 8);
    let mut running = Polled::new(&g, 5, 0);
    assert!(running.started());
    let mut granted = Polled::new(&g, 9, 0);
    let mut next = Polled::new(&g, 1, 0);
    assert!(!granted.started() && !next.started());
    running.finish();
    assert_eq!(granted.woken(), 1);
    drop(granted); // cancelled before it could run
    assert_eq!(next.woken(), 1);
    assert!(next.started());
    assert_eq!(g.counts().in_flight, 1);
    drop(next);
    let c = g.counts();
    assert_eq!((c.in_flight, c.waiting, c.completed), (0, 0, 1));
}

#[test]
fn close_grants_nothing_more_and_drops_the_waiters_wakers() {
    let g = gate(1, 0, 8);
    let mut running = Polled::new(&g, 5, 0);
    assert!(running.started());
    let mut waiting = Polled::new(&g, 5, 0);
    assert!(!waiting.started());
    let before = std::sync::Arc::strong_count(&waiting.wakes);
    g.close();
    assert_eq!(std::sync::Arc::strong_count(&waiting.wakes), before - 1);
    running.finish();
    assert!(!waiting.started());
    assert_eq!(waiting.woken(), 0);
    let mut late = Polled::new(&g, 5, 0);
    assert!(!late.started(), "nothing starts after close");
    let c = g.counts();
    assert_eq!((c.in_flight, c.waiting), (0, 0));
}

#[test]
fn tickets_leave_the_backlog_once_when_they_start_or_drop() {
    let g = gate(1, 0, 4);
    let b = &g.backlog;
    assert!(b.try_reserve(3));
    assert!(!b.try_reserve(2), "3 + 2 > 4");
    b.reserve(2); // `submit` is never refused
    assert_eq!(b.len(), 5);
    let mut t = Polled::counted(&g, 1, 0, Pending::Counted);
    assert!(t.started());
    assert_eq!(b.len(), 4);
    t.finish();
    drop(t);
    assert_eq!(b.len(), 4, "left once, at start");
    b.reserve(1);
    drop(Polled::counted(&g, 1, 0, Pending::Counted));
    assert_eq!(b.len(), 4, "dropped unstarted: left once");
    drop(Polled::new(&g, 1, 0));
    assert_eq!(b.len(), 4);
    // Abandoned, then dropped (which abandons again): still left once.
    b.reserve(1);
    let mut t = Polled::counted(&g, 1, 0, Pending::Counted);
    t.ticket.abandon(&g);
    assert_eq!(b.len(), 4);
    drop(t);
    assert_eq!(b.len(), 4);
    // A batch larger than the capacity gets in once nothing is pending.
    b.unreserve(4);
    assert!(b.try_reserve(10));
}

#[test]
fn a_waiting_submitter_is_woken_when_room_appears_and_released_at_close() {
    let g = gate(1, 0, 1);
    g.backlog.reserve(1);
    let wakes = std::sync::Arc::new(Wakes::default());
    let waker: Waker = wakes.clone().into();
    let mut cx = Context::from_waker(&waker);
    let mut registration = None;
    assert_eq!(
        g.backlog.poll_reserve(1, &mut cx, &mut registration),
        Poll::Pending
    );
    g.backlog.unreserve(1);
    assert_eq!(wakes.0.load(SeqCst), 1);
    assert_eq!(
        g.backlog.poll_reserve(1, &mut cx, &mut registration),
        Poll::Ready(true)
    );
    assert_eq!(
        g.backlog.poll_reserve(1, &mut cx, &mut registration),
        Poll::Pending
    );
    g.close();
    assert_eq!(wakes.0.load(SeqCst), 2);
    assert_eq!(
        g.backlog.poll_reserve(1, &mut cx, &mut registration),
        Poll::Ready(false)
    );
}

#[test]
fn a_tick_moves_the_limit_and_grants_what_fits() {
    let g = Arc::new(Gate::new(GateConfig {
        controller: ControllerConfig {
            min_limit: 1,
            max_limit: 8,
            initial_limit: 1,
            confirm_ticks: 1,
            ..ControllerConfig::default()
        },
        capacity: Budget::new(4.0, 0),
        memory_headroom: 0.1,
        pending_capacity: 8,
        workers: 1,
    }));
    let mut running = Polled::new(&g, 5, 0);
    assert!(running.started());
    let mut waiting = Polled::new(&g, 5, 0);
    assert!(!waiting.started());
    let mut idle = Pressure::empty(Instant::now());
    idle.cpu_usage = 0.05;
    g.on_pressure(&idle); // used, CPU idle: grow
    assert_eq!(g.counts().limit, 2);
    assert_eq!(waiting.woken(), 1);
    assert!(waiting.started());
    let mut busy = Pressure::empty(Instant::now() + std::time::Duration::from_secs(1));
    busy.cpu_usage = 0.99;
    g.on_pressure(&busy);
    assert_eq!(g.counts().limit, 1);
    assert_eq!(g.counts().in_flight, 2, "a lower limit revokes no permit");
}

#[test]
fn a_start_that_leaves_a_full_backlog_wakes_a_waiting_submitter() {
    let g = gate(1, 0, 1);
    g.backlog.reserve(1);
    let mut task = Polled::counted(&g, 1, 0, Pending::Counted);
    let wakes = task.wakes.clone();
    let waker = task.waker.clone();
    let mut cx = Context::from_waker(&waker);
    let mut registration = None;
    assert_eq!(
        g.backlog.poll_reserve(1, &mut cx, &mut registration),
        Poll::Pending
    );
    // Takes the slot and leaves the backlog in one step, and wakes the submitter.
    assert!(task.started());
    assert_eq!((g.counts().in_flight, g.backlog.len()), (1, 0));
    assert_eq!(wakes.0.load(SeqCst), 1);
    assert_eq!(
        g.backlog.poll_reserve(1, &mut cx, &mut registration),
        Poll::Ready(true)
    );
    task.finish();
    drop(task);
    let c = g.counts();
    assert_eq!(
        (c.in_flight, c.pending, c.started, c.completed),
        (0, 1, 1, 1)
    );
}

#[test]
fn a_newcomer_queues_behind_a_waiter_and_the_queue_flag_clears_when_it_empties() {
    let g = gate(1, 0, 8);
    let mut running = Polled::new(&g, 5, 0);
    assert!(running.started());
    let mut waiting = Polled::new(&g, 1, 0);
    assert!(!waiting.started());
    running.finish();
    // The permit went to the waiter: a newcomer (even of higher priority) finds none.
    let mut newcomer = Polled::new(&g, 9, 0);
    assert!(!newcomer.started());
    assert!(waiting.started());
    waiting.finish();
    assert!(newcomer.started());
    newcomer.finish();
    // Nothing waits any more: the next start takes a slot at once, again and again.
    for _ in 0..3 {
        let mut next = Polled::new(&g, 1, 0);
        assert!(next.started());
        next.finish();
        assert_eq!(next.woken(), 0);
    }
    let c = g.counts();
    assert_eq!((c.in_flight, c.waiting, c.completed), (0, 0, 6));
}

// ---- Worker ledgers (ledger.rs) ----------------------------------------------------

/// The state's raw counts: (permits held, pending), and the completion count, as the
/// state has them (without what the ledgers hold back).
fn raw(g: &Gate) -> (usize, usize, u64) {
    (
        g.in_flight(),
        g.backlog.len(),
        g.backlog.counts.completed.load(SeqCst),
    )
}

/// A gate whose first start (measured for latency, so never kept in a ledger) is
/// done — one task started and finished, not on a worker — with its completion and
/// abandon counts set back to zero.
fn gate_past_first_sample(limit: usize, memory: u64, pending_capacity: usize) -> Arc<Gate> {
    let g = gate(limit, memory, pending_capacity);
    let mut first = Polled::new(&g, 5, 0);
    assert!(first.started());
    first.finish();
    g.backlog.counts.completed.store(0, SeqCst);
    g.abandoned.store(0, SeqCst);
    g
}

#[test]
fn a_worker_reuses_its_spare_permit_without_touching_the_state() {
    let g = gate_past_first_sample(1, 0, 8);
    let mut a = Polled::on_worker(&g, 0, 0);
    let mut b = Polled::on_worker(&g, 0, 0);
    assert!(a.started());
    assert_eq!(raw(&g), (1, 1, 0));
    a.finish();
    // The permit stays with worker 0: the state still counts it, the counts do not.
    assert_eq!(raw(&g), (1, 1, 0));
    let c = g.counts();
    assert_eq!(
        (c.in_flight, c.pending, c.started, c.completed),
        (0, 1, 1, 1)
    );
    assert!(b.started(), "the spare permit, though the limit is 1");
    assert_eq!(raw(&g), (1, 1, 0), "no write to the state");
    let c = g.counts();
    assert_eq!(
        (c.in_flight, c.pending, c.started, c.completed),
        (1, 0, 2, 1)
    );
    b.finish();
    g.settle(0);
    assert_eq!(raw(&g), (0, 0, 2));
    let c = g.counts();
    assert_eq!(
        (c.in_flight, c.pending, c.started, c.completed),
        (0, 0, 2, 2)
    );
}

#[test]
fn a_waiter_gets_the_spare_permit_when_its_worker_settles() {
    let g = gate_past_first_sample(1, 0, 8);
    let mut a = Polled::on_worker(&g, 0, 0);
    assert!(a.started());
    a.finish();
    let mut waiting = Polled::new(&g, 1, 0);
    assert!(
        !waiting.started(),
        "the spare permit counts against the limit"
    );
    assert_eq!(waiting.woken(), 0);
    g.settle(0); // the worker is about to run something else, or to park
    assert_eq!(waiting.woken(), 1);
    assert!(waiting.started());
    assert_eq!(raw(&g), (1, 0, 1));
}

#[test]
fn a_start_that_finds_a_waiter_hands_it_the_spare_and_queues_behind_it() {
    let g = gate_past_first_sample(1, 0, 8);
    let mut a = Polled::on_worker(&g, 0, 0);
    assert!(a.started());
    a.finish();
    let mut waiting = Polled::new(&g, 1, 0);
    assert!(!waiting.started());
    let mut next = Polled::on_worker(&g, 0, 0);
    assert!(!next.started(), "it queues behind the waiter");
    assert_eq!(waiting.woken(), 1, "settled: the spare went to the waiter");
    assert!(waiting.started());
    waiting.finish();
    assert_eq!(next.woken(), 1);
    assert!(next.started());
    next.finish(); // nothing waits: the permit may stay with worker 0
    let c = g.counts();
    assert_eq!(
        (c.in_flight, c.pending, c.started, c.completed),
        (0, 0, 3, 3)
    );
}

#[test]
fn an_end_keeps_no_spare_while_a_task_waits() {
    let g = gate_past_first_sample(2, 0, 8);
    let mut a = Polled::on_worker(&g, 0, 0);
    let mut b = Polled::new(&g, 5, 0);
    assert!(a.started() && b.started());
    let mut waiting = Polled::new(&g, 1, 0);
    assert!(!waiting.started());
    a.finish();
    assert_eq!(waiting.woken(), 1, "released at once, not kept");
    assert!(waiting.started());
    assert_eq!(raw(&g).0, 2);
}

#[test]
fn declared_tasks_keep_no_spare() {
    let g = gate_past_first_sample(1, 100, 8);
    let mut a = Polled::on_worker(&g, 0, 10);
    assert!(a.started());
    a.finish();
    assert_eq!(raw(&g), (0, 0, 1), "released and counted at once");
    assert_eq!(g.counts().used.memory, 0);
}

#[test]
fn a_ledger_settles_its_counts_every_max_batched_tasks() {
    // Some of these starts are sampled for latency (one in 16 per thread): their
    // latencies are kept in the ledger too, and handed on with its counts.
    let g = gate_past_first_sample(1, 0, 160);
    let n = 2 * super::ledger::MAX_BATCHED as usize + 3;
    let mut tasks: Vec<_> = (0..n).map(|_| Polled::on_worker(&g, 1, 0)).collect();
    for (i, task) in tasks.iter_mut().enumerate() {
        assert!(task.started(), "task {i}");
        task.finish();
        // The counts are exact whatever the ledger holds back...
        let c = g.counts();
        assert_eq!(
            (c.in_flight, c.pending, c.started, c.completed),
            (0, n - i - 1, i as u64 + 1, i as u64 + 1)
        );
        // ...and the state lags by less than a batch.
        let (_, pending, completed) = raw(&g);
        assert!(pending - (n - i - 1) < super::ledger::MAX_BATCHED as usize);
        assert!(i as u64 + 1 - completed < u64::from(super::ledger::MAX_BATCHED));
    }
    g.settle(1);
    assert_eq!(raw(&g), (0, 0, n as u64));
    assert!(!g.ledger_holds(1));
    let sampled = g.sampled.count.load(SeqCst);
    assert!(sampled >= (n / 16) as u64, "{sampled} latencies handed on");
}

#[test]
fn the_backlog_bound_does_not_count_tasks_a_ledger_noted_as_started() {
    let g = gate_past_first_sample(1, 0, 2);
    let mut a = Polled::on_worker(&g, 0, 0);
    assert!(a.started());
    a.finish(); // its permit stays with worker 0
    let mut b = Polled::on_worker(&g, 0, 0);
    assert!(b.started(), "with the spare permit");
    // b left the backlog in worker 0's ledger only.
    assert_eq!(raw(&g).1, 1);
    assert_eq!(g.counts().pending, 0);
    assert!(!g.backlog.try_reserve(2), "the state alone would refuse");
    assert!(g.try_reserve(2), "nothing is pending: room for 2");
    assert!(!g.try_reserve(1), "2 pending, capacity 2");
    b.finish();
    g.settle(0);
    assert_eq!(raw(&g).1, 2);
    assert_eq!(g.counts().pending, 2);
    g.backlog.unreserve(2);
}
