//! Batch executor benchmarks (issue 2), all against a loopback server started here.
//!
//! 1. W1: 20,000 GETs of 64 bytes at concurrency 32 — `BatchExecutor` over the leaf against plain
//!    threads sharing one `ureq::Agent` (the baseline), interleaved, best of `ROUNDS`.
//! 2. The time `execute_batch` adds for 10,000 requests to an executor that returns at once.
//!
//! Run: `cargo bench --bench batch` (set `W1_REQUESTS` to change the request count). The
//! engine's own memory, overhead and cancel figures are in `benches/engine.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use httpbatch::{
    BatchExecutor, BatchOptions, Context, Error, Execute, HttpClient, Request, Response,
};
use httpbatch_testserver::Server;

const CONCURRENCY: usize = 32;
const ROUNDS: usize = 3;

fn w1_executor(ex: &BatchExecutor<HttpClient>, url: &str, n: usize) -> Duration {
    let requests: Vec<_> = (0..n).map(|_| Request::get(url)).collect();
    let t = Instant::now();
    let r = ex.execute_batch(requests, BatchOptions::new());
    let d = t.elapsed();
    assert_eq!(r.summary.succeeded, n);
    d
}

fn w1_raw_ureq(url: &str, n: usize) -> Duration {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(CONCURRENCY * 2)
        .max_idle_connections_per_host(CONCURRENCY * 2)
        .build()
        .into();
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let threads: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (agent, next, url) = (agent.clone(), next.clone(), url.to_owned());
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let mut res = agent.get(&url).call().unwrap();
                    let body = res.body_mut().read_to_vec().unwrap();
                    assert_eq!(body.len(), 64);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    t.elapsed()
}

struct Immediate;

impl Execute for Immediate {
    fn execute(&self, req: Request, _ctx: &Context) -> Result<Response, Error> {
        Ok(Response::new(200, Vec::new()).with_tag(req.tag()))
    }
}

fn overhead() {
    const N: usize = 10_000;
    let ex = BatchExecutor::new(Immediate, 32).unwrap();
    let mut best = Duration::MAX;
    for _ in 0..20 {
        let requests: Vec<_> = (0..N)
            .map(|_| Request::get("http://127.0.0.1/").unwrap())
            .collect();
        let t = Instant::now();
        let r = ex.execute_batch(requests, BatchOptions::new());
        best = best.min(t.elapsed());
        assert_eq!(r.summary.succeeded, N);
    }
    println!("overhead: execute_batch of {N} requests to an immediate executor: best {best:?}");
}

fn main() {
    let n: usize = std::env::var("W1_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let server = Server::start().unwrap();
    let url = server.url("/bytes/64");
    let ex = BatchExecutor::builder()
        .workers(CONCURRENCY)
        .build(HttpClient::new())
        .unwrap();
    // Profiling aid: W1_ONLY=executor|raw runs just that path, 10 rounds.
    match std::env::var("W1_ONLY").as_deref() {
        Ok("executor") => {
            for _ in 0..10 {
                w1_executor(&ex, &url, n);
            }
            return;
        }
        Ok("raw") => {
            for _ in 0..10 {
                w1_raw_ureq(&url, n);
            }
            return;
        }
        _ => {}
    }
    // Warm both paths once (connections, resolver cache) before timing.
    w1_executor(&ex, &url, 1000);
    w1_raw_ureq(&url, 1000);
    let (mut best_ex, mut best_raw) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        best_ex = best_ex.min(w1_executor(&ex, &url, n));
        best_raw = best_raw.min(w1_raw_ureq(&url, n));
    }
    let rps = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "W1 ({n} GETs of 64 B, concurrency {CONCURRENCY}, best of {ROUNDS}): \
         BatchExecutor {:.0} req/s, raw ureq (shared Agent) {:.0} req/s, ratio {:.3}",
        rps(best_ex),
        rps(best_raw),
        rps(best_ex) / rps(best_raw)
    );
    overhead();
}
