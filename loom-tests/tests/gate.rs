//! loom models of two permit hand-offs: the monitor's gate for ExecutableTasks
//! (`executor/src/graph/admit.rs`) and a supervised task's run slot
//! (`executor/src/supervise/runner.rs`).
//!
//! What every model checks, in every interleaving:
//! - no lost wake-up: a task waiting for a permit is woken once one is free for it
//!   (loom reports a deadlock otherwise, since the waiter blocks in `block_on`);
//! - permits are conserved: at the end nothing is held or waiting, whatever was
//!   released, abandoned or closed;
//! - the gate never lets more than its limit run, and a slot never has two holders.
//!
//! The gate keeps its in-flight count, its `QUEUED` flag and the backlog's pending
//! count and `ROOM` flag in one state word, and every side of each hand-off is a
//! read-modify-write of it (no fences): these models check that ordering them by the
//! word's modification order loses no wake-up.
//!
//! Models:
//! - `release_racing_enqueue_wakes_the_waiter`: a running task ends while another asks
//!   for the only permit (release's `fetch_sub` vs. the waiter setting `QUEUED` and then
//!   trying the slot).
//! - `a_release_hands_off_to_the_waiter_not_to_a_newcomer`: a running task ends while a
//!   task waits for the only permit and a third one starts (the newcomer's CAS refuses
//!   while `QUEUED` is set: the permit goes to the waiter).
//! - `abandoned_waiter_racing_a_grant_gives_the_permit_back`: a waiting task is dropped
//!   while a release grants it the permit.
//! - `close_racing_a_waiter_grants_nothing_and_leaks_nothing`: runtime shutdown closes
//!   the gate while a task asks for a permit.
//! - `run_slot_is_handed_over_without_lost_wake_up`: a run ends (drops its permit)
//!   while the next run waits for the slot.
//! - `backlog_room_wakes_a_waiting_submitter`: a task starts (leaves the full backlog)
//!   while `submit_wait` waits for room (the backlog's `pending` / waiter-count pair).
//! - `backlog_close_wakes_a_waiting_submitter`: shutdown while `submit_wait` waits.
//! - `a_start_leaving_the_backlog_wakes_a_waiting_submitter`: a task starts — takes its
//!   slot and leaves the full backlog in one CAS — while `submit_wait` waits for room.
//! - `a_spare_permit_reaches_a_waiting_task`: a worker whose ledger keeps the only
//!   permit as its spare starts its next task with it, ends it and settles, while
//!   another task asks for a permit (the worker reads `QUEUED` with a plain load: a
//!   waiter it misses is granted by its next end or settling, which are RMWs).
//! - `batched_leavings_reach_a_waiting_submitter`: a worker starts a task with its
//!   spare permit (its leaving the full backlog only noted in its ledger), ends it and
//!   settles, while `submit_wait` waits for room.
#![cfg(taskweave_loom)]

use std::future::poll_fn;
use std::task::Poll;

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use taskweave_executor::loom_support::{BacklogModel, GateModel, RunSlotModel};
use taskweave_loom_tests::{model, poll_once, CountingWaker};

