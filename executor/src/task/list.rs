//! The owned-task list: every live task of a runtime, so shutdown can cancel them all.
//!
//! Sharded by task id to keep spawns on different workers off each other's lock. Each
//! shard is a slab: a task's slot index is stored in its header (`owned_key`), read
//! and written only under the shard's lock, so removal is O(1).
//!
//! Protocol: `bind` fails once the list is closed, so no task can slip in after
//! `close_and_shutdown` has emptied a shard. `close_and_shutdown` closes every shard
//! first, then takes tasks out one at a time and cancels each outside the lock (a
//! task's destructor may spawn, wake or drop other tasks).

use crossbeam_utils::CachePadded;

use crate::sync::Mutex;
use crate::task::{OwnedTask, RawTask};

/// All live tasks of one runtime.
pub(crate) struct OwnedTasks {
    /// Each shard on its own cache line: a spawner binding into one shard and a
    /// worker releasing from its neighbour must not bounce a shared line.
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    mask: usize,
}

struct Shard {
    slots: Vec<Option<OwnedTask>>,
    free: Vec<usize>,
    len: usize,
    /// Tasks ever bound here (a statistic, counted under the lock we hold anyway).
    bound: u64,
    closed: bool,
}

impl OwnedTasks {
    /// A list with at least `min_shards` shards (rounded up to a power of two).
    pub(crate) fn new(min_shards: usize) -> OwnedTasks {
        let count = min_shards.max(1).next_power_of_two();
        let shards = (0..count)
            .map(|_| {
                CachePadded::new(Mutex::new(Shard {
                    slots: Vec::new(),
                    free: Vec::new(),
                    len: 0,
                    bound: 0,
                    closed: false,
                }))
            })
            .collect();
        OwnedTasks {
            shards,
            mask: count - 1,
        }
    }

    fn shard(&self, task: &RawTask) -> &Mutex<Shard> {
        &self.shards[(task.id().as_u64() as usize) & self.mask]
    }

    /// Adds a task. When the list is closed the task is handed back.
    pub(crate) fn bind(&self, task: OwnedTask) -> Result<(), OwnedTask> {
        let raw = task.raw();
        let mut shard = self.shard(&raw).lock();
        if shard.closed {
            return Err(task);
        }
        let key = match shard.free.pop() {
            Some(key) => {
                shard.slots[key] = Some(task);
                key
            }
            None => {
                shard.slots.push(Some(task));
                shard.slots.len() - 1
            }
        };
        shard.len += 1;
        shard.bound += 1;
        // SAFETY: owned_key is only accessed under this shard's lock, which we hold.
        raw.owned_key().with_mut(|k| unsafe { *k = key });
        Ok(())
    }

    /// Removes a task, returning the list's reference, or `None` if it is not here
    /// (shutdown already took it).
    pub(crate) fn remove(&self, raw: &RawTask) -> Option<OwnedTask> {
        let mut shard = self.shard(raw).lock();
        // SAFETY: owned_key is only accessed under this shard's lock, which we hold.
        let key = raw.owned_key().with(|k| unsafe { *k });
        let slot = shard.slots.get_mut(key)?;
        if slot.as_ref().map(OwnedTask::raw) != Some(*raw) {
            return None;
        }
        let task = slot.take();
        shard.free.push(key);
        shard.len -= 1;
        task
    }

    /// Closes the list and cancels every task in it. Returns how many were cancelled.
    pub(crate) fn close_and_shutdown(&self) -> usize {
        for shard in self.shards.iter() {
            shard.lock().closed = true;
        }
        let mut cancelled = 0;
        for shard in self.shards.iter() {
            // Closed shards gain no tasks, so one pass empties each.
            let tasks: Vec<OwnedTask> = {
                let mut shard = shard.lock();
                shard.len = 0;
                shard.free.clear();
                shard.slots.drain(..).flatten().collect()
            };
            cancelled += tasks.len();
            for task in tasks {
                task.shutdown();
            }
        }
        cancelled
    }

    /// How many tasks were ever added.
    pub(crate) fn bound_count(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().bound).sum()
    }

    /// How many tasks are alive.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len).sum()
    }
}
