//! loom models of shutdown with pending tasks: `OwnedTasks::close_and_shutdown`
//! (`executor/src/task/list.rs`) and the task's shutdown transition
//! (`state.rs`/`harness.rs`), racing a worker that polls or completes a task, remote
//! wakes, aborts, JoinHandle drops and spawns. Driven through
//! `loom_support::TestScheduler`, whose `shutdown` is the runtime's: stop queueing,
//! close the owned list and cancel what is in it, drop what was queued.
//!
//! What every model checks, in every interleaving:
//! - every task's future is dropped exactly once, and its output (if any) exactly once;
//! - a JoinHandle yields the value iff the future completed, else a cancelled error —
//!   and never blocks forever after shutdown;
//! - a spawn that loses the race with `close_and_shutdown` is cancelled at once: its
//!   future is dropped before `spawn` returns and it is never polled;
//! - afterwards the owned list and run queue are empty and every task allocation has
//!   been freed exactly once (`alive() == 0`, plus loom's leak check).
//!
//! Models:
//! - `shutdown_races_poll_remote_wake_and_spawn`: a worker polls a task (pending, then
//!   ready) while another thread wakes it and spawns a second task, and shutdown runs.
//! - `shutdown_races_abort_and_join_handle_drop`: an idle task is aborted and its
//!   JoinHandle dropped while shutdown cancels it.
//! - `shutdown_races_yielding_task`: a worker polls a task that yields (requeues
//!   itself from inside the poll) while shutdown runs.
//! - `shutdown_races_two_spawns`: two spawns racing `close_and_shutdown`.
//! - `remote_wake_racing_shutdown_like_shared`: the same check with
//!   `TestScheduler::like_shared`, whose schedule decides "shutdown began" the way
//!   `Shared::push_remote` does (flag check, unlocked push, fence, second check and
//!   drain). Without the second check, a wake that passed the first check before
//!   shutdown and pushed after the final drain left a `Notified` queued forever,
//!   leaking the task cell and, through the scheduler it holds, `Shared` (found by
//!   this model).
#![cfg(taskweave_loom)]

use loom::future::block_on;
use loom::thread;
use taskweave_executor::loom_support::TestScheduler;
use taskweave_executor::JoinHandle;
use taskweave_loom_tests::{model, DropGuard, ProbeState};

/// Awaits `join` and checks it against what the probe saw: the value iff the future
/// completed (`ready_at` polls happened), else a cancelled error.
fn check_outcome(join: JoinHandle<DropGuard>, probe: &ProbeState, ready_at: usize) {
    match block_on(join) {
        Ok(output) => {
            assert_eq!(probe.polls(), ready_at, "a value without its polls");
            drop(output);
            assert_eq!(probe.output_drops(), 1);
        }
        Err(e) => {
            assert!(e.is_cancelled());
            assert!(probe.polls() < ready_at, "completed, yet cancelled");
            assert_eq!(probe.output_drops(), 0);
        }
    }
    assert_eq!(probe.future_drops(), 1);
    drop(probe.take_waker());
}

/// Spawns on a closed scheduler: cancelled before `spawn` returns.
fn check_spawn_after_close(sched: &TestScheduler) {
    let probe = ProbeState::new();
    let join = sched.spawn(probe.future(1, false));
    assert!(join.is_finished());
    assert_eq!(probe.future_drops(), 1);
    assert!(block_on(join).unwrap_err().is_cancelled());
    assert_eq!(probe.polls(), 0);
}

fn check_empty(sched: &TestScheduler) {
    assert_eq!(
        sched.queued(),
        0,
        "a Notified is still queued after shutdown"
    );
    assert_eq!(sched.owned_len(), 0, "a task is still in the owned list");
    assert_eq!(sched.alive(), 0, "a task allocation was not freed");
}

#[test]
fn shutdown_races_poll_remote_wake_and_spawn() {
    model(|| {
        let sched = TestScheduler::new();
        let first = ProbeState::new();
        let first_join = sched.spawn(first.future(2, true));

        let worker = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.run_one();
                sched.run_one();
            })
        };
        let remote = {
            let (sched, first) = (sched.clone(), first.clone());
            thread::spawn(move || {
                if let Some(waker) = first.take_waker() {
                    waker.wake();
                }
                let second = ProbeState::new();
                let join = sched.spawn(second.future(1, false));
                (second, join)
            })
        };
        sched.shutdown();
        worker.join().unwrap();
        let (second, second_join) = remote.join().unwrap();

        check_outcome(first_join, &first, 2);
        check_outcome(second_join, &second, 1);
        check_spawn_after_close(&sched);
        check_empty(&sched);
    });
}

#[test]
fn shutdown_races_abort_and_join_handle_drop() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.future(2, false));
        // First poll: Pending, the task is idle and owned.
        assert!(sched.run_one());

        let aborter = {
            let sched = sched.clone();
            thread::spawn(move || {
                join.abort();
                drop(join);
                // The cancelling Notified, if abort queued one before shutdown.
                sched.run_one();
            })
        };
        sched.shutdown();
        aborter.join().unwrap();

        assert_eq!(probe.polls(), 1);
        assert_eq!(probe.future_drops(), 1);
        check_empty(&sched);
    });
}

#[test]
fn shutdown_races_yielding_task() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.yielding_future(2));

        let worker = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.run_one(); // yields: requeued by the poller, or cancelled
                sched.run_one(); // completes, or nothing left to run
            })
        };
        sched.shutdown();
        worker.join().unwrap();

        check_outcome(join, &probe, 2);
        check_spawn_after_close(&sched);
        check_empty(&sched);
    });
}

#[test]
fn shutdown_races_two_spawns() {
    model(|| {
        let sched = TestScheduler::new();
        let spawner = {
            let sched = sched.clone();
            thread::spawn(move || {
                let probe = ProbeState::new();
                let join = sched.spawn(probe.future(1, false));
                // Cancelled at spawn, or queued (and then cancelled by shutdown, or
                // run by the runner below).
                let gone_after_spawn = probe.future_drops() == 1;
                sched.run_one();
                (probe, join, gone_after_spawn)
            })
        };
        let probe = ProbeState::new();
        let join = sched.spawn(probe.future(1, false));
        sched.shutdown();
        let (other, other_join, gone_after_spawn) = spawner.join().unwrap();
        if gone_after_spawn {
            assert_eq!(other.polls(), 0);
        }

        check_outcome(join, &probe, 1);
        check_outcome(other_join, &other, 1);
        check_empty(&sched);
    });
}

#[test]
fn remote_wake_racing_shutdown_like_shared() {
    model(|| {
        let sched = TestScheduler::like_shared();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.future(2, true));
        // First poll: Pending, idle, its waker published.
        assert!(sched.run_one());
        let waker = probe.take_waker().expect("published by the first poll");

        let remote = thread::spawn(move || waker.wake());
        sched.shutdown();
        remote.join().unwrap();

        check_outcome(join, &probe, 2);
        check_empty(&sched);
    });
}
