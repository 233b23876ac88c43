//! Cooperative budget: a task gets a number of "units" per poll; the runtime's own leaf
//! futures (JoinHandle, sleep, yield) spend one each. When the budget is spent they
//! return `Pending` after waking the task, so a task that always finds its I/O ready
//! still lets others run.
//!
//! Invariant: outside a task poll (e.g. inside `block_on`) there is no budget and
//! everything proceeds.

use std::task::{Context, Poll};

/// Units per task poll (tokio uses the same figure).
#[cfg(not(taskweave_loom))]
const BUDGET_PER_POLL: u8 = 128;

#[cfg(not(taskweave_loom))]
thread_local! {
    static BUDGET: std::cell::Cell<Option<u8>> = const { std::cell::Cell::new(None) };
}

/// Restores the previous budget when a task poll ends.
pub(crate) struct TaskBudget {
    #[cfg(not(taskweave_loom))]
    previous: Option<u8>,
}

impl TaskBudget {
    /// Gives the task about to be polled a fresh budget.
    pub(crate) fn enter() -> TaskBudget {
        #[cfg(not(taskweave_loom))]
        {
            let previous = BUDGET.with(|b| b.replace(Some(BUDGET_PER_POLL)));
            TaskBudget { previous }
        }
        #[cfg(taskweave_loom)]
        TaskBudget {}
    }
}

impl Drop for TaskBudget {
    fn drop(&mut self) {
        #[cfg(not(taskweave_loom))]
        BUDGET.with(|b| b.set(self.previous));
    }
}

/// Spends one unit; when none is left, wakes the task and returns `Pending`.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    #[cfg(not(taskweave_loom))]
    {
        let exhausted = BUDGET.with(|b| match b.get() {
            Some(0) => true,
            Some(n) => {
                b.set(Some(n - 1));
                false
            }
            None => false,
        });
        if exhausted {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
    }
    #[cfg(taskweave_loom)]
    let _ = cx;
    Poll::Ready(())
}

#[cfg(all(test, not(taskweave_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountWakes(AtomicUsize);
    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn budget_runs_out_after_its_units_and_wakes_the_task() {
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let _budget = TaskBudget::enter();
        for _ in 0..BUDGET_PER_POLL {
            assert!(poll_proceed(&mut cx).is_ready());
        }
        assert!(poll_proceed(&mut cx).is_pending());
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn no_budget_outside_a_task() {
        let waker = futures_task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..1000 {
            assert!(poll_proceed(&mut cx).is_ready());
        }
    }
}
