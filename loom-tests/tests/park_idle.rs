//! loom models of parking and the idle protocol (`executor/src/runtime/{park,idle}.rs`).
//!
//! The executor's `Parker`, `Idle` and injector are used as they are (through
//! `loom_support`). The worker loop around them is `MiniRuntime` below, a line-by-line
//! transcription of `runtime/worker.rs` (`run`, `next_task`, `steal_work`, `run_task`,
//! `park`) and `runtime/shared.rs` (`push_remote`, `notify_one`, `begin_shutdown`,
//! `has_queued_work`) without what does not matter to the protocol: metrics, hooks,
//! timers, and the per-worker deques (tasks here only come through the injector, and
//! a batch steal of at most two tasks moves none of them to a local deque). Keep it in
//! step with those files.
//!
//! What the models check:
//! - `unpark_is_never_lost`: an unpark racing `park` always ends the park (the token).
//! - `timed_park_racing_unpark`: an unpark racing a `park_timeout` that times out
//!   neither hangs nor leaves the parker broken: a later unpark still ends a `park`.
//! - `injected_task_runs_on_the_only_worker`: a producer pushes a task and notifies
//!   while the single worker searches and parks: the task runs exactly once and the
//!   worker is never left asleep with work queued (loom reports that as a deadlock).
//! - `injected_task_runs_with_a_sleeper`: the same with two workers, one already
//!   asleep: a lost wake-up (task queued, both asleep) is a deadlock.
//! - `injected_task_runs_with_two_searching_workers`: two awake workers both go
//!   through search → park while the task is pushed (one of them is refused as a
//!   searcher and parks without re-checking): the task runs exactly once, nobody is
//!   left asleep with it queued.
//! - `two_producers_one_worker`: two tasks pushed concurrently while the only worker
//!   searches and parks; both run exactly once.
//! - `two_tasks_chain_wake_two_sleepers`: two workers asleep, two tasks pushed by two
//!   producers: both run exactly once, nobody sleeps with work queued.
//! - `notify_wakes_one_sleeper_when_nobody_searches`: three concurrent notifications
//!   with three sleepers and no searcher wake exactly one (no thundering herd): the
//!   woken worker counts as searching, so the other notifications leave the rest
//!   asleep.
#![cfg(taskweave_loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use taskweave_executor::loom_support::{Idle, Injector, Parker};
use taskweave_loom_tests::model;

/// The parts of `Shared` and `WorkerCore` the idle protocol involves.
struct MiniRuntime {
    injector: Injector<usize>,
    idle: Idle,
    parkers: Vec<Parker>,
    shutdown: AtomicBool,
    /// Times each task ran.
    runs: Vec<AtomicUsize>,
    /// Tasks run so far; the worker that runs the last one shuts the runtime down.
    ran: AtomicUsize,
}

impl MiniRuntime {
    fn new(workers: usize, tasks: usize) -> Arc<MiniRuntime> {
        Arc::new(MiniRuntime {
            injector: Injector::new(),
            idle: Idle::new(workers),
            parkers: (0..workers).map(|_| Parker::new()).collect(),
            shutdown: AtomicBool::new(false),
            runs: (0..tasks).map(|_| AtomicUsize::new(0)).collect(),
            ran: AtomicUsize::new(0),
        })
    }

    // ---- shared.rs ----

    fn push_remote(&self, task: usize) {
        if self.is_shutdown() {
            return;
        }
        self.injector.push(task);
        self.notify_one();
    }

    fn notify_one(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.parkers[worker].unpark();
        }
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    fn has_queued_work(&self) -> bool {
        !self.injector.is_empty()
    }

    fn begin_shutdown(&self) {
        if self.shutdown.swap(true, Ordering::AcqRel) {
            return;
        }
        self.idle.take_all_sleepers();
        for parker in &self.parkers {
            parker.unpark();
        }
    }

    // ---- worker.rs ----

    /// `WorkerCore::run`. `asleep`: the worker starts inside `park` (it went through
    /// `transition_worker_to_parked` before the model starts).
    fn run_worker(&self, index: usize, asleep: bool) {
        let mut is_searching = false;
        if asleep {
            self.park_loop(index, &mut is_searching);
        }
        while !self.is_shutdown() {
            if let Some(task) = self
                .next_task()
                .or_else(|| self.steal_work(&mut is_searching))
            {
                self.run_task(task, &mut is_searching);
                continue;
            }
            self.park(index, &mut is_searching);
        }
    }

    /// `next_task`: the local deque is always empty here, so the injector.
    fn next_task(&self) -> Option<usize> {
        self.injector.steal()
    }

    /// `steal_work`: become a searcher (if allowed), then steal; the other workers'
    /// deques are empty here, so the injector.
    fn steal_work(&self, is_searching: &mut bool) -> Option<usize> {
        if !*is_searching {
            if !self.idle.transition_worker_to_searching() {
                return None;
            }
            *is_searching = true;
        }
        self.injector.steal()
    }

    fn run_task(&self, task: usize, is_searching: &mut bool) {
        if std::mem::replace(is_searching, false) && self.idle.transition_worker_from_searching() {
            self.notify_one();
        }
        // "Poll" the task.
        self.runs[task].fetch_add(1, Ordering::SeqCst);
        if self.ran.fetch_add(1, Ordering::SeqCst) + 1 == self.runs.len() {
            // Every task ran: end the model (Runtime::drop's first step).
            self.begin_shutdown();
        }
    }

