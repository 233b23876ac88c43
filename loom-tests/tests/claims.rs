//! loom models of chain claims (`executor/src/graph/dispatch/claim.rs`): a worker
//! claims the chain `0 → 1 → 2` when it picks link 0, while another thread cancels
//! link 1 (`TaskHandle::cancel`: through the graph, or by aborting the claimed or
//! running task).
//!
//! - `cancel_races_the_hand_over`: the worker runs link 0, which hands link 1 over,
//!   and so on, then records the ends.
//! - `cancel_races_the_give_back`: the worker gives its claims back before it runs
//!   link 0 (as when link 0 does not finish in its first poll), then runs what it
//!   picks next. Once the cancel and the give-back are both done, link 1 has
//!   resolved, though link 0 has not run (it might never end).
//!
//! Either way, in every interleaving: link 0 succeeds; link 1 either runs and
//! succeeds, or never runs and ends cancelled; link 2 runs iff link 1 ran, else it
//! fails with link 1 as its root cause; links run in chain order; every handle
//! resolves; and the graph holds nothing at the end.
#![cfg(taskweave_loom)]

use loom::thread;
use taskweave_executor::loom_support::ClaimModel;
use taskweave_executor::JoinHandle;
use taskweave_loom_tests::model;

/// The worker's trips and runs until it holds nothing and picks nothing more.
fn run_to_the_end(chain: &mut ClaimModel) {
    loop {
        chain.exchange();
        if chain.idle() {
            return;
        }
        while chain.run_next() {}
    }
}

fn assert_consistent(chain: &ClaimModel, joins: [JoinHandle<()>; 3]) {
    let ran = chain.ran();
    assert!(ran == [0] || ran == [0, 1, 2], "{ran:?}");
    let [zero, one, two] = joins.map(loom::future::block_on);
    assert!(zero.is_ok());
    if ran.len() == 3 {
        assert!(one.is_ok() && two.is_ok());
    } else {
        let one = one.expect_err("link 1 never ran");
        assert!(
            one.is_cancelled() && ClaimModel::cancel_cause(&one).is_none(),
            "{one:?}"
        );
        let two = two.expect_err("link 2 never ran");
        assert_eq!(
            ClaimModel::cancel_cause(&two),
            Some(ClaimModel::id(1).as_u64()),
            "{two:?}"
        );
    }
    assert_eq!(chain.live(), 0, "every link ended in the graph");
}

#[test]
fn cancel_races_the_hand_over() {
    model(|| {
        let (mut chain, joins) = ClaimModel::chain();
        let (canceller, abort) = (chain.canceller(), joins[1].abort_handle());
        let cancel = thread::spawn(move || {
            canceller.cancel(1, &abort);
        });
        chain.exchange();
        while chain.run_next() {}
        cancel.join().unwrap();
        run_to_the_end(&mut chain);
        assert_consistent(&chain, joins);
    });
}

#[test]
fn cancel_races_the_give_back() {
    model(|| {
        let (mut chain, joins) = ClaimModel::chain();
        chain.exchange();
        let (canceller, abort) = (chain.canceller(), joins[1].abort_handle());
        let cancel = thread::spawn(move || {
            canceller.cancel(1, &abort);
        });
        // Link 0 "did not finish in its first poll": the claims go back. It may never
        // finish: once both the cancel and the give-back are done, link 1 must be
        // resolved without waiting for it.
        chain.give_back();
        cancel.join().unwrap();
        assert!(
            joins[1].is_finished(),
            "a cancelled waiting link resolves at once"
        );
        while chain.run_next() {}
        run_to_the_end(&mut chain);
        assert_consistent(&chain, joins);
    });
}
