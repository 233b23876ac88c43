//! Deterministic controller tests: scripted pressure through a `FakeProbe`, fake times.

use std::time::{Duration, Instant};

use taskweave_monitor::{
    ConcurrencyController, ControllerConfig, Decision, FakeProbe, Pressure, Probe, PsiShares,
    Sample, ShrinkReason, StallShare,
};

const GIB: u64 = 1 << 30;

/// Feeds `samples` through a FakeProbe into `c`, one tick per second of fake time, with
/// the limit fully used and (optionally) completions of `latency` each tick. Returns the
/// limit after every tick.
fn run(
    c: &mut ConcurrencyController,
    samples: impl IntoIterator<Item = Sample>,
    latency: Option<Duration>,
) -> Vec<usize> {
    let samples: Vec<Sample> = samples.into_iter().collect();
    let n = samples.len();
    let mut probe = FakeProbe::new(samples);
    let t0 = Instant::now();
    (1..=n as u64)
        .map(|tick| {
            c.observe_in_flight(c.limit());
            if let Some(l) = latency {
                for _ in 0..4 {
                    c.record_completion(l);
                }
            }
            let now = t0 + Duration::from_secs(tick);
            let p = Pressure::from_sample(&probe.sample().unwrap(), now);
            c.update(&p, now)
        })
        .collect()
}

fn calm() -> Sample {
    Sample::default()
        .with_cpu(0.5)
        .with_memory(8 * GIB, 16 * GIB)
}

fn io_bound() -> Sample {
    Sample::default()
        .with_cpu(0.1)
        .with_memory(8 * GIB, 16 * GIB)
}

fn controller(initial: usize, min: usize, max: usize) -> ConcurrencyController {
    ConcurrencyController::new(ControllerConfig {
        initial_limit: initial,
        min_limit: min,
        max_limit: max,
        ..ControllerConfig::default()
    })
}

#[test]
fn shrinks_under_cpu_pressure() {
    let mut c = controller(32, 2, 64);
    let hot = Sample::default()
        .with_cpu(0.98)
        .with_memory(8 * GIB, 16 * GIB);
    let limits = run(&mut c, std::iter::repeat_n(hot, 9), None);
    // Confirmed after 3 ticks, then again after 3 more: 32 -> 24 -> 18 -> 13.
    assert_eq!(limits, [32, 32, 24, 24, 24, 18, 18, 18, 13]);
    assert_eq!(c.last_decision(), Decision::Shrink(ShrinkReason::Cpu));
}

#[test]
fn shrinks_under_psi_cpu_stall_even_with_moderate_usage() {
    let mut c = controller(16, 1, 64);
    let stalled = calm().with_psi(PsiShares {
        cpu: Some(StallShare {
            some: 0.6,
            full: None,
        }),
        ..PsiShares::default()
    });
    let limits = run(&mut c, std::iter::repeat_n(stalled, 3), None);
    assert_eq!(limits.last(), Some(&12));
    assert_eq!(c.last_decision(), Decision::Shrink(ShrinkReason::CpuStall));
}

#[test]
fn shrinks_under_memory_pressure() {
    let mut c = controller(20, 1, 64);
    let short = Sample::default().with_cpu(0.3).with_memory(GIB, 16 * GIB); // 6.25 % free
    let limits = run(&mut c, std::iter::repeat_n(short, 3), None);
    assert_eq!(limits, [20, 20, 15]);
    assert_eq!(c.last_decision(), Decision::Shrink(ShrinkReason::Memory));

    // Below the critical ratio it shrinks on the first tick.
    let mut c = controller(20, 1, 64);
    let critical = Sample::default()
        .with_cpu(0.3)
        .with_memory(GIB / 2, 16 * GIB);
    assert_eq!(run(&mut c, [critical], None), [15]);

    // PSI memory stall alone is enough.
    let mut c = controller(20, 1, 64);
    let thrashing = calm().with_psi(PsiShares {
        memory: Some(StallShare {
            some: 0.3,
            full: Some(0.1),
        }),
        ..PsiShares::default()
    });
    assert_eq!(
        run(&mut c, std::iter::repeat_n(thrashing, 3), None),
        [20, 20, 15]
    );
}

#[test]
fn grows_for_io_bound_work() {
    let mut c = controller(8, 1, 64);
    let limits = run(
        &mut c,
        std::iter::repeat_n(io_bound(), 12),
        Some(Duration::from_millis(100)),
    );
    assert_eq!(&limits[..4], [8, 8, 9, 10]);
    assert!(limits.windows(2).all(|w| w[1] >= w[0]), "{limits:?}");
    assert!(*limits.last().unwrap() >= 20, "{limits:?}");
    assert_eq!(c.last_decision(), Decision::Grow);
}

