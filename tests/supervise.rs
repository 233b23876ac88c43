//! Supervision end to end: spawn_critical under every restart policy, the restart
//! budget, the stable window, backoff actually applied between runs, panicking
//! factories, abort and runtime shutdown; the Supervisor's add/restart/kill, status
//! sequences, dead-task threshold, wait_all and shutdown; TimeoutExt.
//!
//! Timing: backoff delays here are either ~0 (so tests are quick) or an hour (so a
//! restart visibly does not happen); the stable window test uses runs that sleep
//! longer than the window. Tests assert counts, statuses, outcomes and orderings —
//! never measured durations. The exact backoff sequences are tested without a clock
//! in the executor's `supervise::policy` unit tests.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{pending_holding, runtime, wait_until, watchdog, DropCounter};
use taskweave::supervise::{
    Backoff, CriticalError, Failure, RestartConfig, RestartConfigError, RestartPolicy,
    ShutdownReason, SupervisorError, TaskStatus,
};
use taskweave::time::{error::Elapsed, sleep};
use taskweave::{spawn_critical, Supervisor, TimeoutExt};

type Res = Result<u32, String>;

const HOUR: Duration = Duration::from_secs(3600);

/// A configuration restarting per `policy` without delay, at most `max` times.
fn quick(policy: RestartPolicy<String>, max: u32) -> RestartConfig<String> {
    RestartConfig::builder(policy)
        .backoff(Backoff::fixed(Duration::ZERO))
        .max_restarts(max)
        .build()
        .expect("valid config")
}

/// A factory that counts its calls and makes run `n` (1-based) with `run(n)`.
fn counted<F, R>(calls: &Arc<AtomicU32>, run: R) -> impl FnMut() -> F + Send + 'static
where
    R: Fn(u32) -> F + Send + 'static,
    F: Future<Output = Res> + Send + 'static,
{
    let calls = calls.clone();
    move || run(calls.fetch_add(1, SeqCst) + 1)
}

/// Records `(name, status)` changes a supervisor reports.
#[derive(Clone, Default)]
struct StatusLog(Arc<Mutex<Vec<(String, TaskStatus)>>>);

impl StatusLog {
    fn observer(&self) -> impl Fn(&str, TaskStatus) + Send + Sync + 'static {
        let log = self.0.clone();
        move |name, status| log.lock().unwrap().push((name.to_owned(), status))
    }

    fn of(&self, name: &str) -> Vec<TaskStatus> {
        let log = self.0.lock().unwrap();
        log.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .collect()
    }
}

// ---- spawn_critical: policies ----

#[test]
fn always_restarts_errors_until_a_run_succeeds() {
    watchdog("always / errors", || {
        let rt = runtime(2);
        let calls = Arc::new(AtomicU32::new(0));
        let factory = counted(&calls, |n| async move {
            if n < 3 {
                Err(format!("attempt {n} failed"))
            } else {
                Ok(n * 10)
            }
        });
        let outcome = rt.block_on(async {
            let h = spawn_critical("flaky", quick(RestartPolicy::Always, 5), factory);
            assert_eq!(h.name(), "flaky");
            h.await
        });
        assert_eq!(outcome, Ok(30));
        assert_eq!(calls.load(SeqCst), 3);
    });
}

#[test]
fn always_restarts_panics_and_reports_restarts_and_status() {
    watchdog("always / panics", || {
        let rt = runtime(2);
        let calls = Arc::new(AtomicU32::new(0));
        let factory = counted(&calls, |n| async move {
            if n <= 2 {
                panic!("run {n} exploded");
            }
            Ok(n)
        });
        let h = rt
            .handle()
            .spawn_critical("crashy", quick(RestartPolicy::Always, 5), factory);
        wait_until("completed", || h.is_finished());
        assert_eq!(h.status(), TaskStatus::Completed);
        assert_eq!(h.restarts(), 2);
        assert_eq!(rt.block_on(h), Ok(3));
    });
}

