//! loom models of how a started ExecutableTask's end reaches the graph
//! (`executor/src/graph/ended.rs`): the slot noted in the task's header when a worker
//! picks it is claimed exactly once, by the runner when its future finishes or by the
//! task's release when the runner never got to report (aborted, or shut down).
//!
//! Model by model (each asserts exactly one report, with the picked slot):
//! - `abort_races_the_run`: `TaskHandle::cancel` (an abort) races the worker's run:
//!   the runner reports iff the future ran (then its result stands), else the release
//!   reports the cancellation.
//! - `shutdown_races_the_run`: runtime shutdown's cancellation through the graph's
//!   ownership races the worker's run, likewise.
//! - `the_join_handle_reaches_the_scheduler_while_the_task_ends`: as a `TaskHandle`
//!   reaches its runtime (through its task's scheduler, borrowed from the cell its
//!   JoinHandle keeps alive), the JoinHandle reads the scheduler while the run and
//!   shutdown race on two other threads, and again once it is the task's last
//!   reference.
#![cfg(taskweave_loom)]

use loom::thread;
use taskweave_executor::loom_support::{EndReportModel, Reporter};
use taskweave_executor::JoinHandle;
use taskweave_loom_tests::model;

/// Runs what the task queued, awaits it, and checks that exactly one end was
/// reported, with the picked slot: the runner's iff the future ran (the JoinHandle has
/// its value), else the release's.
fn assert_reported_once(task: EndReportModel, join: JoinHandle<()>) {
    // An abort or shutdown of a task already queued (notified) only marks it: the
    // worker's run cancels it. Nothing else is queued.
    task.run_queued();
    let output = loom::future::block_on(join);
    let reports = task.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (who, at) = reports[0];
    assert_eq!(at, EndReportModel::slot());
    match output {
        Ok(()) => assert_eq!(who, Reporter::Runner, "the future ran: its end stands"),
        Err(e) => {
            assert!(e.is_cancelled());
            assert_eq!(who, Reporter::Release, "never ran: reported as cancelled");
        }
    }
}

#[test]
fn abort_races_the_run() {
    model(|| {
        let mut task = EndReportModel::picked();
        let run = task.take_run();
        let join = task.take_join();
        let worker = thread::spawn(move || run.run());
        join.abort();
        worker.join().unwrap();
        assert_reported_once(task, join);
    });
}

#[test]
fn shutdown_races_the_run() {
    model(|| {
        let mut task = EndReportModel::picked();
        let run = task.take_run();
        let owned = task.take_owned();
        let join = task.take_join();
        let worker = thread::spawn(move || run.run());
        owned.shutdown();
        worker.join().unwrap();
        assert_reported_once(task, join);
    });
}

#[test]
fn the_join_handle_reaches_the_scheduler_while_the_task_ends() {
    model(|| {
        let mut task = EndReportModel::picked();
        let run = task.take_run();
        let owned = task.take_owned();
        let join = task.take_join();
        let worker = thread::spawn(move || run.run());
        let shutdown = thread::spawn(move || owned.shutdown());
        assert!(EndReportModel::reports_through(&join).len() <= 1);
        worker.join().unwrap();
        shutdown.join().unwrap();
        // The model's own references go: the JoinHandle is the last one.
        drop(task);
        let reports = EndReportModel::reports_through(&join);
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].1, EndReportModel::slot());
        let ran = loom::future::block_on(join).is_ok();
        assert_eq!(reports[0].0 == Reporter::Runner, ran);
    });
}
