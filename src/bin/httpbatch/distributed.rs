//! `httpbatch submit`, `worker`, `collect` and `status`: one list of requests in Redis, run by
//! any number of worker processes on any machines (feature `redis`).
//!
//! A request's payload in the stream is its input line (a URL, or a JSON spec without `id`),
//! so workers read exactly the format `httpbatch` reads; its recorded outcome is the JSON line
//! `httpbatch` prints, plus `id` and `worker`.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use httpbatch::distributed::{
    Entry, OnUnreachable, RedisRateLimitedExecutor, RedisRateLimiter, WorkList, Worker,
};
use httpbatch::{BatchExecutor, BatchOptions, Error, ErrorKind, Execute, Outcome, Rate};

use crate::args::{BodyMode, NetArgs, Order};
use crate::input::{Defaults, Item, Parsed, Parser};
use crate::output::render;
use crate::stack::{Stack, StackConfig};
use crate::units::parse_duration;
use crate::{Fatal, Interrupt};

/// Where the list lives.
#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    /// The Redis server: redis://[user:pass@]HOST:PORT/DB.
    #[arg(long, value_name = "URL")]
    pub redis: String,
    /// The list's name (its keys in Redis start with it).
    #[arg(long, value_name = "NAME", default_value = "httpbatch")]
    pub list: String,
}

/// Options of `httpbatch submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// Read requests from FILE instead of stdin: URLs or JSON lines, as `httpbatch` reads them;
    /// a JSON line's `id` (string or number) names its outcome, else its position does.
    #[arg(short = 'a', long, value_name = "FILE")]
    pub input: Option<PathBuf>,
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    Rate::parse(text).map_err(|e| e.message().to_owned())
}

/// Options of `httpbatch worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// This worker's name among the list's workers [default: HOST-PID].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Requests in flight at once.
    #[arg(short, long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// A rate shared by every worker through the same Redis (every retry included): 200/s.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<Rate>,
    /// Burst of the shared rate.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "rate")]
    pub burst: u32,
    /// Take N tokens of the shared rate per Redis round trip (see the README for the cost).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "rate")]
    pub lease: u32,
    /// While Redis is unreachable, go on at this share of the rate (0 to 1) instead of waiting.
    #[arg(long, value_name = "SHARE", requires = "rate")]
    pub fail_open: Option<f64>,
    /// Claim another worker's request once it has been unacknowledged this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub visibility: Duration,
    /// Dead-letter a request delivered this many times without an outcome.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_deliveries: u64,
    /// Exit once every request of the list has an outcome (else run until SIGINT/SIGTERM).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Retry each failed request up to N times.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Time allowed for each request.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Options of `httpbatch collect`.
#[derive(Debug, Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// `input` (submission order) or `completed` (as recorded).
    #[arg(long, value_enum, default_value_t = Order::Input, value_name = "ORDER")]
    pub order: Order,
    /// Print what is recorded now and exit, instead of waiting for every outcome.
    #[arg(long)]
    pub no_wait: bool,
    /// No progress on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Options of `httpbatch status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// Print the status as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn open(a: &ListArgs) -> Result<WorkList, Fatal> {
    WorkList::open(&a.redis, &a.list).map_err(|e| Fatal::usage(e.to_string()))
}

fn redis_failed(e: Error) -> Fatal {
    Fatal::input(e.to_string())
}

/// One input line as `(id, payload)`: a JSON line loses its `id`, which names the request.
fn submission(line: &str, position: u64) -> Result<(String, String), String> {
    if !line.starts_with('{') {
        return Ok((position.to_string(), line.to_owned()));
    }
    let mut v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object_mut().ok_or("a JSON line must be an object")?;
    let id = match obj.remove("id") {
        None => position.to_string(),
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) => return Err("\"id\" must be a string or a number".into()),
    };
    Ok((id, v.to_string()))
}

