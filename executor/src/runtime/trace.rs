//! The trace recorder: while a trace session runs, each worker records every task
//! poll it makes (start, end, task id, task name) into its own bounded ring buffer.
//! [`Handle::stop_trace`] collects them into a [`Trace`] (Chrome trace-event JSON).
//!
//! Cost: when no session runs, a poll pays one relaxed load of `enabled` (the worker
//! calls [`Recorder::run`] instead of `Notified::run`), and a tracked task's poll one
//! thread-local read (`note_task_name`). While a session runs, a poll also pays two
//! clock reads, two SeqCst stores/loads and one uncontended lock of its worker's ring.
//!
//! Memory: each worker keeps at most `capacity` events (about 64 bytes each, grown on
//! demand); when its ring is full the oldest event is dropped and counted in
//! [`Trace::dropped`](crate::export::trace::Trace::dropped). So a session holds at most
//! `capacity × workers` events, whatever its length.
//!
//! Stop protocol (so a trace holds every poll that *began* while it ran, including the
//! last poll of a task whose `JoinHandle` the stopping thread just awaited): a worker
//! about to record sets its `busy` flag, then re-reads `enabled` (both SeqCst) and
//! records only if it is still set; `stop` clears `enabled` (SeqCst), then waits until
//! no worker is busy (at most [`STOP_WAIT`], and never for its own worker when called
//! from inside a task) before draining the rings. Either the worker sees `enabled`
//! cleared and records nothing, or `stop` sees it busy and waits for its event.
//!
//! These are statistics, not part of the scheduling protocols, so they use std's
//! atomics and parking_lot's lock even under loom (like `metrics.rs`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::Handle;
use crate::export::trace::{Trace, TraceError, TraceEvent};
use crate::task::{Id, Notified, TaskName};

/// Events each worker keeps by default ([`Handle::start_trace`]).
pub const DEFAULT_TRACE_CAPACITY: usize = 1 << 16;

/// The most events a worker may be asked to keep.
pub const MAX_TRACE_CAPACITY: usize = 1 << 24;

/// How long `stop` waits for a poll in progress to end.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// One recorded poll, before it is made relative to the session's start.
struct RawEvent {
    start: Instant,
    end: Instant,
    task: Id,
    name: Option<TaskName>,
}

/// A worker's bounded buffer: the most recent `capacity` polls.
struct Ring {
    events: VecDeque<RawEvent>,
    capacity: usize,
    dropped: u64,
}

impl Ring {
    fn push(&mut self, event: RawEvent) {
        if self.events.len() >= self.capacity {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(event);
    }
}

/// What the recorder keeps per worker.
struct WorkerTrace {
    /// Set while this worker runs a poll it will record (see the stop protocol).
    busy: AtomicBool,
    ring: Mutex<Ring>,
}

/// The per-runtime recorder, in the runtime's shared state.
pub(crate) struct Recorder {
    enabled: AtomicBool,
    workers: Box<[CachePadded<WorkerTrace>]>,
    /// The running session's start; the lock also serializes `start` and `stop`.
    session: Mutex<Option<Instant>>,
}

thread_local! {
    /// On a worker inside a recorded poll: (recorder address, worker index).
    static RECORDING: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
    /// The name the polled task gave for itself (see `note_task_name`).
    static TASK_NAME: RefCell<Option<TaskName>> = const { RefCell::new(None) };
}

/// Called by a task that knows its name, at each poll: if the poll is being
/// recorded, `name()` becomes the event's name. Otherwise one thread-local read.
pub(crate) fn note_task_name(name: impl FnOnce() -> TaskName) {
    if RECORDING.try_with(Cell::get).ok().flatten().is_some() {
        let _ = TASK_NAME.try_with(|n| *n.borrow_mut() = Some(name()));
    }
}

/// Clears the recording state of this thread when a recorded poll ends, even if
/// it unwinds.
struct PollGuard<'a> {
    busy: &'a AtomicBool,
}

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        let _ = RECORDING.try_with(|r| r.set(None));
        self.busy.store(false, Ordering::Release);
    }
}

impl Recorder {
    pub(crate) fn new(workers: usize) -> Recorder {
        Recorder {
            enabled: AtomicBool::new(false),
            workers: (0..workers)
                .map(|_| {
                    CachePadded::new(WorkerTrace {
                        busy: AtomicBool::new(false),
                        ring: Mutex::new(Ring {
                            events: VecDeque::new(),
                            capacity: 0,
                            dropped: 0,
                        }),
                    })
                })
                .collect(),
            session: Mutex::new(None),
        }
    }

    /// Polls `task` on worker `worker`, recording the poll if a session runs.
    #[inline]
    pub(crate) fn run(&self, worker: usize, task: Notified) {
        if !self.enabled.load(Ordering::Relaxed) {
            task.run();
            return;
        }
        self.run_recorded(worker, task);
    }

    #[inline(never)]
    fn run_recorded(&self, worker: usize, task: Notified) {
        let slot = &self.workers[worker];
        slot.busy.store(true, Ordering::SeqCst);
        let _guard = PollGuard { busy: &slot.busy };
        if !self.enabled.load(Ordering::SeqCst) {
            // `stop` began meanwhile and may not wait for us: record nothing.
            task.run();
            return;
        }
        let id = task.id();
        let _ = RECORDING.try_with(|r| r.set(Some((self as *const Recorder as usize, worker))));
        let start = Instant::now();
        task.run();
        let end = Instant::now();
        let name = TASK_NAME.try_with(|n| n.borrow_mut().take()).ok().flatten();
        slot.ring.lock().push(RawEvent {
            start,
            end,
            task: id,
            name,
        });
    }

