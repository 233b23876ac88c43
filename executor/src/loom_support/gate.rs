//! Handles on the monitor's gate (`graph/admit.rs`) and the supervisor's run slot
//! (`supervise/runner.rs`) for the loom models in `loom-tests/tests/gate.rs`.
//!
//! Nothing here adds behaviour: each method forwards to the executor's own code. The
//! gate is built with a fixed in-flight limit and tickets that declare no resources,
//! so what a model explores is the permit hand-off on the gate's state word: release
//! vs. enqueue, a newcomer vs. a waiter, grant vs. abandon, close vs. a waiting ticket,
//! and a start leaving the backlog vs. a submitter waiting for room; and a worker's
//! ledger (`graph/admit/ledger.rs`) holding a spare permit or batched leavings vs. a
//! waiting task or submitter. A model plays a worker by naming its index (one thread
//! at a time per index, as on a runtime).

use std::task::{Context, Poll};

use taskweave_monitor::{Budget, ControllerConfig, Requirements};

use crate::graph::admit::{Gate, GateConfig, Pending, Ticket};
use crate::graph::backlog::Backlog;
use crate::supervise::runner::{Permit, RunSlot};
use crate::sync::Arc;

/// A gate with a fixed in-flight limit.
pub struct GateModel {
    gate: Arc<Gate>,
}

/// One ExecutableTask's passage through a [`GateModel`]. Dropped, it abandons its
/// ticket, as a dropped runner does.
pub struct TicketModel {
    gate: Arc<Gate>,
    ticket: Ticket,
    /// The worker it starts and ends on, if any.
    worker: Option<usize>,
}

impl GateModel {
    /// A gate letting `limit` tasks run at once (the limit never moves: no ticks).
    pub fn new(limit: usize) -> GateModel {
        GateModel::with_backlog(limit, 16)
    }

    /// As [`new`](Self::new), with a backlog letting `pending_capacity` tasks wait to
    /// start.
    pub fn with_backlog(limit: usize, pending_capacity: usize) -> GateModel {
        GateModel {
            gate: Arc::new(Gate::new(GateConfig {
                controller: ControllerConfig {
                    min_limit: limit,
                    max_limit: limit,
                    initial_limit: limit,
                    ..ControllerConfig::default()
                },
                capacity: Budget::new(1.0, 1 << 20),
                memory_headroom: 0.1,
                pending_capacity,
                workers: 2,
            })),
        }
    }

    /// A ticket for a task of base `priority` that declared no resources.
    pub fn ticket(&self, priority: u8) -> TicketModel {
        TicketModel {
            gate: self.gate.clone(),
            ticket: Ticket::new(Requirements::default(), priority, Pending::No),
            worker: None,
        }
    }

    /// `submit`'s steps: counts one task in the gate's backlog and gives it a ticket
    /// (which leaves the backlog when it starts or is dropped).
    pub fn submit(&self, priority: u8) -> TicketModel {
        self.gate.backlog.reserve(1);
        TicketModel {
            gate: self.gate.clone(),
            ticket: Ticket::new(Requirements::default(), priority, Pending::Counted),
            worker: None,
        }
    }

    /// As [`submit`](Self::submit), for a task that starts and ends on `worker`
    /// (through its ledger).
    pub fn submit_on(&self, worker: usize, priority: u8) -> TicketModel {
        let mut ticket = self.submit(priority);
        ticket.worker = Some(worker);
        ticket
    }

    /// `worker` settles its ledger (as before it runs anything else, or parks).
    pub fn settle(&self, worker: usize) {
        self.gate.settle(worker);
    }

    /// Completions counted.
    pub fn completed(&self) -> u64 {
        self.gate.counts().completed
    }

    /// `submit_wait`'s step on the gate's backlog: reserves room for `n`, or registers
    /// `cx`'s waker. `Ready(false)` after `close`.
    pub fn poll_reserve(
        &self,
        n: usize,
        cx: &mut Context<'_>,
        registration: &mut Option<u64>,
    ) -> Poll<bool> {
        self.gate.poll_reserve(n, cx, registration)
    }

    /// Pending tasks in the gate's backlog.
    pub fn pending(&self) -> usize {
        self.gate.counts().pending
    }

    /// Runtime shutdown's step: grants nothing more, drops the waiters' wakers.
    pub fn close(&self) {
        self.gate.close();
    }

    /// Permits held.
    pub fn in_flight(&self) -> usize {
        self.gate.counts().in_flight
    }

    /// Tickets waiting for a permit.
    pub fn waiting(&self) -> usize {
        self.gate.counts().waiting
    }
}

impl TicketModel {
    /// `Ready` once the ticket holds its permit; `Pending` (woken when granted) while
    /// it waits.
    pub fn poll_start(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.ticket.poll_start(&self.gate, || self.worker, cx)
    }

    /// The task ended: releases the permit and grants what it freed.
    pub fn finish(&mut self) {
        self.ticket.finish(&self.gate, self.worker);
    }
}

impl Drop for TicketModel {
    fn drop(&mut self) {
        self.ticket.abandon(&self.gate);
    }
}

/// The bound on pending ExecutableTasks and the submitters waiting for room
/// (`graph/backlog.rs`).
pub struct BacklogModel {
    backlog: Arc<Backlog>,
}

impl BacklogModel {
    /// An empty backlog letting `capacity` tasks wait to start.
    pub fn new(capacity: usize) -> BacklogModel {
        BacklogModel {
            backlog: Arc::new(Backlog::new(capacity)),
        }
    }

    /// Counts `n` more pending tasks, whatever the capacity (`submit`).
    pub fn reserve(&self, n: usize) {
        self.backlog.reserve(n);
    }

    /// Uncounts `n` pending tasks (they started) and wakes waiting submitters.
    pub fn unreserve(&self, n: usize) {
        self.backlog.unreserve(n);
    }

    /// `submit_wait`'s step: reserves room for `n`, or registers `cx`'s waker.
    /// `Ready(false)` after `close`.
    pub fn poll_reserve(
        &self,
        n: usize,
        cx: &mut Context<'_>,
        registration: &mut Option<u64>,
    ) -> Poll<bool> {
        self.backlog.poll_reserve(n, cx, registration)
    }

    /// Shutdown: no more room; wakes every waiting submitter.
    pub fn close(&self) {
        self.backlog.close();
    }

    /// Pending tasks now.
    pub fn len(&self) -> usize {
        self.backlog.len()
    }

    /// True if nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.backlog.len() == 0
    }
}

impl Clone for BacklogModel {
    fn clone(&self) -> Self {
        BacklogModel {
            backlog: self.backlog.clone(),
        }
    }
}

/// A supervised task's run slot: at most one run holds it.
pub struct RunSlotModel {
    /// `RunSlot` is shared through std's `Arc` (its lock is the modelled part).
    slot: std::sync::Arc<RunSlot>,
}

/// Holding a [`RunSlotModel`]; dropping it frees the slot and wakes the waiters.
pub struct RunPermit {
    _permit: Permit,
}

impl RunSlotModel {
    /// A free slot.
    pub fn new() -> RunSlotModel {
        RunSlotModel {
            slot: RunSlot::new(),
        }
    }

    /// Takes the slot, or registers the waker and returns `Pending`.
    pub fn poll_acquire(&self, cx: &mut Context<'_>) -> Poll<RunPermit> {
        self.slot
            .poll_acquire(cx)
            .map(|permit| RunPermit { _permit: permit })
    }
}

impl Default for RunSlotModel {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for RunSlotModel {
    fn clone(&self) -> Self {
        RunSlotModel {
            slot: self.slot.clone(),
        }
    }
}
