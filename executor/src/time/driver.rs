//! The timer driver: a [`Wheel`] behind a mutex and one dedicated thread that fires it.
//!
//! Ticks are whole milliseconds since the driver's `start`. A deadline is rounded *up*
//! to a tick and the thread advances the wheel to the current tick rounded *down*, so a
//! timer fires only once `Instant::now() >= deadline`: a woken `Sleep` always finds
//! itself elapsed, and never re-registers in a loop.
//!
//! Sleep/wake protocol of the timer thread (every step under `state`'s lock unless said):
//! 1. If `shutdown` is set, exit. Otherwise advance the wheel to the current tick.
//! 2. If timers fired, release the lock, call their wakers (so no waker — which may run
//!    arbitrary code, even drop this driver — ever runs under the lock), re-lock, go to 1.
//! 3. Else record in `parked` the tick it is about to sleep towards (`Until(t)`, or
//!    `Forever` for an empty wheel) and wait on the condvar (with a timeout for
//!    `Until`); the wait releases the lock atomically. On waking set `parked = Running`
//!    and go to 1. Spurious wake-ups just recompute.
//!
//! A registration notifies the condvar only when the thread is parked towards a later
//! tick than the new deadline (or forever), and then sets `parked = Running` so further
//! registrations do not notify again. Because the thread checks the wheel and parks under
//! the same lock, no registration is lost: either the thread sees the new entry before
//! parking, or it is parked and gets notified. Cancelling never notifies; the thread may
//! then wake once for nothing.
//!
//! Shutdown sets `shutdown` (under the lock, plus an atomic for lock-free reads), notifies
//! the thread, joins it — unless shutdown runs *on* the timer thread, from a waker it
//! fired: then the thread is left to exit by itself once that waker returns — and then
//! removes every pending timer and wakes each waker once. Registrations after shutdown
//! are refused (`None`). Dropping the last `Arc<Driver>` shuts down; the thread owns only
//! the shared state, never the `Driver`, so it cannot keep the driver alive.

use super::wheel::{TimerKey, Wheel, MAX_TICK};
use crate::sync::{self, thread, Arc, AtomicBool, Condvar, Mutex, Ordering};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Waker;
use std::time::{Duration, Instant};

/// A runtime's timer service: register deadlines, get woken when they pass.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    /// The timer thread; taken by the first `shutdown`.
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

/// What the driver and its thread share.
struct Shared {
    /// Tick 0.
    start: Instant,
    state: Mutex<State>,
    /// Wakes the timer thread.
    condvar: Condvar,
    /// Mirrors `State::shutdown` for lock-free reads.
    shutdown: AtomicBool,
}

struct State {
    wheel: Wheel,
    parked: Parked,
    shutdown: bool,
}

/// What the timer thread is doing, as far as registrations care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parked {
    /// Awake (or already notified): it will look at the wheel before parking again.
    Running,
    /// Waiting until this tick.
    Until(u64),
    /// Waiting without a timeout (the wheel was empty).
    Forever,
}

/// The tick of a deadline, rounded up (a timer never fires before its deadline).
fn deadline_to_tick(start: Instant, deadline: Instant) -> u64 {
    let since = deadline.saturating_duration_since(start);
    let ms = since.as_millis() + u128::from(!since.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(MAX_TICK).min(MAX_TICK)
}

/// The tick an instant falls in, rounded down.
fn instant_to_tick(start: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(start).as_millis())
        .unwrap_or(MAX_TICK)
        .min(MAX_TICK)
}

/// Calls every waker in `fired`; a panicking waker does not stop the others (nor kill
/// the timer thread, which would strand every other timer).
fn wake_all(fired: &mut Vec<Waker>) {
    for waker in fired.drain(..) {
        let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
    }
}

