//! [`TaskStatus`] and `Control`: the cell a supervised task's runner shares with its
//! handle and its supervisor — status, restart count, a pending manual restart.
//!
//! Invariants:
//! - Once the status is final (`Completed`, `Failed`, `Dead`, `Killed`) it never
//!   changes again; a new run of the same supervisor entry gets a new `Control`.
//! - The runner ends the task only through `finish`, which in one critical section
//!   either honours a restart request made while the run was ending, or reports a kill
//!   that came first, or makes the status final. So a kill and the task's outcome
//!   agree (killed ⇔ `Cancelled`), and an accepted restart request always leads to a
//!   new run.
//! - The status hook is called after every change (but see
//!   `force_final_quietly`), outside the lock, with panics caught; changes of one task are made by one party at a time (its runner, or the
//!   one `kill` that wins), so the hook sees them in order.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use crate::sync::Mutex;

/// Where a supervised task is in its life.
///
/// ```
/// use taskweave_executor::supervise::TaskStatus;
///
/// assert!(!TaskStatus::Restarting.is_final());
/// assert!(TaskStatus::Dead.is_final());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// A run is in progress (or about to start).
    Healthy,
    /// A run failed and the next one starts after the backoff delay.
    Restarting,
    /// A run returned `Ok`: final.
    Completed,
    /// A run failed and the policy does not restart that failure (or the factory
    /// panicked): final.
    Failed,
    /// A run failed, the policy would restart it, but the restart budget is spent:
    /// final. A supervisor's dead-task threshold counts these.
    Dead,
    /// Aborted, killed, or cancelled by a supervisor or runtime shutdown: final.
    Killed,
}

impl TaskStatus {
    /// True for the statuses a task never leaves.
    pub fn is_final(self) -> bool {
        !matches!(self, TaskStatus::Healthy | TaskStatus::Restarting)
    }
}

/// Called with a task's name and new status after every change.
pub(crate) type StatusHook = Arc<dyn Fn(&str, TaskStatus) + Send + Sync>;

/// How `Control::finish` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// The status is final now.
    Done,
    /// A restart was requested: start a fresh run instead of ending.
    Restart,
    /// A kill came first: the task's outcome is a cancellation.
    Killed,
}

struct State {
    status: TaskStatus,
    restarts: u32,
    restart_requested: bool,
    /// The runner's waker, to deliver a restart request while it waits.
    waker: Option<Waker>,
}

/// The shared cell of one supervised task (see the module docs).
pub(crate) struct Control {
    name: Arc<str>,
    hook: Option<StatusHook>,
    state: Mutex<State>,
}

impl Control {
    pub(crate) fn new(name: Arc<str>, hook: Option<StatusHook>) -> Arc<Control> {
        Arc::new(Control {
            name,
            hook,
            state: Mutex::new(State {
                status: TaskStatus::Healthy,
                restarts: 0,
                restart_requested: false,
                waker: None,
            }),
        })
    }

    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    pub(crate) fn status(&self) -> TaskStatus {
        self.state.lock().status
    }

    pub(crate) fn restarts(&self) -> u32 {
        self.state.lock().restarts
    }

    fn announce(&self, status: TaskStatus) {
        if let Some(hook) = &self.hook {
            let _ = catch_unwind(AssertUnwindSafe(|| hook(&self.name, status)));
        }
    }

    /// Applies `change` under the lock; announces the status if it changed.
    fn update(&self, change: impl FnOnce(&mut State)) {
        let (before, after) = {
            let mut state = self.state.lock();
            let before = state.status;
            change(&mut state);
            (before, state.status)
        };
        if before != after {
            self.announce(after);
        }
    }

    /// A run is starting. False if the task was killed (then nothing changes).
    pub(crate) fn start_run(&self) -> bool {
        let mut live = false;
        self.update(|s| {
            live = !s.status.is_final();
            if live {
                s.status = TaskStatus::Healthy;
            }
        });
        live
    }

    /// A failed run will be restarted after a backoff; `restarts` so far in total.
    pub(crate) fn restarting(&self, restarts: u32) {
        self.update(|s| {
            if !s.status.is_final() {
                s.status = TaskStatus::Restarting;
                s.restarts = restarts;
            }
        });
    }

