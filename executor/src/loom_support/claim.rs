//! A handle on chain claims (`graph/dispatch/claim.rs`), for loom: a real `Dispatch`
//! holding a chain of three real tasks `0 → 1 → 2`, and a worker that takes its
//! trips to the graph through `Dispatch::exchange` and runs the tasks it picks or was
//! handed, as `WorkerCore` does (`buffer_end`'s hand-over, `next_exec_task`'s
//! give-back). Each task logs its index when its future runs and reports its end
//! through its header, as the runner and `ExecSchedule::release` do.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use taskweave_scheduler::{FailureReason, ReadyQueueConfig, SpecBatch, TaskId, TaskSpec};

use crate::graph::buffered::Recorded;
use crate::graph::dispatch::{Claims, Dispatch, ExecTask, Pick, Specs};
use crate::graph::ended::{self, End};
use crate::graph::MachineLimits;
use crate::sync::{Arc, Mutex};
use crate::task::{self, AbortHandle, JoinHandle, Notified, OwnedTask, RawTask, Schedule};

/// Shared by the model and its tasks: what ran, and the ends reported.
#[derive(Default)]
struct Log {
    ran: Vec<usize>,
    ends: Vec<End>,
}

/// The chain's dispatch and log, shared by the worker and [`Canceller`]s.
struct Shared {
    dispatch: Dispatch,
    log: Arc<Mutex<Log>>,
}

/// The chain and its worker (see the module docs); its methods are the worker's.
pub struct ClaimModel {
    shared: Arc<Shared>,
    picked: VecDeque<Notified>,
    claims: Claims,
    claims_after: Option<taskweave_scheduler::SlotRef>,
}

struct Link {
    index: usize,
    log: Arc<Mutex<Log>>,
}

impl Future for Link {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.log.lock().ran.push(self.index);
        let task = RawTask::of_waker(cx.waker()).expect("polled by its harness");
        if let Some(at) = ended::claim(task) {
            self.log.lock().ends.push(End::new(at, Ok(())));
        }
        Poll::Ready(())
    }
}

struct LinkScheduler {
    log: Arc<Mutex<Log>>,
}

impl Schedule for LinkScheduler {
    fn schedule(&self, _: Notified) {
        unreachable!("the chain's links never wait");
    }

    fn release(&self, task: &RawTask) -> Option<OwnedTask> {
        if let Some(at) = ended::claim(*task) {
            let end = End::new(at, Err(FailureReason::Cancelled));
            self.log.lock().ends.push(end);
        }
        None
    }
}

impl ClaimModel {
    /// The chain `0 → 1 → 2`, submitted; returns the model and the tasks' handles.
    pub fn chain() -> (ClaimModel, [JoinHandle<()>; 3]) {
        let limits = MachineLimits {
            cores: 1,
            memory_bytes: None,
        };
        let dispatch = Dispatch::new(16, ReadyQueueConfig::default(), limits, 1);
        let log = Arc::new(Mutex::new(Log::default()));
        let mut specs = SpecBatch::new();
        let mut tasks = Vec::new();
        let joins = [0, 1, 2].map(|index| {
            let spec = TaskSpec::new(Self::id(index));
            specs.push(match index {
                0 => spec,
                _ => spec.dependency(Self::id(index - 1)),
            });
            let link = Link {
                index,
                log: log.clone(),
            };
            let scheduler = LinkScheduler { log: log.clone() };
            let (owned, notified, join) = task::new_task(link, scheduler);
            tasks.push(ExecTask::new(notified, owned));
            join
        });
        let mut doomed = Vec::new();
        assert!(dispatch
            .submit(Specs::Batch(&specs), tasks, &mut doomed)
            .is_ok());
        let model = ClaimModel {
            shared: Arc::new(Shared { dispatch, log }),
            picked: VecDeque::new(),
            claims: Claims::new(),
            claims_after: None,
        };
        (model, joins)
    }

