//! `Builder`: configures and starts a runtime (tokio's builder shape).

use std::fmt;
use std::io;
use std::time::Duration;

use super::monitoring::{MonitorConfig, Monitoring};
use super::shared::{Config, Hook, Remote, Shared};
use super::worker::WorkerCore;
use super::{idle::Idle, metrics::WorkerStats, park::Parker, queue, Runtime};
use crate::blocking::{BlockingConfig, BlockingPool};
use crate::sync::{Arc, AtomicBool, Condvar, Mutex};
use crate::task::OwnedTasks;

type NameFn = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// Configures a runtime.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let started = Arc::new(AtomicUsize::new(0));
/// let counter = started.clone();
/// let rt = taskweave_executor::runtime::Builder::new_multi_thread()
///     .worker_threads(3)
///     .thread_name("my-worker")
///     .on_thread_start(move || { counter.fetch_add(1, Ordering::SeqCst); })
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// drop(rt);
/// assert!(started.load(Ordering::SeqCst) >= 3);
/// ```
pub struct Builder {
    worker_threads: Option<usize>,
    thread_name: NameFn,
    thread_stack_size: Option<usize>,
    on_thread_start: Option<Hook>,
    on_thread_stop: Option<Hook>,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    global_queue_interval: u32,
    max_finished_task_records: usize,
    ready_queue: crate::graph::ReadyQueueConfig,
    /// `None`: the monitor is disabled.
    monitor: Option<MonitorConfig>,
}

impl Builder {
    /// A builder for the multi-threaded work-stealing runtime (the only kind).
    pub fn new_multi_thread() -> Builder {
        Builder {
            worker_threads: None,
            thread_name: std::sync::Arc::new(|| "taskweave-worker".to_string()),
            thread_stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            max_blocking_threads: 512,
            blocking_keep_alive: Duration::from_secs(10),
            global_queue_interval: 61,
            max_finished_task_records: 1 << 18,
            ready_queue: crate::graph::ReadyQueueConfig::default(),
            // Loom models build no real runtime; keep model state free of the sampler.
            monitor: (!cfg!(taskweave_loom)).then(MonitorConfig::default),
        }
    }

    /// Same as [`Builder::new_multi_thread`].
    pub fn new() -> Builder {
        Builder::new_multi_thread()
    }

    /// Number of worker threads (default: the machine's available parallelism).
    /// Zero makes [`build`](Self::build) fail.
    pub fn worker_threads(&mut self, n: usize) -> &mut Self {
        self.worker_threads = Some(n);
        self
    }

