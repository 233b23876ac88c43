//! One ExecutableTask's passage through the gate ([`Ticket`]): asking for a permit at
//! its first poll, waiting in the gate's queue, holding the permit while it runs, and
//! giving back — exactly once — whatever it still holds when it ends or is dropped
//! (the invariants are the gate's, in the parent module's docs).

use std::task::{Context, Poll};

use super::super::backlog::PENDING_ONE;
use super::{needs_ledger, Gate, Requirements, Running, WaitState, Waiter};
use crate::sync::{Arc, Ordering::Acquire, Ordering::Relaxed};

/// What a ticket counts for in the backlog.
pub(crate) enum Pending {
    /// Counted (reserved by whoever created the ticket, or — for a `TaskGraph` —
    /// reserved when the batch is submitted, or just before an unsubmitted batch is
    /// dropped, so the tickets' leaving always balances).
    Counted,
    /// Not counted (any more).
    No,
}

enum Stage {
    /// Not started: the next poll asks for a permit for these needs (held in the
    /// stage, not beside it: once granted, the permit holds them).
    Ready(Requirements),
    /// Queued for a permit.
    Waiting(Arc<Waiter>),
    /// Holding a permit.
    Running(Running),
    /// Released at the task's end.
    Finished,
}

/// One ExecutableTask's passage through the gate; lives in its runner.
///
/// It holds no reference to the gate: whoever holds the ticket passes the gate to each
/// call (the runner borrows it from its runtime, see `run.rs`), and must end every
/// ticket with [`Ticket::abandon`] (or, once started, [`Ticket::finish`]) before
/// dropping it, which gives back what it still holds.
pub(crate) struct Ticket {
    priority: u8,
    stage: Stage,
    pending: Pending,
}

impl Ticket {
    /// A ticket for a task needing `need` at base `priority`.
    #[inline]
    pub(crate) fn new(need: Requirements, priority: u8, pending: Pending) -> Ticket {
        Ticket {
            priority,
            stage: Stage::Ready(need),
            pending,
        }
    }