#[test]
fn never_reports_the_first_failure_error_or_panic() {
    watchdog("never", || {
        let rt = runtime(2);
        let calls = Arc::new(AtomicU32::new(0));
        let err = rt.block_on(spawn_critical(
            "once",
            RestartConfig::never(),
            counted(&calls, |_| async { Err::<u32, _>("bad".to_string()) }),
        ));
        assert_eq!(
            err,
            Err(CriticalError::Failed {
                failure: Failure::Error("bad".to_string()),
                restarts: 0
            })
        );
        let err = rt
            .block_on(spawn_critical(
                "once-panic",
                RestartConfig::never(),
                counted(&calls, |_| async { panic!("kaput") }),
            ))
            .unwrap_err();
        assert_eq!(err.failure(), Some(&Failure::Panic("kaput".to_string())));
        assert_eq!(calls.load(SeqCst), 2, "one run each, no restart");
    });
}

#[test]
fn on_panic_restarts_a_panic_but_not_an_error() {
    watchdog("on panic", || {
        let rt = runtime(2);
        let calls = Arc::new(AtomicU32::new(0));
        let factory = counted(&calls, |n| async move {
            match n {
                1 => panic!("first"),
                _ => Err(format!("error in run {n}")),
            }
        });
        let err = rt
            .block_on(spawn_critical(
                "p",
                quick(RestartPolicy::OnPanic, 5),
                factory,
            ))
            .unwrap_err();
        assert_eq!(
            err,
            CriticalError::Failed {
                failure: Failure::Error("error in run 2".into()),
                restarts: 1
            }
        );
        assert_eq!(calls.load(SeqCst), 2);
    });
}

#[test]
fn on_failure_restarts_what_the_predicate_accepts() {
    watchdog("on failure", || {
        let rt = runtime(2);
        let calls = Arc::new(AtomicU32::new(0));
        let policy = RestartPolicy::on_failure(|f: &Failure<String>| {
            f.error().is_some_and(|e| e.starts_with("transient"))
        });
        let factory = counted(&calls, |n| async move {
            if n <= 2 {
                Err(format!("transient {n}"))
            } else {
                Err("fatal".to_string())
            }
        });
        let err = rt
            .block_on(spawn_critical("pred", quick(policy, 10), factory))
            .unwrap_err();
        assert!(!err.is_exhausted());
        assert_eq!(err.restarts(), 2);
        assert_eq!(
            err.into_failure().and_then(Failure::into_error).as_deref(),
            Some("fatal")
        );
        assert_eq!(calls.load(SeqCst), 3);
    });
}

// ---- spawn_critical: budget, window, backoff ----

#[test]
fn a_spent_budget_makes_the_task_dead() {
    watchdog("budget", || {
        let rt = runtime(2);
        let calls = Arc::new(AtomicU32::new(0));
        let h = rt.handle().spawn_critical(
            "doomed",
            quick(RestartPolicy::Always, 3),
            counted(&calls, |n| async move { Err(format!("run {n}")) }),
        );
        wait_until("dead", || h.is_finished());
        assert_eq!(h.status(), TaskStatus::Dead);
        let err = rt.block_on(h).unwrap_err();
        assert_eq!(
            err,
            CriticalError::Exhausted {
                failure: Failure::Error("run 4".into()),
                restarts: 3
            }
        );
        assert_eq!(calls.load(SeqCst), 4, "the first run and three restarts");
    });
}

#[test]
fn a_stable_window_resets_the_budget() {
    watchdog("stable window", || {
        let rt = runtime(2);
        // Every run stays up 30 ms (a sleep never ends early), far longer than the
        // 2 ms window: each failure finds the budget of 1 unspent.
        let stable = RestartConfig::builder(RestartPolicy::Always)
            .backoff(Backoff::fixed(Duration::ZERO))
            .max_restarts(1)
            .stable_after(Duration::from_millis(2))
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let factory = counted(&calls, |n| async move {
            sleep(Duration::from_millis(30)).await;
            if n <= 4 {
                Err(format!("run {n}"))
            } else {
                Ok(n)
            }
        });
        let h = rt.handle().spawn_critical("stable", stable, factory);
        assert_eq!(rt.block_on(h), Ok(5));
        // The same runs without a window: the second failure is fatal.
        let calls = Arc::new(AtomicU32::new(0));
        let factory = counted(&calls, |n| async move {
            sleep(Duration::from_millis(30)).await;
            if n <= 4 {
                Err(format!("run {n}"))
            } else {
                Ok(n)
            }
        });
        let h = rt
            .handle()
            .spawn_critical("unstable", quick(RestartPolicy::Always, 1), factory);
        let err = rt.block_on(h).unwrap_err();
        assert!(err.is_exhausted());
        assert_eq!((err.restarts(), calls.load(SeqCst)), (1, 2));
    });
}

