//! Getting the runtime's numbers out:
//!
//! - [`prometheus`]: runtime, ExecutableTask and tracker metrics in the Prometheus text
//!   exposition format, as a string to serve at `/metrics` (see
//!   `examples/metrics_http.rs` for a small loopback endpoint).
//! - [`trace`]: a recorded [`Trace`](trace::Trace) of task polls per worker as Chrome
//!   trace-event JSON, for Perfetto or `chrome://tracing`.

pub mod prometheus;
pub mod trace;