/// `httpbatch submit`: appends the input's requests to the list.
pub fn submit(a: &SubmitArgs) -> Result<ExitCode, Fatal> {
    let list = open(&a.list)?;
    let reader: Box<dyn BufRead> = match &a.input {
        Some(p) => {
            Box::new(io::BufReader::new(std::fs::File::open(p).map_err(|e| {
                Fatal::input(format!("cannot read {}: {e}", p.display()))
            })?))
        }
        None => Box::new(io::stdin().lock()),
    };
    let before = list.status().map_err(redis_failed)?.total;
    let mut items = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Fatal::input(format!("cannot read the input: {e}")))?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let position = before + items.len() as u64;
        let item =
            submission(text, position).map_err(|e| Fatal::input(format!("line {}: {e}", n + 1)))?;
        items.push(item);
    }
    let n = list.submit(items).map_err(redis_failed)?;
    eprintln!("httpbatch: submitted {n} requests to {}", a.list.list);
    Ok(ExitCode::SUCCESS)
}

fn item(entry: &Entry) -> Item {
    let defaults = Defaults::default();
    match Parser::new(&defaults).line(format!("entry {}", entry.id).into(), &entry.payload) {
        Parsed::One(item) => *item,
        Parsed::Skip | Parsed::Glob(_) => Item {
            meta: Default::default(),
            request: Err(Error::new(
                ErrorKind::InvalidRequest,
                "the entry holds no single request",
            )),
        },
    }
}

/// `httpbatch worker`: runs the list's requests until stopped (or done).
pub fn worker(a: &WorkerArgs, interrupt: &Interrupt) -> Result<ExitCode, Fatal> {
    let list = open(&a.list)?;
    let name = a.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".into());
        format!("{host}-{}", std::process::id())
    });
    let config = StackConfig {
        concurrency: a.concurrency.clamp(1, 4096),
        rate: None,
        per_host: None,
        retries: a.retries,
        retry_backoff: Duration::from_millis(100),
        retry_after_cap: Duration::from_secs(30),
        retry_post: false,
        timeout: a.timeout,
        connect_timeout: Duration::from_secs(10),
        max_body: 10 << 20,
        max_head: 64 << 10,
        health_check: None,
        health_path: "/".into(),
        net: a.net.clone(),
        dedup: false,
        cache: Default::default(),
        coalesce: Default::default(),
    };
    let stack = Stack::build(&config).map_err(|e| Fatal::usage(e.to_string()))?;
    // The CLI's pool (per-host caps, retries, TLS and proxy options) under the shared limiter:
    // the same order as the library's Stack (limiter above the pool, charging at the leaf),
    // with the Redis limiter in the local one's place. The stack's own workers are not used.
    let pool = stack
        .executor
        .pool()
        .cloned()
        .expect("the CLI's stack always has a pool");
    stack.executor.shutdown();
    let mut top: Arc<dyn Execute> = Arc::new(pool);
    let limiter = match a.rate {
        Some(rate) => {
            let mut b = RedisRateLimiter::builder(&a.list.redis, rate, a.burst)
                .key(format!("{}:rate", a.list.list))
                .lease(a.lease);
            if let Some(share) = a.fail_open {
                b = b.on_unreachable(OnUnreachable::LocalShare(share));
            }
            let l = b.build().map_err(|e| Fatal::usage(e.to_string()))?;
            top = Arc::new(RedisRateLimitedExecutor::new(top, l.clone()));
            Some(l)
        }
        None => None,
    };
    let executor = BatchExecutor::builder()
        .workers(config.concurrency)
        .build(top)
        .map_err(|e| Fatal::usage(e.to_string()))?;
    let started = Instant::now();
    // The first SIGINT/SIGTERM stops reading: requests in flight finish and are recorded. A
    // second exits at once; what it interrupts stays pending and another worker claims it.
    let summary = Worker::new(&list, name.clone())
        .visibility_timeout(a.visibility)
        .max_deliveries(a.max_deliveries)
        .read_batch(config.concurrency)
        .exit_when_complete(a.exit_when_done)
        .stop_on(interrupt.token())
        .run(
            &executor,
            BatchOptions::new().request_timeout(a.timeout),
            |e| item(e).request,
            |e, outcome| record_line(e, outcome, &name),
        );
    let mut line = format!(
        "httpbatch: worker {name}: {} run, {} recorded, {} duplicates, {} reclaimed, {} dead-lettered, {} released, {} Redis errors in {:.1?}",
        summary.started,
        summary.recorded,
        summary.duplicates,
        summary.reclaimed,
        summary.dead,
        summary.released,
        summary.redis_errors,
        started.elapsed()
    );
    if let Some(l) = limiter {
        let s = l.stats();
        line += &format!(
            "; limiter: {} admitted, {} round trips, {} from leases, {} fallback, {} switches, {} recoveries",
            s.limiter.admitted,
            s.round_trips,
            s.from_lease,
            s.fallback_admitted,
            s.switches,
            s.recoveries
        );
    }
    eprintln!("{line}");
    Ok(ExitCode::SUCCESS)
}