#[test]
fn the_backoff_sequence_is_applied_between_runs() {
    watchdog("backoff applied", || {
        let rt = runtime(2);
        // Delays: 0 ms before the first restart, an hour before the second.
        let config = RestartConfig::builder(RestartPolicy::Always)
            .backoff(Backoff::linear(Duration::ZERO, HOUR, HOUR))
            .max_restarts(5)
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let h = rt.handle().spawn_critical(
            "slow-backoff",
            config,
            counted(&calls, |n| async move { Err(format!("run {n}")) }),
        );
        wait_until("second restart scheduled", || h.restarts() == 2);
        assert_eq!(h.status(), TaskStatus::Restarting);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(calls.load(SeqCst), 2, "the third run waits out the hour");
        assert_eq!(h.status(), TaskStatus::Restarting);
        h.abort();
        assert_eq!(
            rt.block_on(h),
            Err(CriticalError::Cancelled { restarts: 2 })
        );
    });
}

#[test]
fn at_most_one_run_is_alive_at_a_time() {
    watchdog("one run at a time", || {
        let rt = runtime(2);
        let alive = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (a, m) = (alive.clone(), most.clone());
        let factory = move || {
            let (alive, most) = (a.clone(), m.clone());
            async move {
                let now = alive.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                for _ in 0..5 {
                    taskweave::task::yield_now().await;
                }
                alive.fetch_sub(1, SeqCst);
                Err::<(), _>("again".to_string())
            }
        };
        let err = rt
            .block_on(spawn_critical(
                "serial",
                quick(RestartPolicy::Always, 20),
                factory,
            ))
            .unwrap_err();
        assert_eq!(err.restarts(), 20);
        assert_eq!(most.load(SeqCst), 1);
    });
}

// ---- spawn_critical: bad input, abort, shutdown ----

#[test]
fn bad_configurations_are_errors() {
    let zero = RestartConfig::<String>::builder(RestartPolicy::Always)
        .max_restarts(0)
        .build();
    assert_eq!(zero.unwrap_err(), RestartConfigError::ZeroMaxRestarts);
    let zero_window = RestartConfig::<String>::builder(RestartPolicy::OnPanic)
        .stable_after(Duration::ZERO)
        .build();
    assert_eq!(
        zero_window.unwrap_err(),
        RestartConfigError::ZeroStableWindow
    );
    assert!(RestartConfig::<String>::builder(RestartPolicy::Never)
        .max_restarts(0)
        .build()
        .is_ok());
}

#[test]
fn a_panicking_factory_is_reported_and_not_restarted() {
    watchdog("factory panic", || {
        let rt = runtime(2);
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let factory = move || -> std::future::Ready<Res> {
            c.fetch_add(1, SeqCst);
            panic!("cannot build the run")
        };
        let h = rt
            .handle()
            .spawn_critical("bad-factory", quick(RestartPolicy::Always, 5), factory);
        let err = rt.block_on(h).unwrap_err();
        assert_eq!(
            err,
            CriticalError::Failed {
                failure: Failure::FactoryPanic("cannot build the run".into()),
                restarts: 0
            }
        );
        assert_eq!(calls.load(SeqCst), 1);
        // A factory that breaks on its second call, after a restartable failure.
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let factory = move || {
            if c.fetch_add(1, SeqCst) == 1 {
                panic!("second call");
            }
            async { Err::<u32, _>("first run".to_string()) }
        };
        let err = rt
            .block_on(spawn_critical(
                "late-bad-factory",
                quick(RestartPolicy::Always, 5),
                factory,
            ))
            .unwrap_err();
        assert!(err.failure().is_some_and(Failure::is_factory_panic));
        assert_eq!(err.restarts(), 1);
        // Nothing was taken down.
        assert_eq!(rt.block_on(taskweave::spawn(async { 5 })).unwrap(), 5);
    });
}

