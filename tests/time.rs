//! Time: sleep ordering and lower bounds, timeout, interval, many concurrent sleeps,
//! dropped sleeps, and sleeping on the default runtime.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use common::{runtime, watchdog};
use futures::FutureExt;
use taskweave::time::error::Elapsed;
use taskweave::time::{interval, sleep, sleep_until, timeout, MissedTickBehavior};

#[test]
fn sleeps_complete_in_deadline_order() {
    // One worker: the timer fires expired sleeps in deadline order, but two workers
    // may legitimately run two sleeps that expired in the same tick in either order.
    // A run counts only if every sleep was registered before the earliest deadline:
    // on a loaded machine a first poll can come after a deadline, and then that sleep
    // is simply ready at once, which says nothing about the timer's order.
    watchdog("sleep ordering", || {
        let rt = runtime(1);
        let mut conclusive = 0;
        for _ in 0..20 {
            let order = Arc::new(Mutex::new(Vec::new()));
            let start = Instant::now() + Duration::from_millis(20);
            let handles: Vec<_> = [30u64, 10, 20]
                .into_iter()
                .map(|ms| {
                    let order = order.clone();
                    rt.spawn(async move {
                        let mut s = std::pin::pin!(sleep_until(start + Duration::from_millis(ms)));
                        let registered_at = std::future::poll_fn(|cx| {
                            let pending = s.as_mut().poll(cx).is_pending();
                            Poll::Ready(pending.then(Instant::now))
                        })
                        .await;
                        s.await;
                        order.lock().unwrap().push(ms);
                        registered_at
                    })
                })
                .collect();
            let registered: Vec<Option<Instant>> = handles
                .into_iter()
                .map(|h| rt.block_on(h).unwrap())
                .collect();
            assert!(Instant::now() >= start + Duration::from_millis(30));
            let earliest = start + Duration::from_millis(10);
            if registered.iter().all(|r| r.is_some_and(|at| at < earliest)) {
                assert_eq!(*order.lock().unwrap(), vec![10, 20, 30]);
                conclusive += 1;
                if conclusive == 3 {
                    break;
                }
            }
        }
        assert!(
            conclusive > 0,
            "the machine is too loaded to register three sleeps in 20 ms"
        );
    });
}

#[test]
fn sleep_never_completes_early() {
    watchdog("sleep lower bound", || {
        let rt = runtime(2);
        let handles: Vec<_> = (0..50u64)
            .map(|i| {
                rt.spawn(async move {
                    let d = Duration::from_micros(i * 617 % 25_000);
                    let start = Instant::now();
                    sleep(d).await;
                    (d, start.elapsed())
                })
            })
            .collect();
        for h in handles {
            let (d, elapsed) = rt.block_on(h).unwrap();
            assert!(elapsed >= d, "sleep({d:?}) completed after {elapsed:?}");
        }
        // In block_on too, and with sleep_until.
        rt.block_on(async {
            let start = Instant::now();
            sleep(Duration::from_millis(15)).await;
            assert!(start.elapsed() >= Duration::from_millis(15));
            let deadline = Instant::now() + Duration::from_millis(7);
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline);
            // A deadline in the past completes at once.
            sleep_until(start).await;
            sleep(Duration::ZERO).await;
        });
    });
}

