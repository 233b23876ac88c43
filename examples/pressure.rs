//! The resource monitor at work, on the real machine: three scenarios and the
//! sampler's own cost.
//!
//! ```sh
//! cargo run --release --example pressure              # everything (about 1.5 minutes)
//! cargo run --release --example pressure -- memory    # or: io, cpu
//! ```
//!
//! 1. **memory**: 24 ExecutableTasks that each allocate and touch 192 MiB (4.5 GiB
//!    in all) under a 1 GiB memory budget. The monitor starts a task only when its
//!    declared memory fits: at most 5 hold memory at once, the process's peak RSS
//!    stays near the budget, no allocation fails. A dry run of the same tasks
//!    (declaring, not allocating) with the monitor off shows all 24 would run at once.
//! 2. **io**: 3,000 tasks that each sleep 50 ms, run with a fixed limit of 8 and then
//!    with the adaptive controller (default settings, default 1 s interval): the
//!    limit grows while the CPU idles, and throughput rises. The sampling thread's CPU
//!    time is measured during the adaptive run (`/proc/self/task/<tid>/schedstat`).
//! 3. **cpu**: a steady stream of sleeping tasks lets the limit grow, then a child
//!    process (this binary, `--hog`) spins on every core for 12 s: the limit shrinks,
//!    and grows back after the hog exits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskweave::graph::{ExecutableTask, ResourceRequirements, TaskGraph, TaskHandle};
use taskweave::monitor::{MonitorConfig, MonitorStatus, SamplerState};
use taskweave::runtime::Builder;
use taskweave::Runtime;

const MIB: u64 = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--hog") {
        let secs = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
        hog(Duration::from_secs(secs));
        return;
    }
    let which = args.first().map(String::as_str).unwrap_or("all");
    println!(
        "taskweave monitor scenarios ({} cores, {} MiB RAM)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        meminfo_kib("MemTotal:").unwrap_or(0) / 1024
    );
    if matches!(which, "all" | "memory") {
        memory_scenario();
    }
    if matches!(which, "all" | "io") {
        io_scenario();
    }
    if matches!(which, "all" | "cpu") {
        cpu_scenario();
    }
}

fn runtime(config: Option<MonitorConfig>) -> Runtime {
    let mut builder = Builder::new_multi_thread();
    builder.worker_threads(2);
    match config {
        Some(config) => builder.monitor(config),
        None => builder.disable_monitor(),
    };
    builder.build().expect("build runtime")
}

fn status(rt: &Runtime) -> MonitorStatus {
    rt.monitor_status().expect("monitor on")
}

// ---- 1. Memory-holding tasks -------------------------------------------------------

const MEMORY_TASKS: usize = 24;
const TASK_MEMORY: u64 = 192 * MIB;
const MEMORY_BUDGET: u64 = 1024 * MIB;

/// Counts tasks inside their body at once and the most ever.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(now, SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
    fn max(&self) -> usize {
        self.max.load(SeqCst)
    }
}

fn memory_task(
    gauge: &Gauge,
    failures: &Arc<AtomicUsize>,
    allocate: bool,
) -> ExecutableTask<impl taskweave::graph::TaskBody<Output = u64>> {
    let (gauge, failures) = (gauge.clone(), failures.clone());
    ExecutableTask::new(async move {
        gauge.enter();
        let mut sum = 0u64;
        if allocate {
            let mut block: Vec<u8> = Vec::new();
            match block.try_reserve_exact(TASK_MEMORY as usize) {
                Ok(()) => {
                    // Writes every byte, so every page is really resident.
                    block.resize(TASK_MEMORY as usize, 1);
                    taskweave::time::sleep(Duration::from_millis(300)).await;
                    sum = block.iter().step_by(4096).map(|&b| u64::from(b)).sum();
                }
                Err(_) => {
                    failures.fetch_add(1, SeqCst);
                }
            }
        } else {
            taskweave::time::sleep(Duration::from_millis(300)).await;
        }
        gauge.leave();
        sum
    })
    .resources(
        ResourceRequirements::new()
            .cpu_cores(0.1)
            .memory_bytes(TASK_MEMORY),
    )
}

