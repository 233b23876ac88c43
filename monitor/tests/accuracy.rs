//! SysinfoProbe against the kernel's own numbers, read at the same moments (Linux only).
//! These compare two readings of the same window; they are not timing assertions.
//! Also prints the probe's CPU cost per sample (the monitor's overhead).

use std::time::Duration;

use taskweave_monitor::{system_probe, Probe, PsiProbe, SysinfoProbe};

fn linux() -> bool {
    if cfg!(target_os = "linux") && std::path::Path::new("/proc/stat").exists() {
        true
    } else {
        println!("skipped: needs Linux /proc (this is not Linux or /proc is missing)");
        false
    }
}

fn meminfo_available_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// (busy, total) jiffies from the aggregate `cpu` line; idle = idle + iowait, total =
/// user..steal (guest time is already included in user/nice).
fn proc_stat_cpu() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap();
    let line = text.lines().find(|l| l.starts_with("cpu ")).unwrap();
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().unwrap())
        .collect();
    let total: u64 = v.iter().sum();
    let idle = v[3] + v[4];
    (total - idle, total)
}

#[test]
fn available_memory_matches_proc_meminfo() {
    if !linux() {
        return;
    }
    let mut probe = SysinfoProbe::new().unwrap();
    let sample = probe.sample().unwrap();
    let kernel = meminfo_available_bytes() as f64;
    let ours = sample.memory_available.unwrap() as f64;
    let diff = (ours - kernel).abs() / kernel;
    println!(
        "MemAvailable {kernel} B, sysinfo {ours} B, difference {:.3} %",
        diff * 100.0
    );
    assert!(diff <= 0.05, "{:.2} % apart", diff * 100.0);
    assert!(sample.memory_total.unwrap() >= sample.memory_available.unwrap());
    assert!(sample.process_rss.unwrap() > 0);
}

#[test]
fn cpu_usage_matches_proc_stat_over_the_same_window() {
    if !linux() {
        return;
    }
    let mut probe = SysinfoProbe::new().unwrap();
    // Wait out sysinfo's 200 ms minimum so the next refresh is a real one.
    std::thread::sleep(Duration::from_millis(250));
    probe.sample().unwrap();
    let (busy0, total0) = proc_stat_cpu();
    std::thread::sleep(Duration::from_millis(300));
    let sample = probe.sample().unwrap();
    let (busy1, total1) = proc_stat_cpu();
    let kernel = (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64;
    let ours = f64::from(sample.cpu_usage.unwrap());
    println!(
        "CPU usage over ~300 ms: /proc/stat {:.1} %, sysinfo {:.1} %",
        kernel * 100.0,
        ours * 100.0
    );
    assert!((ours - kernel).abs() <= 0.05, "{ours} vs {kernel}");
}

/// CPU time this thread has used, from `/proc/thread-self/schedstat` (ns).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Average CPU time of `probe.sample()` over `samples` real ticks, in µs (includes a
/// few µs for the bracketing read and sleep).
fn cost_us(probe: &mut dyn Probe, samples: u32) -> f64 {
    let mut cpu_ns = 0;
    for _ in 0..samples {
        // Real ticks: CPU refreshes only count after sysinfo's 200 ms minimum.
        std::thread::sleep(Duration::from_millis(210));
        // schedstat is only brought up to date when the thread is switched out (or at a
        // scheduler tick), so bracket the sample with sleeps: `before` is exact as of the
        // wake-up, and the 1 ms sleep brings `after` up to date.
        let before = thread_cpu_ns().unwrap();
        probe.sample().unwrap();
        std::thread::sleep(Duration::from_millis(1));
        cpu_ns += thread_cpu_ns().unwrap() - before;
    }
    cpu_ns as f64 / f64::from(samples) / 1000.0
}

#[test]
fn probe_cost_per_sample() {
    if !linux() || thread_cpu_ns().is_none() {
        println!("skipped: no /proc/thread-self/schedstat");
        return;
    }
    let sysinfo_us = cost_us(&mut SysinfoProbe::new().unwrap(), 4);
    let psi_us = cost_us(&mut PsiProbe::discover().unwrap(), 4);
    let per_sample_us = cost_us(&mut system_probe().unwrap(), 8);
    println!(
        "monitor probe CPU per sample: sysinfo {sysinfo_us:.0} µs, PSI {psi_us:.0} µs, \
         combined {per_sample_us:.0} µs = {:.3} % of one core at a 1 s interval, {:.3} % at 200 ms",
        per_sample_us / 1e4,
        per_sample_us / 2e3
    );
}
