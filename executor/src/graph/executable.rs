//! `ExecutableTask`: a future (or a factory of futures) plus what the scheduler needs
//! to know about it: id, priority, deadline, dependencies, estimated duration,
//! resources, name, timeout and retry policy.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskweave_scheduler::{Priority, ResourceRequirements, TaskId, TaskSpec};

use super::body::{BoxError, Factory, Once, OnceFallible, TaskBody};
use super::retry::RetryPolicy;

/// A unit of work for [`Handle::submit`](crate::Handle::submit) and
/// [`TaskGraph`](super::TaskGraph): it runs once all its dependencies have succeeded,
/// in priority order (boosted as its deadline nears), and fails with
/// `DependencyFailed` without running if one of them fails.
///
/// ```
/// use std::time::Duration;
/// use taskweave_executor::graph::{ExecutableTask, Priority, TaskId};
///
/// let rt = taskweave_executor::Runtime::new().unwrap();
/// let fetch = ExecutableTask::new(async { 20 }).name("fetch").priority(Priority::HIGH);
/// let fetch_id = fetch.id();
/// let fetched = rt.submit(fetch).unwrap();
/// let report = ExecutableTask::new(async { "report written" })
///     .depends_on(fetch_id)
///     .estimated_duration(Duration::from_millis(2));
/// let report = rt.submit(report).unwrap();
/// rt.block_on(async {
///     assert_eq!(fetched.await.unwrap(), 20);
///     assert_eq!(report.await.unwrap(), "report written");
/// });
/// ```
pub struct ExecutableTask<B> {
    pub(crate) spec: TaskSpec,
    pub(crate) timeout: Option<Duration>,
    /// Boxed: few tasks retry, and the builder is moved a few times per task.
    pub(crate) retry: Option<Box<RetryPolicy>>,
    pub(crate) body: B,
    /// Whether [`resources`](Self::resources) was called: only then does the monitor
    /// hold the task to its declared cores and memory.
    pub(crate) declared: bool,
}

impl<F> ExecutableTask<Once<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    /// A task running `future` once. It fails only by panicking, timing out or being
    /// cancelled. Its id is fresh (see [`TaskId::fresh`]) unless set with
    /// [`id`](Self::id).
    pub fn new(future: F) -> Self {
        ExecutableTask::with_body(Once::new(future))
    }
}

impl<F, T, E> ExecutableTask<OnceFallible<F>>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    /// A task running a fallible `future` once; `Err` fails the task (and its
    /// dependents).
    pub fn try_new(future: F) -> Self {
        ExecutableTask::with_body(OnceFallible::new(future))
    }
}

impl<M, F, T, E> ExecutableTask<Factory<M, F>>
where
    M: FnMut() -> F + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError> + 'static,
{
    /// A task whose every attempt is a fresh future from `make`; needed for
    /// [`retry`](Self::retry).
    pub fn from_factory(make: M) -> Self {
        ExecutableTask::with_body(Factory::new(make))
    }

    /// Runs the task again after a failure, as `policy` says.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use taskweave_executor::graph::{Backoff, ExecutableTask, RetryPolicy};
    ///
    /// let rt = taskweave_executor::Runtime::new().unwrap();
    /// let tries = Arc::new(AtomicU32::new(0));
    /// let t = tries.clone();
    /// let flaky = ExecutableTask::from_factory(move || {
    ///     let n = t.fetch_add(1, Ordering::SeqCst) + 1;
    ///     async move { if n < 3 { Err("not yet") } else { Ok(n) } }
    /// })
    /// .retry(RetryPolicy::new(5, Backoff::fixed(Duration::from_millis(1))));
    /// let handle = rt.submit(flaky).unwrap();
    /// assert_eq!(rt.block_on(handle).unwrap(), 3);
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(Box::new(policy));
        self
    }
}

impl<B: TaskBody> ExecutableTask<B> {
    fn with_body(body: B) -> Self {
        ExecutableTask {
            spec: TaskSpec::new(TaskId::fresh()),
            timeout: None,
            retry: None,
            body,
            declared: false,
        }
    }

    /// This task's id, to name it as another task's dependency.
    pub fn id(&self) -> TaskId {
        self.spec.id
    }

    /// Uses a caller-chosen id instead of a fresh one (keep it below 2^63).
    pub fn with_id(mut self, id: TaskId) -> Self {
        self.spec.id = id;
        self
    }

    /// Base priority (default [`Priority::NORMAL`]).
    pub fn priority(mut self, priority: impl Into<Priority>) -> Self {
        self.spec.priority = priority.into();
        self
    }

    /// A soft deadline: the task's priority is boosted as it nears and the task goes
    /// first once it is overdue. (To stop it instead, use [`timeout`](Self::timeout).)
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.spec.deadline = Some(deadline);
        self
    }

    /// A soft deadline `after` from now.
    pub fn deadline_in(self, after: Duration) -> Self {
        let deadline = Instant::now() + after;
        self.deadline(deadline)
    }

    /// Runs only after `dependency` succeeded.
    pub fn depends_on(mut self, dependency: TaskId) -> Self {
        self.spec.dependencies.push(dependency);
        self
    }

    /// Runs only after all of `dependencies` succeeded.
    pub fn dependencies(mut self, dependencies: impl IntoIterator<Item = TaskId>) -> Self {
        self.spec.dependencies.extend(dependencies);
        self
    }

    /// Expected run time, used to prefer tasks on the critical path.
    pub fn estimated_duration(mut self, estimate: Duration) -> Self {
        self.spec.estimated_duration = estimate;
        self
    }

    /// Declared resource needs; a task whose needs exceed the machine (or the
    /// monitor's memory budget) is refused at submit.
    ///
    /// With the resource monitor on (the default), a task that declared its needs
    /// starts only when they fit what is free: `cpu_cores × (1 − io_intensity)` cores
    /// (what it keeps busy on average) out of the machine's cores, and `memory_bytes`
    /// out of the memory budget; until then it waits, by priority. A task that never
    /// called this declares nothing and only counts against the in-flight limit.
    pub fn resources(mut self, resources: ResourceRequirements) -> Self {
        self.spec.resources = resources;
        self.declared = true;
        self
    }

    /// A name for error messages (cycles, failures).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.spec.name = Some(name.into());
        self
    }

    /// Fails each attempt that runs longer than `limit` with `TimedOut`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The scheduler-facing description.
    pub fn spec(&self) -> &TaskSpec {
        &self.spec
    }
}

impl<B> std::fmt::Debug for ExecutableTask<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutableTask")
            .field("spec", &self.spec)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}
