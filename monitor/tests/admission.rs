//! Admission: fits / waits / never, queue backpressure, priority order, release.

use std::sync::Arc;
use std::thread;
use std::time::Instant;

use taskweave_monitor::{Admission, Budget, EnqueueError, Pressure, Refusal, Requirements, Sample};

const MIB: u64 = 1 << 20;

fn four_cores_1g(pending: usize) -> Admission<u32> {
    Admission::new(Budget::new(4.0, 1024 * MIB), pending)
}

#[test]
fn fits_waits_and_never() {
    let a = four_cores_1g(4);
    let p1 = a.try_admit(Requirements::new(2.5, 600 * MIB)).unwrap();
    assert_eq!(
        p1.amount(),
        Budget {
            millicores: 2500,
            memory: 600 * MIB
        }
    );
    // Memory would exceed.
    assert_eq!(
        a.try_admit(Requirements::new(0.5, 500 * MIB)).unwrap_err(),
        Refusal::WouldExceed
    );
    // Cores would exceed.
    assert_eq!(
        a.try_admit(Requirements::new(2.0, 0)).unwrap_err(),
        Refusal::WouldExceed
    );
    // More than the machine has, regardless of usage.
    assert_eq!(
        a.try_admit(Requirements::new(4.5, 0)).unwrap_err(),
        Refusal::Never
    );
    assert_eq!(
        a.try_admit(Requirements::new(1.0, 2048 * MIB)).unwrap_err(),
        Refusal::Never
    );
    // What is left still fits, exactly.
    let p2 = a.try_admit(Requirements::new(1.5, 424 * MIB)).unwrap();
    assert_eq!(a.used(), a.capacity());
    // Zero-sized requests always fit; NaN/negative cores count as 0.
    let _z = a.try_admit(Requirements::new(f32::NAN, 0)).unwrap();
    let _n = a.try_admit(Requirements::new(-3.0, 0)).unwrap();
    drop((p1, p2));
}

#[test]
fn release_frees_budget() {
    let a = four_cores_1g(4);
    let p = a.try_admit(Requirements::new(4.0, 1024 * MIB)).unwrap();
    assert_eq!(
        a.try_admit(Requirements::new(0.1, 1)).unwrap_err(),
        Refusal::WouldExceed
    );
    drop(p);
    assert_eq!(a.used(), Budget::default());
    // Many fractional permits come and go without drift.
    let permits: Vec<_> = (0..30)
        .map(|_| a.try_admit(Requirements::new(0.1, MIB)).unwrap())
        .collect();
    assert_eq!(
        a.used(),
        Budget {
            millicores: 3000,
            memory: 30 * MIB
        }
    );
    drop(permits);
    assert_eq!(a.used(), Budget::default());
}

#[test]
fn queue_full_is_backpressure_and_impossible_is_rejected() {
    let a = four_cores_1g(2);
    a.try_enqueue(1, Requirements::new(1.0, 0), 10).unwrap();
    a.try_enqueue(2, Requirements::new(1.0, 0), 10).unwrap();
    assert_eq!(
        a.try_enqueue(3, Requirements::new(1.0, 0), 255),
        Err(EnqueueError::Full(3))
    );
    assert_eq!(
        a.try_enqueue(4, Requirements::new(8.0, 0), 10),
        Err(EnqueueError::Never(4))
    );
    assert_eq!(a.pending_len(), 2);
    assert_eq!(a.drain_admissible().len(), 2);
    a.try_enqueue(3, Requirements::new(1.0, 0), 255).unwrap();
}

#[test]
fn waiting_queue_is_priority_ordered_and_fifo_within_a_priority() {
    let a = four_cores_1g(16);
    let hold = a.try_admit(Requirements::new(4.0, 0)).unwrap();
    for (item, prio) in [(1, 10), (2, 200), (3, 10), (4, 128), (5, 200)] {
        a.try_enqueue(item, Requirements::new(0.5, 0), prio)
            .unwrap();
    }
    // Nothing fits while the whole machine is held.
    assert!(a.pop_admissible().is_none());
    drop(hold);
    let order: Vec<u32> = a
        .drain_admissible()
        .into_iter()
        .map(|(i, _permit)| i)
        .collect();
    assert_eq!(order, [2, 5, 4, 1, 3]);
}

#[test]
fn head_of_queue_is_not_overtaken_and_admits_as_permits_drop() {
    let a = four_cores_1g(16);
    a.try_enqueue(1, Requirements::new(3.0, 0), 200).unwrap();
    a.try_enqueue(2, Requirements::new(1.0, 0), 100).unwrap();
    let p = a.try_admit(Requirements::new(2.0, 0)).unwrap();
    // The big urgent one does not fit; the small one waits behind it.
    assert!(a.pop_admissible().is_none());
    drop(p);
    let got: Vec<u32> = a.drain_admissible().into_iter().map(|(i, _)| i).collect();
    assert_eq!(got, [1, 2]);
}

#[test]
fn memory_budget_follows_pressure() {
    let a = four_cores_1g(4);
    let held = a.try_admit(Requirements::new(0.0, 200 * MIB)).unwrap();
    let s = Sample::default().with_memory(300 * MIB, 1024 * MIB);
    // budget = 200 held + 300 available - 25 % of 1024 reserve.
    a.update_from_pressure(&Pressure::from_sample(&s, Instant::now()), 0.25);
    let reserve = 256 * MIB;
    assert_eq!(a.budget().memory, 500 * MIB - reserve);
    assert_eq!(
        a.try_admit(Requirements::new(0.0, 300 * MIB)).unwrap_err(),
        Refusal::WouldExceed
    );
    assert!(a.try_admit(Requirements::new(0.0, 44 * MIB)).is_ok());
    // Still fits the machine: a wait, not a rejection.
    assert_eq!(
        a.try_admit(Requirements::new(0.0, 800 * MIB)).unwrap_err(),
        Refusal::WouldExceed
    );
    drop(held);
}

#[test]
fn concurrent_admits_never_exceed_the_budget() {
    let a = Arc::new(four_cores_1g(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let a = Arc::clone(&a);
            thread::spawn(move || {
                for _ in 0..2000 {
                    if let Ok(p) = a.try_admit(Requirements::new(0.7, 100 * MIB)) {
                        let used = a.used();
                        assert!(used.millicores <= 4000 && used.memory <= 1024 * MIB);
                        drop(p);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(a.used(), Budget::default());
}
