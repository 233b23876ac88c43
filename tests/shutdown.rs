//! Shutdown: dropping a runtime drops every pending future and cancels every
//! JoinHandle, never hangs, refuses later spawns, cancels what destructors spawn, and
//! can happen from inside the runtime's own threads.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use common::{pending_holding, runtime, watchdog, DropCounter, DropGuard};
use taskweave::runtime::SpawnError;
use taskweave::task::yield_now;
use taskweave::{Handle, JoinHandle};

/// Awaits a JoinHandle outside any runtime.
fn join<T>(h: JoinHandle<T>) -> Result<T, taskweave::JoinError> {
    futures::executor::block_on(h)
}

#[test]
fn drop_cancels_every_pending_task_and_drops_its_future() {
    watchdog("drop with pending tasks", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let polled = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        // Idle forever, after having been polled.
        for _ in 0..500 {
            let (guard, polled) = (drops.guard(), polled.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
                polled.fetch_add(1, SeqCst);
                std::future::pending::<u32>().await
            }));
        }
        // Sleeping far in the future.
        for _ in 0..200 {
            let (guard, polled) = (drops.guard(), polled.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
                polled.fetch_add(1, SeqCst);
                taskweave::time::sleep(Duration::from_secs(3600)).await;
                1
            }));
        }
        // Waiting on a channel whose sender is kept alive outside.
        let (_keep_tx, rx) = async_channel::unbounded::<u32>();
        for _ in 0..200 {
            let (guard, polled, rx) = (drops.guard(), polled.clone(), rx.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
                polled.fetch_add(1, SeqCst);
                rx.recv().await.unwrap()
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while polled.load(SeqCst) < 900 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            polled.load(SeqCst),
            900,
            "not every task got its first poll"
        );
        // And some that were never polled: queued right before the drop.
        for _ in 0..100 {
            let guard = drops.guard();
            handles.push(rt.spawn(async move {
                let _guard = guard;
                std::future::pending::<u32>().await
            }));
        }
        assert_eq!(drops.dropped(), 0);
        drop(rt);
        assert_eq!(drops.created(), 1000);
        assert_eq!(
            drops.dropped(),
            1000,
            "dropping the runtime left pending futures alive"
        );
        for h in handles {
            let err = join(h).expect_err("a pending task produced a value after shutdown");
            assert!(err.is_cancelled(), "expected cancelled, got {err:?}");
        }
    });
}

#[test]
fn drop_does_not_hang_on_pending_or_yielding_tasks() {
    watchdog("drop with busy-yielding tasks", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let running = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..8 {
            let (guard, running) = (drops.guard(), running.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
                running.fetch_add(1, SeqCst);
                if i % 2 == 0 {
                    // Perpetually yielding.
                    loop {
                        yield_now().await;
                    }
                } else {
                    // Perpetually waking itself without yield_now.
                    std::future::poll_fn(|cx| {
                        cx.waker().wake_by_ref();
                        Poll::<()>::Pending
                    })
                    .await
                }
            }));
        }
        for _ in 0..8 {
            let (guard, running) = (drops.guard(), running.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
                running.fetch_add(1, SeqCst);
                std::future::pending::<()>().await
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running.load(SeqCst) < 16 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(running.load(SeqCst), 16);
        std::thread::sleep(Duration::from_millis(20));
        drop(rt);
        assert_eq!(drops.dropped(), 16);
        for h in handles {
            assert!(join(h).unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn shutdown_timeout_returns() {
    watchdog("shutdown_timeout", || {
        // Idle runtime: every thread stops in time.
        let rt = runtime(2);
        assert_eq!(rt.block_on(async { 1 }), 1);
        assert!(rt.shutdown_timeout(Duration::from_secs(10)));

        // Pending tasks are cancelled just as with drop.
        let rt = runtime(2);
        let drops = DropCounter::new();
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let guard = drops.guard();
                rt.spawn(async move {
                    let _guard = guard;
                    loop {
                        yield_now().await;
                    }
                })
            })
            .collect();
        assert!(rt.shutdown_timeout(Duration::from_secs(10)));
        assert_eq!(drops.dropped(), 100);
        for h in handles {
            assert!(join(h).unwrap_err().is_cancelled());
        }

        // A task stuck inside a poll: shutdown_timeout gives up and says so.
        let rt = runtime(2);
        let release = Arc::new(AtomicBool::new(false));
        let (entered_tx, entered_rx) = mpsc::channel();
        let guard_drops = DropCounter::new();
        let stuck = {
            let release = release.clone();
            let guard = guard_drops.guard();
            rt.spawn(async move {
                let _guard = guard;
                entered_tx.send(()).unwrap();
                while !release.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                yield_now().await;
                unreachable!("the task must be cancelled at its next scheduling point");
            })
        };
        entered_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            !rt.shutdown_timeout(Duration::from_millis(50)),
            "shutdown_timeout claimed a clean stop while a worker was stuck in a poll"
        );
        release.store(true, SeqCst);
        // The worker cancels the task after its poll.
        let err = join(stuck).unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(guard_drops.dropped(), 1);

        // A running blocking job is not waited for beyond the timeout.
        let rt = runtime(1);
        let (started_tx, started_rx) = mpsc::channel();
        let (finish_tx, finish_rx) = mpsc::channel::<()>();
        let job = rt.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            finish_rx.recv_timeout(Duration::from_secs(20)).ok();
            5
        });
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(!rt.shutdown_timeout(Duration::from_millis(20)));
        finish_tx.send(()).unwrap();
        // The job was already running: it finishes and delivers its value.
        assert_eq!(join(job).unwrap(), 5);

        // shutdown_background returns at once too.
        let rt = runtime(2);
        let h = rt.spawn(std::future::pending::<()>());
        rt.shutdown_background();
        assert!(join(h).unwrap_err().is_cancelled());
    });
}

