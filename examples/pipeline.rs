//! A `par_map` and a pipeline on a `ParExecutor`: many requests, one concurrency limit, results
//! in input order.
//!
//! 1. `par_map`: fetch 40 pages and map each response to its size, on the executor's own
//!    thread pool.
//! 2. A pipeline where each item issues dependent requests: fetch an "index" whose body length
//!    says how many "detail" pages to fetch next. Every request of every item shares the one
//!    limit of 8 in flight.
//!
//! Run with `cargo run --example pipeline`.

use std::time::Instant;

use httpbatch::prelude::*;
use httpbatch::{ConnectionPool, ParExecutor, Request, RetryPolicy};
use httpbatch_testserver::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let pool = ConnectionPool::builder()
        .retry_policy(RetryPolicy::default())
        .build()?;
    let par = ParExecutor::new(pool.clone(), 8)?;

    // 1. par_map: sizes in input order, whatever order the responses came in.
    let start = Instant::now();
    let sizes: Vec<usize> = (0..40)
        .map(|i| Request::get(&server.url(&format!("/bytes/{}", i * 10))))
        .par_map(&par, |res| res.map_or(0, |r| r.body().len()));
    println!(
        "par_map: 40 pages in {:?}, sizes in input order: {:?} ... {:?}",
        start.elapsed(),
        &sizes[..4],
        &sizes[36..]
    );
    assert_eq!(sizes, (0..40).map(|i| i * 10).collect::<Vec<_>>());

    // 2. A pipeline: each item fetches its index (with a flaky first answer the pool retries),
    //    then as many detail pages as the index says.
    let start = Instant::now();
    let totals = (1..=10usize)
        .par_pipeline(&par)
        .priority(|n| *n as i32) // the biggest items first: they take longest
        .try_run(|client, n| {
            let index = client.send(Request::get(
                &server.url(&format!("/flaky/index-{n}?fail=1&status=503")),
            )?)?;
            assert_eq!(index.attempts(), 2, "the pool retried the 503");
            let details = (0..n)
                .map(|d| client.send(Request::get(&server.url(&format!("/bytes/{}", d + 1)))?))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(details.iter().map(|r| r.body().len()).sum::<usize>())
        })?;
    println!(
        "pipeline: 10 items, {} requests in {:?}; totals per item: {totals:?}",
        par.stats().requests - 40,
        start.elapsed()
    );
    assert_eq!(
        totals,
        (1..=10).map(|n| n * (n + 1) / 2).collect::<Vec<_>>()
    );

    let s = par.stats();
    println!(
        "par: {} calls, {} items, {} requests, {} waited for a permit, peak {} in flight (limit 8)",
        s.calls, s.items, s.requests, s.waited, s.peak_in_flight
    );
    let p = pool.stats();
    println!(
        "pool: {} attempts ({} retries), {} sockets opened, {} reused",
        p.attempts, p.retries, p.connections_opened, p.connections_reused
    );
    assert!(s.peak_in_flight <= 8);
    Ok(())
}
