//! Parking a thread until it is unparked: one `Parker` per worker (and per `block_on`
//! thread).
//!
//! Protocol (a three-state token, as std's thread parker):
//! - `unpark` swaps the state to NOTIFIED; if the owner was PARKED it takes the lock
//!   (so the owner is either before its check or inside `wait`) and signals.
//! - `park` consumes a NOTIFIED token at once; else, under the lock, moves EMPTY ->
//!   PARKED and waits until it can move NOTIFIED -> EMPTY.
//!
//! So an unpark that happens before park is never lost (the token stays), and many
//! unparks before one park wake it once.

use std::time::Duration;

use crate::sync::{wait, wait_timeout, Arc, AtomicUsize, Condvar, Mutex, Ordering::SeqCst};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// The owner's half; `unparker()` gives handles for other threads.
#[derive(Clone)]
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

struct Inner {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
                lock: Mutex::new(()),
                condvar: Condvar::new(),
            }),
        }
    }

    /// Blocks until unparked (returns at once if a token is pending).
    pub(crate) fn park(&self) {
        self.park_inner(None);
    }

    /// Blocks until unparked or `timeout` passes.
    #[cfg(any(test, taskweave_loom))]
    pub(crate) fn park_timeout(&self, timeout: Duration) {
        self.park_inner(Some(timeout));
    }

    fn park_inner(&self, timeout: Option<Duration>) {
        let inner = &*self.inner;
        if inner
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = inner.lock.lock();
        match inner.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(NOTIFIED) => {
                inner.state.store(EMPTY, SeqCst);
                return;
            }
            Err(other) => unreachable!("parker in state {other}"),
        }
        loop {
            let timed_out = match timeout {
                Some(t) => wait_timeout(&inner.condvar, &mut guard, t),
                None => {
                    wait(&inner.condvar, &mut guard);
                    false
                }
            };
            if inner
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
            if timed_out {
                // Leave PARKED; a token from an unpark racing with the timeout is
                // consumed too, as we are returning anyway.
                inner.state.store(EMPTY, SeqCst);
                return;
            }
        }
    }

    /// Wakes the owner (or makes its next park return at once).
    pub(crate) fn unpark(&self) {
        let inner = &*self.inner;
        if inner.state.swap(NOTIFIED, SeqCst) == PARKED {
            drop(inner.lock.lock());
            inner.condvar.notify_one();
        }
    }
}

#[cfg(all(test, not(taskweave_loom)))]
mod tests {
    use super::*;

    #[test]
    fn unpark_before_park_is_not_lost() {
        let p = Parker::new();
        p.unpark();
        p.park(); // returns at once
    }

    #[test]
    fn unpark_from_another_thread_wakes_the_parked_one() {
        let p = Parker::new();
        let q = p.clone();
        let t = std::thread::spawn(move || q.unpark());
        p.park();
        t.join().unwrap();
    }

    #[test]
    fn many_unparks_leave_one_token() {
        let p = Parker::new();
        p.unpark();
        p.unpark();
        p.park();
        p.park_timeout(Duration::from_millis(1)); // no token left: times out
        assert_eq!(p.inner.state.load(SeqCst), EMPTY);
    }
}
