//! Metrics in the Prometheus text exposition format (version 0.0.4).
//!
//! Every metric is named `taskweave_…`; each family has its `# HELP` and `# TYPE`
//! lines, then its samples (`name{label="value",…} value`), and counters end in
//! `_total`. Label values are escaped (`\\`, `\"`, `\n`), so any tracker kind is safe.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `taskweave_workers` | gauge | |
//! | `taskweave_tasks_alive` | gauge | |
//! | `taskweave_tasks_spawned_total` | counter | |
//! | `taskweave_injector_queue_depth` | gauge | |
//! | `taskweave_blocking_threads`, `taskweave_blocking_idle_threads`, `taskweave_blocking_queue_depth` | gauge | |
//! | `taskweave_worker_local_queue_depth` | gauge | `worker` |
//! | `taskweave_worker_polls_total`, `…_steals_total`, `…_parks_total`, `…_busy_seconds_total` | counter | `worker` |
//! | `taskweave_graph_tasks_submitted_total`, `taskweave_graph_tasks_started_total` | counter | |
//! | `taskweave_graph_tasks_finished_total` | counter | `outcome` = succeeded, failed, panicked, timed_out, cancelled, dependency_failed |
//! | `taskweave_graph_ready_queue_depth`, `taskweave_graph_tasks_running` | gauge | |
//! | `taskweave_monitor_limit`, `…_in_flight`, `…_waiting`, `…_pending`, `…_memory_budget_bytes`, `…_memory_in_use_bytes`, `…_cores_in_use` (with the resource monitor on) | gauge | |
//! | `taskweave_monitor_limit_changes_total` (with the resource monitor on) | counter | |
//! | `taskweave_tracker_tasks_spawned_total` | counter | `kind` |
//! | `taskweave_tracker_tasks_finished_total` | counter | `kind`, `outcome` = completed, failed, panicked, cancelled |
//! | `taskweave_tracker_tasks_running` | gauge | `kind` |

use std::fmt::Write as _;

use crate::graph::GraphMetrics;
use crate::monitor::MonitorStatus;
use crate::runtime::{Handle, RuntimeMetrics};
use crate::tracker::TaskTracker;

/// The `Content-Type` to serve [`render`]'s text with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics of `handle`'s runtime (workers, queues, blocking pool, ExecutableTasks)
/// and, if given, of `tracker` (per kind), as Prometheus text.
///
/// ```
/// use taskweave_executor::export::prometheus;
/// use taskweave_executor::tracker::TaskTracker;
///
/// let rt = taskweave_executor::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .build()
///     .unwrap();
/// let tracker = TaskTracker::with_handle(rt.handle());
/// rt.block_on(tracker.spawn("index", "db", async {})).unwrap();
/// let text = prometheus::render(rt.handle(), Some(&tracker));
/// assert!(text.contains("# TYPE taskweave_worker_polls_total counter\n"));
/// assert!(text.contains("taskweave_worker_polls_total{worker=\"1\"} "));
/// assert!(text.contains("taskweave_tracker_tasks_spawned_total{kind=\"db\"} 1\n"));
/// ```
pub fn render(handle: &Handle, tracker: Option<&TaskTracker>) -> String {
    let mut out = Exposition::default();
    runtime_families(&mut out, &handle.metrics());
    graph_families(&mut out, &handle.graph_metrics());
    if let Some(status) = handle.monitor_status() {
        monitor_families(&mut out, &status);
    }
    if let Some(tracker) = tracker {
        tracker_families(&mut out, tracker);
    }
    out.text
}

