//! The future a submitted ExecutableTask runs as: attempts, timeout, retries with
//! backoff, panic capture, and reporting the outcome to the dependency graph.
//!
//! Invariants:
//! - The runner reports its outcome when its last attempt ends (in `poll`), through
//!   the end-report protocol of `ended.rs`: the report is made once, by whoever claims
//!   it — the runner here, or the task's release if the runner never got to it
//!   (aborted by `TaskHandle::cancel` before or while running, or runtime shutdown),
//!   which reports `Cancelled`. A task that never started reports nothing.
//! - The runner holds no reference to its runtime (one shared counter less to touch
//!   per task), only its address ([`RuntimeRef`]), and borrows the runtime through it:
//!   [`bind`] (its only constructor) puts it in one task cell with an `ExecSchedule`
//!   holding an `Arc` of that runtime, and a cell drops its future before its
//!   scheduler (`task/core.rs`), so the runtime outlives the runner wherever and
//!   however the runner is dropped.
//! - With the resource monitor on, the runner holds a `Ticket` (`admit.rs`), which
//!   borrows the gate from the runner's runtime: its first poll waits there for an
//!   in-flight permit before the body starts (the graph already counts the task as
//!   running; its timeout starts with the attempt, after the permit). The permit is
//!   released just before the end is reported, or when the runner is dropped (its
//!   `Drop` abandons the ticket: a never-started task leaves the backlog there).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use taskweave_scheduler::{FailureReason, TaskId};

use super::admit::{Gate, Ticket};
use super::body::TaskBody;
use super::ended::{self, End};
use super::handle::TaskError;
use super::retry::{RetryOn, RetryPolicy};
use super::submit::ExecSchedule;
use crate::runtime::shared::Shared;
use crate::sync::Arc;
use crate::task::{self, JoinHandle, Notified, OwnedTask, RawTask};
use crate::time::Sleep;

/// The address of a runner's runtime, which the runner's own task keeps alive (see
/// the module docs): a borrow without a reference count.
struct RuntimeRef(std::ptr::NonNull<Shared>);

// SAFETY: it is only used to borrow `&Shared` (see `Executable::shared`), and `Shared`
// is `Sync`, so the address may move to and be used from any thread.
unsafe impl Send for RuntimeRef {}
// SAFETY: as above.
unsafe impl Sync for RuntimeRef {}

/// Allocates an ExecutableTask's task: its runner (see [`Executable`]'s fields) and,
/// as the cell's scheduler, an `ExecSchedule` holding `shared`, the runtime the runner
/// borrows. Returns the task's references, as `task::new_task` does.
#[allow(clippy::too_many_arguments)]
pub(crate) fn bind<B: TaskBody>(
    shared: &Arc<Shared>,
    id: TaskId,
    name: Option<std::sync::Arc<str>>,
    body: B,
    timeout: Option<Duration>,
    retry: Option<Box<RetryPolicy>>,
    ticket: Option<Ticket>,
) -> (
    OwnedTask,
    Notified,
    JoinHandle<Result<B::Output, TaskError>>,
) {
    let runner = Executable {
        runtime: RuntimeRef(std::ptr::NonNull::from(&**shared)),
        body,
        extras: (name.is_some() || timeout.is_some() || retry.is_some()).then(|| {
            Box::new(Extras {
                name,
                timeout,
                retry: retry.map(|policy| (*policy, id)),
                timer: None,
            })
        }),
        attempts: 0,
        phase: Phase::Idle,
        ticket,
    };
    task::new_task(runner, ExecSchedule::new(shared.clone()))
}

/// Where the runner is; its timer (`Extras::timer`) belongs to the phase.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before an attempt (no timer).
    Idle,
    /// The body's current attempt is running; the timer, if any, is its timeout.
    Running,
    /// Waiting out a retry backoff; the timer is the backoff.
    Backoff,
}