    /// The root cause a cancellation carries (`JoinError::cancel_cause`): the failed
    /// dependency that doomed the task, `None` if it was cancelled itself.
    pub fn cancel_cause(error: &crate::JoinError) -> Option<u64> {
        error.cancel_cause()
    }

    /// The id of link `index`.
    pub fn id(index: usize) -> TaskId {
        TaskId::new(index as u64 + 1)
    }

    /// The worker's trip to the graph: records the ends its tasks reported, gives its
    /// claims back, picks (as a worker of short tasks does), and may claim anew.
    pub fn exchange(&mut self) {
        self.trip(2);
    }

    /// A trip that only records ends and gives the claims back, as `WorkerCore` takes
    /// when the task its claims wait for did not end in its first poll.
    pub fn give_back(&mut self) {
        self.trip(0);
    }

    fn trip(&mut self, max: usize) {
        let mut ends = std::mem::take(&mut self.shared.log.lock().ends);
        let (mut done, mut finished, mut doomed) = (Default::default(), Vec::new(), Vec::new());
        let pick = Pick {
            into: &mut self.picked,
            max,
            spread: 1,
            max_claims: 16,
        };
        let exchanged = self.shared.dispatch.exchange(
            &mut ends,
            Some(0),
            pick,
            &mut self.claims,
            &mut done,
            &mut finished,
            &mut doomed,
        );
        self.claims_after = exchanged.claimed_after;
        drop(finished);
        crate::graph::cancel_doomed(doomed);
    }

    /// Runs the next task the worker holds (false if none); if it succeeds and the
    /// next claimed task waits for it, hands that one over as `buffer_end` does.
    pub fn run_next(&mut self) -> bool {
        let Some(task) = self.picked.pop_front() else {
            return false;
        };
        task.run();
        let mut log = self.shared.log.lock();
        let end = log.ends.last().copied();
        let handing = match end {
            Some(end) if end.outcome.is_ok() && Some(end.at) == self.claims_after => {
                self.claims.pop_front().map(|next| (end, next))
            }
            _ => None,
        };
        let Some((end, (at, next))) = handing else {
            // Its end waits for the next trip, which gives the claims back.
            return true;
        };
        log.ends.pop();
        drop(log);
        let handed = End {
            handed_to: Some(at),
            ..end
        };
        self.shared.dispatch.buffer_end(0, handed);
        ended::note_start(next.raw(), at);
        self.claims_after = (!self.claims.is_empty()).then_some(at);
        self.picked.push_front(next);
        true
    }

    /// Whether the worker holds no task and no claim.
    pub fn idle(&self) -> bool {
        self.picked.is_empty() && self.claims.is_empty()
    }

    /// The indices of the links whose futures ran, in order.
    pub fn ran(&self) -> Vec<usize> {
        self.shared.log.lock().ran.clone()
    }

    /// Tasks the graph still holds (not ended), after recording every held-back end.
    pub fn live(&self) -> usize {
        let mut recorded = Recorded::default();
        let live = self.shared.dispatch.live(&mut recorded);
        drop(recorded.finished);
        crate::graph::cancel_doomed(recorded.doomed);
        live
    }

    /// A handle that cancels links from another thread.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            shared: self.shared.clone(),
        }
    }
}

/// Cancels links of a [`ClaimModel`]'s chain, as `TaskHandle::cancel` does.
pub struct Canceller {
    shared: Arc<Shared>,
}

impl Canceller {
    /// Cancels link `index`: the graph cancels it if it waits, else it is aborted
    /// (through the graph if a worker claimed it, then through `join`).
    pub fn cancel(&self, index: usize, join: &AbortHandle) {
        let mut recorded = Recorded::default();
        let outcome = self
            .shared
            .dispatch
            .cancel(ClaimModel::id(index), &mut recorded);
        if matches!(outcome, Ok(false)) {
            join.abort();
        }
        drop(recorded.finished);
        crate::graph::cancel_doomed(recorded.doomed);
    }
}
