//! loom models of the task state machine (`executor/src/task/{state,harness,join,
//! waker,list}.rs`), driven through `loom_support::TestScheduler`.
//!
//! What every model checks, in every interleaving loom explores:
//! - a task is never polled by two threads at once (the probe future asserts it);
//! - its future is dropped exactly once and its output exactly once;
//! - every task allocation is freed exactly once (`alive() == 0` at the end, and
//!   loom's leak check on the `Arc`s each task holds);
//! - nothing waits forever (loom reports a deadlock if a wake-up is lost).
//!
//! Model by model:
//! - `wake_during_poll_reschedules_after_the_poll`: a remote wake racing the first
//!   poll makes the task run exactly once more (rescheduled by the poller if the wake
//!   landed during the poll), never concurrently.
//! - `wake_after_complete_is_a_no_op`: waking (by ref, then by value) a task racing
//!   its completing poll schedules nothing and leaks no reference.
//! - `abort_races_completion`: an `AbortHandle::abort` and a joiner race the task's
//!   only poll: the JoinHandle yields the value iff the future was polled, otherwise a
//!   cancelled error.
//! - `wake_races_yielding_poll`: a task that wakes itself in each poll (yield) and a
//!   remote wake racing those polls: the remote wake always finds the task queued,
//!   running or finished, so it adds no poll and leaks no reference.
//! - `abort_of_queued_task_cancels_it`: a task woken (queued) and then aborted is
//!   cancelled, never polled again, whichever of a runner and the joiner goes first.
//! - `abort_races_wake_of_idle_task`: abort and a remote wake of an idle task; one
//!   cancelling or completing run, whoever queued it.
//! - `join_handle_drop_races_completion` (with and without a registered join waker):
//!   the output is dropped exactly once, by whichever side is last — not left for
//!   whoever frees the task.
//! - `join_waker_registration_races_completion`: a JoinHandle polled with one waker,
//!   then another (the re-registration path), racing completion: if the last poll
//!   returned `Pending`, the waker given to it is woken.
#![cfg(taskweave_loom)]

use std::task::Poll;

use loom::future::block_on;
use loom::thread;
use taskweave_executor::loom_support::TestScheduler;
use taskweave_loom_tests::{model, poll_once, CountingWaker, ProbeState};

#[test]
fn wake_during_poll_reschedules_after_the_poll() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.future(2, true));

        let worker = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.run_one();
                sched.run_one();
            })
        };
        let waker_thread = {
            let (sched, probe) = (sched.clone(), probe.clone());
            thread::spawn(move || {
                // The waker exists once the first poll has published it; the wake may
                // land during that poll or after it.
                let woken = match probe.take_waker() {
                    Some(waker) => {
                        waker.wake();
                        true
                    }
                    None => false,
                };
                // A second runner: a duplicate Notified would let two threads poll.
                sched.run_one();
                woken
            })
        };
        worker.join().unwrap();
        let woken = waker_thread.join().unwrap();
        while sched.run_one() {}

        if woken {
            assert_eq!(probe.polls(), 2, "a wake must cause exactly one more poll");
            assert!(block_on(join).is_ok());
        } else {
            // The waker thread looked before the first poll published its waker.
            assert_eq!(probe.polls(), 1);
            assert_eq!(sched.queued(), 0, "nobody woke the task");
            assert_eq!(sched.shutdown(), 1);
            assert!(block_on(join).unwrap_err().is_cancelled());
        }
        assert_eq!(probe.future_drops(), 1);
        assert_eq!(probe.output_drops(), usize::from(woken));
        // The last poll's published waker holds a task reference.
        drop(probe.take_waker());
        assert_eq!(sched.alive(), 0);
        assert_eq!(sched.owned_len(), 0);
    });
}

#[test]
fn wake_races_yielding_poll() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.yielding_future(3));
        // Poll 1 yields: the task is queued again at once.
        assert!(sched.run_one());
        assert_eq!(sched.queued(), 1);
        let waker = probe.take_waker().expect("published by the first poll");

        let runner = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.run_one(); // poll 2: yields again
                sched.run_one(); // poll 3: ready
            })
        };
        // From now on the task is always queued, running or finished, so this wake
        // must not add a poll.
        let remote = thread::spawn(move || waker.wake());
        runner.join().unwrap();
        remote.join().unwrap();
        while sched.run_one() {}

        assert!(block_on(join).is_ok());
        assert_eq!(
            probe.polls(),
            3,
            "a wake of a queued or running task adds no poll"
        );
        assert_eq!(probe.future_drops(), 1);
        assert_eq!(probe.output_drops(), 1);
        drop(probe.take_waker());
        assert_eq!(sched.alive(), 0);
    });
}

#[test]
fn wake_after_complete_is_a_no_op() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.future(1, true));

        let worker = {
            let sched = sched.clone();
            thread::spawn(move || assert!(sched.run_one()))
        };
        let waker_thread = {
            let probe = probe.clone();
            thread::spawn(move || {
                if let Some(waker) = probe.take_waker() {
                    waker.wake_by_ref();
                    waker.wake();
                }
            })
        };
        worker.join().unwrap();
        waker_thread.join().unwrap();

        assert_eq!(
            sched.queued(),
            0,
            "a wake of a finished task schedules nothing"
        );
        assert_eq!(probe.polls(), 1);
        assert!(block_on(join).is_ok());
        assert_eq!(probe.future_drops(), 1);
        assert_eq!(probe.output_drops(), 1);
        // Unpublished if the waker thread looked before the poll.
        drop(probe.take_waker());
        assert_eq!(sched.alive(), 0, "the wakers' references were released");
    });
}

