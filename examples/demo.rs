//! The main job: the taskweave runtime doing real work, and a report of what it did.
//!
//! `cargo run --release --example demo` (optionally `-- <workers>`).
//!
//! 1. Counts primes below 2,000,000 in 200 spawned tasks, checked against a
//!    single-threaded count.
//! 2. Runs a three-stage pipeline (parse → square → sum) over tokio's mpsc channels
//!    with 4 parallel stage-2 tasks, checked against the closed-form sum.
//! 3. Fires 10,000 concurrent timers and shows a timeout cutting a slow task short.
//! 4. Reads this crate's source files on the blocking pool and counts their lines.
//! 5. Shows a panicking task and an aborted task not disturbing anything else.
//! 6. Runs a task graph: a word count over 64 generated documents (map tasks, then a
//!    reduce that depends on all of them), one failing branch whose dependents are
//!    skipped, and a retried flaky task.
//! 7. Keeps a crashing service alive with `spawn_critical` (restarted with backoff until
//!    it succeeds), tracks tasks by kind with a `TaskTracker` (one kind cancelled
//!    wholesale), and shows the resource monitor's view of the ExecutableTasks.
//! 8. Prints the per-worker metrics and the size of the Prometheus export.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskweave::export::prometheus;
use taskweave::graph::{Backoff, ExecutableTask, Priority, RetryPolicy, TaskError, TaskGraph};
use taskweave::runtime::Builder;
use taskweave::supervise::{RestartConfig, RestartPolicy};
use taskweave::time::{sleep, timeout};
use taskweave::tracker::TaskTracker;

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

fn main() -> std::io::Result<()> {
    let workers: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("workers must be a number"))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let rt = Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("demo-worker")
        .build()?;
    println!("taskweave demo on {workers} worker threads\n");
    // Section 5 panics on purpose; keep its report to one line.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("   (expected) a task panicked: {info}")
    }));

    rt.block_on(async {
        primes().await;
        pipeline().await;
        timers().await;
        blocking_io().await;
        failures().await;
    });
    task_graph(&rt);
    let tracker = TaskTracker::with_handle(rt.handle());
    rt.block_on(supervision_and_tracking(&tracker));
    if let Some(s) = rt.monitor_status() {
        println!(
            "   monitor: ExecutableTask limit {}, peak in flight {}, {} started; sampler {:?}",
            s.limit, s.peak_in_flight, s.started, s.sampler
        );
    }

    let m = rt.metrics();
    println!("\n8. runtime metrics");
    println!(
        "   tasks spawned: {}, still alive: {}",
        m.spawned_tasks_count(),
        m.num_alive_tasks()
    );
    for w in 0..m.num_workers() {
        println!(
            "   worker {w}: {:>7} polls, {:>6} stolen, {:>5} parks, busy {:>8.1?}",
            m.worker_poll_count(w),
            m.worker_steal_count(w),
            m.worker_park_count(w),
            m.worker_total_busy_duration(w),
        );
    }
    println!("   blocking threads: {}", m.num_blocking_threads());
    let text = prometheus::render(rt.handle(), Some(&tracker));
    println!(
        "   Prometheus export: {} samples in {} families",
        text.lines().filter(|l| !l.starts_with('#')).count(),
        text.lines().filter(|l| l.starts_with("# TYPE")).count()
    );
    Ok(())
}

async fn supervision_and_tracking(tracker: &TaskTracker) {
    // A service that crashes on its first two runs; restarted with a short backoff.
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let config = RestartConfig::builder(RestartPolicy::Always)
        .backoff(Backoff::exponential(
            Duration::from_millis(1),
            Duration::from_millis(10),
            0.5,
        ))
        .max_restarts(5)
        .build()
        .expect("a valid restart configuration");
    let mut service = taskweave::spawn_critical("flaky-service", config, move || {
        let run = r.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            match run {
                1 => panic!("service crashed on run {run}"),
                2 => Err(format!("run {run}: upstream refused")),
                _ => Ok(run),
            }
        }
    });
    let served_on = (&mut service).await.expect("the third run succeeds");
    println!(
        "\n7. supervision: the service succeeded on run {served_on} after {} restarts ({:?})",
        service.restarts(),
        service.status()
    );

    // Tracked tasks: two kinds finish, one kind is still waiting and gets cancelled.
    let mut handles = Vec::new();
    for i in 0..20u64 {
        handles.push(tracker.spawn(format!("fetch-{i}"), "fetch", async move {
            sleep(Duration::from_millis(i % 5)).await;
        }));
    }
    let failing = tracker.spawn_fallible("parse", "parse", async { Err::<(), _>("bad input") });
    for i in 0..5 {
        // Idle watchers, cancelled below by kind.
        drop(tracker.spawn(format!("watch-{i}"), "watch", std::future::pending::<()>()));
    }
    for h in handles {
        h.await.expect("fetch ran");
    }
    let _ = failing.await;
    let live = tracker.running().len();
    let cancelled = tracker.cancel_kind("watch");
    // Aborted tasks are dropped at their next turn on a worker.
    while tracker.stats().cancelled < cancelled as u64 {
        taskweave::task::yield_now().await;
    }
    let s = tracker.stats();
    println!(
        "   tracker: {} spawned, {} completed, {} failed, {} cancelled ({live} live before cancelling {cancelled} watchers)",
        s.spawned, s.completed, s.failed, s.cancelled
    );
}

