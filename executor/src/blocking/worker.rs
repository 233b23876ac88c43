//! The body of one blocking-pool thread.
//!
//! Lifecycle: start hook → loop { busy: pop and run jobs until the queue is
//! empty; idle: sleep on `work_available` } → leave `num_th` (same critical
//! section as the decision to exit) → join the predecessor (keep-alive exit only)
//! → stop hook → leave `live` and signal `all_exited`.
//!
//! The idle loop's order of checks after every wake-up — token, then shutdown,
//! then keep-alive — is what rules out lost wake-ups; see the protocol in
//! `blocking/mod.rs`.
//!
//! Invariant: the shared lock is never held while a job or a hook runs, and
//! panics from either are contained, so every path out of `run` does its exit
//! bookkeeping exactly once.

use std::io;
use std::mem;
use std::panic::{self, AssertUnwindSafe};

use super::pool::Inner;
use crate::sync::{thread, wait_timeout, Arc};

/// Spawns pool thread number `index`, configured from `inner.config`.
///
/// Called with the shared lock held; the caller registers the returned handle
/// in `live` and `handles` before releasing it.
pub(super) fn spawn(inner: &Arc<Inner>, index: usize) -> io::Result<thread::JoinHandle<()>> {
    let config = &inner.config;
    let mut builder = thread::Builder::new().name((config.thread_name)());
    if let Some(size) = config.thread_stack_size {
        builder = builder.stack_size(size);
    }
    let inner = Arc::clone(inner);
    builder.spawn(move || run(&inner, index))
}

/// Runs `f`, containing any panic so the caller's bookkeeping carries on.
///
/// The panic hook has already reported the panic when this returns. The payload
/// is dropped under `catch_unwind` as well, since its destructor may panic; a
/// second-level payload is leaked rather than allowed to unwind.
pub(super) fn contain_panic(f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            mem::forget(payload);
        }
    }
}

/// What a thread does from its first instruction to its last.
fn run(inner: &Inner, index: usize) {
    let config = &inner.config;
    if let Some(hook) = &config.on_thread_start {
        contain_panic(|| hook());
    }

    let mut predecessor = None;
    let mut shared = inner.shared.lock();
    'work: loop {
        // Busy: drain the queue. Seeing it empty and going idle happen in one
        // critical section, so a job pushed meanwhile finds this thread in
        // `num_idle` and hands it a token.
        while let Some(job) = shared.queue.pop_front() {
            drop(shared);
            contain_panic(job);
            shared = inner.shared.lock();
        }
        if shared.shutdown {
            break 'work;
        }

        // Idle.
        shared.num_idle += 1;
        loop {
            let timed_out = wait_timeout(&inner.work_available, &mut shared, config.keep_alive);
            if shared.num_notify > 0 {
                // `execute` already moved one sleeper out of `num_idle`; this thread
                // is it, whichever sleeper it was meant to be.
                shared.num_notify -= 1;
                continue 'work;
            }
            if shared.shutdown {
                shared.num_idle -= 1;
                break 'work;
            }
            if timed_out {
                shared.num_idle -= 1;
                // Shutdown joins everything itself; only keep-alive exiters chain.
                let own = shared.handles.remove(&index);
                predecessor = mem::replace(&mut shared.last_exiting, own);
                break 'work;
            }
            // Spurious wake-up: sleep again, still counted in `num_idle`.
        }
    }
    // From here on this thread takes no job, so it must not count toward the cap.
    shared.num_th -= 1;
    drop(shared);

    if let Some(handle) = predecessor {
        // The predecessor left `num_th` before us and runs no job; this waits at
        // most for its own predecessor and stop hook. Its panics were contained.
        let _ = handle.join();
    }
    if let Some(hook) = &config.on_thread_stop {
        contain_panic(|| hook());
    }

    let mut shared = inner.shared.lock();
    shared.live.retain(|&(i, _)| i != index);
    if shared.shutdown {
        inner.all_exited.notify_all();
    }
}