fn memory_scenario() {
    println!(
        "== 1. memory: {MEMORY_TASKS} tasks x {} MiB (touched), budget {} MiB ==",
        TASK_MEMORY / MIB,
        MEMORY_BUDGET / MIB
    );
    let hwm_before = status_kib("VmHWM:").unwrap_or(0);
    let rt = runtime(Some(
        MonitorConfig::new()
            .memory_budget(MEMORY_BUDGET)
            .interval(Duration::from_millis(250)),
    ));
    let gauge = Gauge::default();
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut graph = TaskGraph::new(rt.handle());
    let handles: Vec<TaskHandle<u64>> = (0..MEMORY_TASKS)
        .map(|_| graph.add(memory_task(&gauge, &failures, true)).unwrap())
        .collect();
    graph.submit().unwrap();
    // Watch the declared memory in use while the tasks run.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, handle) = (done.clone(), rt.handle().clone());
        std::thread::spawn(move || {
            let mut max = 0;
            while !done.load(SeqCst) {
                max = max.max(handle.monitor_status().unwrap().memory_in_use);
                std::thread::sleep(Duration::from_millis(5));
            }
            max
        })
    };
    let touched: u64 = rt.block_on(async {
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total
    });
    done.store(true, SeqCst);
    let max_declared = watcher.join().unwrap();
    let elapsed = started.elapsed();
    let s = status(&rt);
    let hwm = status_kib("VmHWM:").unwrap_or(0);
    drop(rt);
    let fit = (MEMORY_BUDGET / TASK_MEMORY) as usize;
    println!("  with the monitor:    max {} tasks holding memory at once (budget fits {fit}); peak in flight {}",
        gauge.max(), s.peak_in_flight);
    println!(
        "                       max declared memory in use {} MiB of {} MiB budget",
        max_declared / MIB,
        s.memory_capacity / MIB
    );
    println!("                       process peak RSS {} MiB (was {} MiB before); allocation failures: {}",
        hwm / 1024, hwm_before / 1024, failures.load(SeqCst));
    println!(
        "                       {} pages touched, {MEMORY_TASKS} tasks in {:.1} s",
        touched,
        elapsed.as_secs_f64()
    );

    // The same tasks without the monitor, declaring but not allocating.
    let rt = runtime(None);
    let dry = Gauge::default();
    let mut graph = TaskGraph::new(rt.handle());
    let handles: Vec<_> = (0..MEMORY_TASKS)
        .map(|_| graph.add(memory_task(&dry, &failures, false)).unwrap())
        .collect();
    graph.submit().unwrap();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    println!("  without the monitor (dry run, nothing allocated): {} tasks at once -> would need {} MiB\n",
        dry.max(), dry.max() as u64 * TASK_MEMORY / MIB);
}

// ---- 2. I/O-bound tasks ----------------------------------------------------------------

const IO_TASKS: usize = 3_000;
const IO_SLEEP: Duration = Duration::from_millis(50);

struct IoRun {
    elapsed: Duration,
    final_limit: usize,
    peak_in_flight: usize,
    sampler_cpu: Option<(Duration, u64, Duration)>,
}

