//! Unit tests of the timer driver (a child module of `driver`, in its own file for
//! length): tick rounding, firing order and thread, cancellation, the parked thread
//! being woken by an earlier registration, and shutdown/drop (including a drop of the
//! last `Arc<Driver>` on the timer thread itself).

use super::*;
use crate::time::test_util::{driver, must_finish, Recorder};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn ticks_round_deadlines_up_and_now_down() {
    let start = Instant::now();
    let ns = Duration::from_nanos;
    assert_eq!(deadline_to_tick(start, start), 0);
    assert_eq!(deadline_to_tick(start, start + ns(1)), 1);
    assert_eq!(deadline_to_tick(start, start + ms(1)), 1);
    assert_eq!(deadline_to_tick(start, start + ms(1) + ns(1)), 2);
    assert_eq!(
        deadline_to_tick(start, start + ms(999_999) + ns(999_999)),
        1_000_000
    );
    assert_eq!(deadline_to_tick(start + ms(5), start), 0, "before start");
    assert_eq!(
        deadline_to_tick(start, start + Duration::from_secs(u64::MAX / 4)),
        MAX_TICK
    );
    assert_eq!(instant_to_tick(start, start + ms(1) - ns(1)), 0);
    assert_eq!(instant_to_tick(start, start + ms(1)), 1);
    assert_eq!(instant_to_tick(start, start + ms(7) + ns(999_999)), 7);
    // The round trip never fires early: a tick reached means the deadline passed.
    for offset in [0, 1, 999_999, 1_000_000, 1_000_001, 12_345_678] {
        let deadline = start + ns(offset);
        let tick = deadline_to_tick(start, deadline);
        assert!(start + ms(tick) >= deadline);
        assert_eq!(instant_to_tick(start, start + ms(tick)), tick);
    }
}

#[test]
fn fires_in_deadline_order_on_the_timer_thread() {
    let driver = driver();
    let recorder = Recorder::default();
    // Deadlines from a base in the future: the order must not depend on how long
    // registering takes (under valgrind, longer than the gaps between deadlines).
    let base = Instant::now() + ms(200);
    let offsets = [30, 10, 20, 0, 50, 40];
    for (id, &offset) in offsets.iter().enumerate() {
        assert!(driver
            .register(base + ms(offset), &recorder.waker(id as u64))
            .is_some());
    }
    let woken = recorder.wait_for(offsets.len());
    let ids: Vec<u64> = woken.iter().map(|w| w.id).collect();
    assert_eq!(ids, vec![3, 1, 2, 0, 5, 4]);
    for w in &woken {
        assert!(
            w.at >= base + ms(offsets[w.id as usize]),
            "timer {} fired early",
            w.id
        );
        assert_eq!(w.thread.as_deref(), Some("taskweave-test-timer"));
    }
    assert_eq!(driver.pending_timers(), 0);
}

#[test]
fn cancelled_timers_never_fire() {
    let driver = driver();
    let recorder = Recorder::default();
    let base = Instant::now();
    // Wide margins: the test thread may be descheduled between register and cancel.
    let doomed = driver.register(base + ms(150), &recorder.waker(1)).unwrap();
    driver.register(base + ms(200), &recorder.waker(2)).unwrap();
    assert!(driver.cancel(doomed));
    assert!(!driver.cancel(doomed), "second cancel");
    recorder.wait_for(1);
    assert_eq!(
        recorder.ids(),
        vec![2],
        "the cancelled timer's deadline passed first"
    );
    assert!(!driver.update_waker(doomed, &recorder.waker(3)));
}

#[test]
fn an_earlier_registration_wakes_the_parked_thread() {
    let driver = driver();
    let recorder = Recorder::default();
    let far = driver
        .register(
            Instant::now() + Duration::from_secs(3600),
            &recorder.waker(1),
        )
        .unwrap();
    // Let the thread park towards the far deadline (correctness does not depend on it).
    std::thread::sleep(ms(20));
    let base = Instant::now();
    driver.register(base + ms(10), &recorder.waker(2)).unwrap();
    let woken = recorder.wait_for(1);
    assert_eq!(woken[0].id, 2);
    assert!(woken[0].at >= base + ms(10));
    assert!(driver.cancel(far));
}

#[test]
fn past_deadlines_fire_at_once() {
    let driver = driver();
    let recorder = Recorder::default();
    std::thread::sleep(ms(5));
    driver
        .register(Instant::now() - ms(3), &recorder.waker(1))
        .unwrap();
    driver.register(Instant::now(), &recorder.waker(2)).unwrap();
    let mut ids: Vec<u64> = recorder.wait_for(2).iter().map(|w| w.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2]);
}

