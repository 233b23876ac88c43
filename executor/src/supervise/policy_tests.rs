//! The pure restart decision: every policy against every kind of failure, every
//! backoff sequence as the runner would see it, the restart budget and the stable
//! window — all with made-up instants, no clock, no sleeping.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Err = &'static str;

fn error(e: Err) -> Failure<Err> {
    Failure::Error(e)
}

fn panic() -> Failure<Err> {
    Failure::Panic("boom".into())
}

fn factory_panic() -> Failure<Err> {
    Failure::FactoryPanic("no factory".into())
}

fn config(policy: RestartPolicy<Err>) -> RestartConfigBuilder<Err> {
    RestartConfig::builder(policy).backoff(Backoff::fixed(ms(1)))
}

/// A fake clock: runs that each last `uptime`, failing with `failure`, judged one
/// after the other. Returns the decisions.
fn decisions(
    config: &RestartConfig<Err>,
    failures: impl IntoIterator<Item = (Failure<Err>, Duration)>,
) -> Vec<Decision> {
    let mut tracker = RestartTracker::new();
    let mut now = Instant::now();
    failures
        .into_iter()
        .map(|(failure, uptime)| {
            let started = now;
            now += uptime;
            let decision = tracker.on_failure(config, &failure, started, now, 7);
            if let Decision::Restart { delay } = decision {
                now += delay;
            }
            decision
        })
        .collect()
}

/// The delays of `n` consecutive quick failures under `backoff` (budget unlimited).
fn delays(backoff: Backoff, n: usize) -> Vec<Duration> {
    let config = RestartConfig::builder(RestartPolicy::Always)
        .backoff(backoff)
        .unlimited_restarts()
        .build()
        .unwrap();
    decisions(&config, (0..n).map(|_| (error("e"), ms(0))))
        .into_iter()
        .map(|d| match d {
            Decision::Restart { delay } => delay,
            other => panic!("expected a restart, got {other:?}"),
        })
        .collect()
}

const RESTART: Decision = Decision::Restart {
    delay: Duration::from_millis(1),
};

#[test]
fn never_restarts_nothing() {
    let c = config(RestartPolicy::Never).build().unwrap();
    for f in [error("e"), panic(), factory_panic()] {
        assert_eq!(decisions(&c, [(f, ms(5))]), [Decision::Stop]);
    }
}

#[test]
fn always_restarts_errors_and_panics_but_not_a_broken_factory() {
    let c = config(RestartPolicy::Always).build().unwrap();
    assert_eq!(decisions(&c, [(error("e"), ms(5))]), [RESTART]);
    assert_eq!(decisions(&c, [(panic(), ms(5))]), [RESTART]);
    assert_eq!(decisions(&c, [(factory_panic(), ms(5))]), [Decision::Stop]);
}

#[test]
fn on_panic_restarts_only_panics() {
    let c = config(RestartPolicy::OnPanic).build().unwrap();
    assert_eq!(decisions(&c, [(panic(), ms(5))]), [RESTART]);
    assert_eq!(decisions(&c, [(error("e"), ms(5))]), [Decision::Stop]);
    assert_eq!(decisions(&c, [(factory_panic(), ms(5))]), [Decision::Stop]);
}

#[test]
fn on_failure_asks_the_predicate() {
    let c = config(RestartPolicy::on_failure(|f: &Failure<Err>| {
        f.error() == Some(&"transient")
    }))
    .build()
    .unwrap();
    assert_eq!(
        decisions(&c, [(error("transient"), ms(1)), (error("fatal"), ms(1))]),
        [RESTART, Decision::Stop]
    );
    assert_eq!(decisions(&c, [(panic(), ms(1))]), [Decision::Stop]);
    // A predicate may look at panics too, but never sees a factory panic.
    let seen = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = seen.clone();
    let c = config(RestartPolicy::on_failure(move |f: &Failure<Err>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f.is_panic()
    }))
    .build()
    .unwrap();
    assert_eq!(
        decisions(&c, [(panic(), ms(1)), (error("e"), ms(1))]),
        [RESTART, Decision::Stop]
    );
    assert_eq!(decisions(&c, [(factory_panic(), ms(1))]), [Decision::Stop]);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn a_panicking_predicate_means_no_restart() {
    let c = config(RestartPolicy::on_failure(|_: &Failure<Err>| {
        panic!("predicate bug")
    }))
    .build()
    .unwrap();
    assert_eq!(decisions(&c, [(error("e"), ms(1))]), [Decision::Stop]);
}