#[test]
fn abort_cancels_the_run_and_stops_supervision() {
    watchdog("abort", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let calls = Arc::new(AtomicU32::new(0));
        let d = drops.clone();
        let factory = counted(&calls, move |_| {
            let guard = d.guard();
            async move {
                pending_holding(guard).await;
                Ok(0)
            }
        });
        let h = rt
            .handle()
            .spawn_critical("pending", quick(RestartPolicy::Always, 5), factory);
        wait_until("the run started", || drops.created() == 1);
        h.abort();
        assert_eq!(h.status(), TaskStatus::Killed);
        assert_eq!(
            rt.block_on(h),
            Err(CriticalError::Cancelled { restarts: 0 })
        );
        wait_until("the run was dropped", || drops.dropped() == 1);
        assert_eq!(calls.load(SeqCst), 1, "no restart after an abort");
    });
}

#[test]
fn runtime_shutdown_cancels_a_critical_task() {
    watchdog("runtime shutdown", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let d = drops.clone();
        let h = rt
            .handle()
            .spawn_critical("server", quick(RestartPolicy::Always, 5), move || {
                let guard = d.guard();
                async move {
                    pending_holding(guard).await;
                    Ok::<u32, String>(0)
                }
            });
        wait_until("the run started", || drops.created() == 1);
        drop(rt);
        assert_eq!(drops.dropped(), 1);
        assert_eq!(h.status(), TaskStatus::Killed);
        let out = futures::executor::block_on(h);
        assert!(out.unwrap_err().is_cancelled());
    });
}

// ---- Supervisor ----

#[test]
fn supervisor_refuses_bad_names_and_unknown_tasks() {
    watchdog("supervisor names", || {
        let rt = runtime(2);
        let _enter = rt.enter();
        let sup = Supervisor::<u32, String>::new();
        sup.add("a", RestartConfig::never(), || async { Ok(1) })
            .unwrap();
        assert_eq!(
            sup.add("a", RestartConfig::never(), || async { Ok(2) }),
            Err(SupervisorError::DuplicateName("a".into()))
        );
        assert_eq!(
            sup.add("", RestartConfig::never(), || async { Ok(3) }),
            Err(SupervisorError::EmptyName)
        );
        assert_eq!(sup.kill("b"), Err(SupervisorError::UnknownTask("b".into())));
        assert_eq!(
            sup.restart("b"),
            Err(SupervisorError::UnknownTask("b".into()))
        );
        assert!(sup.info("b").is_err());
        assert_eq!(
            Supervisor::<u32, String>::builder()
                .dead_threshold(0)
                .build()
                .err(),
            Some(SupervisorError::ZeroDeadThreshold)
        );
        let outcomes = rt.block_on(sup.wait_all()).unwrap();
        assert_eq!(outcomes.len(), 1, "the refused duplicate did not run");
        assert_eq!(outcomes[0].result.as_ref().ok(), Some(&1));
    });
}

#[test]
fn supervisor_reports_status_sequences() {
    watchdog("status sequence", || {
        let rt = runtime(2);
        let log = StatusLog::default();
        let sup = Supervisor::<u32, String>::builder()
            .runtime(rt.handle().clone())
            .on_status(log.observer())
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        sup.add(
            "flaky",
            quick(RestartPolicy::Always, 5),
            counted(&calls, |n| async move {
                if n < 3 {
                    Err(format!("run {n}"))
                } else {
                    Ok(n)
                }
            }),
        )
        .unwrap();
        sup.add("failing", RestartConfig::never(), || async {
            Err("no".to_string())
        })
        .unwrap();
        sup.add("dying", quick(RestartPolicy::OnPanic, 1), || async {
            panic!("bug")
        })
        .unwrap();
        let outcomes = rt.block_on(sup.wait_all()).unwrap();
        use TaskStatus::*;
        assert_eq!(
            log.of("flaky"),
            [Restarting, Healthy, Restarting, Healthy, Completed]
        );
        assert_eq!(log.of("failing"), [Failed]);
        assert_eq!(log.of("dying"), [Restarting, Healthy, Dead]);
        let summary: Vec<_> = outcomes
            .iter()
            .map(|o| (o.name.as_str(), o.status))
            .collect();
        assert_eq!(
            summary,
            [("flaky", Completed), ("failing", Failed), ("dying", Dead)]
        );
        assert_eq!(outcomes[0].result.as_ref().ok(), Some(&3));
        assert_eq!(sup.info("flaky").unwrap().restarts, 2);
        assert_eq!(sup.info("dying").unwrap().restarts, 1);
    });
}

