//! Helpers for the ExecutableTask tests: an event log, gates that hold a worker or a
//! dependency, never-polled probes, and bounded waits.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use taskweave::graph::{ExecutableTask, Priority, TaskBody, TaskError, TaskHandle, TaskId};
use taskweave::Runtime;

use crate::common::DropCounter;

/// How long a helper waits for something that should happen "soon".
pub const SOON: Duration = Duration::from_secs(10);

/// An ordered log of events (linearised by its mutex, so it is consistent with real
/// time: an event logged after another was logged after it happened).
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Position of `event`; panics if it is missing or logged twice.
    #[track_caller]
    pub fn pos(&self, event: &str) -> usize {
        let events = self.events();
        let hits: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| *e == event)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "`{event}` logged {} times: {events:?}",
            hits.len()
        );
        hits[0]
    }

    /// Events that start with `prefix`, in order, with the prefix stripped.
    pub fn with_prefix(&self, prefix: &str) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| e.strip_prefix(prefix).map(str::to_string))
            .collect()
    }
}

/// Awaits a handle on `rt` with a bound: a handle that does not resolve within
/// [`SOON`] fails the test.
#[track_caller]
pub fn resolve<T: Send + 'static>(rt: &Runtime, handle: TaskHandle<T>) -> Result<T, TaskError> {
    let id = handle.id();
    rt.block_on(async move {
        match taskweave::time::timeout(SOON, handle).await {
            Ok(result) => result,
            Err(_) => panic!("task {id} did not resolve within {SOON:?}"),
        }
    })
}

/// Asserts that a result is `DependencyFailed(root)`.
#[track_caller]
pub fn assert_dependency_failed<T>(result: Result<T, TaskError>, root: TaskId, what: &str) {
    match result {
        Err(TaskError::DependencyFailed(r)) => {
            assert_eq!(r, root, "{what}: DependencyFailed names the wrong root")
        }
        Err(e) => panic!("{what}: expected DependencyFailed({root}), got {e:?}"),
        Ok(_) => panic!("{what}: expected DependencyFailed({root}), got a value"),
    }
}

/// Asserts that a result is `Cancelled`.
#[track_caller]
pub fn assert_cancelled<T>(result: Result<T, TaskError>, what: &str) {
    match result {
        Err(TaskError::Cancelled) => {}
        Err(e) => panic!("{what}: expected Cancelled, got {e:?}"),
        Ok(_) => panic!("{what}: expected Cancelled, got a value"),
    }
}

/// A task that blocks its worker thread (synchronously) until released: on a
/// 1-worker runtime nothing else runs meanwhile, so tasks submitted then all queue up
/// in the ready heap and the order they run in afterwards is the heap's order.
pub struct WorkerGate {
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
    handle: Option<TaskHandle<()>>,
}

impl WorkerGate {
    /// Submits the gate (at CRITICAL priority) and waits until it holds the worker.
    #[track_caller]
    pub fn hold(rt: &Runtime) -> WorkerGate {
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let task = ExecutableTask::new(async move {
            started_tx.send(()).unwrap();
            // Bounded, so a failing test cannot keep the worker forever.
            let _ = release_rx.recv_timeout(Duration::from_secs(30));
        })
        .name("worker-gate")
        .priority(Priority::CRITICAL);
        let handle = rt.submit(task).expect("submit the worker gate");
        started
            .recv_timeout(SOON)
            .expect("the worker gate did not start");
        WorkerGate {
            started,
            release,
            handle: Some(handle),
        }
    }

    /// Lets the worker go and waits for the gate task to finish.
    pub fn release(mut self, rt: &Runtime) {
        self.release.send(()).unwrap();
        let handle = self.handle.take().unwrap();
        resolve(rt, handle).expect("the worker gate failed");
        let _ = &self.started;
    }
}

/// A task that waits (asynchronously, without holding a worker) until opened: a
/// dependency that keeps its dependents waiting.
pub struct AsyncGate {
    pub id: TaskId,
    open: futures::channel::oneshot::Sender<()>,
    pub handle: TaskHandle<()>,
}

impl AsyncGate {
    pub fn submit(rt: &Runtime, name: &str) -> AsyncGate {
        let (open, opened) = futures::channel::oneshot::channel::<()>();
        let task = ExecutableTask::new(async move {
            let _ = opened.await;
        })
        .name(name.to_string());
        let id = task.id();
        let handle = rt.submit(task).expect("submit gate");
        AsyncGate { id, open, handle }
    }

    /// Opens the gate and checks that it succeeded.
    pub fn open(self, rt: &Runtime) {
        self.open.send(()).unwrap();
        resolve(rt, self.handle).expect("the gate task failed");
    }
}

/// Futures that must never be polled: each holds a drop guard and counts its polls.
#[derive(Clone, Default)]
pub struct Probes {
    pub drops: DropCounter,
    polls: Arc<AtomicUsize>,
}

impl Probes {
    pub fn new() -> Probes {
        Probes::default()
    }

    /// A future that records being polled and being dropped.
    pub fn future(&self) -> impl Future<Output = ()> + Send + 'static {
        let guard = self.drops.guard();
        let polls = self.polls.clone();
        async move {
            let _guard = guard;
            polls.fetch_add(1, SeqCst);
        }
    }

    pub fn polls(&self) -> usize {
        self.polls.load(SeqCst)
    }

    /// Every probe was dropped and none was polled.
    #[track_caller]
    pub fn assert_dropped_unpolled(&self, what: &str) {
        assert_eq!(self.polls(), 0, "{what}: a probe future was polled");
        assert_eq!(
            self.drops.dropped(),
            self.drops.created(),
            "{what}: {} of {} probe futures were not dropped",
            self.drops.created() - self.drops.dropped(),
            self.drops.created()
        );
    }
}

/// Wraps a future so that every wake-up of the task *while this future is pending
/// inside it* sets `woken` (and is forwarded).
pub struct NoteWake<F> {
    inner: Pin<Box<F>>,
    woken: Arc<AtomicBool>,
}

impl<F: Future> NoteWake<F> {
    pub fn new(inner: F, woken: Arc<AtomicBool>) -> Self {
        NoteWake {
            inner: Box::pin(inner),
            woken,
        }
    }
}

struct NotingWaker {
    inner: Waker,
    woken: Arc<AtomicBool>,
}

impl Wake for NotingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        self.inner.wake_by_ref();
    }
}

impl<F: Future> Future for NoteWake<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(NotingWaker {
            inner: cx.waker().clone(),
            woken: self.woken.clone(),
        }));
        let mut cx2 = Context::from_waker(&waker);
        self.inner.as_mut().poll(&mut cx2)
    }
}

/// Submits `task` and returns its handle; panics on a submit error.
#[track_caller]
pub fn submit<B: TaskBody>(rt: &Runtime, task: ExecutableTask<B>) -> TaskHandle<B::Output> {
    rt.submit(task).expect("submit")
}
