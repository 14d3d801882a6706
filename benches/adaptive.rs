//! Adaptive limits (issue 12): a client configured far above a server's quota (1000/s) follows
//! the quota the server advertises (`/quota/{key}?limit=Q`, a token bucket of Q per second) and
//! is measured at the server: 429 answers, and throughput from the arrival timestamps against Q.
//!
//! Run: `cargo bench --bench adaptive`. Environment: `ADAPTIVE_N` (requests per run, default
//! 300), `ADAPTIVE_QUOTA` (per second, default 50).

use httpbatch::{
    AdaptiveLimits, BatchExecutor, BatchOptions, HttpClient, Rate, RateLimitedExecutor,
    RateLimiter, Request,
};
use httpbatch_testserver::Server;

fn run(style: &str, adaptive: bool, n: usize, quota: u32) {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let limiter = RateLimiter::new(Rate::parse("1000/s").unwrap(), 4).unwrap();
    let mut exec = RateLimitedExecutor::new(HttpClient::new(), limiter)
        .per_host(Rate::parse("1000/s").unwrap(), 2)
        .unwrap();
    if adaptive {
        exec = exec.adaptive(AdaptiveLimits::new());
    }
    let batch = BatchExecutor::builder().workers(8).build(exec).unwrap();
    let url = server.url(&format!("/quota/b?limit={quota}&style={style}"));
    let r = batch.execute_batch((0..n).map(|_| Request::get(&url)), BatchOptions::new());
    let too_many = r
        .outcomes
        .iter()
        .filter(|o| o.status() == Some(429))
        .count();
    let at: Vec<_> = server.arrivals().into_iter().map(|a| a.at).collect();
    // Throughput after the first answer could lower the rate (the first 8 went out at once).
    let tail = &at[9.min(at.len() - 1)..];
    let span = (tail[tail.len() - 1] - tail[0]).as_secs_f64();
    let rate = (tail.len() - 1) as f64 / span;
    println!(
        "{style:>4} adaptive={adaptive:<5} n={n}: {too_many} answered 429, {rate:.2}/s at the server \
         against a quota of {quota}/s ({:+.2} %)",
        (rate / f64::from(quota) - 1.0) * 100.0
    );
}

fn main() {
    let n: usize = std::env::var("ADAPTIVE_N").map_or(300, |v| v.parse().unwrap());
    let quota: u32 = std::env::var("ADAPTIVE_QUOTA").map_or(50, |v| v.parse().unwrap());
    for style in ["ietf", "x"] {
        run(style, true, n, quota);
    }
    run("ietf", false, n, quota);
}