#[test]
fn the_dead_threshold_shuts_the_supervisor_down() {
    watchdog("dead threshold", || {
        let rt = runtime(2);
        let _enter = rt.enter();
        let sup = Supervisor::<u32, String>::builder()
            .dead_threshold(2)
            .build()
            .unwrap();
        let drops = DropCounter::new();
        let d = drops.clone();
        sup.add("server", RestartConfig::never(), move || {
            let guard = d.guard();
            async move {
                pending_holding(guard).await;
                Ok(0)
            }
        })
        .unwrap();
        sup.add("first", quick(RestartPolicy::Always, 1), || async {
            Err("x".to_string())
        })
        .unwrap();
        wait_until("first dead", || {
            sup.info("first").unwrap().status == TaskStatus::Dead
        });
        assert!(!sup.is_shut_down(), "one dead task is below the threshold");
        assert_eq!(sup.info("server").unwrap().status, TaskStatus::Healthy);
        sup.add("second", quick(RestartPolicy::Always, 2), || async {
            Err("y".to_string())
        })
        .unwrap();
        let outcomes = rt.block_on(sup.wait_all()).unwrap();
        assert_eq!(
            sup.shutdown_reason(),
            Some(ShutdownReason::DeadThreshold(2))
        );
        let statuses: Vec<_> = outcomes.iter().map(|o| o.status).collect();
        assert_eq!(
            statuses,
            [TaskStatus::Killed, TaskStatus::Dead, TaskStatus::Dead]
        );
        assert!(outcomes[0].result.as_ref().unwrap_err().is_cancelled());
        assert_eq!(outcomes[2].result.as_ref().unwrap_err().restarts(), 2);
        wait_until("the server's run was cancelled", || drops.dropped() == 1);
        assert_eq!(
            sup.add("late", RestartConfig::never(), || async { Ok(1) }),
            Err(SupervisorError::ShutDown)
        );
    });
}

#[test]
fn kill_and_restart_at_run_time() {
    watchdog("kill and restart", || {
        let rt = runtime(2);
        let _enter = rt.enter();
        let sup = Supervisor::<u32, String>::new();
        let drops = DropCounter::new();
        let d = drops.clone();
        // Runs still alive when the factory makes a new one (must always be 0).
        let overlap = Arc::new(AtomicUsize::new(0));
        let o = overlap.clone();
        sup.add("svc", quick(RestartPolicy::Always, 3), move || {
            o.fetch_max(d.created() - d.dropped(), SeqCst);
            let guard = d.guard();
            async move {
                pending_holding(guard).await;
                Ok(0)
            }
        })
        .unwrap();
        wait_until("run 1", || drops.created() == 1);
        // Restarting a live task replaces its run: the old one is gone first.
        sup.restart("svc").unwrap();
        wait_until("run 2", || drops.created() == 2);
        assert_eq!(drops.dropped(), 1, "run 1 ended before run 2 started");
        assert_eq!(
            sup.info("svc").unwrap().restarts,
            0,
            "manual restarts are not counted"
        );
        // Kill: no more runs.
        sup.kill("svc").unwrap();
        assert_eq!(sup.info("svc").unwrap().status, TaskStatus::Killed);
        // Killing an ended task changes nothing.
        sup.kill("svc").unwrap();
        // Restarting a killed task runs it again, once the killed run is gone.
        sup.restart("svc").unwrap();
        wait_until("run 3", || drops.created() == 3);
        assert_eq!(sup.info("svc").unwrap().status, TaskStatus::Healthy);
        // Shutdown cancels everything and refuses further use.
        assert!(sup.shutdown());
        assert!(!sup.shutdown(), "once");
        assert_eq!(sup.restart("svc"), Err(SupervisorError::ShutDown));
        assert_eq!(sup.kill("svc"), Err(SupervisorError::ShutDown));
        assert_eq!(sup.statuses(), [("svc".to_string(), TaskStatus::Killed)]);
        let outcomes = rt.block_on(sup.wait_all()).unwrap();
        assert!(outcomes[0].result.as_ref().unwrap_err().is_cancelled());
        assert_eq!(sup.shutdown_reason(), Some(ShutdownReason::Requested));
        wait_until("run 3 dropped", || drops.dropped() == 3);
        assert_eq!(drops.created(), 3);
        assert_eq!(
            overlap.load(SeqCst),
            0,
            "a new run started while the old one lived"
        );
    });
}

