//! Heap memory per pending task: taskweave vs tokio vs async-executor.
//!
//! ```text
//! cargo run --release --example task_memory --no-default-features
//! TASKWEAVE_BENCH_WORKERS=4 cargo run --release --example task_memory --no-default-features
//! ```
//!
//! `--no-default-features` turns off taskweave's `mimalloc` feature, so that its task
//! cells come from the global allocator this example counts; with the feature on they
//! come from mimalloc, which the counter does not see (the example says so and stops).
//!
//! A counting `#[global_allocator]` (wrapping `System`) tracks the bytes and the number
//! of allocations currently live. For each runtime (same worker count as the benches),
//! the example spawns `NUM_TASKS` tasks from the main thread through the runtime handle;
//! each task marks that it has been polled and then waits on a `tokio::sync::oneshot`
//! receiver. Once every task has been polled (so it is parked, not queued), it reads the
//! counters again:
//!
//!   bytes/task  = (live bytes after - before) / NUM_TASKS
//!   allocs/task = (live allocations after - before) / NUM_TASKS
//!
//! Everything the measurement itself needs (the channels, the handle `Vec`) is allocated
//! before the "before" reading, so the delta is what the runtime spends per task: the
//! task allocation (header + the future, whose size is printed) plus any per-task
//! bookkeeping (e.g. async-executor's slab of active tasks) and queue growth. Then all
//! senders fire, every task is joined, the runtime is dropped, and what is still
//! allocated compared with before the runtime was built is printed as "retained".

#[path = "../benches/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{workers, AsyncExecutor, BenchRt, Spawner, Taskweave, Tokio};
use tokio::sync::oneshot;

/// Pending tasks per runtime.
const NUM_TASKS: usize = 10_000;

/// Counts live heap bytes and live allocations.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy)]
struct Snapshot {
    bytes: isize,
    allocs: isize,
}

fn snapshot() -> Snapshot {
    Snapshot {
        bytes: LIVE_BYTES.load(Ordering::SeqCst),
        allocs: LIVE_ALLOCS.load(Ordering::SeqCst),
    }
}

struct Row {
    name: &'static str,
    bytes_per_task: f64,
    allocs_per_task: f64,
    future_size: usize,
    retained: isize,
}

/// The future every measured task runs.
async fn pending_task(polled: Arc<AtomicIsize>, rx: oneshot::Receiver<()>) {
    polled.fetch_add(1, Ordering::SeqCst);
    let _ = rx.await;
}

fn measure<R: BenchRt>() -> Row {
    let before_rt = snapshot();
    let rt = R::build(workers());
    let remote = rt.remote();

    // Let lazily created per-thread / per-runtime state come into being first.
    rt.block_on(remote.spawn(async { R::yield_now().await }));
    let polled = Arc::new(AtomicIsize::new(0));

    // Everything the measurement needs, allocated up front.
    let (mut txs, mut rxs): (Vec<_>, Vec<_>) =
        (0..NUM_TASKS).map(|_| oneshot::channel::<()>()).unzip();
    let mut handles = Vec::with_capacity(NUM_TASKS);
    let future_size = {
        let (_tx, rx) = oneshot::channel::<()>();
        std::mem::size_of_val(&pending_task(polled.clone(), rx))
    };

    let before = snapshot();
    for rx in rxs.drain(..) {
        handles.push(remote.spawn(pending_task(polled.clone(), rx)));
    }
    // Wait until every task has run up to its await point.
    let deadline = Instant::now() + Duration::from_secs(30);
    while polled.load(Ordering::SeqCst) < NUM_TASKS as isize {
        assert!(
            Instant::now() < deadline,
            "{}: tasks were not all polled within 30 s",
            R::NAME
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // Give workers a moment to go idle (finish their bookkeeping after the last poll).
    std::thread::sleep(Duration::from_millis(50));
    let after = snapshot();

    // Clean up: release every task, join them all, shut the runtime down.
    for tx in txs.drain(..) {
        let _ = tx.send(());
    }
    rt.block_on(async {
        for h in handles.drain(..) {
            h.await;
        }
    });
    drop((txs, rxs, handles, remote));
    drop(rt);
    drop(polled);
    let after_drop = snapshot();

    Row {
        name: R::NAME,
        bytes_per_task: (after.bytes - before.bytes) as f64 / NUM_TASKS as f64,
        allocs_per_task: (after.allocs - before.allocs) as f64 / NUM_TASKS as f64,
        future_size,
        retained: after_drop.bytes - before_rt.bytes,
    }
}

fn main() {
    if cfg!(feature = "mimalloc") {
        eprintln!(
            "taskweave's task cells come from mimalloc (its default `mimalloc` feature), \
             which this example's counting allocator does not see: run it with \
             --no-default-features"
        );
        std::process::exit(2);
    }
    let rows = [
        measure::<Taskweave>(),
        measure::<Tokio>(),
        measure::<AsyncExecutor>(),
    ];

    println!(
        "heap per pending task ({NUM_TASKS} tasks, {} worker threads, spawned via the handle)",
        workers()
    );
    println!();
    println!(
        "{:<16} {:>12} {:>12} {:>13} {:>22}",
        "runtime", "bytes/task", "allocs/task", "future bytes", "retained after drop"
    );
    println!("{}", "-".repeat(16 + 1 + 12 + 1 + 12 + 1 + 13 + 1 + 22));
    for r in &rows {
        println!(
            "{:<16} {:>12.1} {:>12.2} {:>13} {:>22}",
            r.name, r.bytes_per_task, r.allocs_per_task, r.future_size, r.retained
        );
    }
    println!();
    println!("bytes/task includes the future itself (\"future bytes\": the same async fn for all three).");
    println!(
        "retained: live bytes after the runtime was dropped minus before it was built; one-time"
    );
    println!(
        "process-wide state and deferred frees (e.g. crossbeam-epoch garbage) show up here too,"
    );
    println!("so only a value that grows from run to run means a leak.");
}