#[test]
fn abort_races_completion() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.future(1, false));
        let abort = join.abort_handle();

        // Abort (through an AbortHandle) and join on two threads, while this thread
        // runs the task.
        let aborter = thread::spawn(move || abort.abort());
        let joiner = thread::spawn(move || match block_on(join) {
            Ok(output) => {
                drop(output);
                true
            }
            Err(e) => {
                assert!(e.is_cancelled());
                false
            }
        });
        assert!(sched.run_one());
        aborter.join().unwrap();
        let got_value = joiner.join().unwrap();

        assert_eq!(sched.queued(), 0);
        assert_eq!(
            got_value,
            probe.polls() == 1,
            "value iff the future was polled"
        );
        assert_eq!(probe.future_drops(), 1);
        assert_eq!(probe.output_drops(), usize::from(got_value));
        assert_eq!(sched.alive(), 0);
        assert_eq!(sched.owned_len(), 0);
    });
}

#[test]
fn abort_of_queued_task_cancels_it() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.future(2, true));
        assert!(sched.run_one());
        // Woken: queued again. Then aborted: the queued Notified must cancel it.
        probe.take_waker().expect("published").wake();
        join.abort();

        let runner = {
            let sched = sched.clone();
            thread::spawn(move || assert!(sched.run_one()))
        };
        let joiner = thread::spawn(move || block_on(join).unwrap_err().is_cancelled());
        runner.join().unwrap();
        assert!(joiner.join().unwrap());

        assert_eq!(probe.polls(), 1, "an aborted task is not polled again");
        assert_eq!(probe.future_drops(), 1);
        assert_eq!(probe.output_drops(), 0);
        assert_eq!(sched.queued(), 0);
        assert_eq!(sched.alive(), 0);
    });
}

#[test]
fn abort_races_wake_of_idle_task() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let join = sched.spawn(probe.future(2, true));
        // First poll: Pending; the task is idle, not notified, its waker published.
        assert!(sched.run_one());
        let waker = probe.take_waker().expect("published by the first poll");

        let waker_thread = {
            let sched = sched.clone();
            thread::spawn(move || {
                waker.wake();
                sched.run_one();
            })
        };
        let aborter = {
            let sched = sched.clone();
            thread::spawn(move || {
                join.abort();
                sched.run_one();
                block_on(join)
                    .map(drop)
                    .map_err(|e| assert!(e.is_cancelled()))
            })
        };
        waker_thread.join().unwrap();
        let got_value = aborter.join().unwrap().is_ok();

        assert_eq!(sched.queued(), 0);
        assert_eq!(got_value, probe.polls() == 2);
        assert_eq!(probe.future_drops(), 1);
        assert_eq!(probe.output_drops(), usize::from(got_value));
        drop(probe.take_waker());
        assert_eq!(sched.alive(), 0);
    });
}

#[test]
fn join_handle_drop_races_completion() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        // The published waker keeps the task allocated after both sides are done, so
        // the output must have been dropped by one of them, not by the final free.
        let join = sched.spawn(probe.future(1, true));

        let worker = {
            let sched = sched.clone();
            thread::spawn(move || assert!(sched.run_one()))
        };
        let dropper = thread::spawn(move || drop(join));
        worker.join().unwrap();
        dropper.join().unwrap();

        assert_eq!(sched.alive(), 1, "held by the published waker");
        assert_eq!(probe.future_drops(), 1);
        assert_eq!(
            probe.output_drops(),
            1,
            "dropped by the completer or the JoinHandle"
        );
        drop(probe.take_waker());
        assert_eq!(sched.alive(), 0);
    });
}

#[test]
fn join_handle_with_waker_drop_races_completion() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let mut join = sched.spawn(probe.future(1, false));
        // Register a join waker first: the drop must take the slot back (or leave it
        // to the completer) without both touching it.
        let (waker, _count) = CountingWaker::new();
        assert!(poll_once(&mut join, &waker).is_pending());

        let worker = {
            let sched = sched.clone();
            thread::spawn(move || assert!(sched.run_one()))
        };
        let dropper = thread::spawn(move || drop(join));
        worker.join().unwrap();
        dropper.join().unwrap();

        assert_eq!(probe.future_drops(), 1);
        assert_eq!(probe.output_drops(), 1);
        assert_eq!(sched.alive(), 0);
    });
}

#[test]
fn join_waker_registration_races_completion() {
    model(|| {
        let sched = TestScheduler::new();
        let probe = ProbeState::new();
        let mut join = sched.spawn(probe.future(1, false));

        let worker = {
            let sched = sched.clone();
            thread::spawn(move || assert!(sched.run_one()))
        };
        let joiner = thread::spawn(move || {
            let (first, _) = CountingWaker::new();
            let (second, second_count) = CountingWaker::new();
            // First registration, then a different waker (replaces the slot), then
            // the same one again (the "already registered" shortcut).
            for waker in [&first, &second, &second] {
                if let Poll::Ready(output) = poll_once(&mut join, waker) {
                    return (join, Some(output.is_ok()), None);
                }
            }
            // Pending three times: the waker of the last poll must be woken.
            let last_count = second_count;
            (join, None, Some(last_count))
        });
        worker.join().unwrap();
        let (join, ready, pending_waker) = joiner.join().unwrap();

        match (ready, pending_waker) {
            (Some(ok), None) => {
                assert!(ok);
                drop(join);
            }
            (None, Some(count)) => {
                assert!(count.wakes() >= 1, "lost wake-up of the joiner");
                assert!(block_on(join).is_ok());
            }
            _ => unreachable!(),
        }
        assert_eq!(probe.future_drops(), 1);
        assert_eq!(probe.output_drops(), 1);
        assert_eq!(sched.alive(), 0);
    });
}
