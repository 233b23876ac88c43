//! Thin adapters that give taskweave, tokio and async-executor one shape, so every
//! workload in `benches/runtime.rs` (and `examples/task_memory.rs`, which includes this
//! file with `#[path]`) is written once and runs identically on all three.
//! `benches/dag.rs` uses it only for [`workers`], `benches/tracker.rs` for [`workers`]
//! and [`criterion_config`].
//!
//! Each runtime is built once with the same number of worker threads. The thread that
//! calls [`BenchRt::block_on`] is never one of those workers: it only drives the future
//! it is given, so the work that is measured runs on `workers` threads for all three.
//!
//! Spawning comes in two flavours:
//! - [`BenchRt::local`]: the spawner a task uses from inside the runtime — the context
//!   based free function for taskweave (`taskweave::spawn`) and tokio (`tokio::spawn`);
//!   async-executor has no ambient context, so it is the executor itself.
//! - [`BenchRt::remote`]: the spawner the bench thread uses from outside — the runtime
//!   `Handle` for taskweave and tokio, the executor for async-executor.
//!
//! Join handles are normalised to `Future<Output = T>`: taskweave's and tokio's
//! `Result<T, JoinError>` is unwrapped (a failed task fails the benchmark) through a
//! zero-cost wrapper, so no runtime pays for a boxed or `fn`-pointer adapter.

#![allow(dead_code)]

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

/// The criterion settings of the runtime and tracker benches: 20 samples after 1 s of
/// warm-up, 3 s of measurement each.
pub fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// Worker threads of every runtime unless `TASKWEAVE_BENCH_WORKERS` says otherwise.
pub const WORKERS: usize = 2;

/// The worker count in force: `TASKWEAVE_BENCH_WORKERS` if it is a positive integer,
/// else [`WORKERS`].
pub fn workers() -> usize {
    match std::env::var("TASKWEAVE_BENCH_WORKERS") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("TASKWEAVE_BENCH_WORKERS must be a positive integer, got {v:?}"),
        },
        Err(_) => WORKERS,
    }
}

/// Something that spawns `Send + 'static` futures onto a runtime.
pub trait Spawner: Clone + Send + Sync + 'static {
    /// The join handle, resolving to the task's output.
    type Join<T: Send + 'static>: Future<Output = T> + Send + 'static;

    /// Spawns `fut`; the task keeps running if the handle is dropped.
    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns `fut` and lets it run to completion without a handle. (Dropping an
    /// async-executor `Task` cancels it, so "fire and forget" needs its own method.)
    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static;
}

/// One runtime under test.
pub trait BenchRt: Sized + 'static {
    /// The function name in each criterion group.
    const NAME: &'static str;
    /// Spawns from inside the runtime (a task running on a worker).
    type Local: Spawner;
    /// Spawns from outside the runtime (the bench thread).
    type Remote: Spawner;

    /// Builds the runtime with `workers` worker threads.
    fn build(workers: usize) -> Self;
    /// Runs `fut` to completion on the calling thread (which is not a worker).
    fn block_on<F: Future>(&self, fut: F) -> F::Output;
    /// The in-runtime spawner. Only use it from inside the runtime.
    fn local(&self) -> Self::Local;
    /// The from-outside spawner.
    fn remote(&self) -> Self::Remote;
    /// The runtime's own `yield_now`.
    fn yield_now() -> impl Future<Output = ()> + Send;
    /// The runtime's own (or, for async-executor, its usual) timer.
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send;
}

// ---------------------------------------------------------------------------------
// Join-handle normalisation.

/// Resolves a `Future<Output = Result<T, E>>` to `T`, panicking on `Err`.
pub struct Unwrap<J>(J);

impl<J, T, E> Future for Unwrap<J>
where
    J: Future<Output = Result<T, E>>,
    E: Debug,
{
    type Output = T;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // SAFETY: structural pinning of the only field; `Unwrap` has no `Drop` impl and
        // no manual `Unpin` impl, and never moves the field out.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match inner.poll(cx) {
            Poll::Ready(Ok(v)) => Poll::Ready(v),
            Poll::Ready(Err(e)) => panic!("benchmark task failed: {e:?}"),
            Poll::Pending => Poll::Pending,
        }
    }
}

// ---------------------------------------------------------------------------------
// taskweave

/// taskweave's multi-thread runtime.
pub struct Taskweave {
    rt: Option<taskweave::Runtime>,
}

/// `taskweave::spawn` (ambient runtime context).
#[derive(Clone, Copy)]
pub struct TaskweaveCtx;

/// `taskweave::runtime::Handle::spawn`.
#[derive(Clone)]
pub struct TaskweaveHandle(taskweave::runtime::Handle);

impl Spawner for TaskweaveCtx {
    type Join<T: Send + 'static> = Unwrap<taskweave::task::JoinHandle<T>>;

    #[inline]
    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(taskweave::spawn(fut))
    }

    #[inline]
    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(taskweave::spawn(fut));
    }
}

impl Spawner for TaskweaveHandle {
    type Join<T: Send + 'static> = Unwrap<taskweave::task::JoinHandle<T>>;