    /// Ends the task with the final `status`, unless a restart request or a kill came
    /// first (see the module invariants).
    pub(crate) fn finish(&self, status: TaskStatus) -> Finish {
        debug_assert!(status.is_final());
        let mut finish = Finish::Done;
        self.update(|s| {
            if s.status == TaskStatus::Killed {
                finish = Finish::Killed;
            } else if s.status.is_final() {
                // Already ended (only the runner ends a task, so this is not reached);
                // keep the first ending.
            } else if std::mem::take(&mut s.restart_requested) {
                finish = Finish::Restart;
            } else {
                s.status = status;
            }
        });
        finish
    }

    /// Makes the status final if it is not yet (the runner's future was dropped, or
    /// its run was cancelled by runtime shutdown).
    pub(crate) fn force_final(&self, status: TaskStatus) {
        self.update(|s| {
            if !s.status.is_final() {
                s.status = status;
            }
        });
    }

    /// [`force_final`](Self::force_final) without calling the status hook.
    pub(crate) fn force_final_quietly(&self, status: TaskStatus) {
        let mut s = self.state.lock();
        if !s.status.is_final() {
            s.status = status;
        }
    }

    /// Marks a live task killed. True if it was live (the caller then aborts the
    /// runner); false if it had already ended.
    pub(crate) fn kill(&self) -> bool {
        let mut killed = false;
        self.update(|s| {
            if !s.status.is_final() {
                s.status = TaskStatus::Killed;
                killed = true;
            }
        });
        killed
    }

    /// Asks the runner for a fresh run. False if the task has ended.
    pub(crate) fn request_restart(&self) -> bool {
        let waker = {
            let mut s = self.state.lock();
            if s.status.is_final() {
                return false;
            }
            s.restart_requested = true;
            s.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Takes a pending restart request.
    pub(crate) fn take_restart(&self) -> bool {
        std::mem::take(&mut self.state.lock().restart_requested)
    }

    /// Ready (taking the request) once a restart was requested; otherwise registers
    /// the runner's waker.
    pub(crate) fn poll_restart(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.state.lock();
        if std::mem::take(&mut s.restart_requested) {
            return Poll::Ready(());
        }
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Arc<Mutex<Vec<(String, TaskStatus)>>>;

    fn recorded() -> (Arc<Control>, Log) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let hook: StatusHook =
            Arc::new(move |name, status| sink.lock().push((name.to_owned(), status)));
        (Control::new("t".into(), Some(hook)), log)
    }

    fn statuses(log: &Mutex<Vec<(String, TaskStatus)>>) -> Vec<TaskStatus> {
        log.lock().iter().map(|(_, s)| *s).collect()
    }

    #[test]
    fn changes_are_announced_once_and_final_is_final() {
        let (c, log) = recorded();
        assert!(c.start_run(), "starts live");
        c.restarting(1);
        assert!(c.start_run());
        assert_eq!(c.finish(TaskStatus::Completed), Finish::Done);
        // Nothing moves a final status.
        assert!(!c.start_run());
        c.restarting(9);
        c.force_final(TaskStatus::Killed);
        assert!(!c.kill());
        assert!(!c.request_restart());
        assert_eq!(c.status(), TaskStatus::Completed);
        assert_eq!(c.restarts(), 1);
        assert_eq!(
            statuses(&log),
            [
                TaskStatus::Restarting,
                TaskStatus::Healthy,
                TaskStatus::Completed
            ]
        );
        assert!(log.lock().iter().all(|(n, _)| n == "t"));
    }

    #[test]
    fn a_restart_request_overrides_an_ending_and_a_kill_overrides_both() {
        let (c, log) = recorded();
        assert!(c.request_restart());
        assert_eq!(c.finish(TaskStatus::Failed), Finish::Restart);
        assert_eq!(c.status(), TaskStatus::Healthy, "still live");
        assert!(!c.take_restart(), "the request was consumed");
        assert!(c.request_restart());
        assert!(c.kill());
        assert_eq!(c.finish(TaskStatus::Completed), Finish::Killed);
        assert_eq!(c.status(), TaskStatus::Killed);
        assert_eq!(statuses(&log), [TaskStatus::Killed]);
    }

    #[test]
    fn poll_restart_registers_and_is_woken() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let c = Control::new("t".into(), None);
        assert!(c.poll_restart(&mut cx).is_pending());
        assert!(c.request_restart());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(c.poll_restart(&mut cx).is_ready());
        assert!(c.poll_restart(&mut cx).is_pending(), "taken once");
    }

    #[test]
    fn a_panicking_hook_is_contained() {
        let hook: StatusHook = Arc::new(|_, _| panic!("observer bug"));
        let c = Control::new("t".into(), Some(hook));
        assert!(c.kill());
        assert_eq!(c.status(), TaskStatus::Killed);
    }
}
