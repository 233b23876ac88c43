//! The ready heap as the dispatch keeps it: tasks to start (their graph slots) and
//! started tasks that woke, each under its key — and *runs*, several tasks to start
//! under one heap item. Runs under the dispatch lock, as the rest of `Inner`.
//!
//! A run is a stretch of at least [`MIN_RUN`] tasks that became ready in one operation
//! (a submission, an exchange), one after the other, with equal keys: a wide graph's
//! roots, say. Pushed one by one, they would have been consecutive pushes with equal
//! keys, so the heap would have given them one after the other, in release order, at
//! the place of the first: no queued task could come between them (a tie goes to the
//! earlier push), and one pushed later comes after them all. Taking them front to back
//! from one item at that place gives exactly that order — what aging sees too, since
//! they share their enqueue instant — for one heap push and pop instead of one per task
//! (a submission of the `dag` bench's binary tree pushes its 32,768 leaves at once).
//! For the same reason a pick takes as many of the leading run's tasks as it wants on
//! one choice of the heap's best (`pop_up_to`): nothing can come between them. (On the
//! random DAG, choosing the best once per task took a quarter of the run phase.)
//!
//! Invariants:
//! - A run in the heap holds at least one task (the pop that takes its last task takes
//!   the item out), in release order from its back.
//! - `len` counts the tasks queued, each run's tasks and stale starts (of tasks
//!   cancelled while queued, skipped when popped) included.

use std::time::Instant;

use taskweave_scheduler::{Best, ReadyKey, ReadyQueue, ReadyQueueConfig, SlotRef};

use crate::task::Notified;

/// The fewest tasks queued as one run (fewer equal keys in a row are pushed one by
/// one: a run's allocation would cost about as much as the pushes it saves).
const MIN_RUN: usize = 8;

/// What the heap holds.
pub(in crate::graph::dispatch) enum Item {
    /// The first run of a task: its slot in the graph, which holds the task until it
    /// starts (stale, and skipped, if the task was cancelled meanwhile).
    Start(SlotRef),
    /// A started task that was woken.
    Wake(Notified),
    /// Tasks to start that share one key (see the module docs).
    Run(Box<Run>),
}

#[cfg(not(taskweave_loom))]
const _: () = assert!(std::mem::size_of::<Item>() == 16);

/// Tasks queued as one heap item (see the module docs), boxed so that an item stays
/// two words.
pub(in crate::graph::dispatch) struct Run {
    /// In release order from the back: `pop` takes the next one.
    next_last: Vec<SlotRef>,
}

/// What [`ReadyTasks::pop_up_to`] took.
pub(in crate::graph::dispatch) enum Popped {
    Wake(Notified),
    /// This many tasks to start, at the front of the caller's slots.
    Starts(usize),
}

/// The ready heap, with its runs (see the module docs).
pub(in crate::graph::dispatch) struct ReadyTasks {
    heap: ReadyQueue<Item>,
    /// Tasks queued (see the module invariants).
    len: usize,
}

impl ReadyTasks {
    pub(in crate::graph::dispatch) fn new(config: ReadyQueueConfig) -> ReadyTasks {
        ReadyTasks {
            heap: ReadyQueue::with_config(config),
            len: 0,
        }
    }

    /// Tasks queued, stale starts included.
    pub(in crate::graph::dispatch) fn len(&self) -> usize {
        self.len
    }

    pub(in crate::graph::dispatch) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The best queued task at `now`, chosen once, to compare keys with.
    pub(in crate::graph::dispatch) fn best_at(&self, now: Instant) -> Best<'_, Item> {
        self.heap.best_at(now)
    }

    /// Queues a started task that was woken.
    pub(in crate::graph::dispatch) fn push_wake(&mut self, key: ReadyKey, task: Notified) {
        self.heap.push(key, Item::Wake(task));
        self.len += 1;
    }

    /// Queues tasks that became ready together, in release order, their keys stamped
    /// `now`: each stretch of at least [`MIN_RUN`] equal keys as one run.
    pub(in crate::graph::dispatch) fn push_starts(
        &mut self,
        ready: &[(SlotRef, ReadyKey)],
        now: Instant,
    ) {
        self.len += ready.len();
        let mut rest = ready;
        while let Some((_, first)) = rest.first() {
            let key = ReadyKey {
                enqueued_at: now,
                ..*first
            };
            let stretch = rest
                .iter()
                .take_while(|(_, other)| same_order(other, first))
                .count();
            let (alike, after) = rest.split_at(stretch);
            if stretch >= MIN_RUN {
                let next_last = alike.iter().rev().map(|(at, _)| *at).collect();
                self.heap.push(key, Item::Run(Box::new(Run { next_last })));
            } else {
                for (at, _) in alike {
                    self.heap.push(key, Item::Start(*at));
                }
            }
            rest = after;
        }
    }

    /// The next tasks at `now`, per the heap's order, chosen once: a wake-up, or up to
    /// `slots.len()` (at least one) tasks to start, written to the front of `slots` —
    /// one task, or as many of the run that leads (the heap would give them one after
    /// the other: see the module docs). `None` if the heap is empty.
    pub(in crate::graph::dispatch) fn pop_up_to(
        &mut self,
        now: Instant,
        slots: &mut [SlotRef],
    ) -> Option<Popped> {
        debug_assert!(!slots.is_empty());
        let mut best = self.heap.peek_mut(now)?;
        let popped = match best.get_mut() {
            Item::Run(run) if run.next_last.len() > slots.len() => {
                let from = run.next_last.len() - slots.len();
                for (slot, at) in slots.iter_mut().zip(run.next_last.drain(from..).rev()) {
                    *slot = at;
                }
                Popped::Starts(slots.len())
            }
            _ => match best.pop() {
                Item::Start(at) => {
                    slots[0] = at;
                    Popped::Starts(1)
                }
                Item::Wake(task) => Popped::Wake(task),
                Item::Run(run) => {
                    let taken = run.next_last.len();
                    for (slot, at) in slots.iter_mut().zip(run.next_last.into_iter().rev()) {
                        *slot = at;
                    }
                    Popped::Starts(taken)
                }
            },
        };
        self.len -= match popped {
            Popped::Starts(taken) => taken,
            Popped::Wake(_) => 1,
        };
        Some(popped)
    }

    /// Empties the heap (shutdown), handing back the wake-ups (the tasks to start stay
    /// in the graph, which hands them out itself).
    pub(in crate::graph::dispatch) fn take_wakes(&mut self, now: Instant) -> Vec<Notified> {
        let mut woken = Vec::new();
        while let Some(item) = self.heap.pop(now) {
            if let Item::Wake(task) = item {
                woken.push(task);
            }
        }
        self.len = 0;
        woken
    }
}

/// Whether two keys order alike (their enqueue instants aside: a run is stamped once).
fn same_order(a: &ReadyKey, b: &ReadyKey) -> bool {
    a.priority == b.priority && a.deadline == b.deadline && a.rank == b.rank
}

#[cfg(test)]
#[path = "ready_tests.rs"]
mod tests;
