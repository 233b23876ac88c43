//! loom models of how a started ExecutableTask's end reaches the graph
//! (`executor/src/graph/ended.rs`): the slot the picking worker notes in the task's
//! header (after the dispatch lock, just before it runs the task) is claimed at most
//! once, by the runner when its future finishes or by the task's release when the
//! runner never got to report (aborted, or shut down).
//!
//! Model by model (each asserts the reports made, with the picked slot):
//! - `abort_races_the_run`: `TaskHandle::cancel` (an abort) races the worker's note
//!   and run: exactly one report; the runner's iff the future ran (then its result
//!   stands), else the release reports the cancellation.
//! - `shutdown_races_the_run`: runtime shutdown's cancellation through the graph's
//!   ownership races the worker's note and run: likewise, except that a shutdown
//!   that completes the task before the worker noted its slot leaves no report (the
//!   closed graph would ignore it anyway); then the future never ran.
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
/// reported (or, if `shutdown`, at most one), with the picked slot: the runner's iff
/// the future ran (the JoinHandle has its value), else the release's.
fn assert_reported_once(task: EndReportModel, join: JoinHandle<()>, shutdown: bool) {
    // An abort or shutdown of a task already queued (notified) only marks it: the
    // worker's run cancels it. Nothing else is queued.
    task.run_queued();
    let output = loom::future::block_on(join);
    let reports = task.reports();
    if shutdown && reports.is_empty() {
        // The shutdown completed the task before the worker noted its slot.
        assert!(output.is_err_and(|e| e.is_cancelled()), "it never ran");
        return;
    }
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
        assert_reported_once(task, join, false);
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
        assert_reported_once(task, join, true);
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
        let ran = loom::future::block_on(join).is_ok();
        // None if the shutdown completed the task before the worker noted its slot.
        assert!(reports.len() <= 1, "{reports:?}");
        assert!(ran || reports.first().is_none_or(|r| r.0 == Reporter::Release));
        if let Some(&(who, at)) = reports.first() {
            assert_eq!(at, EndReportModel::slot());
            assert_eq!(who == Reporter::Runner, ran);
        } else {
            assert!(!ran, "a task that ran reports its end");
        }
    });
}