async fn primes() {
    const LIMIT: u64 = 2_000_000;
    const CHUNKS: u64 = 200;
    let start = Instant::now();
    let tasks: Vec<_> = (0..CHUNKS)
        .map(|c| {
            let (lo, hi) = (c * LIMIT / CHUNKS, (c + 1) * LIMIT / CHUNKS);
            taskweave::spawn(async move { (lo..hi).filter(|&n| is_prime(n)).count() })
        })
        .collect();
    let mut parallel = 0;
    for t in tasks {
        parallel += t.await.expect("prime task");
    }
    let parallel_time = start.elapsed();
    let start = Instant::now();
    let serial = (0..LIMIT).filter(|&n| is_prime(n)).count();
    let serial_time = start.elapsed();
    assert_eq!(parallel, serial, "parallel and serial prime counts differ");
    println!(
        "1. primes below {LIMIT}: {parallel} ({CHUNKS} tasks in {parallel_time:.1?}; one thread: {serial_time:.1?}, speed-up {:.2}x)",
        serial_time.as_secs_f64() / parallel_time.as_secs_f64()
    );
}

async fn pipeline() {
    const N: u64 = 100_000;
    let (raw_tx, raw_rx) = tokio::sync::mpsc::channel::<String>(1024);
    let (sq_tx, mut sq_rx) = tokio::sync::mpsc::channel::<u64>(1024);
    let raw_rx = Arc::new(tokio::sync::Mutex::new(raw_rx));
    let producer = taskweave::spawn(async move {
        for i in 1..=N {
            raw_tx.send(i.to_string()).await.expect("stage 2 alive");
        }
    });
    let squarers: Vec<_> = (0..4)
        .map(|_| {
            let rx = raw_rx.clone();
            let tx = sq_tx.clone();
            taskweave::spawn(async move {
                let mut handled = 0u64;
                loop {
                    let next = rx.lock().await.recv().await;
                    let Some(line) = next else { break };
                    let n: u64 = line.parse().expect("a number");
                    tx.send(n * n).await.expect("stage 3 alive");
                    handled += 1;
                }
                handled
            })
        })
        .collect();
    drop(sq_tx);
    let mut sum = 0u64;
    let mut count = 0u64;
    while let Some(v) = sq_rx.recv().await {
        sum += v;
        count += 1;
    }
    producer.await.expect("producer");
    let mut shares = Vec::new();
    for s in squarers {
        shares.push(s.await.expect("squarer"));
    }
    let expected = N * (N + 1) * (2 * N + 1) / 6;
    assert_eq!((count, sum), (N, expected));
    println!("2. pipeline: {count} numbers parsed, squared and summed = {sum} (stage-2 shares {shares:?})");
}

async fn timers() {
    let fired = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..10_000u64)
        .map(|i| {
            let fired = fired.clone();
            taskweave::spawn(async move {
                sleep(Duration::from_millis(1 + i % 50)).await;
                fired.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("timer task");
    }
    let slow = timeout(Duration::from_millis(20), sleep(Duration::from_secs(10))).await;
    println!(
        "3. timers: {} of 10000 sleeps (1-50 ms) fired in {:.1?}; a 10 s sleep under a 20 ms timeout: {}",
        fired.load(Ordering::Relaxed),
        start.elapsed(),
        match slow {
            Ok(()) => "finished (unexpected)".to_string(),
            Err(e) => format!("cut short ({e})"),
        }
    );
}

async fn blocking_io() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("executor/src");
    let files = taskweave::spawn_blocking(move || {
        let mut files = Vec::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    files.push(p);
                }
            }
        }
        files
    })
    .await
    .expect("listing");
    let counts: Vec<_> = files
        .iter()
        .cloned()
        .map(|f| {
            taskweave::spawn_blocking(move || {
                std::fs::read_to_string(f)
                    .map(|s| s.lines().count())
                    .unwrap_or(0)
            })
        })
        .collect();
    let mut lines = 0;
    for c in counts {
        lines += c.await.expect("read");
    }
    println!(
        "4. blocking pool: read {} source files of the executor, {lines} lines",
        files.len()
    );
}

