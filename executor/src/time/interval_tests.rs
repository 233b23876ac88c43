//! Unit tests of `Interval` (a child module of `interval`, in its own file for length):
//! the pure next-deadline function exhaustively over a fake time grid, then ticking
//! against a real driver (orderings and lower bounds only, never upper bounds).

use super::*;
use crate::time::test_util::driver;
use futures::executor::block_on;
use MissedTickBehavior::{Burst, Delay, Skip};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// The specification, in integer nanoseconds relative to a common base.
fn reference(behavior: MissedTickBehavior, scheduled: u128, now: u128, period: u128) -> u128 {
    let missed_after = MISSED_AFTER.as_nanos();
    if now <= scheduled + missed_after {
        return scheduled + period;
    }
    match behavior {
        Burst => scheduled + period,
        Delay => now + period,
        // The first instant of the original schedule strictly after now.
        Skip => scheduled + ((now - scheduled) / period + 1) * period,
    }
}

#[test]
fn next_deadline_matches_the_reference_exhaustively() {
    let base = Instant::now();
    let periods = [
        us(1),
        us(3),
        us(999),
        ms(1),
        us(2_500),
        ms(5),
        us(7_001),
        ms(10),
        ms(1000),
    ];
    let mut cases = 0;
    for behavior in [Burst, Delay, Skip] {
        for period in periods {
            for scheduled in (0..=20_000u64).step_by(2_500).map(us) {
                // From before the schedule (clock oddities) to far behind it.
                for now in (0..=80_000u64).step_by(125).map(us) {
                    let got = next_deadline(behavior, base + scheduled, base + now, period);
                    let want = reference(
                        behavior,
                        scheduled.as_nanos(),
                        now.as_nanos(),
                        period.as_nanos(),
                    );
                    assert_eq!(
                        (got - base).as_nanos(),
                        want,
                        "{behavior:?} s={scheduled:?} n={now:?} p={period:?}"
                    );
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 10_000);
}

#[test]
fn next_deadline_properties() {
    let base = Instant::now();
    for period in [us(7), ms(3), ms(10)] {
        for late in (0..=50_000u64).step_by(333).map(us) {
            let scheduled = base + ms(1);
            let now = scheduled + late;
            let missed = late > MISSED_AFTER;
            let burst = next_deadline(Burst, scheduled, now, period);
            let delay = next_deadline(Delay, scheduled, now, period);
            let skip = next_deadline(Skip, scheduled, now, period);
            assert_eq!(burst, scheduled + period, "burst keeps the schedule");
            if !missed {
                assert_eq!(delay, burst);
                assert_eq!(skip, burst);
                continue;
            }
            assert_eq!(delay, now + period, "delay restarts from now");
            assert!(
                skip > now && skip <= now + period,
                "skip: the next scheduled tick after now"
            );
            assert_eq!(
                (skip - scheduled).as_nanos() % period.as_nanos(),
                0,
                "skip stays on the grid"
            );
        }
    }
}

#[test]
fn next_deadline_never_overflows() {
    let now = Instant::now();
    let huge = Duration::from_secs(u64::MAX / 2);
    for behavior in [Burst, Delay, Skip] {
        assert!(next_deadline(behavior, now, now, huge) > now);
    }
}

#[test]
fn zero_period_is_an_error() {
    let err = Interval::new_with(driver(), Instant::now(), Duration::ZERO).unwrap_err();
    assert_eq!(err, ZeroPeriod(()));
    assert_eq!(err.to_string(), "interval period must be non-zero");
    assert!(Interval::new_with(driver(), Instant::now(), Duration::from_nanos(1)).is_ok());
}

#[test]
fn first_tick_completes_at_once() {
    let driver = driver();
    let start = Instant::now();
    let mut interval = Interval::new_with(driver.clone(), start, ms(3_600_000)).unwrap();
    let waker = futures_task::noop_waker();
    assert_eq!(
        interval.poll_tick(&mut Context::from_waker(&waker)),
        Poll::Ready(start)
    );
    assert_eq!(
        interval.poll_tick(&mut Context::from_waker(&waker)),
        Poll::Pending
    );
    assert_eq!(driver.pending_timers(), 1);
    drop(interval);
    assert_eq!(
        driver.pending_timers(),
        0,
        "dropping the interval cancels its timer"
    );
}

#[test]
fn burst_ticks_follow_the_schedule_exactly() {
    let driver = driver();
    let start = Instant::now() + ms(2);
    let period = ms(5);
    let mut interval = Interval::new_with(driver, start, period).unwrap();
    assert_eq!(interval.period(), period);
    block_on(async {
        for k in 0..4 {
            let tick = interval.tick().await;
            assert_eq!(tick, start + period * k);
            assert!(Instant::now() >= tick, "tick {k} completed early");
        }
    });
}

/// Ticks once, stalls 35 ms (missing ticks of a 10 ms period), then ticks twice.
fn after_a_stall(behavior: MissedTickBehavior) -> (Instant, [Instant; 3]) {
    let start = Instant::now();
    let mut interval = Interval::new_with(driver(), start, ms(10)).unwrap();
    interval.set_missed_tick_behavior(behavior);
    assert_eq!(interval.missed_tick_behavior(), behavior);
    block_on(async {
        let first = interval.tick().await;
        std::thread::sleep(ms(35)); // A slow task body.
        let second = interval.tick().await;
        let third = interval.tick().await;
        assert!(Instant::now() >= third);
        (start, [first, second, third])
    })
}

#[test]
fn burst_catches_up() {
    let (start, ticks) = after_a_stall(Burst);
    assert_eq!(ticks, [start, start + ms(10), start + ms(20)]);
}

#[test]
fn delay_restarts_from_the_late_tick() {
    let (start, [first, second, third]) = after_a_stall(Delay);
    assert_eq!(first, start);
    assert!(second >= start + ms(10));
    assert!(
        third >= start + ms(45),
        "a full period after the late tick: {:?}",
        third - start
    );
}

#[test]
fn skip_stays_on_the_grid() {
    let (start, [first, second, third]) = after_a_stall(Skip);
    assert_eq!(first, start);
    assert!(second > first && third > second);
    assert_eq!((second - start).as_nanos() % ms(10).as_nanos(), 0);
    assert!(
        third >= start + ms(40),
        "missed ticks are skipped: {:?}",
        third - start
    );
    assert_eq!((third - start).as_nanos() % ms(10).as_nanos(), 0);
}

#[test]
fn resets_move_the_next_tick() {
    let driver = driver();
    let mut interval = Interval::new_with(driver, Instant::now(), ms(3_600_000)).unwrap();
    let waker = futures_task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(interval.poll_tick(&mut cx).is_ready());
    assert!(interval.poll_tick(&mut cx).is_pending());
    interval.reset_immediately();
    assert!(interval.poll_tick(&mut cx).is_ready(), "reset_immediately");
    let before = Instant::now();
    interval.reset_after(ms(10));
    let tick = block_on(interval.tick());
    assert!(tick >= before + ms(10) && Instant::now() >= tick);
    let before = Instant::now();
    interval.reset();
    assert!(
        interval.poll_tick(&mut cx).is_pending(),
        "reset: one period from now"
    );
    let at = before + ms(7);
    interval.reset_at(at);
    assert_eq!(block_on(interval.tick()), at);
}

#[test]
fn shut_down_driver_completes_ticks() {
    let driver = driver();
    let mut interval = Interval::new_with(driver.clone(), Instant::now(), ms(3_600_000)).unwrap();
    block_on(interval.tick());
    driver.shutdown();
    block_on(interval.tick()); // Would hang for an hour if it did not complete.
}

#[test]
fn interval_and_tick_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Interval>();
    let mut interval = Interval::new_with(driver(), Instant::now(), ms(1)).unwrap();
    let tick = interval.tick();
    assert_send(&tick);
}