#[test]
fn reregister_keeps_the_key_and_moves_the_deadline() {
    let driver = driver();
    let recorder = Recorder::default();
    let key = driver
        .register(
            Instant::now() + Duration::from_secs(3600),
            &recorder.waker(1),
        )
        .unwrap();
    let base = Instant::now();
    let moved = driver
        .reregister(Some(key), base + ms(10), &recorder.waker(1))
        .unwrap();
    assert_eq!(moved, key);
    let woken = recorder.wait_for(1);
    assert!(woken[0].at >= base + ms(10));
    // The key is stale now: reregistering makes a new timer.
    let again = driver
        .reregister(Some(key), Instant::now(), &recorder.waker(2))
        .unwrap();
    assert_ne!(again, key);
    assert_eq!(recorder.wait_for(2)[1].id, 2);
}

#[test]
fn update_waker_redirects_the_wake_up() {
    let driver = driver();
    let recorder = Recorder::default();
    let key = driver
        .register(Instant::now() + ms(150), &recorder.waker(1))
        .unwrap();
    assert!(driver.update_waker(key, &recorder.waker(2)));
    recorder.wait_for(1);
    assert_eq!(recorder.ids(), vec![2]);
}

#[test]
fn shutdown_wakes_pending_timers_once_and_is_idempotent() {
    let driver = driver();
    let recorder = Recorder::default();
    for id in 0..3 {
        driver
            .register(
                Instant::now() + Duration::from_secs(3600 + id),
                &recorder.waker(id),
            )
            .unwrap();
    }
    assert!(!driver.is_shutdown());
    let for_thread = driver.clone();
    must_finish(move || for_thread.shutdown());
    assert!(driver.is_shutdown());
    let mut ids = recorder.ids();
    ids.sort_unstable();
    assert_eq!(ids, vec![0, 1, 2]);
    driver.shutdown();
    assert_eq!(
        recorder.ids().len(),
        3,
        "a second shutdown wakes nothing again"
    );
    assert!(driver
        .register(Instant::now(), &recorder.waker(9))
        .is_none());
    assert_eq!(driver.pending_timers(), 0);
}

#[test]
fn dropping_the_last_handle_stops_the_thread() {
    let recorder = Recorder::default();
    let for_thread = recorder.clone();
    must_finish(move || {
        let driver = driver();
        driver
            .register(
                Instant::now() + Duration::from_secs(3600),
                &for_thread.waker(1),
            )
            .unwrap();
        drop(driver);
    });
    assert_eq!(recorder.ids(), vec![1], "drop wakes the pending timer once");
}

/// A waker whose wake drops the last `Arc<Driver>` — on the timer thread. It first waits
/// until the test has dropped its own handle (`armed`), so the drop is the last one.
struct DropsDriver {
    driver: Mutex<Option<Arc<Driver>>>,
    armed: Mutex<bool>,
    armed_changed: Condvar,
    recorder: Recorder,
}

impl std::task::Wake for DropsDriver {
    fn wake(self: std::sync::Arc<Self>) {
        let mut armed = self.armed.lock();
        while !*armed {
            sync::wait(&self.armed_changed, &mut armed);
        }
        drop(armed);
        let driver = self.driver.lock().take();
        drop(driver); // Runs `Driver::drop`, i.e. `shutdown`, on the timer thread.
        self.recorder.waker(1).wake();
    }
}

#[test]
fn last_handle_dropped_on_the_timer_thread_does_not_deadlock() {
    let recorder = Recorder::default();
    let driver = driver();
    let waker = std::sync::Arc::new(DropsDriver {
        driver: Mutex::new(Some(driver.clone())),
        armed: Mutex::new(false),
        armed_changed: Condvar::new(),
        recorder: recorder.clone(),
    });
    driver
        .register(
            Instant::now() + Duration::from_secs(3600),
            &recorder.waker(2),
        )
        .unwrap();
    driver
        .register(Instant::now() + ms(5), &Waker::from(waker.clone()))
        .unwrap();
    drop(driver); // The waker now holds the only handle.
    *waker.armed.lock() = true;
    waker.armed_changed.notify_all();
    let woken = recorder.wait_for(2);
    let ids: Vec<u64> = woken.iter().map(|w| w.id).collect();
    assert_eq!(
        ids,
        vec![2, 1],
        "the drop woke the other pending timer, then completed"
    );
    assert!(woken
        .iter()
        .all(|w| w.thread.as_deref() == Some("taskweave-test-timer")));
}

#[test]
fn a_panicking_waker_does_not_kill_the_timer_thread() {
    struct Panics;
    impl std::task::Wake for Panics {
        fn wake(self: std::sync::Arc<Self>) {
            panic!("waker panics (expected by the test)");
        }
    }
    let driver = driver();
    let recorder = Recorder::default();
    let base = Instant::now();
    driver
        .register(base + ms(5), &Waker::from(std::sync::Arc::new(Panics)))
        .unwrap();
    driver.register(base + ms(15), &recorder.waker(1)).unwrap();
    assert_eq!(recorder.wait_for(1)[0].id, 1);
}

#[test]
fn driver_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Driver>();
    assert_send_sync::<Arc<Driver>>();
}