#[test]
fn restart_cuts_a_backoff_short_and_revives_a_dead_task() {
    watchdog("restart backoff and dead", || {
        let rt = runtime(2);
        let _enter = rt.enter();
        let sup = Supervisor::<u32, String>::new();
        let slow = RestartConfig::builder(RestartPolicy::Always)
            .backoff(Backoff::fixed(HOUR))
            .max_restarts(1)
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        sup.add(
            "slow",
            slow,
            counted(&calls, |n| async move { Err(format!("run {n}")) }),
        )
        .unwrap();
        wait_until("in backoff", || {
            sup.info("slow").unwrap().status == TaskStatus::Restarting
        });
        assert_eq!(calls.load(SeqCst), 1);
        sup.restart("slow").unwrap();
        // The fresh run fails; the reset budget allows one more (hour-long) backoff.
        wait_until("run 2 in backoff", || {
            calls.load(SeqCst) == 2 && sup.info("slow").unwrap().status == TaskStatus::Restarting
        });
        sup.restart("slow").unwrap();
        wait_until("run 3", || calls.load(SeqCst) == 3);

        let dies = Arc::new(AtomicU32::new(0));
        sup.add(
            "dies",
            quick(RestartPolicy::Always, 2),
            counted(&dies, |_| async { Err("down".to_string()) }),
        )
        .unwrap();
        wait_until("dead", || {
            sup.info("dies").unwrap().status == TaskStatus::Dead
        });
        assert_eq!(dies.load(SeqCst), 3);
        sup.restart("dies").unwrap();
        wait_until("dead again", || {
            dies.load(SeqCst) == 6 && sup.info("dies").unwrap().status == TaskStatus::Dead
        });
        sup.kill("slow").unwrap();
        let outcomes = rt.block_on(sup.wait_all()).unwrap();
        assert_eq!(
            outcomes[1].result.as_ref().unwrap_err().restarts(),
            2,
            "a fresh count"
        );
    });
}

#[test]
fn wait_all_collects_every_outcome_once_including_late_additions() {
    watchdog("wait_all", || {
        let rt = runtime(2);
        let sup = Arc::new(
            Supervisor::<u32, String>::builder()
                .runtime(rt.handle().clone())
                .build()
                .unwrap(),
        );
        let release = Arc::new(tokio::sync::Notify::new());
        let r = release.clone();
        sup.add("gate", RestartConfig::never(), move || {
            let r = r.clone();
            async move {
                r.notified().await;
                Ok(1)
            }
        })
        .unwrap();
        let waiting = Arc::new(AtomicUsize::new(0));
        let (s, w) = (sup.clone(), waiting.clone());
        let waiter = rt.spawn(async move {
            w.store(1, SeqCst);
            s.wait_all().await
        });
        wait_until("waiting", || waiting.load(SeqCst) == 1);
        sup.add("late", RestartConfig::never(), || async { Ok(2) })
            .unwrap();
        release.notify_one();
        let outcomes = rt.block_on(waiter).unwrap().unwrap();
        let values: Vec<_> = outcomes
            .iter()
            .map(|o| (o.name.as_str(), *o.result.as_ref().unwrap()))
            .collect();
        assert_eq!(values, [("gate", 1), ("late", 2)]);
        assert_eq!(sup.shutdown_reason(), Some(ShutdownReason::AllEnded));
        assert_eq!(
            rt.block_on(sup.wait_all()).unwrap_err(),
            SupervisorError::AlreadyWaited
        );
        assert_eq!(
            sup.add("after", RestartConfig::never(), || async { Ok(3) }),
            Err(SupervisorError::ShutDown)
        );
    });
}

