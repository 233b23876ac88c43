//! The run queues: crossbeam-deque's `Worker` (per worker, FIFO), `Stealer` (its
//! shared end) and `Injector` (global). Under `--cfg taskweave_loom` they are replaced
//! by lock-based queues with the same API and semantics (FIFO pops, stealing from the
//! front, batch steals), so loom can see every interleaving.
//!
//! The owner pops from the front of its FIFO deque and thieves steal from the front
//! too, so the oldest work moves first and a stolen batch keeps its order.

#[cfg(not(taskweave_loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};

#[cfg(taskweave_loom)]
pub(crate) use self::model::{Injector, Steal, Stealer, Worker};

#[cfg(taskweave_loom)]
mod model {
    use crate::sync::{Arc, Mutex};
    use std::collections::VecDeque;

    pub(crate) use crossbeam_deque::Steal;

    /// How many tasks a batch steal moves at most (crossbeam moves up to half).
    const MAX_BATCH: usize = 4;

    pub(crate) struct Worker<T> {
        queue: Arc<Mutex<VecDeque<T>>>,
    }

    pub(crate) struct Stealer<T> {
        queue: Arc<Mutex<VecDeque<T>>>,
    }

    pub(crate) struct Injector<T> {
        queue: Mutex<VecDeque<T>>,
    }

    impl<T> Worker<T> {
        pub(crate) fn new_fifo() -> Worker<T> {
            Worker {
                queue: Arc::new(Mutex::new(VecDeque::new())),
            }
        }
        pub(crate) fn push(&self, task: T) {
            self.queue.lock().push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.queue.lock().pop_front()
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer {
                queue: self.queue.clone(),
            }
        }
        pub(crate) fn len(&self) -> usize {
            self.queue.lock().len()
        }
    }

    fn steal_batch<T>(from: &Mutex<VecDeque<T>>, dest: &Worker<T>) -> Steal<T> {
        let mut from = from.lock();
        let Some(first) = from.pop_front() else {
            return Steal::Empty;
        };
        let extra = (from.len() / 2).min(MAX_BATCH - 1);
        let mut dest = dest.queue.lock();
        for _ in 0..extra {
            dest.push_back(from.pop_front().expect("counted"));
        }
        Steal::Success(first)
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            steal_batch(&self.queue, dest)
        }
        pub(crate) fn len(&self) -> usize {
            self.queue.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.queue.lock().is_empty()
        }
    }

    impl<T> Clone for Stealer<T> {
        fn clone(&self) -> Self {
            Stealer {
                queue: self.queue.clone(),
            }
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Injector<T> {
            Injector {
                queue: Mutex::new(VecDeque::new()),
            }
        }
        pub(crate) fn push(&self, task: T) {
            self.queue.lock().push_back(task);
        }
        pub(crate) fn steal(&self) -> Steal<T> {
            match self.queue.lock().pop_front() {
                Some(t) => Steal::Success(t),
                None => Steal::Empty,
            }
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            steal_batch(&self.queue, dest)
        }
        pub(crate) fn len(&self) -> usize {
            self.queue.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.queue.lock().is_empty()
        }
    }
}
