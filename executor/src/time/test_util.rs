//! Test helpers shared by the time module's unit tests: a waker that records when, and
//! on which thread, it was woken, and a way to wait for a number of wake-ups.
//!
//! The wait has a hang guard (a generous bound, not a timing assertion): a broken
//! driver makes the test fail instead of hang.

use super::Driver;
use crate::sync::{self, thread, Arc, Condvar, Mutex};
use std::sync::Arc as StdArc; // `Waker: From<std::sync::Arc<impl Wake>>` needs std's Arc.
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

/// Bound on waiting for a wake-up that must come; only ever reached by a bug.
pub(super) const HANG_GUARD: Duration = Duration::from_secs(30);

/// One recorded wake-up.
#[derive(Clone, Debug)]
pub(super) struct Woken {
    pub(super) id: u64,
    pub(super) at: Instant,
    pub(super) thread: Option<String>,
}

/// Records wake-ups of the wakers it hands out.
#[derive(Clone, Default)]
pub(super) struct Recorder(StdArc<(Mutex<Vec<Woken>>, Condvar)>);

struct RecordingWaker {
    id: u64,
    recorder: Recorder,
}

impl Wake for RecordingWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        let woken = Woken {
            id: self.id,
            at: Instant::now(),
            thread: thread::current().name().map(str::to_owned),
        };
        self.recorder.0 .0.lock().push(woken);
        self.recorder.0 .1.notify_all();
    }
}

impl Recorder {
    /// A waker recording `id`.
    pub(super) fn waker(&self, id: u64) -> Waker {
        Waker::from(StdArc::new(RecordingWaker {
            id,
            recorder: self.clone(),
        }))
    }

    /// Waits until at least `n` wake-ups were recorded and returns them all.
    pub(super) fn wait_for(&self, n: usize) -> Vec<Woken> {
        let give_up = Instant::now() + HANG_GUARD;
        let mut log = self.0 .0.lock();
        while log.len() < n {
            let left = give_up.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "hang guard: only {} of {n} wake-ups",
                log.len()
            );
            sync::wait_timeout(&self.0 .1, &mut log, left);
        }
        log.clone()
    }

    /// The ids woken so far, in order.
    pub(super) fn ids(&self) -> Vec<u64> {
        self.0 .0.lock().iter().map(|w| w.id).collect()
    }
}

/// A fresh driver for one test.
pub(super) fn driver() -> Arc<Driver> {
    Driver::start("taskweave-test-timer".to_owned()).expect("spawn timer thread")
}

/// Runs `f` on another thread and fails the test if it does not finish within the
/// hang guard (for operations that must not deadlock).
pub(super) fn must_finish<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let done = StdArc::new((Mutex::new(None), Condvar::new()));
    let for_thread = done.clone();
    thread::Builder::new()
        .spawn(move || {
            let value = f();
            *for_thread.0.lock() = Some(value);
            for_thread.1.notify_all();
        })
        .expect("spawn test thread");
    let give_up = Instant::now() + HANG_GUARD;
    let mut slot = done.0.lock();
    loop {
        if let Some(value) = slot.take() {
            return value;
        }
        let left = give_up.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "hang guard: operation did not finish");
        sync::wait_timeout(&done.1, &mut slot, left);
    }
}