#[test]
fn wait_all_is_cancel_safe() {
    watchdog("wait_all cancel safety", || {
        let rt = runtime(2);
        let _enter = rt.enter();
        let sup = Supervisor::<u32, String>::new();
        sup.add("quick", RestartConfig::never(), || async { Ok(1) })
            .unwrap();
        sup.add("forever", RestartConfig::never(), std::future::pending)
            .unwrap();
        wait_until("quick done", || {
            sup.info("quick").unwrap().status == TaskStatus::Completed
        });
        // Give up waiting: the outcome seen so far ("quick") must not be lost.
        let gave_up = rt.block_on(sup.wait_all().with_timeout(Duration::from_millis(5)));
        assert!(gave_up.is_err());
        assert!(!sup.is_shut_down());
        sup.kill("forever").unwrap();
        let outcomes = rt.block_on(sup.wait_all()).unwrap();
        assert_eq!(outcomes[0].result.as_ref().ok(), Some(&1));
        assert!(outcomes[1].result.as_ref().unwrap_err().is_cancelled());
    });
}

#[test]
fn dropping_a_supervisor_cancels_its_tasks() {
    watchdog("drop supervisor", || {
        let rt = runtime(2);
        let _enter = rt.enter();
        let drops = DropCounter::new();
        let sup = Supervisor::<u32, String>::new();
        for name in ["a", "b"] {
            let d = drops.clone();
            sup.add(name, RestartConfig::never(), move || {
                let guard = d.guard();
                async move {
                    pending_holding(guard).await;
                    Ok(0)
                }
            })
            .unwrap();
        }
        wait_until("both running", || drops.created() == 2);
        drop(sup);
        wait_until("both cancelled", || drops.dropped() == 2);
    });
}

#[test]
fn panicking_factories_and_observers_are_contained() {
    watchdog("contained panics", || {
        let rt = runtime(2);
        let sup = Supervisor::<u32, String>::builder()
            .runtime(rt.handle().clone())
            .on_status(|_, _| panic!("observer bug"))
            .build()
            .unwrap();
        sup.add(
            "broken",
            quick(RestartPolicy::Always, 3),
            || -> std::future::Ready<Res> { panic!("factory bug") },
        )
        .unwrap();
        sup.add("fine", quick(RestartPolicy::Always, 3), || async { Ok(7) })
            .unwrap();
        let outcomes = rt.block_on(sup.wait_all()).unwrap();
        assert_eq!(outcomes[0].status, TaskStatus::Failed);
        assert_eq!(
            outcomes[0].result.as_ref().unwrap_err().failure(),
            Some(&Failure::FactoryPanic("factory bug".into()))
        );
        assert_eq!(outcomes[1].result.as_ref().ok(), Some(&7));
    });
}

#[test]
fn a_supervisor_on_a_shut_down_runtime_refuses_tasks() {
    watchdog("runtime gone", || {
        let rt = runtime(1);
        let handle = rt.handle().clone();
        drop(rt);
        let sup = Supervisor::<u32, String>::builder()
            .runtime(handle)
            .build()
            .unwrap();
        assert_eq!(
            sup.add("x", RestartConfig::never(), || async { Ok(1) }),
            Err(SupervisorError::RuntimeShutDown)
        );
        assert!(sup.statuses().is_empty());
    });
}

// ---- TimeoutExt ----

#[test]
fn with_timeout_works_on_any_future() {
    watchdog("with_timeout", || {
        let rt = runtime(2);
        rt.block_on(async {
            assert_eq!(async { 3 }.with_timeout(HOUR).await, Ok(3));
            let joined = taskweave::spawn(async { 4 }).with_timeout(HOUR).await;
            assert_eq!(joined.unwrap().unwrap(), 4);
            let slow = std::future::pending::<()>().with_timeout(Duration::from_millis(2));
            let elapsed: Result<(), Elapsed> = slow.await;
            assert!(elapsed.is_err());
            let mut critical =
                spawn_critical("never-ends", RestartConfig::<String>::never(), || {
                    std::future::pending::<Res>()
                });
            // A timed-out wait leaves the critical task running.
            let waited = (&mut critical).with_timeout(Duration::from_millis(2)).await;
            assert!(waited.is_err());
            assert_eq!(critical.status(), TaskStatus::Healthy);
            critical.abort();
            assert!(critical.await.unwrap_err().is_cancelled());
        });
    });
}