    /// Name of every runtime thread.
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        let name: String = name.into();
        self.thread_name = std::sync::Arc::new(move || name.clone());
        self
    }

    /// A function naming each runtime thread as it starts.
    pub fn thread_name_fn(&mut self, f: impl Fn() -> String + Send + Sync + 'static) -> &mut Self {
        self.thread_name = std::sync::Arc::new(f);
        self
    }

    /// Stack size of runtime threads.
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Self {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// Runs on every worker and blocking thread as it starts.
    pub fn on_thread_start(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.on_thread_start = Some(std::sync::Arc::new(f));
        self
    }

    /// Runs on every worker and blocking thread as it stops.
    pub fn on_thread_stop(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.on_thread_stop = Some(std::sync::Arc::new(f));
        self
    }

    /// Most threads the blocking pool may start (default 512). Zero makes
    /// [`build`](Self::build) fail.
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Self {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking thread waits for work before exiting (default 10 s).
    pub fn thread_keep_alive(&mut self, d: Duration) -> &mut Self {
        self.blocking_keep_alive = d;
        self
    }

    /// Every this many scheduling ticks a worker checks the global injector before its
    /// own queue (default 61). Zero makes [`build`](Self::build) fail.
    pub fn global_queue_interval(&mut self, ticks: u32) -> &mut Self {
        self.global_queue_interval = ticks;
        self
    }

    /// How many finished ExecutableTasks' outcomes the runtime remembers (so later
    /// tasks may depend on them) before it forgets them all (default 2^18). A
    /// remembered success keeps its graph slot, about 100 bytes, so the default bounds
    /// that memory near 25 MiB.
    pub fn max_finished_task_records(&mut self, n: usize) -> &mut Self {
        self.max_finished_task_records = n;
        self
    }

    /// Tunes the ready heap's deadline boost, aging and starvation guard (see
    /// [`ReadyQueueConfig`](crate::graph::ReadyQueueConfig); defaults: boost over the
    /// last 100 ms before a deadline, up to 64 levels; one level of aging per 10 ms of
    /// waiting, up to 128). A zero `aging_interval` turns aging and the starvation
    /// guard off, so that the order of ready tasks depends on their keys alone.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskweave_executor::graph::ReadyQueueConfig;
    ///
    /// let rt = taskweave_executor::Builder::new()
    ///     .ready_queue(ReadyQueueConfig {
    ///         aging_interval: Duration::ZERO,
    ///         ..ReadyQueueConfig::default()
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn ready_queue(&mut self, config: crate::graph::ReadyQueueConfig) -> &mut Self {
        self.ready_queue = config;
        self
    }

    /// Configures the resource monitor (on by default with [`MonitorConfig::new`]'s
    /// settings): adaptive in-flight limit, resource admission and backpressure for
    /// ExecutableTasks. See [`crate::monitor`].
    pub fn monitor(&mut self, config: MonitorConfig) -> &mut Self {
        self.monitor = Some(config);
        self
    }

    /// Turns the resource monitor off: ExecutableTasks start as soon as they are
    /// ready, nothing is sampled, and `try_submit` never reports `QueueFull`.
    pub fn disable_monitor(&mut self) -> &mut Self {
        self.monitor = None;
        self
    }

    /// Accepted for compatibility with tokio's builder: timers are always enabled.
    pub fn enable_all(&mut self) -> &mut Self {
        self
    }

    /// Accepted for compatibility with tokio's builder: timers are always enabled.
    pub fn enable_time(&mut self) -> &mut Self {
        self
    }

    /// Starts the runtime's threads.
    ///
    /// # Errors
    /// `InvalidInput` for zero workers, zero blocking threads, a zero global queue
    /// interval or invalid monitor settings (interval below 200 ms, zero pending
    /// capacity, memory fraction outside `(0, 1]`); the OS error if a thread cannot be
    /// started.
    pub fn build(&mut self) -> io::Result<Runtime> {
        let workers = self.worker_threads.unwrap_or_else(default_worker_threads);
        if workers == 0 {
            return Err(invalid("worker_threads must be at least 1"));
        }
        if workers >= 1 << 15 {
            return Err(invalid("worker_threads must be below 32768"));
        }
        if self.max_blocking_threads == 0 {
            return Err(invalid("max_blocking_threads must be at least 1"));
        }
        if self.global_queue_interval == 0 {
            return Err(invalid("global_queue_interval must be at least 1"));
        }
        if let Some(config) = &self.monitor {
            config.validate().map_err(|e| invalid(&e))?;
        }
        let limits = crate::graph::MachineLimits::detect();
        let monitor = match &self.monitor {
            Some(config) => Monitoring::new(config, workers, limits.cores, limits.memory_bytes),
            None => Monitoring::disabled(),
        };
        let time = crate::time::Driver::start(format!("{}-timer", (self.thread_name)()))?;
        let blocking_name = self.thread_name.clone();
        let blocking = BlockingPool::new(BlockingConfig {
            max_threads: self.max_blocking_threads,
            keep_alive: self.blocking_keep_alive,
            thread_name: std::sync::Arc::new(move || format!("{}-blocking", blocking_name())),
            thread_stack_size: self.thread_stack_size,
            on_thread_start: self.on_thread_start.clone(),
            on_thread_stop: self.on_thread_stop.clone(),
        });
        let locals: Vec<queue::Worker<_>> =
            (0..workers).map(|_| queue::Worker::new_fifo()).collect();
        let remotes = locals
            .iter()
            .map(|local| Remote {
                stealer: local.stealer(),
                parker: Parker::new(),
            })
            .collect();
        let shared = Arc::new(Shared {
            injector: queue::Injector::new(),
            remotes,
            idle: Idle::new(workers),
            owned: OwnedTasks::new(workers * 16),
            dispatch: crate::graph::dispatch::Dispatch::new(
                self.max_finished_task_records,
                self.ready_queue,
                limits,
                workers,
            ),
            monitor,
            shutdown: AtomicBool::new(false),
            stats: (0..workers).map(|_| WorkerStats::default()).collect(),
            trace: super::trace::Recorder::new(workers),
            config: Config {
                global_queue_interval: self.global_queue_interval,
                on_thread_start: self.on_thread_start.clone(),
                on_thread_stop: self.on_thread_stop.clone(),
            },
            time,
            blocking,
            exited: Mutex::new(0),
            exited_cv: Condvar::new(),
        });
        let mut threads = Vec::with_capacity(workers);
        for (index, local) in locals.into_iter().enumerate() {
            let core = WorkerCore::new(index, shared.clone(), local);
            let mut builder = crate::sync::thread::Builder::new().name((self.thread_name)());
            if let Some(size) = self.thread_stack_size {
                builder = builder.stack_size(size);
            }
            match builder.spawn(move || core.run()) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    // Stop the workers already started before reporting.
                    let started = threads.len();
                    shared.begin_shutdown();
                    shared.wait_workers_exited(started, None);
                    shared.time.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(Runtime::from_parts(shared, threads))
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}

fn default_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or_else(|_| num_cpus::get())
        .max(1)
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new_multi_thread()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("worker_threads", &self.worker_threads)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("monitor", &self.monitor)
            .finish()
    }
}
