//! Chrome trace-event JSON of task polls, recorded per worker (see
//! [`Handle::start_trace`](crate::Handle::start_trace)); opens in Perfetto
//! (<https://ui.perfetto.dev>) and `chrome://tracing`.
//!
//! The JSON is the "JSON object format" of the Trace Event Format: one complete
//! (`"ph":"X"`) event per poll with `ts`/`dur` in microseconds (nanosecond precision,
//! three decimals), `pid` = this process, `tid` = the worker index, `name` = the task's
//! name (or `"task"`), `args.task_id`; plus metadata (`"ph":"M"`) events naming the
//! process and each worker's track.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::task::{Id, TaskName};

/// One task poll made by a worker.
#[derive(Debug, Clone)]
pub struct TraceEvent {
    /// The worker's index (0-based).
    pub worker: usize,
    /// The polled task.
    pub task: Id,
    /// The task's name, if it gave one (a tracked task, or a named ExecutableTask).
    pub name: Option<TaskName>,
    /// When the poll began, since the trace started.
    pub start: Duration,
    /// How long the poll took.
    pub duration: Duration,
}

impl TraceEvent {
    /// When the poll ended, since the trace started.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }
}

/// Why a trace session could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceError {
    /// A session is already running on this runtime.
    AlreadyRunning,
    /// The per-worker capacity must be between 1 and
    /// [`MAX_TRACE_CAPACITY`](crate::runtime::MAX_TRACE_CAPACITY).
    InvalidCapacity(usize),
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::AlreadyRunning => {
                f.write_str("a trace session is already running on this runtime")
            }
            TraceError::InvalidCapacity(n) => write!(
                f,
                "trace capacity {n} is out of range: each worker must keep between 1 and {} \
                 events",
                crate::runtime::MAX_TRACE_CAPACITY
            ),
        }
    }
}

impl std::error::Error for TraceError {}

/// The polls recorded by one trace session, sorted by worker, then start.
///
/// ```
/// let rt = taskweave_executor::runtime::Builder::new_multi_thread()
///     .worker_threads(1)
///     .build()
///     .unwrap();
/// rt.start_trace().unwrap();
/// let tracker = taskweave_executor::tracker::TaskTracker::with_handle(rt.handle());
/// rt.block_on(tracker.spawn("load \"config\"", "io", async {
///     taskweave_executor::task::yield_now().await;
/// }))
/// .unwrap();
/// let trace = rt.stop_trace();
/// assert_eq!(trace.events().len(), 2); // two polls: before and after the yield
/// assert!(trace.events().iter().all(|e| e.name.as_deref() == Some("load \"config\"")));
/// assert!(trace.to_json().contains(r#""name":"load \"config\"""#));
/// ```
#[derive(Debug, Clone)]
pub struct Trace {
    events: Vec<TraceEvent>,
    workers: usize,
    dropped: u64,
    duration: Duration,
}

impl Trace {
    pub(crate) fn new(
        mut events: Vec<TraceEvent>,
        workers: usize,
        dropped: u64,
        duration: Duration,
    ) -> Trace {
        events.sort_by_key(|e| (e.worker, e.start));
        Trace {
            events,
            workers,
            dropped,
            duration,
        }
    }

    /// The recorded polls, sorted by worker, then start.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Polls left out because a worker's buffer was full (the oldest go first).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The runtime's number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// How long the session ran.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The trace as Chrome trace-event JSON (`{"traceEvents":[...]}`).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128 + self.events.len() * 112);
        self.write(&mut out)
            .expect("writing to a String cannot fail");
        out
    }

    /// Writes [`to_json`](Trace::to_json)'s text to `out`.
    ///
    /// # Errors
    /// What `out` reports.
    pub fn write_json<W: io::Write>(&self, out: W) -> io::Result<()> {
        let mut adapter = IoAdapter {
            inner: io::BufWriter::new(out),
            error: None,
        };
        match self.write(&mut adapter) {
            Ok(()) => io::Write::flush(&mut adapter.inner),
            Err(fmt::Error) => Err(adapter
                .error
                .unwrap_or_else(|| io::Error::other("formatting the trace failed"))),
        }
    }

    fn write(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let pid = std::process::id();
        out.write_str("{\"traceEvents\":[")?;
        write!(
            out,
            "{{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":0,\
             \"args\":{{\"name\":\"taskweave\"}}}}"
        )?;
        for worker in 0..self.workers {
            write!(
                out,
                ",{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{worker},\
                 \"args\":{{\"name\":\"worker-{worker}\"}}}}"
            )?;
        }
        for event in &self.events {
            out.write_str(",{\"name\":")?;
            write_json_string(out, event.name.as_deref().unwrap_or("task"))?;
            out.write_str(",\"cat\":\"task\",\"ph\":\"X\",\"ts\":")?;
            write_micros(out, event.start)?;
            out.write_str(",\"dur\":")?;
            write_micros(out, event.duration)?;
            write!(
                out,
                ",\"pid\":{pid},\"tid\":{},\"args\":{{\"task_id\":{}}}}}",
                event.worker,
                event.task.as_u64()
            )?;
        }
        write!(
            out,
            "],\"displayTimeUnit\":\"ns\",\"otherData\":{{\"workers\":{},\
             \"dropped_events\":{},\"duration_us\":",
            self.workers, self.dropped
        )?;
        write_micros(out, self.duration)?;
        out.write_str("}}")
    }
}

/// Microseconds with three decimals (nanosecond precision), as a JSON number.
fn write_micros(out: &mut impl fmt::Write, d: Duration) -> fmt::Result {
    let nanos = d.as_nanos();
    write!(out, "{}.{:03}", nanos / 1000, nanos % 1000)
}

/// `s` as a JSON string literal (RFC 8259 escapes; control characters as `\u00XX`).
pub(crate) fn write_json_string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// Lets the formatter write to an `io::Write`, keeping the first I/O error.
struct IoAdapter<W: io::Write> {
    inner: W,
    error: Option<io::Error>,
}

impl<W: io::Write> fmt::Write for IoAdapter<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.inner.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_string(s: &str) -> String {
        let mut out = String::new();
        write_json_string(&mut out, s).unwrap();
        out
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(json_string("plain"), "\"plain\"");
        assert_eq!(json_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json_string("line\nfeed\ttab"), r#""line\nfeed\ttab""#);
        assert_eq!(json_string("\u{1}\u{1f}"), r#""\u0001\u001f""#);
        assert_eq!(json_string("héllo ✓"), "\"héllo ✓\"");
    }

    #[test]
    fn times_are_microseconds_with_nanosecond_decimals() {
        let mut out = String::new();
        write_micros(&mut out, Duration::from_nanos(1_234_567)).unwrap();
        assert_eq!(out, "1234.567");
        out.clear();
        write_micros(&mut out, Duration::from_nanos(5)).unwrap();
        assert_eq!(out, "0.005");
    }

    #[test]
    fn an_empty_trace_still_has_its_tracks() {
        let json = Trace::new(Vec::new(), 2, 0, Duration::ZERO).to_json();
        assert!(json.starts_with("{\"traceEvents\":[{\"name\":\"process_name\""));
        assert_eq!(json.matches("\"thread_name\"").count(), 2);
        assert!(json.ends_with("\"duration_us\":0.000}}"));
    }

    #[test]
    fn write_json_reports_io_errors() {
        struct Broken;
        impl io::Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
            }
        }
        let trace = Trace::new(Vec::new(), 1, 0, Duration::ZERO);
        let err = trace.write_json(Broken).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