    /// On each poll until started: `Ready` once the task holds its permit, `Pending`
    /// (woken when granted) while it waits. `worker` finds the runtime's worker polling
    /// it, if any, whose ledger may have a spare permit (`ledger.rs`); it is called
    /// only when the ticket asks for a permit.
    #[inline]
    pub(crate) fn poll_start(
        &mut self,
        gate: &Gate,
        worker: impl FnOnce() -> Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        match &self.stage {
            Stage::Running(_) | Stage::Finished => Poll::Ready(()),
            Stage::Ready(need) => {
                let need = *need;
                if gate.closed.load(Acquire) {
                    // Shutting down: the task is about to be cancelled.
                    return Poll::Pending;
                }
                if self.start_at_once(gate, &need, worker()) {
                    return Poll::Ready(());
                }
                match gate.enqueue(need, self.priority, cx.waker()) {
                    Ok(running) => {
                        self.begin(gate, running);
                        Poll::Ready(())
                    }
                    Err(waiter) => {
                        self.stage = Stage::Waiting(waiter);
                        Poll::Pending
                    }
                }
            }
            Stage::Waiting(waiter) => {
                let mut state = waiter.state.lock();
                match &mut *state {
                    WaitState::Granted(_) => {
                        let WaitState::Granted(running) =
                            std::mem::replace(&mut *state, WaitState::Abandoned)
                        else {
                            unreachable!("matched above")
                        };
                        drop(state);
                        self.begin(gate, running);
                        Poll::Ready(())
                    }
                    WaitState::Waiting(Some(waker)) => {
                        if !waker.will_wake(cx.waker()) {
                            *waker = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                    // Closed (shutdown drops the task) or abandoned (not reached: only
                    // this ticket abandons its slot).
                    WaitState::Waiting(None) | WaitState::Abandoned => Poll::Pending,
                }
            }
        }
    }

    /// The common start, with no lock: takes a permit if a slot is free and nothing
    /// waits (true if it did). A task that declared nothing takes the spare permit of
    /// `worker`'s ledger if there is one, else takes its slot and leaves the backlog in
    /// one CAS of the state.
    #[inline]
    fn start_at_once(&mut self, gate: &Gate, need: &Requirements, worker: Option<usize>) -> bool {
        if needs_ledger(need) {
            let Some(running) = gate.try_acquire(need, false) else {
                return false;
            };
            self.begin(gate, running);
            return true;
        }
        let counted = matches!(self.pending, Pending::Counted);
        if worker.is_some_and(|worker| gate.start_from_ledger(worker, counted)) {
            self.stage = Stage::Running(Running {
                permit: None,
                since: gate.sample_start(),
            });
            // The ledger counts it as having left the backlog.
            self.pending = Pending::No;
            return true;
        }
        let Some(before) = gate.take_slot(false, if counted { PENDING_ONE } else { 0 }) else {
            return false;
        };
        // Written in place (a `Running` passed up by value costs a stack round trip).
        self.stage = Stage::Running(Running {
            permit: None,
            since: gate.sample_start(),
        });
        if counted {
            self.pending = Pending::No;
            gate.backlog.left(before);
        }
        true
    }

    #[inline]
    fn begin(&mut self, gate: &Gate, running: Running) {
        self.stage = Stage::Running(running);
        self.leave_backlog(gate);
    }

    #[inline]
    fn leave_backlog(&mut self, gate: &Gate) {
        if let Pending::Counted = std::mem::replace(&mut self.pending, Pending::No) {
            gate.backlog.unreserve(1);
        }
    }

    /// The task ended (before it reports to the graph): releases its permit, records
    /// its latency and grants what it freed — or, on a `worker` whose ledger may keep
    /// it, leaves the permit there for the next start (`ledger.rs`).
    #[inline]
    pub(crate) fn finish(&mut self, gate: &Gate, worker: Option<usize>) {
        if !matches!(self.stage, Stage::Running(_)) {
            // Never started (dropped while waiting): `abandon` abandons the wait.
            return;
        }
        if let Stage::Running(running) = std::mem::replace(&mut self.stage, Stage::Finished) {
            let running = match worker {
                Some(worker) => match gate.finish_into_ledger(worker, running) {
                    Ok(()) => return,
                    Err(running) => running,
                },
                None => running,
            };
            gate.release(running, true);
        }
    }

    /// The task is dropped (cancelled before or while running, shut down, refused,
    /// never submitted) or ended: gives back what the ticket still holds — its permit
    /// (as abandoned), its place in the wait queue, its count in the backlog. Later
    /// calls do nothing.
    #[inline]
    pub(crate) fn abandon(&mut self, gate: &Gate) {
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Running(running) => gate.release(running, false),
            Stage::Waiting(waiter) => {
                let previous = std::mem::replace(&mut *waiter.state.lock(), WaitState::Abandoned);
                match previous {
                    WaitState::Granted(running) => gate.release(running, false),
                    WaitState::Waiting(Some(_)) => {
                        gate.waiting.fetch_sub(1, Relaxed);
                    }
                    // After close (already uncounted) or already abandoned.
                    WaitState::Waiting(None) | WaitState::Abandoned => {}
                }
            }
            Stage::Ready(_) | Stage::Finished => {}
        }
        self.leave_backlog(gate);
    }

    /// True once the ticket holds nothing (see [`abandon`](Self::abandon)).
    fn is_settled(&self) -> bool {
        matches!(self.stage, Stage::Finished) && matches!(self.pending, Pending::No)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // It cannot give anything back itself (it holds no gate): its holder ends it.
        debug_assert!(
            self.is_settled() || std::thread::panicking(),
            "a gate ticket dropped without `abandon`: its permit or backlog count leaks"
        );
    }
}

// What every ExecutableTask's cell carries: two words and a byte pair (the needs
// share the stage's room).
#[cfg(not(taskweave_loom))]
const _: () = assert!(std::mem::size_of::<Option<Ticket>>() <= 32);
