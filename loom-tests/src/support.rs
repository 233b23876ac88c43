//! The shared pieces of the models (compiled only under `--cfg taskweave_loom`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Mutex};

/// Runs `f` under loom for every interleaving within the preemption bound. The bound
/// comes from `LOOM_MAX_PREEMPTIONS` (read by loom itself); when it is unset we use 2,
/// so a bare `cargo test` stays fast. Prints how many executions were explored (shown
/// with `--nocapture`).
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    // Outside the model (loom runs every execution on this OS thread), so std's atomic.
    let executions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = executions.clone();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!(
        "loom: {} executions explored",
        executions.load(std::sync::atomic::Ordering::Relaxed)
    );
}

/// Counts how many times values carrying it were dropped.
#[derive(Clone, Default)]
pub struct DropCount(Arc<AtomicUsize>);

impl DropCount {
    /// A counter at zero.
    pub fn new() -> DropCount {
        DropCount(Arc::new(AtomicUsize::new(0)))
    }

    /// A value that bumps this counter when dropped.
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }

    /// Drops so far.
    pub fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// Bumps its [`DropCount`] when dropped.
#[derive(Debug)]
pub struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// What a [`Probe`] future observed, shared with the model.
#[derive(Clone)]
pub struct ProbeState {
    /// Polls so far.
    polls: Arc<AtomicUsize>,
    /// Set while a poll is in progress: two at once is a protocol violation.
    in_poll: Arc<AtomicBool>,
    /// The waker of the latest poll, when the probe was asked to publish it.
    waker: Arc<Mutex<Option<Waker>>>,
    /// Drops of the future.
    future_drops: DropCount,
    /// Drops of the output.
    output_drops: DropCount,
}

impl ProbeState {
    /// Fresh counters.
    pub fn new() -> ProbeState {
        ProbeState {
            polls: Arc::new(AtomicUsize::new(0)),
            in_poll: Arc::new(AtomicBool::new(false)),
            waker: Arc::new(Mutex::new(None)),
            future_drops: DropCount::new(),
            output_drops: DropCount::new(),
        }
    }

    /// A future that is `Ready` on its `ready_at`-th poll (1 = the first) and
    /// `Pending` before, without waking itself. With `publish_waker` every poll stores
    /// a clone of its waker for [`ProbeState::take_waker`].
    pub fn future(&self, ready_at: usize, publish_waker: bool) -> Probe {
        Probe {
            state: self.clone(),
            ready_at,
            publish_waker,
            yields: false,
            _guard: self.future_drops.guard(),
        }
    }

    /// Like [`ProbeState::future`] (publishing its waker), but every `Pending` poll
    /// also wakes its own task (`wake_by_ref`) before returning, as `yield_now` does.
    pub fn yielding_future(&self, ready_at: usize) -> Probe {
        Probe {
            yields: true,
            ..self.future(ready_at, true)
        }
    }

    /// Takes the published waker, if a poll has published one.
    pub fn take_waker(&self) -> Option<Waker> {
        self.waker.lock().unwrap().take()
    }

    /// Polls so far.
    pub fn polls(&self) -> usize {
        self.polls.load(SeqCst)
    }

    /// Times the future was dropped.
    pub fn future_drops(&self) -> usize {
        self.future_drops.get()
    }

    /// Times an output was dropped.
    pub fn output_drops(&self) -> usize {
        self.output_drops.get()
    }
}

impl Default for ProbeState {
    fn default() -> Self {
        ProbeState::new()
    }
}

/// A scripted future; see [`ProbeState::future`]. Its output counts its own drop.
pub struct Probe {
    state: ProbeState,
    ready_at: usize,
    publish_waker: bool,
    yields: bool,
    _guard: DropGuard,
}

impl Future for Probe {
    type Output = DropGuard;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DropGuard> {
        let this = self.get_mut();
        let state = &this.state;
        assert!(
            !state.in_poll.swap(true, SeqCst),
            "a task was polled by two threads at once"
        );
        let n = state.polls.fetch_add(1, SeqCst) + 1;
        if this.publish_waker {
            *state.waker.lock().unwrap() = Some(cx.waker().clone());
        }
        let out = if n >= this.ready_at {
            Poll::Ready(state.output_drops.guard())
        } else {
            if this.yields {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        };
        state.in_poll.store(false, SeqCst);
        out
    }
}

/// A waker that counts its wake-ups (a loom atomic, so the model sees the ordering).
pub struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    /// A waker and the handle to read its count.
    pub fn new() -> (Waker, std::sync::Arc<CountingWaker>) {
        // std's Arc only keeps the waker alive; the count itself is a loom atomic.
        let counter = std::sync::Arc::new(CountingWaker {
            wakes: AtomicUsize::new(0),
        });
        (Waker::from(counter.clone()), counter)
    }

    /// Wake-ups so far.
    pub fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}

/// Polls `future` once with `waker`.
pub fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}