#[test]
fn the_budget_runs_out_after_max_restarts() {
    let c = config(RestartPolicy::Always)
        .max_restarts(3)
        .build()
        .unwrap();
    let got = decisions(&c, (0..5).map(|_| (error("e"), ms(1))));
    assert_eq!(
        got,
        [
            RESTART,
            RESTART,
            RESTART,
            Decision::Exhausted,
            Decision::Exhausted
        ]
    );
    // A failure the policy would not restart is Stop, even with the budget spent.
    let c = config(RestartPolicy::OnPanic)
        .max_restarts(1)
        .build()
        .unwrap();
    let got = decisions(
        &c,
        [(panic(), ms(1)), (panic(), ms(1)), (error("e"), ms(1))],
    );
    assert_eq!(got, [RESTART, Decision::Exhausted, Decision::Stop]);
}

#[test]
fn the_total_counts_every_restart_across_resets() {
    let c = config(RestartPolicy::Always)
        .max_restarts(2)
        .stable_after(ms(100))
        .build()
        .unwrap();
    let mut tracker = RestartTracker::new();
    let t0 = Instant::now();
    let mut judge =
        |up: u64, at: u64| tracker.on_failure(&c, &error("e"), t0 + ms(at), t0 + ms(at + up), 0);
    assert_eq!(judge(1, 0), RESTART);
    assert_eq!(judge(1, 10), RESTART);
    assert_eq!(judge(500, 20), RESTART, "stable run: budget back to 2");
    assert_eq!(judge(1, 600), RESTART);
    assert_eq!(judge(1, 610), Decision::Exhausted);
    assert_eq!(tracker.total(), 4);
}

#[test]
fn a_stable_run_resets_the_count_and_an_unstable_one_does_not() {
    let c = config(RestartPolicy::Always)
        .max_restarts(2)
        .stable_after(ms(1000))
        .build()
        .unwrap();
    // Uptime just under the window: no reset, the third quick failure is fatal.
    let got = decisions(
        &c,
        [
            (error("e"), ms(1)),
            (error("e"), ms(999)),
            (error("e"), ms(1)),
        ],
    );
    assert_eq!(got, [RESTART, RESTART, Decision::Exhausted]);
    // Exactly the window counts as stable.
    let got = decisions(
        &c,
        [
            (error("e"), ms(1)),
            (error("e"), ms(1)),
            (error("e"), ms(1000)),
            (error("e"), ms(1)),
            (error("e"), ms(1)),
        ],
    );
    assert_eq!(
        got,
        [RESTART, RESTART, RESTART, RESTART, Decision::Exhausted]
    );
    // Without a window the count never resets, however long the runs last.
    let c = config(RestartPolicy::Always)
        .max_restarts(2)
        .build()
        .unwrap();
    let hour = Duration::from_secs(3600);
    let got = decisions(&c, (0..3).map(|_| (error("e"), hour)));
    assert_eq!(got, [RESTART, RESTART, Decision::Exhausted]);
}

