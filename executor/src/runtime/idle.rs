//! Which workers sleep, and who wakes whom.
//!
//! One atomic word counts workers that are *unparked* (awake) and *searching* (awake
//! with no work, stealing). A `sleepers` list (under a lock) names the parked ones.
//!
//! The protocol, in prose (as rayon-core's sleep README does):
//!
//! 1. **Waking one, not all.** New work from outside a worker (injector push) calls
//!    `worker_to_notify`: only if nobody is searching and somebody sleeps does it pop
//!    one sleeper, counting it as unparked *and searching* before it runs. While a
//!    searcher exists, new work needs no wake-up: the searcher will find it.
//! 2. **Chain wake-up.** A searcher that finds work stops searching; if it was the
//!    *last* searcher it wakes another worker (the caller does this), because more
//!    work may be queued behind the task it found. This spreads a burst of work over
//!    the sleepers one at a time, without a thundering herd.
//! 3. **No lost wake-up.** At most half the workers search at once. A worker parks
//!    only after `transition_worker_to_parked`; if it was the last searcher it must
//!    look at every queue once more *after* that transition and wake someone if it
//!    sees work. The producer pushes first and reads the counters second; the last
//!    searcher writes the counters first and reads the queues second; both with
//!    SeqCst. So either the producer sees no searcher and wakes a sleeper, or the last
//!    searcher sees the work.
//! 4. **Spurious and timed wake-ups.** A worker that wakes while still in `sleepers`
//!    was not notified (a timeout, or its own unpark token from earlier); it checks
//!    for work or parks again. Whoever removes it from `sleepers` has counted it
//!    unparked and searching.

use crate::sync::{fence, AtomicUsize, Mutex, Ordering::SeqCst};

const UNPARKED_SHIFT: usize = 16;
const SEARCHING_MASK: usize = (1 << UNPARKED_SHIFT) - 1;

/// Counters and the sleeper list of one runtime.
pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

#[derive(Copy, Clone)]
struct Counts(usize);

impl Counts {
    fn searching(self) -> usize {
        self.0 & SEARCHING_MASK
    }
    fn unparked(self) -> usize {
        self.0 >> UNPARKED_SHIFT
    }
}

impl Idle {
    /// All `num_workers` start unparked and not searching.
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers < SEARCHING_MASK, "too many workers");
        Idle {
            state: AtomicUsize::new(num_workers << UNPARKED_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    /// The worker to unpark for work pushed where any worker may take it, if one
    /// should be woken (rule 1). The caller must have published the work first.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        fence(SeqCst);
        self.worker_to_notify_fenced()
    }

    /// [`worker_to_notify`](Self::worker_to_notify) for a caller that has just issued
    /// a SeqCst fence after publishing its work.
    pub(crate) fn worker_to_notify_fenced(&self) -> Option<usize> {
        if !self.should_notify(Counts(self.state.load(SeqCst))) {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        if !self.should_notify(Counts(self.state.load(SeqCst))) {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add((1 << UNPARKED_SHIFT) | 1, SeqCst);
        Some(worker)
    }

    /// A cheap hint for work pushed to a worker's own queue: true when waking a
    /// sleeper to steal it would add parallelism. Missing it loses no work: the
    /// owner is awake and will run it.
    pub(crate) fn wants_helper(&self) -> bool {
        self.should_notify(Counts(self.state.load(SeqCst)))
    }

    fn should_notify(&self, counts: Counts) -> bool {
        counts.searching() == 0 && counts.unparked() < self.num_workers
    }

    /// Tries to become a searcher; refused when half the workers already search.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let counts = Counts(self.state.load(SeqCst));
        if 2 * counts.searching() >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// A searcher found work. Returns true if it was the last searcher and so must
    /// wake another worker (rule 2).
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = Counts(self.state.fetch_sub(1, SeqCst));
        debug_assert!(prev.searching() > 0);
        prev.searching() == 1
    }

    /// The worker is about to park. Returns true if it was the last searcher, in
    /// which case it must re-check every queue before sleeping (rule 3).
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let dec = (1 << UNPARKED_SHIFT) | usize::from(is_searching);
        let prev = Counts(self.state.fetch_sub(dec, SeqCst));
        sleepers.push(worker);
        is_searching && prev.searching() == 1
    }

    /// After a wake-up: true if `worker` is still listed as a sleeper (it was not
    /// notified). If `claim` is set and it is listed, it takes itself off the list
    /// and counts itself unparked and searching, as a notifier would.
    pub(crate) fn still_parked(&self, worker: usize, claim: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&w| w == worker) {
            Some(at) if claim => {
                sleepers.swap_remove(at);
                self.state.fetch_add((1 << UNPARKED_SHIFT) | 1, SeqCst);
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Every sleeper, taken off the list (for shutdown).
    pub(crate) fn take_all_sleepers(&self) -> Vec<usize> {
        let mut sleepers = self.sleepers.lock();
        let all: Vec<usize> = sleepers.drain(..).collect();
        self.state
            .fetch_add(all.len() << UNPARKED_SHIFT | all.len(), SeqCst);
        all
    }

    /// Workers currently awake.
    #[cfg(any(test, taskweave_loom))]
    pub(crate) fn num_unparked(&self) -> usize {
        Counts(self.state.load(SeqCst)).unparked()
    }

    /// Workers currently searching.
    #[cfg(any(test, taskweave_loom))]
    pub(crate) fn num_searching(&self) -> usize {
        Counts(self.state.load(SeqCst)).searching()
    }
}

#[cfg(all(test, not(taskweave_loom)))]
mod tests {
    use super::*;

    #[test]
    fn notify_wakes_one_sleeper_only_when_nobody_searches() {
        let idle = Idle::new(4);
        assert_eq!(idle.worker_to_notify(), None, "all awake");
        assert!(!idle.transition_worker_to_parked(0, false));
        assert!(!idle.transition_worker_to_parked(1, false));
        assert_eq!(idle.worker_to_notify(), Some(1));
        assert_eq!(idle.num_searching(), 1);
        // The woken worker searches: no second wake-up for more work.
        assert_eq!(idle.worker_to_notify(), None);
        // It finds work and was the last searcher: it must wake the next.
        assert!(idle.transition_worker_from_searching());
        assert_eq!(idle.worker_to_notify(), Some(0));
    }

    #[test]
    fn at_most_half_search() {
        let idle = Idle::new(4);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_searching());
        assert!(!idle.transition_worker_to_searching());
    }

    #[test]
    fn last_searcher_to_park_must_recheck() {
        let idle = Idle::new(2);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_parked(0, true));
        assert!(!idle.transition_worker_to_parked(1, false));
        assert_eq!(idle.num_unparked(), 0);
    }

    #[test]
    fn a_listed_sleeper_can_claim_itself() {
        let idle = Idle::new(2);
        idle.transition_worker_to_parked(1, false);
        assert!(idle.still_parked(1, false));
        assert!(!idle.still_parked(1, true));
        assert!(!idle.still_parked(1, false));
        assert_eq!(idle.num_unparked(), 2);
        assert_eq!(idle.num_searching(), 1);
    }
}
