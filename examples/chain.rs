//! The full stack: `BatchExecutor` → `RateLimitedExecutor` → `ConnectionPool` → socket, and
//! every layer's statistics.
//!
//! The pool caps requests in flight per host and retries transient failures; each retry asks the
//! rate limiter above it for a token again, so the limiter admits exactly as many requests as
//! went on the wire.
//!
//! Run with `cargo run --example chain`.

use std::time::Duration;

use httpbatch::{
    BatchExecutor, BatchOptions, ConnectionPool, ErrorKind, Rate, RateLimitedExecutor, RateLimiter,
    Request, RetryPolicy,
};
use httpbatch_testserver::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let pool = ConnectionPool::builder()
        .max_in_flight_per_host(4)
        .retry_policy(
            RetryPolicy::builder()
                .max_attempts(3)
                .base_delay(Duration::from_millis(20))
                .build()?,
        )
        .build()?;
    let limiter = RateLimiter::new(Rate::parse("100/s")?, 10)?;
    let limited = RateLimitedExecutor::new(pool.clone(), limiter.clone());
    let batch = BatchExecutor::new(limited, 16)?;

    // 30 good requests, 10 that fail once with 503 before answering 200, 2 that always fail.
    let mut requests: Vec<_> = (0..30)
        .map(|_| Request::get(&server.url("/bytes/256")))
        .collect();
    requests.extend((0..10).map(|i| Request::get(&server.url(&format!("/flaky/f{i}?fail=1")))));
    requests.extend((0..2).map(|_| Request::get(&server.url("/status/503"))));

    let result = batch.execute_batch(requests, BatchOptions::new());
    let s = &result.summary;
    println!(
        "batch      {} requests in {:?}: {} succeeded",
        s.total, s.duration, s.succeeded
    );

    let b = batch.stats();
    println!(
        "executor   {} completed, 2xx {}, 5xx {}, errors {}, p50 {:?}, p99 {:?}",
        b.completed,
        b.status_classes[1],
        b.status_classes[4],
        b.total_errors(),
        b.latency.p50,
        b.latency.p99
    );

    let l = limiter.stats();
    println!(
        "limiter    {} admitted, {} waited ({:?} in total, at most {:?})",
        l.admitted, l.throttled, l.total_wait, l.max_wait
    );

    let p = pool.stats();
    let r = pool.retry_stats();
    println!(
        "pool       {} requests, {} attempts ({} retries, {} gave up), {} circuit-open",
        p.requests, p.attempts, p.retries, r.gave_up, p.circuit_open
    );
    println!(
        "sockets    {} opened, {} reused, {} live (cap 4 per host)",
        p.connections_opened, p.connections_reused, p.connections_live
    );
    for h in pool.host_stats() {
        println!(
            "host       {}: {} requests, {} attempts, {:.0}% below 500",
            h.origin,
            h.requests,
            h.attempts,
            h.success_rate() * 100.0
        );
    }
    println!(
        "wire       the server saw {} requests on {} connections",
        server.requests(),
        server.accepted()
    );

    // The promise: every attempt on the wire passed the limiter once.
    assert_eq!(l.admitted, p.attempts);
    assert_eq!(p.attempts, server.requests());
    assert!(p.connections_opened <= 4);
    assert_eq!(b.errors_of(ErrorKind::Timeout), 0);
    println!(
        "\nevery attempt on the wire paid one token: admitted == attempts == {}",
        l.admitted
    );
    Ok(())
}