#[test]
fn spawn_after_shutdown_is_refused() {
    watchdog("spawn after shutdown", || {
        let rt = runtime(2);
        let handle: Handle = rt.handle().clone();
        assert!(!handle.is_shutdown());
        drop(rt);
        assert!(handle.is_shutdown());

        let drops = DropCounter::new();
        let ran = Arc::new(AtomicBool::new(false));

        let (guard, ran2) = (drops.guard(), ran.clone());
        let res = handle.try_spawn(async move {
            let _guard = guard;
            ran2.store(true, SeqCst);
        });
        assert_eq!(res.unwrap_err(), SpawnError::Shutdown);

        let (guard, ran2) = (drops.guard(), ran.clone());
        let h = handle.spawn(async move {
            let _guard = guard;
            ran2.store(true, SeqCst);
            1
        });
        let err = join(h).expect_err("a task spawned after shutdown ran");
        assert!(err.is_cancelled());

        let ran2 = ran.clone();
        let h = handle.spawn_blocking(move || ran2.store(true, SeqCst));
        assert!(join(h).unwrap_err().is_cancelled());

        assert!(
            !ran.load(SeqCst),
            "a future spawned after shutdown was polled"
        );
        assert_eq!(
            drops.dropped(),
            2,
            "futures refused at spawn were not dropped"
        );
    });
}

/// A future whose destructor spawns another task (holding a guard) on `handle`.
struct SpawnOnDrop {
    handle: Handle,
    drops: DropCounter,
    depth: usize,
    ran: Arc<AtomicUsize>,
    spawned: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _guard: DropGuard,
}

impl SpawnOnDrop {
    fn new(
        handle: &Handle,
        drops: &DropCounter,
        depth: usize,
        ran: &Arc<AtomicUsize>,
        spawned: &Arc<Mutex<Vec<JoinHandle<()>>>>,
    ) -> SpawnOnDrop {
        SpawnOnDrop {
            handle: handle.clone(),
            drops: drops.clone(),
            depth,
            ran: ran.clone(),
            spawned: spawned.clone(),
            _guard: drops.guard(),
        }
    }
}

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        if self.depth == 0 {
            return;
        }
        let child = SpawnOnDrop::new(
            &self.handle,
            &self.drops,
            self.depth - 1,
            &self.ran,
            &self.spawned,
        );
        let ran = self.ran.clone();
        let h = self.handle.spawn(async move {
            let _child = child;
            ran.fetch_add(1, SeqCst);
            std::future::pending::<()>().await
        });
        self.spawned.lock().unwrap().push(h);
    }
}

