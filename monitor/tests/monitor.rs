//! The sampling thread: interval validation, start/stop, `latest()` updates.
//! The only time assertion is an upper bound on how long stopping takes.

use std::time::{Duration, Instant};

use taskweave_monitor::{FakeProbe, MonitorError, ResourceMonitor, Sample, MIN_INTERVAL};

fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

#[test]
fn rejects_intervals_below_200ms() {
    for ms in [0, 1, 199] {
        match ResourceMonitor::start(FakeProbe::default(), Duration::from_millis(ms)) {
            Err(MonitorError::IntervalTooShort { requested, minimum }) => {
                assert_eq!(requested, Duration::from_millis(ms));
                assert_eq!(minimum, MIN_INTERVAL);
            }
            other => panic!("{ms} ms: {other:?}"),
        }
    }
}

#[test]
fn a_failing_first_sample_fails_start() {
    let err = ResourceMonitor::start(FakeProbe::default(), MIN_INTERVAL).unwrap_err();
    assert!(matches!(err, MonitorError::Probe(_)), "{err}");
}

#[test]
fn latest_follows_the_probe_and_errors_keep_the_previous_snapshot() {
    let probe = FakeProbe::new([Sample::default().with_cpu(0.1)]);
    let script = probe.clone();
    script.push_error("transient");
    script.push(Sample::default().with_cpu(0.2).with_memory(1, 2));
    let monitor = ResourceMonitor::start(probe, MIN_INTERVAL).unwrap();
    let first = monitor.latest();
    assert_eq!(first.cpu_usage, 0.1);
    assert_eq!(monitor.sample_count(), 1);

    assert!(wait_for(|| monitor.sample_count() >= 2), "no second sample");
    let second = monitor.latest();
    assert_eq!(second.cpu_usage, 0.2);
    assert_eq!(second.memory_total, 2);
    assert!(second.sampled_at > first.sampled_at);
    assert_eq!(monitor.error_count(), 1);
    assert_eq!(first.cpu_usage, 0.1, "old snapshots stay valid");
    assert_eq!(monitor.interval(), MIN_INTERVAL);
}

#[test]
fn the_thread_is_named_and_stops_promptly_on_drop() {
    // A long interval: a sleep loop would keep the thread alive for minutes.
    let probe = FakeProbe::new([Sample::default()]);
    let monitor = ResourceMonitor::start(probe, Duration::from_secs(600)).unwrap();
    std::thread::sleep(Duration::from_millis(50)); // let it reach its wait
    let t = Instant::now();
    drop(monitor);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t.elapsed()
    );

    let probe = FakeProbe::new([Sample::default()]);
    let monitor = ResourceMonitor::start(probe, MIN_INTERVAL).unwrap();
    let t = Instant::now();
    monitor.stop();
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn sampling_thread_has_its_name() {
    struct NameProbe(std::sync::mpsc::Sender<Option<String>>);
    impl taskweave_monitor::Probe for NameProbe {
        fn sample(&mut self) -> Result<Sample, taskweave_monitor::ProbeError> {
            let _ = self
                .0
                .send(std::thread::current().name().map(str::to_owned));
            Ok(Sample::default())
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let monitor = ResourceMonitor::start(NameProbe(tx), MIN_INTERVAL).unwrap();
    let _first = rx.recv().unwrap(); // taken by `start` on this thread
    let second = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(second.as_deref(), Some("taskweave-monitor"));
    drop(monitor);
}
