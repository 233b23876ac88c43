//! Runtime micro-benchmarks: taskweave vs tokio vs async-executor, side by side.
//!
//! Every workload is a criterion group with the functions "taskweave", "tokio" and
//! "async-executor", each run on a runtime with the same number of worker threads
//! (`WORKERS` = 2, or `TASKWEAVE_BENCH_WORKERS`). Each runtime is built once per group,
//! outside `b.iter`, and dropped before the next one is built, so only one runtime's
//! threads exist at a time.
//!
//! ```text
//! cargo bench --bench runtime                        # full measurement (a few minutes)
//! cargo bench --bench runtime -- --test              # smoke test: each benchmark once
//! cargo bench --bench runtime -- yield_many          # one group
//! cargo bench --bench runtime -- 'ping_pong/tokio'   # one function
//! TASKWEAVE_BENCH_WORKERS=4 cargo bench --bench runtime
//! ```
//!
//! The workloads follow tokio's `benches/rt_multi_threaded.rs`, with two deliberate
//! differences: "local" spawns really come from a task on a worker (in tokio's bench
//! they come from the `block_on` future, i.e. from outside), and ping-pong has both a
//! sequential shape (`ping_pong`) and tokio's concurrent shape (`ping_pong_concurrent`).

// `criterion_group!` generates an undocumented `pub fn benches()`.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use tokio::sync::oneshot;

use common::{workers, AsyncExecutor, BenchRt, Spawner, Taskweave, Tokio};

/// Tasks spawned by the spawn benchmarks.
const NUM_SPAWN: usize = 10_000;
/// Tasks of `yield_many`.
const YIELD_TASKS: usize = 200;
/// `yield_now()`s per task of `yield_many`.
const NUM_YIELD: usize = 1_000;
/// Round trips of the ping-pong benchmarks.
const NUM_PINGS: usize = 1_000;
/// Depth of `chained_spawn`.
const CHAIN_DEPTH: usize = 1_000;
/// Tasks of `timers`.
const NUM_TIMERS: usize = 10_000;
/// What each task of `timers` sleeps.
const TIMER_SLEEP: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------------
// Workloads, written once against `BenchRt`.

/// From inside a task, spawn `NUM_SPAWN` tasks that each bump a counter; await them all.
fn spawn_many_local<R: BenchRt>(rt: &R) {
    let local = rt.local();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let driver = rt.remote().spawn(async move {
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..NUM_SPAWN {
            let c = c.clone();
            handles.push(local.spawn(async move {
                c.fetch_add(1, Ordering::Relaxed);
            }));
        }
        for h in handles {
            h.await;
        }
    });
    rt.block_on(driver);
    assert_eq!(counter.load(Ordering::Relaxed), NUM_SPAWN);
}

/// From the bench thread, spawn `NUM_SPAWN` tasks through the handle; await them all.
fn spawn_many_remote<R: BenchRt>(rt: &R, handles: &mut Vec<<R::Remote as Spawner>::Join<()>>) {
    let remote = rt.remote();
    let counter = Arc::new(AtomicUsize::new(0));
    for _ in 0..NUM_SPAWN {
        let c = counter.clone();
        handles.push(remote.spawn(async move {
            c.fetch_add(1, Ordering::Relaxed);
        }));
    }
    rt.block_on(async {
        for h in handles.drain(..) {
            h.await;
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), NUM_SPAWN);
}

/// `YIELD_TASKS` tasks, spawned from the bench thread, each `yield_now()`ing
/// `NUM_YIELD` times; await them all.
fn yield_many<R: BenchRt>(rt: &R) {
    let remote = rt.remote();
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            remote.spawn(async {
                for _ in 0..NUM_YIELD {
                    R::yield_now().await;
                }
            })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await;
        }
    });
}

/// One task on a worker does `NUM_PINGS` sequential round trips: spawn a task that
/// sends back through a oneshot, await the reply.
fn ping_pong<R: BenchRt>(rt: &R) {
    let local = rt.local();
    let driver = rt.remote().spawn(async move {
        for i in 0..NUM_PINGS {
            let (tx, rx) = oneshot::channel::<usize>();
            local.spawn_detached(async move {
                let _ = tx.send(i);
            });
            assert_eq!(rx.await.expect("pong task dropped its sender"), i);
        }
    });
    rt.block_on(driver);
}