#[test]
fn timeout_of_pending_future_elapses_and_of_ready_future_returns_value() {
    watchdog("timeout", || {
        let rt = runtime(2);
        rt.block_on(async {
            let start = Instant::now();
            let r = timeout(Duration::from_millis(20), std::future::pending::<u32>()).await;
            assert!(matches!(r, Err(Elapsed { .. })), "{r:?}");
            assert!(start.elapsed() >= Duration::from_millis(20));

            assert_eq!(timeout(Duration::from_secs(30), async { 5 }).await, Ok(5));
            assert_eq!(
                timeout(Duration::ZERO, std::future::ready("ready")).await,
                Ok("ready"),
                "a ready future must win even against an expired deadline"
            );
            // A future that completes before the deadline.
            let v = timeout(Duration::from_secs(30), async {
                sleep(Duration::from_millis(5)).await;
                "slept"
            })
            .await;
            assert_eq!(v, Ok("slept"));
            // A slower sleep loses.
            let r = timeout(Duration::from_millis(5), sleep(Duration::from_secs(30))).await;
            assert!(r.is_err());
        });
        // In tasks, many at once: each one's result matches its inner future.
        let handles: Vec<_> = (0..200u64)
            .map(|i| {
                rt.spawn(async move {
                    if i % 2 == 0 {
                        timeout(Duration::from_millis(10), std::future::pending::<u64>()).await
                    } else {
                        timeout(Duration::from_secs(30), async move {
                            taskweave::task::yield_now().await;
                            i
                        })
                        .await
                    }
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let r = rt.block_on(h).unwrap();
            if i % 2 == 0 {
                assert!(r.is_err());
            } else {
                assert_eq!(r, Ok(i as u64));
            }
        }
    });
}

#[test]
fn interval_ticks_first_at_once_then_every_period() {
    watchdog("interval", || {
        let rt = runtime(2);
        let period = Duration::from_millis(5);
        let ticks = 10;
        let (first_at, instants, elapsed) = rt.block_on(async move {
            let before = Instant::now();
            let mut every = interval(period).unwrap();
            let after = Instant::now();
            assert_eq!(every.period(), period);
            assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Burst);
            // The first tick is immediate: ready at its first poll.
            let first = every
                .tick()
                .now_or_never()
                .expect("the first tick was not immediately ready");
            let mut instants = vec![first];
            for _ in 0..ticks {
                instants.push(every.tick().await);
            }
            ((before, after), instants, before.elapsed())
        });
        // It is scheduled at the creation instant.
        assert!(first_at.0 <= instants[0] && instants[0] <= first_at.1);
        assert_eq!(instants.len(), ticks + 1);
        for pair in instants.windows(2) {
            assert_eq!(pair[1] - pair[0], period, "ticks: {instants:?}");
        }
        assert!(elapsed >= period * ticks as u32);
        assert!(interval(Duration::ZERO).is_err());

        // In a task, counting ticks until a flag: every tick counted, none early.
        let count = rt.block_on(rt.spawn(async move {
            let start = Instant::now();
            let mut every = interval(Duration::from_millis(2)).unwrap();
            every.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut n = 0u32;
            while n < 20 {
                let at = every.tick().await;
                assert!(Instant::now() >= at);
                n += 1;
            }
            assert!(start.elapsed() >= Duration::from_millis(2 * 19));
            n
        }));
        assert_eq!(count.unwrap(), 20);
    });
}

#[test]
fn ten_thousand_concurrent_sleeps_all_complete() {
    watchdog("10k sleeps", || {
        let rt = runtime(2);
        let done = Arc::new(AtomicUsize::new(0));
        let early = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..10_000u64)
            .map(|i| {
                let (done, early) = (done.clone(), early.clone());
                rt.spawn(async move {
                    let d = Duration::from_millis(1 + i % 50);
                    let start = Instant::now();
                    sleep(d).await;
                    if start.elapsed() < d {
                        early.fetch_add(1, SeqCst);
                    }
                    done.fetch_add(1, SeqCst);
                    i
                })
            })
            .collect();
        let sum: u64 = rt.block_on(async {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..10_000u64).sum::<u64>());
        assert_eq!(done.load(SeqCst), 10_000);
        assert_eq!(early.load(SeqCst), 0, "some sleeps completed early");
    });
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn a_dropped_sleep_never_wakes_anyone() {
    // A timer may legitimately fire if its deadline passed before the drop (a loaded
    // machine can preempt us for that long), so each check only counts sleeps that
    // were provably dropped before their deadline: `Instant::now()` read after the
    // drop is still before it, so any firing would have to come after the drop.
    watchdog("dropped sleep", || {
        let rt = runtime(2);
        let _enter = rt.enter();
        let mut checked = Vec::new();
        // Register 1000 timers with the driver, then drop them.
        for i in 0..1000u64 {
            let wakes = Arc::new(CountingWaker(AtomicUsize::new(0)));
            let waker = Waker::from(wakes.clone());
            let mut s = sleep(Duration::from_millis(20 + i % 20));
            let deadline = s.deadline();
            if i % 10 == 0 {
                // Some are reset first, to a later deadline.
                assert!(Pin::new(&mut s)
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending());
                s.reset(deadline + Duration::from_millis(5));
            }
            assert!(Pin::new(&mut s)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            drop(s);
            if Instant::now() < deadline {
                checked.push(wakes);
            }
        }
        assert!(
            !checked.is_empty(),
            "no sleep could be dropped before its deadline"
        );
        // Wait past all those deadlines with a live sleep on the same driver.
        let start = Instant::now();
        rt.block_on(sleep(Duration::from_millis(60)));
        assert!(start.elapsed() >= Duration::from_millis(60));
        let woken = checked.iter().filter(|w| w.0.load(SeqCst) > 0).count();
        assert_eq!(
            woken,
            0,
            "{woken} of {} sleeps dropped before their deadline woke their waker",
            checked.len()
        );

        // Dropped inside tasks: each task polls a 20 ms sleep once, drops it, then
        // sleeps 30 ms. Only its own sleep may wake it: exactly two polls per task.
        let tasks: Vec<(Arc<AtomicUsize>, Arc<AtomicBool>)> =
            (0..500).map(|_| Default::default()).collect();
        let handles: Vec<_> = tasks
            .iter()
            .map(|(count, in_time)| {
                let in_time = in_time.clone();
                rt.spawn(CountPolls {
                    count: count.clone(),
                    inner: Box::pin(async move {
                        let mut s = Box::pin(sleep(Duration::from_millis(20)));
                        let deadline = s.deadline();
                        std::future::poll_fn(|cx| {
                            assert!(s.as_mut().poll(cx).is_pending());
                            Poll::Ready(())
                        })
                        .await;
                        drop(s);
                        in_time.store(Instant::now() < deadline, SeqCst);
                        sleep(Duration::from_millis(30)).await;
                    }),
                })
            })
            .collect();
        for h in handles {
            rt.block_on(h).unwrap();
        }
        let counts: Vec<usize> = tasks
            .iter()
            .filter(|(_, in_time)| in_time.load(SeqCst))
            .map(|(c, _)| c.load(SeqCst))
            .collect();
        assert!(!counts.is_empty(), "no task dropped its sleep in time");
        assert!(
            counts.iter().all(|&c| c == 2),
            "tasks were woken by dropped sleeps; polls per task: {counts:?}"
        );
    });
}

/// Counts the polls of the wrapped future.
struct CountPolls<F> {
    count: Arc<AtomicUsize>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.count.fetch_add(1, SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn sleep_on_the_default_runtime_outside_any_runtime() {
    watchdog("sleep on default runtime", || {
        let start = Instant::now();
        let v = taskweave::block_on(async {
            sleep(Duration::from_millis(20)).await;
            taskweave::spawn(async {
                sleep(Duration::from_millis(5)).await;
                9
            })
            .await
            .unwrap()
        });
        assert_eq!(v, 9);
        assert!(start.elapsed() >= Duration::from_millis(25));

        // Driven by a foreign executor on a plain thread: the default runtime's timer.
        let start = Instant::now();
        futures::executor::block_on(sleep(Duration::from_millis(10)));
        assert!(start.elapsed() >= Duration::from_millis(10));
        let r = futures::executor::block_on(timeout(
            Duration::from_millis(5),
            std::future::pending::<()>(),
        ));
        assert!(r.is_err());
    });
}