fn runtime_families(out: &mut Exposition, m: &RuntimeMetrics) {
    let workers = m.num_workers();
    #[rustfmt::skip]
    let single: [(&str, Type, &str, usize); 6] = [
        ("taskweave_workers", Type::Gauge, "Worker threads of the runtime.", workers),
        ("taskweave_tasks_alive", Type::Gauge, "Tasks spawned and not yet completed, blocking tasks included.", m.num_alive_tasks()),
        ("taskweave_injector_queue_depth", Type::Gauge, "Tasks waiting in the global injector queue.", m.injector_queue_depth()),
        ("taskweave_blocking_threads", Type::Gauge, "Threads in the blocking pool.", m.num_blocking_threads()),
        ("taskweave_blocking_idle_threads", Type::Gauge, "Idle threads in the blocking pool.", m.num_idle_blocking_threads()),
        ("taskweave_blocking_queue_depth", Type::Gauge, "Blocking jobs waiting for a thread.", m.blocking_queue_depth()),
    ];
    for (name, ty, help, value) in single {
        out.single(name, ty, help, value);
    }
    out.single(
        "taskweave_tasks_spawned_total",
        Type::Counter,
        "Tasks ever spawned on the runtime.",
        m.spawned_tasks_count(),
    );

    #[rustfmt::skip]
    let per_worker: [(&str, Type, &str, PerWorker); 5] = [
        ("taskweave_worker_local_queue_depth", Type::Gauge, "Tasks waiting in the worker's own queue.", |m, w| Value::Int(m.worker_local_queue_depth(w) as u64)),
        ("taskweave_worker_polls_total", Type::Counter, "Task polls made by the worker.", |m, w| Value::Int(m.worker_poll_count(w))),
        ("taskweave_worker_steals_total", Type::Counter, "Tasks the worker stole from other workers.", |m, w| Value::Int(m.worker_steal_count(w))),
        ("taskweave_worker_parks_total", Type::Counter, "Times the worker parked for lack of work.", |m, w| Value::Int(m.worker_park_count(w))),
        ("taskweave_worker_busy_seconds_total", Type::Counter, "Time the worker spent out of park, up to its last park.", |m, w| Value::Float(m.worker_total_busy_duration(w).as_secs_f64())),
    ];
    for (name, ty, help, value) in per_worker {
        out.family(name, ty, help);
        for w in 0..workers {
            out.sample(name, &[("worker", &w.to_string())], value(m, w));
        }
    }
}

/// Reads one worker's value of a per-worker family.
type PerWorker = fn(&RuntimeMetrics, usize) -> Value;

fn graph_families(out: &mut Exposition, m: &GraphMetrics) {
    // One snapshot: the families of one scrape agree with each other.
    let c = m.snapshot();
    out.single(
        "taskweave_graph_tasks_submitted_total",
        Type::Counter,
        "ExecutableTasks accepted by submit.",
        c.submitted,
    );
    out.single(
        "taskweave_graph_tasks_started_total",
        Type::Counter,
        "ExecutableTasks that started running.",
        c.started,
    );
    let name = "taskweave_graph_tasks_finished_total";
    out.family(
        name,
        Type::Counter,
        "ExecutableTasks that ended, by outcome.",
    );
    for (outcome, count) in [
        ("succeeded", c.succeeded),
        ("failed", c.failed),
        ("panicked", c.panicked),
        ("timed_out", c.timed_out),
        ("cancelled", c.cancelled),
        ("dependency_failed", c.dependency_failed),
    ] {
        out.sample(name, &[("outcome", outcome)], count);
    }
    out.single(
        "taskweave_graph_ready_queue_depth",
        Type::Gauge,
        "Items waiting in the ExecutableTask ready heap.",
        c.ready_queue_depth,
    );
    out.single(
        "taskweave_graph_tasks_running",
        Type::Gauge,
        "ExecutableTasks started and not yet ended.",
        c.running,
    );
}

fn monitor_families(out: &mut Exposition, s: &MonitorStatus) {
    #[rustfmt::skip]
    let gauges: [(&str, &str, Value); 7] = [
        ("taskweave_monitor_limit", "ExecutableTasks allowed to run at once (the concurrency controller's limit).", s.limit.into()),
        ("taskweave_monitor_in_flight", "ExecutableTasks holding a permit.", s.in_flight.into()),
        ("taskweave_monitor_waiting", "Started ExecutableTasks waiting for a permit.", s.waiting.into()),
        ("taskweave_monitor_pending", "Submitted ExecutableTasks not yet started.", s.pending.into()),
        ("taskweave_monitor_memory_budget_bytes", "Memory that declared ExecutableTasks may hold now.", s.memory_budget.into()),
        ("taskweave_monitor_memory_in_use_bytes", "Memory declared by running ExecutableTasks.", s.memory_in_use.into()),
        ("taskweave_monitor_cores_in_use", "Cores declared by running ExecutableTasks.", Value::Float(s.cores_in_use)),
    ];
    for (name, help, value) in gauges {
        out.single(name, Type::Gauge, help, value);
    }
    out.single(
        "taskweave_monitor_limit_changes_total",
        Type::Counter,
        "Times the concurrency controller changed the limit.",
        s.limit_changes,
    );
}