/// tokio's `ping_pong` shape: `NUM_PINGS` concurrent pairs, each one task pinging a
/// task it spawned and waiting for the pong; the last pair to finish signals.
fn ping_pong_concurrent<R: BenchRt>(rt: &R) {
    let local = rt.local();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
    let rem = Arc::new(AtomicUsize::new(NUM_PINGS));
    rt.remote().spawn_detached(async move {
        for _ in 0..NUM_PINGS {
            let (rem, done_tx, inner) = (rem.clone(), done_tx.clone(), local.clone());
            local.spawn_detached(async move {
                let (tx1, rx1) = oneshot::channel::<()>();
                let (tx2, rx2) = oneshot::channel::<()>();
                inner.spawn_detached(async move {
                    rx1.await.unwrap();
                    tx2.send(()).unwrap();
                });
                tx1.send(()).unwrap();
                rx2.await.unwrap();
                if rem.fetch_sub(1, Ordering::Relaxed) == 1 {
                    let tx = done_tx.lock().unwrap().take().unwrap();
                    tx.send(()).unwrap();
                }
            });
        }
    });
    rt.block_on(done_rx)
        .expect("ping_pong_concurrent did not finish");
}

/// A task spawns a task which spawns ... `CHAIN_DEPTH` deep; the last one signals
/// through a oneshot, awaited by the bench thread.
fn chained_spawn<R: BenchRt>(rt: &R) {
    fn link<S: Spawner>(s: S, done: oneshot::Sender<()>, n: usize) {
        if n == 0 {
            done.send(()).unwrap();
        } else {
            let next = s.clone();
            s.spawn_detached(async move { link(next, done, n - 1) });
        }
    }
    let (tx, rx) = oneshot::channel();
    let local = rt.local();
    rt.remote()
        .spawn_detached(async move { link(local, tx, CHAIN_DEPTH - 1) });
    rt.block_on(rx).expect("chain broken");
}

/// From inside a task, spawn `NUM_TIMERS` tasks that each sleep `TIMER_SLEEP`,
/// concurrently; await them all.
fn timers<R: BenchRt>(rt: &R) {
    let local = rt.local();
    let driver = rt.remote().spawn(async move {
        let mut handles = Vec::with_capacity(NUM_TIMERS);
        for _ in 0..NUM_TIMERS {
            handles.push(local.spawn(R::sleep(TIMER_SLEEP)));
        }
        for h in handles {
            h.await;
        }
    });
    rt.block_on(driver);
}

// ---------------------------------------------------------------------------------
// Criterion plumbing.

fn group<'a>(c: &'a mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    // Iterations take milliseconds: flat sampling keeps the run time predictable.
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(elements));
    g
}

/// Runs `work` as the function `R::NAME` of `g` on a fresh runtime of `R`, built once
/// and dropped (shut down) after the function.
fn on<R: BenchRt>(g: &mut BenchmarkGroup<'_, WallTime>, mut work: impl FnMut(&R)) {
    let rt = R::build(workers());
    // One untimed run so lazily created runtime state (timer wheel, driver threads,
    // queue buffers) is not billed to the first sample.
    work(&rt);
    g.bench_function(R::NAME, |b| b.iter(|| work(black_box(&rt))));
    drop(rt);
}

/// Generates a benchmark fn that runs `$work` on all three runtimes in one group.
macro_rules! three_way {
    ($bench:ident, $work:ident, $elements:expr) => {
        fn $bench(c: &mut Criterion) {
            let mut g = group(c, stringify!($work), $elements as u64);
            on::<Taskweave>(&mut g, $work::<Taskweave>);
            on::<Tokio>(&mut g, $work::<Tokio>);
            on::<AsyncExecutor>(&mut g, $work::<AsyncExecutor>);
            g.finish();
        }
    };
}

three_way!(bench_spawn_many_local, spawn_many_local, NUM_SPAWN);
three_way!(bench_yield_many, yield_many, YIELD_TASKS * NUM_YIELD);
three_way!(bench_ping_pong, ping_pong, NUM_PINGS);
three_way!(bench_ping_pong_concurrent, ping_pong_concurrent, NUM_PINGS);
three_way!(bench_chained_spawn, chained_spawn, CHAIN_DEPTH);
three_way!(bench_timers, timers, NUM_TIMERS);

/// `spawn_many_remote` reuses one handle `Vec` across iterations (as tokio's bench
/// does), so it is written out rather than generated.
fn bench_spawn_many_remote(c: &mut Criterion) {
    fn run<R: BenchRt>(g: &mut BenchmarkGroup<'_, WallTime>) {
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        on::<R>(g, |rt| spawn_many_remote(rt, &mut handles));
    }
    let mut g = group(c, "spawn_many_remote", NUM_SPAWN as u64);
    run::<Taskweave>(&mut g);
    run::<Tokio>(&mut g);
    run::<AsyncExecutor>(&mut g);
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets =
        bench_spawn_many_local,
        bench_spawn_many_remote,
        bench_yield_many,
        bench_ping_pong,
        bench_ping_pong_concurrent,
        bench_chained_spawn,
        bench_timers
}
criterion_main!(benches);
