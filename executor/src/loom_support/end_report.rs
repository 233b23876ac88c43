//! A handle on the ExecutableTask end-report protocol (`graph/ended.rs`), for loom:
//! a real task (state machine, harness, waker) whose future claims the report through
//! its waker when it completes — as the runner does — and whose scheduler's `release`
//! claims it when the task completes in any way, as `ExecSchedule::release` does. The
//! graph's part is played by a log of who reported.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use taskweave_scheduler::SlotRef;

use crate::graph::ended;
use crate::sync::{Arc, Mutex};
use crate::task::{self, JoinHandle, Notified, OwnedTask, RawTask, Schedule};

/// Who reported a task's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reporter {
    /// The runner, when its future finished.
    Runner,
    /// The task's release, for a runner that never reported.
    Release,
}

/// One ExecutableTask-like task, started (marked running in the graph, its slot not
/// yet noted in its header) and not yet run; see the module docs.
pub struct EndReportModel {
    reports: Arc<Mutex<Vec<(Reporter, SlotRef)>>>,
    queue: Arc<Mutex<Vec<Notified>>>,
    notified: Option<Notified>,
    owned: Option<OwnedTask>,
    join: Option<JoinHandle<()>>,
}

struct Runner {
    reports: Arc<Mutex<Vec<(Reporter, SlotRef)>>>,
}

impl Future for Runner {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let task = RawTask::of_waker(cx.waker()).expect("polled by its harness");
        if let Some(at) = ended::claim(task) {
            self.reports.lock().push((Reporter::Runner, at));
        }
        Poll::Ready(())
    }
}

struct ReportingScheduler {
    reports: Arc<Mutex<Vec<(Reporter, SlotRef)>>>,
    queue: Arc<Mutex<Vec<Notified>>>,
}

impl Schedule for ReportingScheduler {
    fn schedule(&self, task: Notified) {
        self.queue.lock().push(task);
    }

    fn release(&self, task: &RawTask) -> Option<OwnedTask> {
        if let Some(at) = ended::claim(*task) {
            self.reports.lock().push((Reporter::Release, at));
        }
        None
    }
}

impl EndReportModel {
    /// A task that a worker just picked: [`PickedRun::run`] notes its slot.
    pub fn picked() -> EndReportModel {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(Mutex::new(Vec::new()));
        let runner = Runner {
            reports: reports.clone(),
        };
        let scheduler = ReportingScheduler {
            reports: reports.clone(),
            queue: queue.clone(),
        };
        let (owned, notified, join) = task::new_task(runner, scheduler);
        // The graph marked it running; the picking worker notes its slot in its
        // header just before it runs it (`PickedRun::run`).
        EndReportModel {
            reports,
            queue,
            notified: Some(notified),
            owned: Some(owned),
            join: Some(join),
        }
    }

    /// The slot the task was picked from.
    pub fn slot() -> SlotRef {
        SlotRef::from_bits(7 | (3 << 32))
    }

    /// Takes the picking worker's reference, to run on any thread.
    pub fn take_run(&mut self) -> PickedRun {
        PickedRun(self.notified.take().expect("taken once"))
    }

    /// Takes the graph's ownership reference, for runtime shutdown's cancellation on
    /// any thread.
    pub fn take_owned(&mut self) -> Owned {
        Owned(self.owned.take().expect("taken once"))
    }

    /// Runs whatever the task's scheduler queued (an aborted idle task queues itself
    /// to be cancelled).
    pub fn run_queued(&self) {
        let queued: Vec<Notified> = self.queue.lock().drain(..).collect();
        for task in queued {
            task.run();
        }
    }

    /// The JoinHandle (to abort, or to await).
    pub fn take_join(&mut self) -> JoinHandle<()> {
        self.join.take().expect("taken once")
    }

    /// Who reported, with the slot they reported.
    pub fn reports(&self) -> Vec<(Reporter, SlotRef)> {
        self.reports.lock().clone()
    }

    /// [`reports`](Self::reports), read through the task's scheduler borrowed from
    /// `join` (`JoinHandle::scheduler`), as a `TaskHandle` reaches its runtime.
    pub fn reports_through(join: &JoinHandle<()>) -> Vec<(Reporter, SlotRef)> {
        let scheduler = join
            .scheduler::<ReportingScheduler>()
            .expect("the model's task is scheduled by a ReportingScheduler");
        scheduler.reports.lock().clone()
    }
}

/// The picking worker's reference to the task.
pub struct PickedRun(Notified);

impl PickedRun {
    /// Notes the task's slot in its header, then polls the task (or cancels it, if
    /// it was aborted), as the worker does after its exchange released the lock.
    pub fn run(self) {
        ended::note_start(self.0.raw(), EndReportModel::slot());
        self.0.run();
    }
}

/// The graph's ownership reference to the task.
pub struct Owned(OwnedTask);

impl Owned {
    /// Cancels the task as runtime shutdown does (`Closed::shutdown`).
    pub fn shutdown(self) {
        self.0.shutdown();
    }
}

impl Drop for EndReportModel {
    fn drop(&mut self) {
        // The graph gives up its ownership once the end is applied.
        drop(self.owned.take());
        drop(self.notified.take());
        drop(self.join.take());
        self.queue.lock().clear();
    }
}
