//! The runner: the one task that supervises a critical task's runs. It makes each run
//! with the factory, spawns it as a child task, waits for it (or for a manual restart
//! request), asks the [`RestartTracker`] what a failure leads to, waits out the
//! backoff, and finally resolves to the task's outcome.
//!
//! Invariants:
//! - At most one run of a task exists at a time: every run holds its task's
//!   [`RunSlot`] permit until the run's future is dropped, and the factory is called
//!   only with the permit in hand. So even a new runner (a supervisor restarting a
//!   task it just killed) waits until the killed run is really gone. A manual restart
//!   also aborts the child and awaits its cancellation before going on.
//! - A run is its own task, so its panic is caught by the runtime and arrives as a
//!   panicked `JoinError`; the factory is called under `catch_unwind`. Nothing the
//!   user's code does unwinds through the runner.
//! - Dropping the runner (abort, kill, supervisor or runtime shutdown) aborts the
//!   current child (which is then dropped at its next scheduling point) and makes the
//!   status final (`Killed`) — also when the runner never got to run, because the
//!   guard doing it is created before the future; that one case is not reported to
//!   the status hook (see `EndGuard`).
//! - A manual restart is a fresh start: the restart budget and the backoff sequence
//!   start over; the total restart count (automatic restarts) is kept.

use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::control::{Control, Finish, TaskStatus};
use super::error::{CriticalError, Failure};
use super::policy::{Decision, RestartConfig, RestartTracker};
use crate::graph::panic_message;
use crate::sync::Mutex;
use crate::task::{JoinError, JoinHandle};

/// One slot for the live run of a supervised task (see the module invariants).
pub(crate) struct RunSlot {
    state: Mutex<SlotState>,
}

struct SlotState {
    busy: bool,
    waiters: Vec<Waker>,
}

/// Holds a [`RunSlot`]; frees it when dropped.
pub(crate) struct Permit(Arc<RunSlot>);

impl RunSlot {
    pub(crate) fn new() -> Arc<RunSlot> {
        Arc::new(RunSlot {
            state: Mutex::new(SlotState {
                busy: false,
                waiters: Vec::new(),
            }),
        })
    }