/// What most tasks do not use, boxed so that a plain task's cell stays small (a
/// cell's size is paid in cache misses by the thread that builds the task and by the
/// worker that runs it): its name and limits, and the timer that only limits need.
struct Extras {
    /// The task's name, for the trace recorder.
    name: Option<std::sync::Arc<str>>,
    timeout: Option<Duration>,
    /// With the task's id, which seeds the backoff's jitter.
    retry: Option<(RetryPolicy, TaskId)>,
    /// The running attempt's timeout, or the backoff (only a task with a timeout or a
    /// retry policy has one).
    timer: Option<Box<Sleep>>,
}

/// The runnable form of an ExecutableTask.
pub(crate) struct Executable<B: TaskBody> {
    /// The runtime's shared state, borrowed (see the module docs).
    runtime: RuntimeRef,
    body: B,
    /// `None` when the task has no name, timeout or retry policy.
    extras: Option<Box<Extras>>,
    /// Attempts started so far.
    attempts: u32,
    phase: Phase,
    /// The monitor's gate pass (`None` when the monitor is off).
    ticket: Option<Ticket>,
}

/// The running attempt's timeout or the backoff in a runner's `extras`, if any (a
/// function of the field, not of the runner: the runner's body is borrowed meanwhile).
fn timer(extras: &mut Option<Box<Extras>>) -> Option<&mut Box<Sleep>> {
    extras.as_mut()?.timer.as_mut()
}

/// The runner's runtime (see the module docs).
fn shared(runtime: &RuntimeRef) -> &Shared {
    // SAFETY: `runtime` is the address of the `Shared` that the `ExecSchedule` in the
    // runner's task cell holds an `Arc` of: `bind`, the only place a runner is made,
    // takes both from one `Arc` and moves the runner straight into that cell (the
    // caller's `&Arc` keeps it alive until then). The runner never leaves the cell,
    // and the cell drops its future (the runner) before its scheduler, whether in
    // place or when the cell is freed (`task/core.rs`). So while the runner exists —
    // and `&RuntimeRef` borrows from it — that `Arc` keeps the `Shared` alive. Only
    // shared borrows are made (`Shared: Sync`).
    unsafe { runtime.0.as_ref() }
}

/// The gate a runner's ticket goes through (the monitor is on whenever a ticket
/// exists: `None` is not reached).
fn gate(runtime: &RuntimeRef) -> Option<&Gate> {
    shared(runtime).monitor.gate().map(|gate| &**gate)
}

impl<B: TaskBody> Executable<B> {
    /// Tells the graph how the task ended (`waker`: the task's own, through which the
    /// runner finds its task's end-report word).
    fn report(&mut self, outcome: Result<(), FailureReason>, waker: &std::task::Waker) {
        if let (Some(ticket), Some(gate)) = (&mut self.ticket, gate(&self.runtime)) {
            // Free the slot first, so the task it goes to can be the next one run.
            ticket.finish(gate, crate::runtime::worker_of(shared(&self.runtime)));
        }
        let Some(task) = RawTask::of_waker(waker) else {
            // Polled through a foreign waker (never by our workers): the release
            // reports the end, as cancelled.
            return;
        };
        if let Some(at) = ended::claim(task) {
            ended::report(shared(&self.runtime), End::new(at, outcome));
        }
    }

    /// Decides what a failed attempt leads to: a retry (returns `None`) or the final
    /// error.
    fn after_failure(&mut self, error: TaskError) -> Option<TaskError> {
        let retry = self.extras.as_ref().and_then(|e| e.retry.as_ref());
        let retryable = match (retry, &error) {
            (Some((policy, _)), e) => {
                self.attempts <= policy.max_retries()
                    && match policy.retries() {
                        RetryOn::AnyFailure => true,
                        RetryOn::Errors => matches!(e, TaskError::Failed(_)),
                        RetryOn::Panics => matches!(e, TaskError::Panicked(_)),
                        RetryOn::Timeouts => matches!(e, TaskError::TimedOut),
                    }
            }
            (None, _) => false,
        };
        if !retryable {
            return Some(error);
        }
        let (policy, id) = retry.expect("retryable implies a policy");
        let delay = policy.backoff().delay(self.attempts, id.as_u64());
        self.phase = Phase::Backoff;
        let extras = self
            .extras
            .as_mut()
            .expect("a retry policy is in the extras");
        extras.timer = Some(Box::new(crate::time::sleep(delay)));
        None
    }