    fn is_running(&self) -> bool {
        self.session.lock().is_some()
    }

    fn start(&self, capacity: usize) -> Result<(), TraceError> {
        if capacity == 0 || capacity > MAX_TRACE_CAPACITY {
            return Err(TraceError::InvalidCapacity(capacity));
        }
        let mut session = self.session.lock();
        if session.is_some() {
            return Err(TraceError::AlreadyRunning);
        }
        for slot in self.workers.iter() {
            let mut ring = slot.ring.lock();
            ring.events = VecDeque::new();
            ring.capacity = capacity;
            ring.dropped = 0;
        }
        *session = Some(Instant::now());
        self.enabled.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn stop(&self) -> Trace {
        let mut session = self.session.lock();
        let workers = self.workers.len();
        let Some(epoch) = session.take() else {
            return Trace::new(Vec::new(), workers, 0, Duration::ZERO);
        };
        self.enabled.store(false, Ordering::SeqCst);
        let me = self as *const Recorder as usize;
        let own = RECORDING
            .try_with(Cell::get)
            .ok()
            .flatten()
            .filter(|&(recorder, _)| recorder == me)
            .map(|(_, worker)| worker);
        let deadline = Instant::now() + STOP_WAIT;
        for (index, slot) in self.workers.iter().enumerate() {
            if Some(index) == own {
                continue;
            }
            while slot.busy.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::yield_now();
            }
        }
        // After the wait, so every recorded poll ended within the session.
        let stopped = Instant::now();
        let mut events = Vec::new();
        let mut dropped = 0;
        for (worker, slot) in self.workers.iter().enumerate() {
            let mut ring = slot.ring.lock();
            dropped += std::mem::take(&mut ring.dropped);
            let raw = std::mem::take(&mut ring.events);
            drop(ring);
            events.extend(
                raw.into_iter()
                    // A poll of an earlier session that ended after this one began.
                    .filter(|e| e.start >= epoch)
                    .map(|e| TraceEvent {
                        worker,
                        task: e.task,
                        name: e.name,
                        start: e.start - epoch,
                        duration: e.end.saturating_duration_since(e.start),
                    }),
            );
        }
        Trace::new(events, workers, dropped, stopped - epoch)
    }
}

impl Handle {
    /// Starts recording task polls on this runtime's workers, keeping at most
    /// [`DEFAULT_TRACE_CAPACITY`] events per worker; see
    /// [`start_trace_with_capacity`](Handle::start_trace_with_capacity).
    ///
    /// # Errors
    /// [`TraceError::AlreadyRunning`] if a trace session is already running.
    pub fn start_trace(&self) -> Result<(), TraceError> {
        self.start_trace_with_capacity(DEFAULT_TRACE_CAPACITY)
    }

    /// Starts recording every task poll made by this runtime's workers: its worker,
    /// start, duration, task id, and name (for tasks spawned through a
    /// [`TaskTracker`](crate::tracker::TaskTracker) or submitted as named
    /// ExecutableTasks). Each worker keeps the most recent `capacity` events; older
    /// ones are dropped and counted. Polls of `block_on` futures and blocking-pool
    /// jobs are not recorded.
    ///
    /// ```
    /// let rt = taskweave_executor::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .build()
    ///     .unwrap();
    /// rt.start_trace_with_capacity(1024).unwrap();
    /// rt.block_on(async { taskweave_executor::spawn(async { 1 }).await.unwrap() });
    /// let trace = rt.stop_trace();
    /// assert_eq!(trace.events().len(), 1);
    /// assert!(trace.to_json().starts_with("{\"traceEvents\":["));
    /// ```
    ///
    /// # Errors
    /// [`TraceError::InvalidCapacity`] for 0 or more than [`MAX_TRACE_CAPACITY`];
    /// [`TraceError::AlreadyRunning`] if a session is already running.
    pub fn start_trace_with_capacity(&self, capacity: usize) -> Result<(), TraceError> {
        self.shared.trace.start(capacity)
    }

    /// Stops the trace session and returns what it recorded: every poll that began
    /// while it ran (up to the capacity), sorted by worker then start. Without a
    /// running session, an empty trace.
    ///
    /// A poll still running on another worker is waited for, up to one second (a
    /// task that blocks its worker longer is left out).
    pub fn stop_trace(&self) -> Trace {
        self.shared.trace.stop()
    }

    /// True while a trace session runs.
    pub fn is_tracing(&self) -> bool {
        self.shared.trace.is_running()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(start: Instant) -> RawEvent {
        RawEvent {
            start,
            end: start,
            task: Id::next(),
            name: None,
        }
    }

    #[test]
    fn a_full_ring_drops_its_oldest_event() {
        let now = Instant::now();
        let mut ring = Ring {
            events: VecDeque::new(),
            capacity: 2,
            dropped: 0,
        };
        for i in 0..5 {
            ring.push(event(now + Duration::from_micros(i)));
        }
        assert_eq!(ring.events.len(), 2);
        assert_eq!(ring.dropped, 3);
        assert_eq!(ring.events[0].start, now + Duration::from_micros(3));
    }

    #[test]
    fn names_are_noted_only_inside_a_recorded_poll() {
        note_task_name(|| panic!("must not be asked outside a recorded poll"));
        RECORDING.with(|r| r.set(Some((1, 0))));
        note_task_name(|| TaskName::from("inside"));
        RECORDING.with(|r| r.set(None));
        let noted = TASK_NAME.with(|n| n.borrow_mut().take());
        assert_eq!(noted.as_deref(), Some("inside"));
    }
}