async fn failures() {
    let panicked = taskweave::spawn(async {
        if std::hint::black_box(true) {
            panic!("this task fails on purpose");
        }
    })
    .await;
    let endless = taskweave::spawn(async {
        loop {
            sleep(Duration::from_secs(1)).await;
        }
    });
    endless.abort();
    let aborted = endless.await;
    let after = taskweave::spawn(async { "still running" })
        .await
        .expect("healthy");
    println!(
        "5. failures: panicking task -> {}; aborted task -> {}; next task -> {after:?}",
        panicked.expect_err("it panicked"),
        aborted.expect_err("it was aborted"),
    );
}

fn task_graph(rt: &taskweave::Runtime) {
    const DOCS: usize = 64;
    let words = ["weave", "task", "graph", "steal", "queue", "park", "wake"];
    let counts = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        &str,
        usize,
    >::new()));
    let mut graph = TaskGraph::new(rt.handle());
    let mut map_ids = Vec::new();
    for d in 0..DOCS {
        let counts = counts.clone();
        let task = ExecutableTask::new(async move {
            // A generated document: 1000 words picked by a small LCG seeded by d.
            let mut x = d as u64 * 2_654_435_761 + 1;
            let mut local = std::collections::BTreeMap::new();
            for _ in 0..1000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                *local
                    .entry(words[(x >> 33) as usize % words.len()])
                    .or_insert(0usize) += 1;
            }
            let mut all = counts.lock().expect("counts");
            for (w, n) in local {
                *all.entry(w).or_insert(0) += n;
            }
        })
        .name(format!("map-{d}"))
        .estimated_duration(Duration::from_micros(50));
        map_ids.push(task.id());
        graph.add(task).expect("valid task");
    }
    let reduce_counts = counts.clone();
    let reduce = graph
        .add(
            ExecutableTask::new(async move {
                reduce_counts
                    .lock()
                    .expect("counts")
                    .values()
                    .sum::<usize>()
            })
            .name("reduce")
            .priority(Priority::HIGH)
            .dependencies(map_ids.iter().copied()),
        )
        .expect("valid task");
    let broken = ExecutableTask::try_new(async { Err::<(), _>("disk full") }).name("broken");
    let broken_id = broken.id();
    let broken = graph.add(broken).expect("valid task");
    let skipped = graph
        .add(
            ExecutableTask::new(async { unreachable!("never runs") })
                .name("after-broken")
                .depends_on(broken_id),
        )
        .expect("valid task");
    let tries = Arc::new(AtomicUsize::new(0));
    let t = tries.clone();
    let flaky = graph
        .add(
            ExecutableTask::from_factory(move || {
                let attempt = t.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    if attempt < 3 {
                        Err(format!("attempt {attempt} failed"))
                    } else {
                        Ok(attempt)
                    }
                }
            })
            .name("flaky")
            .retry(RetryPolicy::new(
                4,
                Backoff::exponential(Duration::from_millis(1), Duration::from_millis(20), 0.5),
            )),
        )
        .expect("valid task");
    let tasks = graph.len();
    graph.submit().expect("the graph is acyclic");
    rt.block_on(async {
        let total = reduce.await.expect("reduce ran");
        assert_eq!(total, DOCS * 1000, "every word counted once");
        let broken = broken.await.expect_err("it fails");
        let skipped = skipped.await.expect_err("it is skipped");
        assert!(matches!(skipped, TaskError::DependencyFailed(id) if id == broken_id));
        let attempts = flaky.await.expect("third attempt succeeds");
        println!("6. task graph: {tasks} tasks; reduce counted {total} words over {DOCS} map tasks: {:?}", counts.lock().expect("counts"));
        println!("   broken -> {broken}; its dependent -> {skipped}; flaky succeeded on attempt {attempts}");
    });
}