    /// Drops the timer, if any (the attempt or the backoff ended).
    fn stop_timer(&mut self) {
        if let Some(extras) = &mut self.extras {
            extras.timer = None;
        }
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

impl<B: TaskBody> Future for Executable<B> {
    type Output = Result<B::Output, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: only `body` is structurally pinned (its attempt lies inside it, see
        // body.rs): it is never moved or replaced, only used through `Pin` below.
        let this = unsafe { self.get_unchecked_mut() };
        if let Some(name) = this.extras.as_ref().and_then(|e| e.name.as_ref()) {
            crate::runtime::trace::note_task_name(|| name.clone().into());
        }
        // Monitor gate (admit.rs): before the body first runs, take an in-flight permit
        // (and the declared resources); without one, wait to be granted it.
        if let (Some(ticket), Some(gate)) = (&mut this.ticket, gate(&this.runtime)) {
            // The worker is looked up only for the first start (later polls of a
            // started task pass straight through).
            let worker = || crate::runtime::worker_of(shared(&this.runtime));
            if ticket.poll_start(gate, worker, cx).is_pending() {
                return Poll::Pending;
            }
        }
        loop {
            match this.phase {
                // SAFETY: `body` stays where it is (see above).
                Phase::Idle => match unsafe { Pin::new_unchecked(&mut this.body) }.start() {
                    true => {
                        this.attempts += 1;
                        if let Some(extras) = &mut this.extras {
                            extras.timer = extras
                                .timeout
                                .map(|d| Box::new(crate::time::sleep_until(Instant::now() + d)));
                        }
                        this.phase = Phase::Running;
                    }
                    false => {
                        // Only a factory can start a second attempt, and only
                        // factories take a retry policy, so this is not reached; fail
                        // cleanly rather than panic if it ever is.
                        let error =
                            TaskError::Failed("the task cannot start another attempt".into());
                        this.report(Err(error.reason()), cx.waker());
                        return Poll::Ready(Err(error));
                    }
                },
                Phase::Backoff => {
                    let sleep = timer(&mut this.extras).expect("a backoff has its sleep");
                    if Pin::new(sleep).poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.stop_timer();
                    this.phase = Phase::Idle;
                }
                Phase::Running => {
                    // SAFETY: `body` stays where it is (see above).
                    let mut body = unsafe { Pin::new_unchecked(&mut this.body) };
                    let polled = catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_attempt(cx)));
                    let error = match polled {
                        Ok(Poll::Ready(Ok(value))) => {
                            body.stop();
                            this.phase = Phase::Idle;
                            this.stop_timer();
                            this.report(Ok(()), cx.waker());
                            return Poll::Ready(Ok(value));
                        }
                        Ok(Poll::Ready(Err(e))) => TaskError::Failed(e),
                        Err(payload) => TaskError::Panicked(panic_message(&*payload)),
                        Ok(Poll::Pending) => {
                            let expired = timer(&mut this.extras)
                                .is_some_and(|t| Pin::new(t).poll(cx).is_ready());
                            if !expired {
                                return Poll::Pending;
                            }
                            TaskError::TimedOut
                        }
                    };
                    // Drop the failed attempt (its destructor may panic too).
                    let _ = catch_unwind(AssertUnwindSafe(|| body.stop()));
                    this.phase = Phase::Idle;
                    this.stop_timer();
                    if let Some(error) = this.after_failure(error) {
                        this.report(Err(error.reason()), cx.waker());
                        return Poll::Ready(Err(error));
                    }
                }
            }
        }
    }
}

impl<B: TaskBody> Drop for Executable<B> {
    fn drop(&mut self) {
        // Whatever ended the runner (its end, a cancellation before or while it ran,
        // shutdown, a refused or dropped batch): the ticket gives back what it holds.
        if let (Some(ticket), Some(gate)) = (&mut self.ticket, gate(&self.runtime)) {
            ticket.abandon(gate);
        }
    }
}
