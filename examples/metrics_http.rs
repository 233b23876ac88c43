//! Serves the runtime's metrics in Prometheus text on loopback while tracked tasks and
//! an ExecutableTask graph run, then writes a Chrome trace of the task polls.
//!
//! ```text
//! cargo run --release --example metrics_http                    # 5 s on a free port
//! cargo run --release --example metrics_http -- --port 9464 --seconds 30
//! curl -s http://127.0.0.1:9464/metrics                          # Prometheus text
//! curl -s http://127.0.0.1:9464/tasks                            # live tracked tasks
//! ```
//!
//! Options: `--port N` (default 0: any free port; the bound address is printed),
//! `--seconds S` (serve this long, default 5), `--requests N` (or stop after N
//! requests), `--trace PATH` (default: `taskweave-trace.json` in the temp dir; open
//! it in <https://ui.perfetto.dev>). It fetches `/metrics` once itself, so a run with
//! no client still shows the output. The server is a plain `std::net::TcpListener`
//! on a blocking-pool thread: one request per connection, `GET` only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use taskweave::export::prometheus;
use taskweave::graph::{ExecutableTask, TaskGraph};
use taskweave::time::sleep;
use taskweave::tracker::TaskTracker;
use taskweave::{Handle, Runtime};

struct Options {
    port: u16,
    seconds: u64,
    requests: Option<u64>,
    trace: PathBuf,
}

const USAGE: &str = "usage: metrics_http [--port N] [--seconds S] [--requests N] [--trace PATH]";

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        port: 0,
        seconds: 5,
        requests: None,
        trace: std::env::temp_dir().join("taskweave-trace.json"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| format!("{flag} needs {what}"));
        match flag.as_str() {
            "--port" => {
                let v = value("a port number")?;
                options.port = v.parse().map_err(|_| format!("bad port {v:?}"))?;
            }
            "--seconds" => {
                let v = value("a number of seconds")?;
                options.seconds = v
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("bad number of seconds {v:?}"))?;
            }
            "--requests" => {
                let v = value("a request count")?;
                options.requests = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("bad request count {v:?}"))?,
                );
            }
            "--trace" => options.trace = PathBuf::from(value("a path")?),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(options)
}