#[test]
fn does_not_grow_when_the_limit_is_not_used_or_latency_rises_or_tasks_are_busy() {
    let t0 = Instant::now();
    let p = |tick: u64| Pressure::from_sample(&io_bound(), t0 + Duration::from_secs(tick));

    // Only 2 of 8 in flight: growing would not help.
    let mut c = controller(8, 1, 64);
    for tick in 1..=10 {
        c.observe_in_flight(2);
        c.update(&p(tick), t0 + Duration::from_secs(tick));
    }
    assert_eq!(c.limit(), 8);

    // Latency climbing to 5x its baseline: more concurrency only queues.
    let mut c = controller(8, 1, 64);
    c.observe_in_flight(8);
    c.record_completion(Duration::from_millis(10));
    c.update(&p(1), t0 + Duration::from_secs(1));
    for tick in 2..=10 {
        c.observe_in_flight(c.limit());
        c.record_completion(Duration::from_millis(50));
        c.update(&p(tick), t0 + Duration::from_secs(tick));
    }
    assert_eq!(c.limit(), 8);

    // Tasks report they were running 90 % of their latency: not waiting-bound.
    let mut c = controller(8, 1, 64);
    for tick in 1..=10 {
        c.observe_in_flight(c.limit());
        c.record_completion_with_busy(Duration::from_millis(100), Duration::from_millis(90));
        c.update(&p(tick), t0 + Duration::from_secs(tick));
    }
    assert_eq!(c.limit(), 8);
}

#[test]
fn stays_within_bounds() {
    let mut c = controller(8, 4, 16);
    let up = run(
        &mut c,
        std::iter::repeat_n(io_bound(), 100),
        Some(Duration::from_millis(5)),
    );
    assert_eq!(up.iter().max(), Some(&16));
    let hot = Sample::default()
        .with_cpu(1.0)
        .with_memory(GIB / 4, 16 * GIB);
    let down = run(&mut c, std::iter::repeat_n(hot, 100), None);
    assert_eq!(down.iter().min(), Some(&4));
    assert!(up.iter().chain(&down).all(|l| (4..=16).contains(l)));

    // Initial limit outside the bounds is clamped; min 0 becomes 1.
    assert_eq!(controller(100, 0, 10).limit(), 10);
    assert_eq!(controller(0, 0, 10).limit(), 1);
}

#[test]
fn does_not_oscillate_on_alternating_noise() {
    let mem = |cpu: f32| {
        Sample::default()
            .with_cpu(cpu)
            .with_memory(8 * GIB, 16 * GIB)
    };
    let cases: [(&str, [f32; 2]); 4] = [
        ("inside the dead band", [0.65, 0.85]),
        ("across the upper threshold", [0.85, 0.95]),
        ("across the lower threshold", [0.55, 0.65]),
        ("across the whole band", [0.2, 0.99]),
    ];
    for (name, [a, b]) in cases {
        let mut c = controller(16, 1, 64);
        let samples = (0..1000).map(|i| mem(if i % 2 == 0 { a } else { b }));
        let limits = run(&mut c, samples, Some(Duration::from_millis(20)));
        assert!(
            c.limit_changes() <= 2,
            "{name}: {} changes",
            c.limit_changes()
        );
        assert!(limits.iter().all(|&l| l == 16), "{name}");
    }
    // Memory hovering around the threshold, alternating with calm ticks.
    let mut c = controller(16, 1, 64);
    let samples = (0..1000).map(|i| {
        if i % 2 == 0 {
            Sample::default()
                .with_cpu(0.7)
                .with_memory(GIB + GIB / 2, 16 * GIB)
        } else {
            Sample::default()
                .with_cpu(0.7)
                .with_memory(2 * GIB, 16 * GIB)
        }
    });
    run(&mut c, samples, None);
    assert!(
        c.limit_changes() <= 2,
        "memory noise: {}",
        c.limit_changes()
    );
}

#[test]
fn the_same_snapshot_is_one_tick() {
    let mut c = controller(16, 1, 64);
    let t0 = Instant::now();
    let mut p = Pressure::from_sample(&calm(), t0);
    p.cpu_usage = 0.99;
    for i in 0..10 {
        c.update(&p, t0 + Duration::from_millis(i));
    }
    assert_eq!(
        c.limit(),
        16,
        "one snapshot seen ten times is still one tick"
    );
    let _ = run(&mut c, [calm()], None);
}

#[test]
fn reports_throughput() {
    let mut c = controller(8, 1, 64);
    run(
        &mut c,
        std::iter::repeat_n(calm(), 3),
        Some(Duration::from_millis(10)),
    );
    assert_eq!(c.throughput(), 4.0); // 4 completions per 1 s tick
    assert_eq!(c.baseline_latency(), Some(Duration::from_millis(10)));
}

#[test]
fn aggregated_completions_count_like_single_ones() {
    let (mut one_by_one, mut aggregated) = (controller(8, 1, 64), controller(8, 1, 64));
    let t0 = Instant::now();
    for tick in 1..=3u64 {
        for _ in 0..5 {
            one_by_one.record_completion(Duration::from_millis(20));
        }
        aggregated.record_completions(5, Duration::from_millis(100));
        let now = t0 + Duration::from_secs(tick);
        let p = Pressure::from_sample(&calm(), now);
        assert_eq!(one_by_one.update(&p, now), aggregated.update(&p, now));
    }
    assert_eq!(aggregated.throughput(), 5.0);
    assert_eq!(aggregated.throughput(), one_by_one.throughput());
    assert_eq!(
        aggregated.baseline_latency(),
        Some(Duration::from_millis(20))
    );
}