fn record_line(entry: &Entry, outcome: &Outcome, worker: &str) -> String {
    let it = item(entry);
    let mut meta = it.meta;
    meta.index = entry.seq as usize;
    let line = render(&meta, outcome, &BodyMode::None, false);
    let mut v: serde_json::Value = serde_json::from_str(&line).expect("render writes JSON");
    if let Some(obj) = v.as_object_mut() {
        obj.insert("id".into(), entry.id.clone().into());
        obj.insert("worker".into(), worker.into());
    }
    v.to_string()
}

/// `httpbatch collect`: prints the recorded outcomes, waiting for all unless `--no-wait`.
pub fn collect(a: &CollectArgs) -> Result<ExitCode, Fatal> {
    let list = open(&a.list)?;
    let total = list.status().map_err(redis_failed)?.total;
    let bar = crate::progress::bar(!a.quiet);
    bar.set_length(total);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut printed: u64 = 0;
    let mut failed = 0;
    let mut idle = Duration::from_millis(10);
    while printed < total {
        let lines: Vec<String> = match a.order {
            Order::Input => list
                .in_order(printed, 500)
                .map_err(redis_failed)?
                .into_iter()
                .map_while(|(_, o)| o)
                .collect(),
            Order::Completed => list
                .completed(printed, 500)
                .map_err(redis_failed)?
                .into_iter()
                .map(|r| r.outcome)
                .collect(),
        };
        if lines.is_empty() {
            if a.no_wait {
                break;
            }
            let _ = out.flush();
            std::thread::sleep(idle);
            idle = (idle * 2).min(Duration::from_millis(500));
            continue;
        }
        idle = Duration::from_millis(10);
        for l in lines {
            failed += usize::from(is_failure(&l));
            if writeln!(out, "{l}").is_err() {
                return Ok(ExitCode::FAILURE);
            }
            printed += 1;
        }
        bar.set_position(printed);
        bar.set_message(format!("{failed} failed"));
    }
    let _ = out.flush();
    bar.finish_and_clear();
    if !a.quiet {
        eprintln!("httpbatch: collected {printed} of {total} outcomes, {failed} failed");
    }
    Ok(if failed == 0 && printed == total {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn is_failure(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("status").and_then(|s| s.as_u64()))
        .is_none_or(|s| s >= 400)
}

/// `httpbatch status`: queued, pending, done and failed, in total and per worker.
pub fn status(a: &StatusArgs) -> Result<ExitCode, Fatal> {
    let s = open(&a.list)?.status().map_err(redis_failed)?;
    if a.json {
        let workers: Vec<serde_json::Value> = s
            .workers
            .iter()
            .map(|w| {
                serde_json::json!({"name": w.name, "pending": w.pending, "done": w.done,
                    "failed": w.failed})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"total": s.total, "queued": s.queued, "pending": s.pending,
                "done": s.recorded, "failed": s.failed, "dead": s.dead, "workers": workers})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} requests: {} queued, {} pending, {} done ({} failed, {} dead-lettered)",
        a.list.list, s.total, s.queued, s.pending, s.recorded, s.failed, s.dead
    );
    println!(
        "{:<32} {:>8} {:>8} {:>8}",
        "worker", "pending", "done", "failed"
    );
    for w in &s.workers {
        println!(
            "{:<32} {:>8} {:>8} {:>8}",
            w.name, w.pending, w.done, w.failed
        );
    }
    Ok(ExitCode::SUCCESS)
}
