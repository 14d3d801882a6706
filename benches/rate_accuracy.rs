//! Rate accuracy against a loopback server (issue 3): 1,000 requests at 200/s from 8 workers,
//! through `BatchExecutor` → `RateLimitedExecutor` → `HttpClient`, timed where it matters: at the
//! server, from the arrival of each request.
//!
//! Reports the wall-time error of the whole run against the ideal schedule ((n − burst) × 5 ms
//! between the first and the last arrival) and p50/p99 of |inter-arrival − 5 ms|, for burst 1 and
//! burst 2.
//!
//! Run: `cargo bench --bench rate_accuracy` (`RATE_N` changes the request count).

use std::time::Duration;

use httpbatch::{
    BatchExecutor, BatchOptions, HttpClient, Rate, RateLimitedExecutor, RateLimiter, Request,
};
use httpbatch_testserver::Server;

fn run(n: usize, burst: u32) {
    let server = Server::builder().record_arrivals(true).start().unwrap();
    let limiter = RateLimiter::new(Rate::per_second(200.0).unwrap(), burst).unwrap();
    let ex = BatchExecutor::new(RateLimitedExecutor::new(HttpClient::new(), limiter), 8).unwrap();
    // Open the 8 connections first so connects do not disturb the schedule; then let the
    // bucket fill up again.
    let warm = ex.execute_batch(
        (0..8).map(|_| Request::get(&server.url("/ok"))),
        BatchOptions::new(),
    );
    assert_eq!(warm.summary.succeeded, 8);
    std::thread::sleep(Duration::from_millis(50));
    server.clear_arrivals();

    let r = ex.execute_batch(
        (0..n).map(|_| Request::get(&server.url("/ok"))),
        BatchOptions::new(),
    );
    assert_eq!(r.summary.succeeded, n);
    let mut at: Vec<_> = server.arrivals().into_iter().map(|a| a.at).collect();
    at.sort();
    assert_eq!(at.len(), n);
    let interval = Duration::from_millis(5);
    let span = at[n - 1] - at[0];
    let ideal = interval * (n as u32 - burst);
    let error = (span.as_secs_f64() - ideal.as_secs_f64()).abs() / ideal.as_secs_f64();
    // Gaps after the initial burst.
    let mut dev: Vec<Duration> = at
        .windows(2)
        .skip(burst as usize - 1)
        .map(|w| (w[1] - w[0]).abs_diff(interval))
        .collect();
    dev.sort();
    let q = |p: f64| dev[((dev.len() - 1) as f64 * p).round() as usize];
    let stats = ex.get_ref().stats();
    println!(
        "rate accuracy, {n} requests at 200/s, burst {burst}, 8 workers: span {span:?} vs ideal \
         {ideal:?} (wall-time error {:.3} %), |inter-arrival - 5 ms| p50 {:?} p99 {:?} max {:?}; \
         limiter: admitted {} throttled {}",
        error * 100.0,
        q(0.50),
        q(0.99),
        dev[dev.len() - 1],
        stats.admitted,
        stats.throttled,
    );
}

fn main() {
    let n: usize = std::env::var("RATE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    run(n, 1);
    run(n, 2);
}