fn main() {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(options) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(options: Options) -> std::io::Result<()> {
    let rt = taskweave::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()?;
    let tracker = TaskTracker::with_handle(rt.handle());
    rt.start_trace().map_err(std::io::Error::other)?;

    start_workload(&rt, &tracker);

    let listener = TcpListener::bind(("127.0.0.1", options.port))?;
    let addr = listener.local_addr()?;
    println!(
        "serving http://{addr}/metrics and /tasks for {} s",
        options.seconds
    );
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let (handle, served_tracker, limit) = (rt.handle().clone(), tracker.clone(), options.requests);
    let server =
        rt.spawn_blocking(move || serve(listener, &handle, &served_tracker, deadline, limit));

    // Let the workload get going, then fetch the metrics once ourselves.
    std::thread::sleep(Duration::from_millis(300));
    match fetch(addr, "/metrics") {
        Ok(body) => {
            let lines: Vec<&str> = body.lines().collect();
            println!("GET /metrics: {} lines, e.g.:", lines.len());
            for line in lines.iter().filter(|l| l.contains("tracker_tasks")).take(6) {
                println!("  {line}");
            }
        }
        Err(e) => eprintln!("could not fetch our own /metrics: {e}"),
    }

    let served = rt.block_on(server).map_err(std::io::Error::from)??;
    let cancelled = tracker.cancel_all();
    let give_up = Instant::now() + Duration::from_secs(1);
    while !tracker.is_empty() && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    let trace = rt.stop_trace();
    trace.write_json(std::fs::File::create(&options.trace)?)?;

    let stats = tracker.stats();
    println!(
        "served {served} request(s); tracked tasks: {} spawned, {} completed, {} failed, \
         {} panicked, {} cancelled ({cancelled} at exit)",
        stats.spawned, stats.completed, stats.failed, stats.panicked, stats.cancelled
    );
    println!(
        "trace: {} polls ({} dropped) over {:.1} s on {} workers -> {} (open in https://ui.perfetto.dev)",
        trace.events().len(),
        trace.dropped(),
        trace.duration().as_secs_f64(),
        trace.workers(),
        options.trace.display()
    );
    Ok(())
}

/// Tracked tasks of a few kinds, spawned in waves, plus a small task graph per wave.
fn start_workload(rt: &Runtime, tracker: &TaskTracker) {
    // A long-lived task of its own kind, cancelled at exit.
    tracker.spawn("watch-config", "watcher", async {
        loop {
            sleep(Duration::from_millis(100)).await;
        }
    });
    let (t, handle) = (tracker.clone(), rt.handle().clone());
    tracker.spawn("producer", "producer", async move {
        for wave in 0u64.. {
            for i in 0..8u64 {
                t.spawn_fallible(format!("fetch-{wave}-{i}"), "fetch", async move {
                    sleep(Duration::from_millis(5 + i * 3)).await;
                    if (wave + i) % 7 == 0 {
                        Err(format!("upstream {i} timed out"))
                    } else {
                        Ok(i)
                    }
                });
                t.spawn(format!("compute-{wave}-{i}"), "compute", async move {
                    let mut x = wave ^ i;
                    for _ in 0..4 {
                        for _ in 0..20_000 {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                        }
                        taskweave::task::yield_now().await;
                    }
                    std::hint::black_box(x)
                });
            }
            submit_graph(&handle, wave);
            sleep(Duration::from_millis(50)).await;
        }
    });
}

/// load -> (parse, index) -> publish, as ExecutableTasks.
fn submit_graph(handle: &Handle, wave: u64) {
    let build = || -> Result<(), taskweave::graph::SubmitError> {
        let mut graph = TaskGraph::new(handle);
        let load =
            ExecutableTask::new(sleep(Duration::from_millis(2))).name(format!("load-{wave}"));
        let load_id = load.id();
        graph.add(load)?;
        let parse = ExecutableTask::new(async {})
            .name("parse")
            .depends_on(load_id);
        let index = ExecutableTask::new(async {})
            .name("index")
            .depends_on(load_id);
        let ids = [parse.id(), index.id()];
        graph.add(parse)?;
        graph.add(index)?;
        graph.add(
            ExecutableTask::new(async {})
                .name("publish")
                .dependencies(ids),
        )?;
        graph.submit()
    };
    // Fails only once the runtime shuts down.
    let _ = build();
}

/// Answers requests until `deadline` or `limit` requests; returns how many it served.
fn serve(
    listener: TcpListener,
    handle: &Handle,
    tracker: &TaskTracker,
    deadline: Instant,
    limit: Option<u64>,
) -> std::io::Result<u64> {
    listener.set_nonblocking(true)?;
    let mut served = 0;
    while Instant::now() < deadline && limit.is_none_or(|n| served < n) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = respond(stream, handle, tracker) {
                    eprintln!("request failed: {e}");
                }
                served += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(served)
}

fn respond(stream: TcpStream, handle: &Handle, tracker: &TaskTracker) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (status, content_type, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/metrics")) => (
            "200 OK",
            prometheus::CONTENT_TYPE,
            prometheus::render(handle, Some(tracker)),
        ),
        (Some("GET"), Some("/tasks")) => {
            let mut body = String::new();
            for task in tracker.running() {
                body.push_str(&format!(
                    "{}\t{}\t{:?}\t{:.3}s\n",
                    task.id,
                    task.kind,
                    task.name.as_str(),
                    task.age().as_secs_f64()
                ));
            }
            ("200 OK", "text/plain; charset=utf-8", body)
        }
        (Some("GET"), Some(_)) => (
            "404 Not Found",
            "text/plain",
            "try /metrics or /tasks\n".into(),
        ),
        (Some(_), Some(_)) => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
        _ => (
            "400 Bad Request",
            "text/plain",
            "malformed request line\n".into(),
        ),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// A minimal HTTP GET; returns the body.
fn fetch(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!(
            "unexpected status: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    Ok(body.to_string())
}