impl Driver {
    /// Starts a driver and its timer thread, named `thread_name`.
    pub(crate) fn start(thread_name: String) -> std::io::Result<Arc<Driver>> {
        let shared = Arc::new(Shared {
            start: Instant::now(),
            state: Mutex::new(State {
                wheel: Wheel::new(),
                parked: Parked::Running,
                shutdown: false,
            }),
            condvar: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let for_thread = shared.clone();
        let handle = thread::Builder::new()
            .name(thread_name)
            .spawn(move || for_thread.run())?;
        Ok(Arc::new(Driver {
            shared,
            thread: Mutex::new(Some(handle)),
        }))
    }

    /// Registers a timer waking `waker` once `Instant::now() >= deadline` (a deadline
    /// already past fires at once). `None` when the driver is shut down.
    pub(crate) fn register(&self, deadline: Instant, waker: &Waker) -> Option<TimerKey> {
        self.reregister(None, deadline, waker)
    }

    /// Moves the timer `key` to `deadline` and makes it wake `waker`, keeping its key;
    /// when `key` is `None` or stale (the timer fired or was cancelled), registers a new
    /// one. `None` when the driver is shut down.
    pub(crate) fn reregister(
        &self,
        key: Option<TimerKey>,
        deadline: Instant,
        waker: &Waker,
    ) -> Option<TimerKey> {
        let tick = deadline_to_tick(self.shared.start, deadline);
        let mut replaced = None;
        let mut state = self.shared.state.lock();
        if state.shutdown {
            return None;
        }
        let key = match key {
            Some(key) if state.wheel.reschedule(key, tick) => {
                replaced = replace_waker(&mut state.wheel, key, waker);
                key
            }
            _ => state.wheel.insert(tick, waker.clone()),
        };
        let sleeps_past_it = match state.parked {
            Parked::Running => false,
            Parked::Until(parked_tick) => tick < parked_tick,
            Parked::Forever => true,
        };
        if sleeps_past_it {
            state.parked = Parked::Running;
            self.shared.condvar.notify_one();
        }
        drop(state);
        drop(replaced); // Outside the lock: dropping a waker may run arbitrary code.
        Some(key)
    }

    /// Makes the live timer `key` wake `waker` instead; `false` when the key is stale.
    pub(crate) fn update_waker(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut state = self.shared.state.lock();
        if state.wheel.waker_mut(key).is_none() {
            return false;
        }
        let replaced = replace_waker(&mut state.wheel, key, waker);
        drop(state);
        drop(replaced);
        true
    }

    /// Cancels the timer `key`: it will never fire. `false` when it already fired or was
    /// cancelled.
    pub(crate) fn cancel(&self, key: TimerKey) -> bool {
        let removed = self.shared.state.lock().wheel.remove(key);
        removed.is_some() // The waker is dropped here, outside the lock.
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shared.shutdown.load(Ordering::Acquire)
    }

    /// Number of registered timers that have not fired or been cancelled (for tests and
    /// runtime metrics).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn pending_timers(&self) -> usize {
        self.shared.state.lock().wheel.len()
    }

    /// Stops the timer thread and waits for it (except when called on that thread), then
    /// wakes every pending timer once so its future observes the shutdown. Idempotent;
    /// never blocks on anything but the timer thread finishing the wakers it is calling,
    /// so do not call it while holding a lock those wakers need.
    pub(crate) fn shutdown(&self) {
        {
            let mut state = self.shared.state.lock();
            state.shutdown = true;
            self.shared.shutdown.store(true, Ordering::Release);
            self.shared.condvar.notify_all();
        }
        let handle = self.thread.lock().take();
        if let Some(handle) = handle {
            if handle.thread().id() != thread::current().id() {
                // The thread catches waker panics, so an `Err` here means nothing to us.
                let _ = handle.join();
            }
        }
        let mut fired = Vec::new();
        self.shared.state.lock().wheel.drain(&mut fired);
        wake_all(&mut fired);
    }
}

/// Replaces the waker of the live timer `key` unless it would wake the same task;
/// returns the old one, for the caller to drop outside the lock.
fn replace_waker(wheel: &mut Wheel, key: TimerKey, waker: &Waker) -> Option<Waker> {
    let slot = wheel.waker_mut(key)?;
    (!slot.will_wake(waker)).then(|| std::mem::replace(slot, waker.clone()))
}

impl Shared {
    /// The timer thread's loop (see the module docs for the protocol).
    fn run(&self) {
        let mut fired = Vec::new();
        let mut state = self.state.lock();
        while !state.shutdown {
            let now = Instant::now();
            state
                .wheel
                .advance(instant_to_tick(self.start, now), &mut fired);
            if !fired.is_empty() {
                drop(state);
                wake_all(&mut fired);
                state = self.state.lock();
                continue;
            }
            let wait = state.wheel.next_expiration().map(|tick| {
                let at = self.start.checked_add(Duration::from_millis(tick));
                (tick, at.map(|at| at.saturating_duration_since(now)))
            });
            match wait {
                Some((tick, Some(timeout))) => {
                    state.parked = Parked::Until(tick);
                    sync::wait_timeout(&self.condvar, &mut state, timeout);
                }
                // An empty wheel, or a deadline no `Instant` can represent.
                Some((tick, None)) => {
                    state.parked = Parked::Until(tick);
                    sync::wait(&self.condvar, &mut state);
                }
                None => {
                    state.parked = Parked::Forever;
                    sync::wait(&self.condvar, &mut state);
                }
            }
            state.parked = Parked::Running;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("start", &self.shared.start)
            .field("shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