#[test]
fn release_racing_enqueue_wakes_the_waiter() {
    model(|| {
        let gate = Arc::new(GateModel::new(1));
        let mut first = gate.ticket(0);
        let (waker, _) = CountingWaker::new();
        assert!(poll_once(&mut poll_fn(|cx| first.poll_start(cx)), &waker).is_ready());

        let ender = thread::spawn(move || first.finish());
        let mut second = gate.ticket(0);
        block_on(poll_fn(|cx| second.poll_start(cx)));
        assert_eq!(gate.in_flight(), 1, "the second task holds the only permit");
        ender.join().unwrap();
        second.finish();
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn a_release_hands_off_to_the_waiter_not_to_a_newcomer() {
    model(|| {
        let gate = Arc::new(GateModel::new(1));
        let (waker, _) = CountingWaker::new();
        let mut first = gate.ticket(0);
        assert!(poll_once(&mut poll_fn(|cx| first.poll_start(cx)), &waker).is_ready());
        let mut second = gate.ticket(0);
        assert!(poll_once(&mut poll_fn(|cx| second.poll_start(cx)), &waker).is_pending());

        let ender = thread::spawn(move || first.finish());
        let mut third = gate.ticket(0);
        // Whether or not the release came first, the waiter is ahead of the newcomer.
        assert!(poll_once(&mut poll_fn(|cx| third.poll_start(cx)), &waker).is_pending());
        ender.join().unwrap();
        assert!(
            poll_once(&mut poll_fn(|cx| second.poll_start(cx)), &waker).is_ready(),
            "the release handed the permit to the waiter"
        );
        assert_eq!(gate.in_flight(), 1);
        assert_eq!(gate.waiting(), 1);
        second.finish();
        assert!(poll_once(&mut poll_fn(|cx| third.poll_start(cx)), &waker).is_ready());
        third.finish();
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn abandoned_waiter_racing_a_grant_gives_the_permit_back() {
    model(|| {
        let gate = Arc::new(GateModel::new(1));
        let (waker, wakes) = CountingWaker::new();
        let mut first = gate.ticket(0);
        assert!(poll_once(&mut poll_fn(|cx| first.poll_start(cx)), &waker).is_ready());
        let mut second = gate.ticket(0);
        assert!(poll_once(&mut poll_fn(|cx| second.poll_start(cx)), &waker).is_pending());
        assert_eq!(gate.waiting(), 1);

        let ender = thread::spawn(move || first.finish());
        drop(second);
        ender.join().unwrap();
        assert_eq!(
            gate.in_flight(),
            0,
            "a grant to a dropped waiter is given back"
        );
        assert_eq!(gate.waiting(), 0);
        assert!(wakes.wakes() <= 1);
        // The permit is free for the next task.
        let mut third = gate.ticket(0);
        assert!(poll_once(&mut poll_fn(|cx| third.poll_start(cx)), &waker).is_ready());
        third.finish();
    });
}

#[test]
fn close_racing_a_waiter_grants_nothing_and_leaks_nothing() {
    model(|| {
        let gate = Arc::new(GateModel::new(1));
        let (waker, _) = CountingWaker::new();
        let mut first = gate.ticket(0);
        assert!(poll_once(&mut poll_fn(|cx| first.poll_start(cx)), &waker).is_ready());

        let g = gate.clone();
        let asker = thread::spawn(move || {
            let (waker, _) = CountingWaker::new();
            let mut second = g.ticket(0);
            // Pending either way: the permit is held, or the gate is closed.
            assert!(poll_once(&mut poll_fn(|cx| second.poll_start(cx)), &waker).is_pending());
            second // dropped by the main thread, as shutdown drops the task
        });
        gate.close();
        let second = asker.join().unwrap();
        first.finish();
        assert_eq!(gate.in_flight(), 0, "nothing is granted after close");
        drop(second);
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn run_slot_is_handed_over_without_lost_wake_up() {
    model(|| {
        let slot = RunSlotModel::new();
        let holders = Arc::new(AtomicUsize::new(0));
        let (waker, _) = CountingWaker::new();
        let Poll::Ready(permit) = poll_once(&mut poll_fn(|cx| slot.poll_acquire(cx)), &waker)
        else {
            panic!("a free slot is taken at once");
        };
        holders.fetch_add(1, SeqCst);

        let h = holders.clone();
        let ending_run = thread::spawn(move || {
            h.fetch_sub(1, SeqCst);
            drop(permit);
        });
        let next = block_on(poll_fn(|cx| slot.poll_acquire(cx)));
        assert_eq!(holders.fetch_add(1, SeqCst), 0, "one holder at a time");
        ending_run.join().unwrap();
        drop(next);
        let (waker, _) = CountingWaker::new();
        assert!(poll_once(&mut poll_fn(|cx| slot.poll_acquire(cx)), &waker).is_ready());
    });
}

#[test]
fn backlog_room_wakes_a_waiting_submitter() {
    model(|| {
        let backlog = BacklogModel::new(1);
        backlog.reserve(1); // full: one task pending
        let b = backlog.clone();
        let starter = thread::spawn(move || b.unreserve(1));
        let mut registration = None;
        let reserved = block_on(poll_fn(|cx| backlog.poll_reserve(1, cx, &mut registration)));
        assert!(reserved, "room appeared, the submitter got it");
        starter.join().unwrap();
        assert_eq!(backlog.len(), 1, "the submitter's task is the one pending");
        assert_eq!(registration, None, "no registration left behind");
    });
}

#[test]
fn backlog_close_wakes_a_waiting_submitter() {
    model(|| {
        let backlog = BacklogModel::new(1);
        backlog.reserve(1);
        let b = backlog.clone();
        let closer = thread::spawn(move || b.close());
        let mut registration = None;
        let reserved = block_on(poll_fn(|cx| backlog.poll_reserve(1, cx, &mut registration)));
        assert!(!reserved, "after shutdown there is no room");
        closer.join().unwrap();
        assert_eq!(backlog.len(), 1);
    });
}

#[test]
fn a_start_leaving_the_backlog_wakes_a_waiting_submitter() {
    model(|| {
        let gate = Arc::new(GateModel::with_backlog(1, 1));
        let mut task = gate.submit(0); // the backlog is full: one task pending
        let g = gate.clone();
        let starter = thread::spawn(move || {
            let (waker, _) = CountingWaker::new();
            assert!(poll_once(&mut poll_fn(|cx| task.poll_start(cx)), &waker).is_ready());
            task.finish();
            assert_eq!(g.in_flight(), 0);
        });
        let mut registration = None;
        let reserved = block_on(poll_fn(|cx| gate.poll_reserve(1, cx, &mut registration)));
        assert!(reserved, "the start made room, the submitter got it");
        starter.join().unwrap();
        assert_eq!(gate.pending(), 1, "the submitter's task is the one pending");
        assert_eq!(registration, None, "no registration left behind");
    });
}

/// A gate of limit 1 whose first start (measured for latency, so never kept in a
/// ledger) is done, and whose worker 0 keeps the only permit as its ledger's spare.
fn gate_with_a_spare(pending_capacity: usize) -> Arc<GateModel> {
    let gate = Arc::new(GateModel::with_backlog(1, pending_capacity));
    let (waker, _) = CountingWaker::new();
    for worker in [None, Some(0)] {
        let mut task = match worker {
            None => gate.submit(0),
            Some(worker) => gate.submit_on(worker, 0),
        };
        assert!(poll_once(&mut poll_fn(|cx| task.poll_start(cx)), &waker).is_ready());
        task.finish();
    }
    assert_eq!(gate.in_flight(), 0, "the spare permit is held by no task");
    gate
}

#[test]
fn a_spare_permit_reaches_a_waiting_task() {
    model(|| {
        let gate = gate_with_a_spare(16);
        let g = gate.clone();
        let worker = thread::spawn(move || {
            let mut next = g.submit_on(0, 0);
            // With the spare, or (if it saw the waiter) after the waiter ran.
            block_on(poll_fn(|cx| next.poll_start(cx)));
            next.finish();
            g.settle(0);
        });
        let mut waiting = gate.submit(0);
        block_on(poll_fn(|cx| waiting.poll_start(cx)));
        assert_eq!(gate.in_flight(), 1, "never more than the limit");
        waiting.finish();
        worker.join().unwrap();
        gate.settle(0);
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
        assert_eq!(gate.pending(), 0);
        assert_eq!(gate.completed(), 4);
    });
}

#[test]
fn batched_leavings_reach_a_waiting_submitter() {
    model(|| {
        let gate = gate_with_a_spare(1);
        let mut task = gate.submit_on(0, 0); // the backlog is full: one task pending
        let g = gate.clone();
        let worker = thread::spawn(move || {
            let (waker, _) = CountingWaker::new();
            assert!(poll_once(&mut poll_fn(|cx| task.poll_start(cx)), &waker).is_ready());
            task.finish();
            g.settle(0);
        });
        let mut registration = None;
        let reserved = block_on(poll_fn(|cx| gate.poll_reserve(1, cx, &mut registration)));
        assert!(reserved, "the start made room, the submitter got it");
        worker.join().unwrap();
        assert_eq!(gate.pending(), 1, "the submitter's task is the one pending");
        assert_eq!(registration, None, "no registration left behind");
    });
}
