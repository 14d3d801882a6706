//! In-flight dedup: a dashboard's widgets ask for the same few resources at the same time; with a
//! `DedupExecutor` in the stack each resource is fetched once while it is in flight, and every
//! widget still gets its own response.
//!
//! Run with `cargo run --example dedup`.

use httpbatch::{
    BatchExecutor, BatchOptions, ConnectionPool, DedupConfig, DedupExecutor, Request, RetryPolicy,
};
use httpbatch_testserver::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    // Dedup sits on top, so one shared request pays for one pass through the pool's retries,
    // caps and the admission gate. Headers other than `accept` do not split a key (credential
    // headers always do).
    let pool = ConnectionPool::builder()
        .retry_policy(RetryPolicy::default())
        .build()?;
    let dedup = DedupExecutor::new(pool, DedupConfig::new().key_headers(["accept"]));
    let batch = BatchExecutor::new(&dedup, 64)?;

    // 600 requests for 6 slow resources (each takes 100 ms to answer).
    let requests = (0..600).map(|i| {
        Request::builder(
            httpbatch::Method::Get,
            &server.url(&format!("/delay/100?status=20{}", i % 6)),
        )
        .header("x-widget", &i.to_string())
        .tag(i)
        .build()
    });
    let result = batch.execute_batch(requests, BatchOptions::new());
    let stats = dedup.stats();
    println!(
        "{} outcomes ({} succeeded) from {} wire requests: {} saved ({:.1} %)",
        result.outcomes.len(),
        result.summary.succeeded,
        stats.wire,
        stats.saved,
        100.0 * stats.saved as f64 / stats.requests as f64
    );
    assert_eq!(result.summary.succeeded, 600);
    assert_eq!(server.requests(), stats.wire);
    assert!(stats.saved > 0);
    // Each caller's own copy: status per resource, tag per request.
    let third = result.outcomes[2].response().expect("a response");
    assert_eq!((third.status(), third.tag()), (202, 2));
    Ok(())
}
