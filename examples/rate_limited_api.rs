//! An API client that may send at most 5,000 requests per hour, in bursts of up to 20.
//!
//! The limiter starts full, so the first 20 requests go at once; after that one token comes
//! back every 3600 s / 5000 = 0.72 s. Instead of blocking, `try_execute` hands the request back
//! together with the time to wait, so a caller can do something else (or schedule it).
//!
//! Run with `cargo run --example rate_limited_api`. It takes about a second: it waits for one
//! token, not an hour.

use std::time::{Duration, Instant};

use httpbatch::{
    BatchExecutor, BatchOptions, ConnectionPool, Context, Rate, RateLimitedExecutor, RateLimiter,
    Request, TryExecuteError,
};
use httpbatch_testserver::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let rate: Rate = "5000/h".parse()?;
    let limiter = RateLimiter::new(rate, 20)?;
    let api = RateLimitedExecutor::new(ConnectionPool::new(), limiter.clone());
    println!(
        "limit {rate} with burst 20: one token every {:?}",
        rate.interval()
    );

    // The burst: 20 requests admitted at once, through a batch over the limited executor.
    let batch = BatchExecutor::new(api, 8)?;
    let start = Instant::now();
    let requests = (0..20).map(|i| Request::get(&server.url(&format!("/bytes/{i}"))));
    let result = batch.execute_batch(requests, BatchOptions::new());
    println!(
        "burst: {} of 20 requests answered in {:?} (no waiting: the bucket started full)",
        result.summary.succeeded,
        start.elapsed()
    );

    // The 21st: no token now. try_execute hands the request back with the wait.
    let api = batch.get_ref();
    let ctx = Context::new();
    let next = Request::get(&server.url("/ok"))?;
    let (request, wait) = match api.try_execute(next, &ctx) {
        Err(TryExecuteError::WouldBlock { request, wait }) => (request, wait),
        other => return Err(format!("expected WouldBlock, got {other:?}").into()),
    };
    println!(
        "21st request: would block; handed back ({}) with wait {:.2} s (≈ 3600 s / 5000)",
        request.url(),
        wait.as_secs_f64()
    );
    assert!(wait > Duration::from_millis(600) && wait <= Duration::from_millis(720));

    // Do something else for that long, then it goes through without blocking.
    std::thread::sleep(wait);
    let response = api
        .try_execute(request, &ctx)
        .map_err(|e| format!("still limited: {e}"))?;
    println!(
        "after waiting {:.2} s: status {}",
        wait.as_secs_f64(),
        response.status()
    );

    let s = limiter.stats();
    println!(
        "limiter: {} admitted, {} rejected by try_execute, {} had to wait",
        s.admitted, s.rejected, s.throttled
    );
    Ok(())
}