#[test]
fn tasks_spawned_by_destructors_during_shutdown_are_cancelled() {
    watchdog("spawn from destructor at shutdown", || {
        let rt = runtime(2);
        let handle = rt.handle().clone();
        let drops = DropCounter::new();
        let ran = Arc::new(AtomicUsize::new(0));
        let spawned = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..50 {
            let sod = SpawnOnDrop::new(&handle, &drops, 3, &ran, &spawned);
            let started = started.clone();
            handles.push(rt.spawn(async move {
                let _sod = sod;
                started.fetch_add(1, SeqCst);
                if i % 2 == 0 {
                    std::future::pending::<()>().await
                } else {
                    loop {
                        yield_now().await;
                    }
                }
            }));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while started.load(SeqCst) < 50 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(started.load(SeqCst), 50);
        let ran_before = ran.load(SeqCst);
        assert_eq!(ran_before, 0);
        drop(rt);
        // 50 roots, each a chain of 3 more spawned from destructors.
        assert_eq!(
            drops.created(),
            200,
            "destructors did not spawn their children"
        );
        assert_eq!(
            drops.dropped(),
            drops.created(),
            "a task spawned from a destructor during shutdown leaked"
        );
        assert_eq!(
            ran.load(SeqCst),
            0,
            "a task spawned during shutdown was polled"
        );
        for h in handles {
            assert!(join(h).unwrap_err().is_cancelled());
        }
        let spawned = std::mem::take(&mut *spawned.lock().unwrap());
        assert_eq!(spawned.len(), 150);
        for h in spawned {
            assert!(join(h).unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn dropping_the_runtime_inside_spawn_blocking_returns() {
    watchdog("drop runtime in spawn_blocking", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let pending: Vec<_> = (0..20)
            .map(|_| rt.spawn(pending_holding(drops.guard())))
            .collect();
        let handle = rt.handle().clone();
        let (done_tx, done_rx) = mpsc::channel();
        let job = handle.spawn_blocking(move || {
            drop(rt);
            done_tx.send(()).unwrap();
            "dropped"
        });
        done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("dropping the runtime on its own blocking thread did not return");
        assert!(handle.is_shutdown());
        // The job itself was running: it finishes (value or cancellation), never hangs.
        match join(job) {
            Ok(v) => assert_eq!(v, "dropped"),
            Err(e) => assert!(e.is_cancelled(), "{e:?}"),
        }
        assert_eq!(drops.dropped(), 20);
        for h in pending {
            assert!(join(h).unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn dropping_the_runtime_inside_one_of_its_tasks_returns() {
    watchdog("drop runtime in a task", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let pending: Vec<_> = (0..20)
            .map(|_| rt.spawn(pending_holding(drops.guard())))
            .collect();
        let handle = rt.handle().clone();
        let (done_tx, done_rx) = mpsc::channel();
        let task = handle.spawn(async move {
            drop(rt);
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("dropping the runtime on its own worker did not return");
        assert!(handle.is_shutdown());
        let _ = join(task);
        assert_eq!(drops.dropped(), 20);
        for h in pending {
            assert!(join(h).unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn task_handles_outlive_their_runtime() {
    // A TaskHandle reaches its runtime through its task: once the runtime is dropped
    // (and no Handle is left), cancelling or awaiting it still works and tells what
    // happened.
    use taskweave::graph::{ExecutableTask, TaskError};
    watchdog("task handles after the runtime is gone", || {
        let rt = runtime(2);
        let drops = DropCounter::new();
        let done = rt.submit(ExecutableTask::new(async { 7 })).unwrap();
        let blocker = ExecutableTask::new(pending_holding(drops.guard()));
        let blocker_id = blocker.id();
        let blocker = rt.submit(blocker).unwrap();
        let waiting = ExecutableTask::new(async { 1 }).depends_on(blocker_id);
        let waiting = rt.submit(waiting).unwrap();
        common::wait_until("the first task finishes", || done.is_finished());
        drop(rt);
        assert_eq!(drops.dropped(), 1, "shutdown dropped the blocker");
        for _ in 0..2 {
            done.cancel();
            blocker.cancel();
            waiting.cancel();
        }
        assert!(done.is_finished() && blocker.is_finished() && waiting.is_finished());
        assert_eq!(futures::executor::block_on(done).unwrap(), 7);
        let blocked = futures::executor::block_on(blocker);
        assert!(matches!(blocked, Err(TaskError::Shutdown)), "{blocked:?}");
        // Shut down too, or failed with the blocker if its cancellation reached the
        // graph first.
        let waited = futures::executor::block_on(waiting);
        assert!(
            matches!(waited, Err(TaskError::Shutdown))
                || matches!(waited, Err(TaskError::DependencyFailed(id)) if id == blocker_id),
            "{waited:?}"
        );
    });
}

#[test]
fn the_runtime_is_freed_once_its_tasks_and_handles_are_gone() {
    // Every task holds a reference to its runtime's shared state; workers give those
    // of the ExecutableTasks they free back in batches. Once the runtime is dropped
    // and no task or handle is left, nothing may still hold the state: the hooks it
    // owns are dropped with it.
    use taskweave::graph::{ExecutableTask, TaskGraph};
    watchdog("the runtime's state is freed", || {
        let drops = DropCounter::new();
        let hook_guard = drops.guard();
        let rt = taskweave::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .on_thread_start(move || {
                let _ = &hook_guard;
            })
            .build()
            .expect("build runtime");
        // Not a multiple of the batch, so some references are still kept when the
        // workers stop.
        let mut graph = TaskGraph::new(rt.handle());
        let mut last = None;
        for i in 0..1_001u64 {
            let task = ExecutableTask::new(async move { i });
            let task = match last {
                Some(id) if i % 3 == 0 => task.depends_on(id),
                _ => task,
            };
            last = Some(task.id());
            graph.add(task).unwrap();
        }
        graph.submit().unwrap();
        let sink = rt.submit(ExecutableTask::new(async { 1 }).depends_on(last.unwrap()));
        assert_eq!(rt.block_on(sink.unwrap()).unwrap(), 1);
        assert_eq!(drops.dropped(), 0, "the runtime is alive");
        drop(rt);
        common::wait_until("the runtime's state is dropped", || drops.dropped() == 1);
    });
}