    #[inline]
    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(self.0.spawn(fut))
    }

    #[inline]
    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.spawn(fut));
    }
}

impl BenchRt for Taskweave {
    const NAME: &'static str = "taskweave";
    type Local = TaskweaveCtx;
    type Remote = TaskweaveHandle;

    fn build(workers: usize) -> Self {
        let rt = taskweave::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("bench-taskweave")
            .enable_all()
            .build()
            .expect("build taskweave runtime");
        Taskweave { rt: Some(rt) }
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.as_ref().unwrap().block_on(fut)
    }

    fn local(&self) -> TaskweaveCtx {
        TaskweaveCtx
    }

    fn remote(&self) -> TaskweaveHandle {
        TaskweaveHandle(self.rt.as_ref().unwrap().handle().clone())
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        taskweave::task::yield_now()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        taskweave::time::sleep(d)
    }
}

impl Drop for Taskweave {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            if !rt.shutdown_timeout(Duration::from_secs(5)) {
                eprintln!("warning: taskweave runtime did not shut down within 5 s");
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// tokio

/// tokio's multi-thread runtime.
pub struct Tokio {
    rt: Option<tokio::runtime::Runtime>,
}

/// `tokio::spawn` (ambient runtime context).
#[derive(Clone, Copy)]
pub struct TokioCtx;

/// `tokio::runtime::Handle::spawn`.
#[derive(Clone)]
pub struct TokioHandle(tokio::runtime::Handle);

impl Spawner for TokioCtx {
    type Join<T: Send + 'static> = Unwrap<tokio::task::JoinHandle<T>>;

    #[inline]
    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(tokio::spawn(fut))
    }

    #[inline]
    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(fut));
    }
}

impl Spawner for TokioHandle {
    type Join<T: Send + 'static> = Unwrap<tokio::task::JoinHandle<T>>;

    #[inline]
    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Unwrap(self.0.spawn(fut))
    }

    #[inline]
    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.0.spawn(fut));
    }
}

impl BenchRt for Tokio {
    const NAME: &'static str = "tokio";
    type Local = TokioCtx;
    type Remote = TokioHandle;

    fn build(workers: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("bench-tokio")
            .enable_all()
            .build()
            .expect("build tokio runtime");
        Tokio { rt: Some(rt) }
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.as_ref().unwrap().block_on(fut)
    }

    fn local(&self) -> TokioCtx {
        TokioCtx
    }

    fn remote(&self) -> TokioHandle {
        TokioHandle(self.rt.as_ref().unwrap().handle().clone())
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

impl Drop for Tokio {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

// ---------------------------------------------------------------------------------
// async-executor

/// An `async_executor::Executor` run by `workers` threads, each in
/// `futures_lite::future::block_on(ex.run(shutdown))` — the crate's standard pattern.
/// Timers are `async_io::Timer`s, driven by async-io's own "async-io" driver thread
/// (the workers block in futures-lite's `block_on`, not async-io's).
pub struct AsyncExecutor {
    ex: Arc<async_executor::Executor<'static>>,
    shutdown: Option<async_channel::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

/// `Executor::spawn` — the same from inside and outside.
#[derive(Clone)]
pub struct AsyncExecutorSpawner(Arc<async_executor::Executor<'static>>);

impl Spawner for AsyncExecutorSpawner {
    type Join<T: Send + 'static> = async_executor::Task<T>;

    #[inline]
    fn spawn<F>(&self, fut: F) -> Self::Join<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0.spawn(fut)
    }

    #[inline]
    fn spawn_detached<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.0.spawn(fut).detach();
    }
}

impl BenchRt for AsyncExecutor {
    const NAME: &'static str = "async-executor";
    type Local = AsyncExecutorSpawner;
    type Remote = AsyncExecutorSpawner;

    fn build(workers: usize) -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let (tx, rx) = async_channel::unbounded::<()>();
        let threads = (0..workers)
            .map(|i| {
                let ex = ex.clone();
                let rx = rx.clone();
                thread::Builder::new()
                    .name(format!("bench-async-executor-{i}"))
                    .spawn(move || {
                        // Ends when the sender is dropped (recv() then fails).
                        let _ = futures_lite::future::block_on(ex.run(rx.recv()));
                    })
                    .expect("spawn async-executor worker")
            })
            .collect();
        AsyncExecutor {
            ex,
            shutdown: Some(tx),
            threads,
        }
    }

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        futures_lite::future::block_on(fut)
    }

    fn local(&self) -> AsyncExecutorSpawner {
        AsyncExecutorSpawner(self.ex.clone())
    }

    fn remote(&self) -> AsyncExecutorSpawner {
        AsyncExecutorSpawner(self.ex.clone())
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }

    fn sleep(d: Duration) -> impl Future<Output = ()> + Send {
        let timer = async_io::Timer::after(d);
        async move {
            timer.await;
        }
    }
}

impl Drop for AsyncExecutor {
    fn drop(&mut self) {
        drop(self.shutdown.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