fn tracker_families(out: &mut Exposition, tracker: &TaskTracker) {
    let kinds = tracker.stats_by_kind();
    let spawned = "taskweave_tracker_tasks_spawned_total";
    out.family(spawned, Type::Counter, "Tracked tasks spawned, by kind.");
    for k in &kinds {
        out.sample(spawned, &[("kind", k.kind)], k.stats.spawned);
    }
    let finished = "taskweave_tracker_tasks_finished_total";
    out.family(
        finished,
        Type::Counter,
        "Tracked tasks that ended, by kind and outcome.",
    );
    for k in &kinds {
        let s = &k.stats;
        for (outcome, count) in [
            ("completed", s.completed),
            ("failed", s.failed),
            ("panicked", s.panicked),
            ("cancelled", s.cancelled),
        ] {
            out.sample(finished, &[("kind", k.kind), ("outcome", outcome)], count);
        }
    }
    let running = "taskweave_tracker_tasks_running";
    out.family(
        running,
        Type::Gauge,
        "Tracked tasks spawned and not yet ended, by kind.",
    );
    for k in &kinds {
        out.sample(running, &[("kind", k.kind)], k.stats.running);
    }
}

#[derive(Clone, Copy)]
enum Type {
    Counter,
    Gauge,
}

enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(v as u64)
    }
}

/// The text being built.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a metric family: its HELP and TYPE lines.
    fn family(&mut self, name: &str, ty: Type, help: &str) {
        debug_assert!(is_metric_name(name), "invalid metric name {name:?}");
        debug_assert_eq!(
            name.ends_with("_total"),
            matches!(ty, Type::Counter),
            "{name}: counters, and only counters, end in _total"
        );
        let ty = match ty {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
        };
        let _ = write!(self.text, "# HELP {name} ");
        escape_into(&mut self.text, help, false);
        let _ = writeln!(self.text, "\n# TYPE {name} {ty}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, ty: Type, help: &str, value: impl Into<Value>) {
        self.family(name, ty, help);
        self.sample(name, &[], value);
    }

    /// One sample of the family just started.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Into<Value>) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(label);
                self.text.push_str("=\"");
                escape_into(&mut self.text, value, true);
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        match value.into() {
            Value::Int(v) => {
                let _ = write!(self.text, "{v}");
            }
            Value::Float(v) if v.is_nan() => self.text.push_str("NaN"),
            Value::Float(v) if v.is_infinite() => {
                self.text.push_str(if v > 0.0 { "+Inf" } else { "-Inf" })
            }
            Value::Float(v) => {
                let _ = write!(self.text, "{v}");
            }
        }
        self.text.push('\n');
    }
}

/// Escapes `s` for a HELP text (`\\`, `\n`) or a label value (also `\"`).
fn escape_into(out: &mut String, s: &str, label_value: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if label_value => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = Exposition::default();
        out.family(
            "taskweave_x_total",
            Type::Counter,
            "a \"quoted\" \\ help\nline",
        );
        out.sample("taskweave_x_total", &[("kind", "a\"b\\c\nd")], 3u64);
        assert_eq!(
            out.text,
            "# HELP taskweave_x_total a \"quoted\" \\\\ help\\nline\n\
             # TYPE taskweave_x_total counter\n\
             taskweave_x_total{kind=\"a\\\"b\\\\c\\nd\"} 3\n"
        );
    }

    #[test]
    fn special_floats_use_prometheus_spelling() {
        let mut out = Exposition::default();
        out.family("taskweave_g", Type::Gauge, "g");
        out.sample("taskweave_g", &[], Value::Float(f64::INFINITY));
        out.sample("taskweave_g", &[], Value::Float(f64::NEG_INFINITY));
        out.sample("taskweave_g", &[], Value::Float(f64::NAN));
        out.sample("taskweave_g", &[], Value::Float(0.25));
        let samples: Vec<&str> = out.text.lines().skip(2).collect();
        assert_eq!(
            samples,
            [
                "taskweave_g +Inf",
                "taskweave_g -Inf",
                "taskweave_g NaN",
                "taskweave_g 0.25"
            ]
        );
    }

    #[test]
    fn metric_names_are_checked() {
        assert!(is_metric_name("taskweave_worker_polls_total"));
        assert!(is_metric_name("a:b_c9"));
        assert!(!is_metric_name(""));
        assert!(!is_metric_name("9lives"));
        assert!(!is_metric_name("with-dash"));
        assert!(!is_metric_name("spa ce"));
    }
}
