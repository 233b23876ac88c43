//! The one place that chooses between real and model-checked primitives.
//!
//! Every atomic, lock, condition variable, `UnsafeCell`, `Arc` and thread the
//! executor's concurrency protocols use is imported from here. Under
//! `--cfg taskweave_loom` they are loom's, so the models in `loom-tests/` see every
//! interleaving; otherwise they are std's and parking_lot's. The work-stealing deques
//! are switched the same way in [`crate::runtime::queue`].
//!
//! Invariant: no other module names `std::sync::atomic`, `std::sync::Mutex`,
//! `parking_lot` or `std::thread::spawn` for state that is shared between threads.

#[cfg(not(taskweave_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::Arc;

    /// A mutex whose `lock` cannot fail (parking_lot: no poisoning).
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
    /// A condition variable paired with [`Mutex`].
    pub(crate) type Condvar = parking_lot::Condvar;

    pub(crate) mod thread {
        pub(crate) use std::thread::{current, Builder, JoinHandle, Thread};
    }

    /// `UnsafeCell` with loom's closure-based access API.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Gives a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Gives a mutable raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Condition-variable wait with a timeout; returns `true` when it timed out.
    pub(crate) fn wait_timeout<T>(
        condvar: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        timeout: std::time::Duration,
    ) -> bool {
        condvar.wait_for(guard, timeout).timed_out()
    }

    /// Condition-variable wait without a timeout.
    pub(crate) fn wait<T>(condvar: &Condvar, guard: &mut MutexGuard<'_, T>) {
        condvar.wait(guard);
    }
}

#[cfg(taskweave_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::Arc;

    /// loom's mutex with parking_lot's infallible `lock`.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    /// The guard of [`Mutex`]; an `Option` so a condvar wait can move it out and back.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("loom mutex poisoned")))
        }
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard present")
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard present")
        }
    }

    /// loom's condition variable.
    pub(crate) type Condvar = loom::sync::Condvar;

    pub(crate) mod thread {
        pub(crate) use loom::thread::{current, Builder, JoinHandle, Thread};
    }

    /// loom has no timed waits: a timed wait is modelled as a wait that may time out
    /// at once, which covers every interleaving a real timeout could produce.
    pub(crate) fn wait_timeout<T>(
        _condvar: &Condvar,
        _guard: &mut MutexGuard<'_, T>,
        _timeout: std::time::Duration,
    ) -> bool {
        true
    }

    /// Condition-variable wait without a timeout.
    pub(crate) fn wait<T>(condvar: &Condvar, guard: &mut MutexGuard<'_, T>) {
        let inner = guard.0.take().expect("guard present");
        guard.0 = Some(condvar.wait(inner).expect("loom mutex poisoned"));
    }
}

pub(crate) use imp::*;

/// Thread-local storage that loom can model (loom's own under `taskweave_loom`).
#[cfg(not(taskweave_loom))]
pub(crate) use std::thread_local;

#[cfg(taskweave_loom)]
pub(crate) use loom::thread_local;