    fn park(&self, index: usize, is_searching: &mut bool) {
        let was_searching = std::mem::replace(is_searching, false);
        if self.idle.transition_worker_to_parked(index, was_searching) && self.has_queued_work() {
            self.notify_one();
        }
        self.park_loop(index, is_searching);
    }

    /// The loop at the end of `WorkerCore::park`.
    fn park_loop(&self, index: usize, is_searching: &mut bool) {
        loop {
            self.parkers[index].park();
            if self.is_shutdown() {
                return;
            }
            if !self.idle.still_parked(index, false) {
                *is_searching = true;
                return;
            }
        }
    }

    fn assert_each_task_ran_once(&self) {
        for (task, runs) in self.runs.iter().enumerate() {
            assert_eq!(runs.load(Ordering::SeqCst), 1, "task {task}");
        }
    }
}

#[test]
fn unpark_is_never_lost() {
    model(|| {
        let parker = Parker::new();
        let unparker = parker.clone();
        let t = thread::spawn(move || unparker.unpark());
        parker.park();
        t.join().unwrap();
    });
}

#[test]
fn timed_park_racing_unpark() {
    model(|| {
        let parker = Parker::new();
        let unparker = parker.clone();
        let t = thread::spawn(move || unparker.unpark());
        // Under loom a timed wait may time out at once: this covers the timeout racing
        // the unpark (its token may be consumed by this park or left for the next).
        parker.park_timeout(std::time::Duration::from_millis(1));
        t.join().unwrap();
        parker.park_timeout(std::time::Duration::from_millis(1));
        let unparker = parker.clone();
        let t = thread::spawn(move || unparker.unpark());
        parker.park();
        t.join().unwrap();
    });
}

#[test]
fn injected_task_runs_on_the_only_worker() {
    model(|| {
        let rt = MiniRuntime::new(1, 1);
        let worker = {
            let rt = rt.clone();
            thread::spawn(move || rt.run_worker(0, false))
        };
        rt.push_remote(0);
        worker.join().unwrap();
        rt.assert_each_task_ran_once();
    });
}

#[test]
fn injected_task_runs_with_a_sleeper() {
    model(|| {
        let rt = MiniRuntime::new(2, 1);
        // Worker 1 is already asleep (not searching) when the model starts.
        assert!(!rt.idle.transition_worker_to_parked(1, false));
        let workers: Vec<_> = [(0, false), (1, true)]
            .into_iter()
            .map(|(index, asleep)| {
                let rt = rt.clone();
                thread::spawn(move || rt.run_worker(index, asleep))
            })
            .collect();
        rt.push_remote(0);
        for w in workers {
            w.join().unwrap();
        }
        rt.assert_each_task_ran_once();
    });
}

#[test]
fn injected_task_runs_with_two_searching_workers() {
    model(|| {
        let rt = MiniRuntime::new(2, 1);
        let workers: Vec<_> = (0..2)
            .map(|index| {
                let rt = rt.clone();
                thread::spawn(move || rt.run_worker(index, false))
            })
            .collect();
        rt.push_remote(0);
        for w in workers {
            w.join().unwrap();
        }
        rt.assert_each_task_ran_once();
    });
}

#[test]
fn two_producers_one_worker() {
    model(|| {
        let rt = MiniRuntime::new(1, 2);
        let worker = {
            let rt = rt.clone();
            thread::spawn(move || rt.run_worker(0, false))
        };
        let producer = {
            let rt = rt.clone();
            thread::spawn(move || rt.push_remote(1))
        };
        rt.push_remote(0);
        producer.join().unwrap();
        worker.join().unwrap();
        rt.assert_each_task_ran_once();
    });
}

#[test]
fn two_tasks_chain_wake_two_sleepers() {
    model(|| {
        let rt = MiniRuntime::new(2, 2);
        // Both workers asleep: every task must get one of them up.
        assert!(!rt.idle.transition_worker_to_parked(0, false));
        assert!(!rt.idle.transition_worker_to_parked(1, false));
        let workers: Vec<_> = (0..2)
            .map(|index| {
                let rt = rt.clone();
                thread::spawn(move || rt.run_worker(index, true))
            })
            .collect();
        let producer = {
            let rt = rt.clone();
            thread::spawn(move || rt.push_remote(1))
        };
        rt.push_remote(0);
        producer.join().unwrap();
        for w in workers {
            w.join().unwrap();
        }
        rt.assert_each_task_ran_once();
    });
}

#[test]
fn notify_wakes_one_sleeper_when_nobody_searches() {
    model(|| {
        let idle = Arc::new(Idle::new(3));
        for worker in 0..3 {
            assert!(!idle.transition_worker_to_parked(worker, false));
        }
        let others: Vec<_> = (0..2)
            .map(|_| {
                let idle = idle.clone();
                thread::spawn(move || idle.worker_to_notify())
            })
            .collect();
        let mut woken: Vec<usize> = idle.worker_to_notify().into_iter().collect();
        for other in others {
            woken.extend(other.join().unwrap());
        }

        assert_eq!(
            woken.len(),
            1,
            "one sleeper for three notifications: no herd"
        );
        assert_eq!(idle.num_searching(), 1);
        assert_eq!(idle.num_unparked(), 1);
        // The woken one is off the sleeper list; the others are still on it.
        for worker in 0..3 {
            assert_eq!(idle.still_parked(worker, false), worker != woken[0]);
        }
    });
}