#[test]
fn a_stable_run_restarts_the_backoff_sequence() {
    let c = RestartConfig::builder(RestartPolicy::Always)
        .backoff(Backoff::linear(ms(10), ms(10), ms(1000)))
        .unlimited_restarts()
        .stable_after(ms(500))
        .build()
        .unwrap();
    let got = decisions(
        &c,
        [
            (error("e"), ms(1)),
            (error("e"), ms(1)),
            (error("e"), ms(1)),
            (error("e"), ms(600)),
            (error("e"), ms(1)),
        ],
    );
    let delays: Vec<_> = got
        .iter()
        .map(|d| match d {
            Decision::Restart { delay } => delay.as_millis(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(delays, [10, 20, 30, 10, 20]);
}

#[test]
fn a_manual_reset_restarts_budget_and_backoff() {
    let c = RestartConfig::builder(RestartPolicy::Always)
        .backoff(Backoff::fibonacci(ms(1), ms(100)))
        .max_restarts(2)
        .build()
        .unwrap();
    let mut t = RestartTracker::new();
    let now = Instant::now();
    let d = |t: &mut RestartTracker| t.on_failure(&c, &error("e"), now, now, 0);
    assert_eq!(d(&mut t), Decision::Restart { delay: ms(1) });
    assert_eq!(d(&mut t), Decision::Restart { delay: ms(1) });
    assert_eq!(d(&mut t), Decision::Exhausted);
    t.reset_window();
    assert_eq!(d(&mut t), Decision::Restart { delay: ms(1) });
    assert_eq!(t.total(), 3);
}

#[test]
fn fixed_backoff_sequence() {
    assert_eq!(delays(Backoff::fixed(ms(25)), 4), [ms(25); 4]);
}

#[test]
fn linear_backoff_sequence_is_capped() {
    let got = delays(Backoff::linear(ms(5), ms(10), ms(30)), 6);
    assert_eq!(got, [ms(5), ms(15), ms(25), ms(30), ms(30), ms(30)]);
}

#[test]
fn exponential_backoff_sequence_is_capped() {
    let got = delays(Backoff::exponential(ms(3), ms(50), 0.0), 7);
    assert_eq!(got, [ms(3), ms(6), ms(12), ms(24), ms(48), ms(50), ms(50)]);
}

#[test]
fn exponential_jitter_stays_below_the_unjittered_delay() {
    let got = delays(Backoff::exponential(ms(100), ms(1000), 0.5), 6);
    let bounds = [100u64, 200, 400, 800, 1000, 1000];
    for (d, max) in got.iter().zip(bounds) {
        assert!(
            *d <= ms(max) && *d >= ms(max / 2),
            "{d:?} outside [{}, {max}] ms",
            max / 2
        );
    }
    assert!(
        got.iter().zip(bounds).any(|(d, max)| *d != ms(max)),
        "jitter changes some delay: {got:?}"
    );
    // The same seed gives the same sequence: restarts are reproducible.
    assert_eq!(got, delays(Backoff::exponential(ms(100), ms(1000), 0.5), 6));
}

#[test]
fn fibonacci_backoff_sequence_is_capped() {
    let got: Vec<_> = delays(Backoff::fibonacci(ms(2), ms(30)), 9)
        .iter()
        .map(Duration::as_millis)
        .collect();
    assert_eq!(got, [2, 2, 4, 6, 10, 16, 26, 30, 30]);
}

#[test]
fn bad_configurations_are_refused() {
    for policy in [
        RestartPolicy::Always,
        RestartPolicy::OnPanic,
        RestartPolicy::on_failure(|_: &Failure<Err>| true),
    ] {
        let e = RestartConfig::builder(policy)
            .max_restarts(0)
            .build()
            .unwrap_err();
        assert_eq!(e, RestartConfigError::ZeroMaxRestarts);
    }
    // With Never, zero restarts is just what it says.
    let never = RestartConfig::<Err>::builder(RestartPolicy::Never)
        .max_restarts(0)
        .build()
        .unwrap();
    assert_eq!(never.max_restarts(), Some(0));
    let e = RestartConfig::<Err>::builder(RestartPolicy::Always)
        .stable_after(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(e, RestartConfigError::ZeroStableWindow);
    assert!(e.to_string().contains("stable_after(0)"));
}

#[test]
fn defaults_are_documented_values() {
    let c = RestartConfig::<Err>::builder(RestartPolicy::Always)
        .build()
        .unwrap();
    assert_eq!(
        c.max_restarts(),
        Some(RestartConfig::<Err>::DEFAULT_MAX_RESTARTS)
    );
    assert_eq!(c.stable_after(), None);
    assert_eq!(
        *c.backoff(),
        Backoff::exponential(ms(100), Duration::from_secs(30), 0.1)
    );
    assert!(format!("{c:?}").contains("Always"));
    let n = RestartConfig::<Err>::never();
    assert!(n.policy().is_never());
    assert_eq!(decisions(&n, [(panic(), ms(1))]), [Decision::Stop]);
}

#[test]
fn an_unlimited_budget_saturates_instead_of_overflowing() {
    let c = config(RestartPolicy::Always)
        .unlimited_restarts()
        .build()
        .unwrap();
    let mut t = RestartTracker {
        in_window: u32::MAX - 1,
        total: u32::MAX - 1,
    };
    let now = Instant::now();
    for _ in 0..3 {
        assert_eq!(t.on_failure(&c, &error("e"), now, now, 0), RESTART);
    }
    assert_eq!(t.total(), u32::MAX);
}