fn io_run(config: MonitorConfig) -> IoRun {
    let rt = runtime(Some(config));
    let started = Instant::now();
    let mut graph = TaskGraph::new(rt.handle());
    let handles: Vec<_> = (0..IO_TASKS)
        .map(|i| {
            graph
                .add(ExecutableTask::new(async move {
                    taskweave::time::sleep(IO_SLEEP).await;
                    i as u64
                }))
                .unwrap()
        })
        .collect();
    graph.submit().unwrap();
    // The sampler started with the submission: measure its thread from here on.
    let tid = find_thread("taskweave-moni");
    let cpu_before = tid.and_then(thread_cpu);
    let samples_before = samples(&status(&rt));
    let measured_from = Instant::now();
    let trace = std::env::var_os("PRESSURE_TRACE").is_some().then(|| {
        let handle = rt.handle().clone();
        std::thread::spawn(move || {
            while let Some(s) = handle.monitor_status() {
                if s.completed as usize >= IO_TASKS || s.sampler == SamplerState::Stopped {
                    break;
                }
                let p = s.pressure.clone();
                println!(
                    "    limit {:3} in flight {:3} {:?} cpu {:?} psi {:?}",
                    s.limit,
                    s.in_flight,
                    s.last_decision,
                    p.as_ref().map(|p| p.cpu_usage),
                    p.as_ref().and_then(|p| p.psi.cpu.map(|c| c.some))
                );
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    });
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    let elapsed = started.elapsed();
    if let Some(trace) = trace {
        let _ = trace.join();
    }
    let s = status(&rt);
    let sampler_cpu = match (tid.and_then(thread_cpu), cpu_before) {
        (Some(after), Some(before)) => Some((
            after - before,
            samples(&s) - samples_before,
            measured_from.elapsed(),
        )),
        _ => None,
    };
    IoRun {
        elapsed,
        final_limit: s.limit,
        peak_in_flight: s.peak_in_flight,
        sampler_cpu,
    }
}

fn samples(s: &MonitorStatus) -> u64 {
    match s.sampler {
        SamplerState::Running { samples, .. } => samples,
        _ => 0,
    }
}

fn io_scenario() {
    println!(
        "== 2. io: {IO_TASKS} tasks, each sleeping {} ms, 2 workers ==",
        IO_SLEEP.as_millis()
    );
    let fixed = io_run(MonitorConfig::new().fixed_limit(8));
    let adaptive = io_run(MonitorConfig::new());
    let rate = |r: &IoRun| IO_TASKS as f64 / r.elapsed.as_secs_f64();
    println!(
        "  fixed limit 8:       {:5.1} s, {:6.0} tasks/s",
        fixed.elapsed.as_secs_f64(),
        rate(&fixed)
    );
    println!(
        "  adaptive (1 s tick): {:5.1} s, {:6.0} tasks/s, limit 8 -> {} (peak in flight {})",
        adaptive.elapsed.as_secs_f64(),
        rate(&adaptive),
        adaptive.final_limit,
        adaptive.peak_in_flight
    );
    println!(
        "  throughput ratio adaptive / fixed: {:.2}x",
        rate(&adaptive) / rate(&fixed)
    );
    match adaptive.sampler_cpu {
        Some((cpu, ticks, wall)) => println!(
            "  sampler thread: {:.2} ms CPU over {ticks} ticks in {:.1} s = {:.3} ms/tick, {:.3}% of one core\n",
            cpu.as_secs_f64() * 1e3,
            wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e3 / ticks.max(1) as f64,
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
        ),
        None => println!("  sampler thread CPU: not measurable here (no /proc)\n"),
    }
}

// ---- 3. CPU hog in another process ------------------------------------------------------

fn cpu_scenario() {
    println!("== 3. cpu: sleeping tasks keep flowing; a child process spins on every core ==");
    let rt = runtime(Some(
        MonitorConfig::new()
            .interval(Duration::from_millis(250))
            .pending_capacity(512),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let completed = Arc::new(AtomicU64::new(0));
    // Producer: keeps the backlog full with submit_wait (backpressure, no busy loop).
    let producer = {
        let (handle, stop, completed) = (rt.handle().clone(), stop.clone(), completed.clone());
        std::thread::spawn(move || {
            let helper = Runtime::new().unwrap();
            helper.block_on(async {
                let mut inflight = VecDeque::new();
                while !stop.load(SeqCst) {
                    let done = completed.clone();
                    let task = ExecutableTask::new(async move {
                        taskweave::time::sleep(IO_SLEEP).await;
                        done.fetch_add(1, SeqCst);
                    });
                    match handle.submit_wait(task).await {
                        Ok(h) => inflight.push_back(h),
                        Err(_) => break,
                    }
                    while inflight
                        .front()
                        .is_some_and(|h: &TaskHandle<()>| h.is_finished())
                    {
                        inflight.pop_front();
                    }
                }
            });
        })
    };
    let started = Instant::now();
    let t = |d: f64| Duration::from_secs_f64(d);
    let (grow, hog_for, recover) = (t(12.0), Duration::from_secs(12), t(8.0));
    let mut timeline = Vec::new();
    let mut hog = None;
    let mut last_done = 0;
    let mut last_at = Instant::now();
    while started.elapsed() < grow + hog_for + recover {
        std::thread::sleep(Duration::from_millis(1000));
        if hog.is_none() && started.elapsed() >= grow {
            let exe = std::env::current_exe().unwrap();
            hog = Some(
                std::process::Command::new(exe)
                    .args(["--hog", &hog_for.as_secs().to_string()])
                    .spawn()
                    .expect("start the CPU hog"),
            );
        }
        let s = status(&rt);
        let done = completed.load(SeqCst);
        let rate = (done - last_done) as f64 / last_at.elapsed().as_secs_f64();
        last_done = done;
        last_at = Instant::now();
        let phase = if started.elapsed() < grow {
            "before"
        } else if started.elapsed() < grow + hog_for {
            "hog"
        } else {
            "after"
        };
        let (cpu, psi) = s
            .pressure
            .as_ref()
            .map_or((0.0, None), |p| (p.cpu_usage, p.psi.cpu.map(|c| c.some)));
        println!(
            "  t={:4.1}s {phase:6} limit {:3} in flight {:3} cpu {:3.0}% psi-cpu {:>5} {:5.0} tasks/s",
            started.elapsed().as_secs_f64(),
            s.limit,
            s.in_flight,
            cpu * 100.0,
            psi.map_or("-".to_string(), |p| format!("{:.0}%", p * 100.0)),
            rate
        );
        timeline.push((phase, s.limit));
    }
    if let Some(mut child) = hog {
        let _ = child.wait();
    }
    stop.store(true, SeqCst);
    drop(rt);
    let _ = producer.join();
    let max_in = |p: &str| {
        timeline
            .iter()
            .filter(|(ph, _)| *ph == p)
            .map(|&(_, l)| l)
            .max()
            .unwrap_or(0)
    };
    let min_in = |p: &str| {
        timeline
            .iter()
            .filter(|(ph, _)| *ph == p)
            .map(|&(_, l)| l)
            .min()
            .unwrap_or(0)
    };
    println!(
        "  limit: up to {} before the hog, down to {} during it, back up to {} after\n",
        max_in("before"),
        min_in("hog"),
        max_in("after")
    );
}

/// The child process: spins on every core until `for_` has passed.
fn hog(for_: Duration) {
    let deadline = Instant::now() + for_;
    let threads: Vec<_> = (0..std::thread::available_parallelism().map_or(1, |n| n.get()))
        .map(|_| {
            std::thread::spawn(move || {
                let mut x = 0u64;
                while Instant::now() < deadline {
                    for i in 0..100_000u64 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                    }
                }
                x
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

// ---- /proc helpers ------------------------------------------------------------------

fn meminfo_kib(key: &str) -> Option<u64> {
    proc_kib("/proc/meminfo", key)
}

fn status_kib(key: &str) -> Option<u64> {
    proc_kib("/proc/self/status", key)
}

fn proc_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The id of this process's thread whose name starts with `prefix`.
fn find_thread(prefix: &str) -> Option<u32> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .find_map(|entry| {
            let entry = entry.ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            comm.starts_with(prefix)
                .then(|| entry.file_name().to_str()?.parse().ok())
                .flatten()
        })
}

/// CPU time a thread has used (the first field of its schedstat, nanoseconds).
fn thread_cpu(tid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    Some(Duration::from_nanos(
        text.split_whitespace().next()?.parse().ok()?,
    ))
}