    pub(crate) fn poll_acquire(self: &Arc<Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let mut state = self.state.lock();
        if state.busy {
            if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiters.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        state.busy = true;
        Poll::Ready(Permit(self.clone()))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.0.state.lock();
            state.busy = false;
            std::mem::take(&mut state.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }
}

/// The current run's task; aborted when the runner lets go of it.
struct Child<T>(JoinHandle<T>);

impl<T> Drop for Child<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Makes the status final when the runner's future is dropped before it decided.
struct EndGuard {
    control: Arc<Control>,
    /// False until the runner's first poll.
    started: bool,
}

impl Drop for EndGuard {
    fn drop(&mut self) {
        if !self.started {
            // Never polled: the runtime refused or cancelled it before it ran. This
            // can happen inside a spawn made under a supervisor's lock, so the status
            // hook (which may call into the supervisor) is not called.
            self.control.force_final_quietly(TaskStatus::Killed);
            return;
        }
        let status = if std::thread::panicking() {
            TaskStatus::Failed
        } else {
            TaskStatus::Killed
        };
        self.control.force_final(status);
    }
}

/// How waiting for a run ended.
enum RunEnd<T, E> {
    Joined(Result<Result<T, E>, JoinError>),
    RestartRequested,
}

/// The runner's future for one supervised task. `seed` drives the backoff jitter.
pub(crate) fn run<T, E, M, F>(
    control: Arc<Control>,
    slot: Arc<RunSlot>,
    config: RestartConfig<E>,
    mut factory: M,
    seed: u64,
) -> impl Future<Output = Result<T, CriticalError<E>>> + Send + 'static
where
    M: FnMut() -> F + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let guard = EndGuard {
        control: control.clone(),
        started: false,
    };
    async move {
        let mut guard = guard;
        guard.started = true;
        let mut tracker = RestartTracker::new();
        let cancelled = |tracker: &RestartTracker| CriticalError::Cancelled {
            restarts: tracker.total(),
        };
        loop {
            if !control.start_run() {
                return Err(cancelled(&tracker)); // killed between runs
            }
            let permit = poll_fn(|cx| slot.poll_acquire(cx)).await;
            if control.status().is_final() {
                return Err(cancelled(&tracker)); // killed while waiting for the slot
            }
            let started = Instant::now();
            let failure = match catch_unwind(AssertUnwindSafe(&mut factory)) {
                Err(payload) => Failure::FactoryPanic(panic_message(&*payload)),
                Ok(future) => {
                    let mut child = Child(crate::spawn(async move {
                        let _permit = permit;
                        future.await
                    }));
                    let ended = poll_fn(|cx| {
                        if let Poll::Ready(joined) = Pin::new(&mut child.0).poll(cx) {
                            return Poll::Ready(RunEnd::Joined(joined));
                        }
                        control.poll_restart(cx).map(|()| RunEnd::RestartRequested)
                    })
                    .await;
                    match ended {
                        RunEnd::RestartRequested => {
                            child.0.abort();
                            let _ = (&mut child.0).await;
                            tracker.reset_window();
                            continue;
                        }
                        RunEnd::Joined(Ok(Ok(value))) => {
                            match control.finish(TaskStatus::Completed) {
                                Finish::Done => return Ok(value),
                                Finish::Restart => {
                                    tracker.reset_window();
                                    continue;
                                }
                                Finish::Killed => return Err(cancelled(&tracker)),
                            }
                        }
                        RunEnd::Joined(Ok(Err(error))) => Failure::Error(error),
                        RunEnd::Joined(Err(join_error)) => match join_error.try_into_panic() {
                            Ok(payload) => Failure::Panic(panic_message(&*payload)),
                            Err(_cancelled) => {
                                // Only runtime shutdown cancels a run (its handle is
                                // ours); the runner is about to be cancelled too.
                                control.force_final(TaskStatus::Killed);
                                return Err(cancelled(&tracker));
                            }
                        },
                    }
                }
            };
            if control.take_restart() {
                tracker.reset_window();
                continue;
            }
            let ending = match tracker.on_failure(&config, &failure, started, Instant::now(), seed)
            {
                Decision::Restart { delay } => {
                    drop(failure);
                    control.restarting(tracker.total());
                    let mut backoff = crate::time::sleep(delay);
                    let manual = poll_fn(|cx| {
                        if Pin::new(&mut backoff).poll(cx).is_ready() {
                            return Poll::Ready(false);
                        }
                        control.poll_restart(cx).map(|()| true)
                    })
                    .await;
                    if manual {
                        tracker.reset_window();
                    }
                    continue;
                }
                Decision::Stop => TaskStatus::Failed,
                Decision::Exhausted => TaskStatus::Dead,
            };
            let restarts = tracker.total();
            match control.finish(ending) {
                Finish::Done if ending == TaskStatus::Dead => {
                    return Err(CriticalError::Exhausted { failure, restarts })
                }
                Finish::Done => return Err(CriticalError::Failed { failure, restarts }),
                Finish::Restart => tracker.reset_window(),
                Finish::Killed => return Err(cancelled(&tracker)),
            }
        }
    }
}

/// The outcome of a runner as its `JoinHandle` gives it: a cancelled runner (aborted,
/// killed, shut down) is a [`CriticalError::Cancelled`]; a panicking runner (not
/// expected: user code runs under `catch_unwind` or in child tasks) a
/// [`CriticalError::Failed`] with that panic.
pub(crate) fn outcome<T, E>(
    joined: Result<Result<T, CriticalError<E>>, JoinError>,
    control: &Control,
) -> Result<T, CriticalError<E>> {
    let restarts = control.restarts();
    match joined {
        Ok(outcome) => outcome,
        Err(e) => match e.try_into_panic() {
            Ok(payload) => Err(CriticalError::Failed {
                failure: Failure::Panic(panic_message(&*payload)),
                restarts,
            }),
            Err(_) => Err(CriticalError::Cancelled { restarts }),
        },
    }
}
