//! A plain batch: 20 requests through a `BatchExecutor`, one outcome per input, in input order.
//!
//! Shows that any HTTP status is a response (a 404 is not an error), that a transport failure and
//! an invalid input each end as an error in their own slot, and the batch summary.
//!
//! Run with `cargo run --example batch`.

use std::time::Duration;

use httpbatch::{BatchExecutor, BatchOptions, ConnectionPool, Outcome, Request};
use httpbatch_testserver::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let pool = ConnectionPool::builder()
        .retry_policy(httpbatch::RetryPolicy::none())
        .build()?;
    let executor = BatchExecutor::builder().workers(8).build(pool.clone())?;

    // 16 fast requests, a slow one, a 404, a connection reset, and an input that is no URL.
    let mut requests: Vec<Result<Request, httpbatch::Error>> = (0..16)
        .map(|i| Request::get(&server.url(&format!("/bytes/{}", 100 + i))))
        .collect();
    requests.push(Request::get(&server.url("/delay/200")));
    requests.push(Request::get(&server.url("/status/404")));
    requests.push(Request::get(&server.url("/reset")));
    requests.push(Request::get("not a url"));

    let result = executor.execute_batch(
        requests,
        BatchOptions::new().batch_timeout(Duration::from_secs(10)),
    );

    println!("one outcome per input, in input order:");
    for (i, outcome) in result.outcomes.iter().enumerate() {
        match outcome {
            Outcome::Response(r) => println!(
                "  #{i:<2} {} {:>4} bytes in {:?}",
                r.status(),
                r.body().len(),
                r.timings().total
            ),
            Outcome::Error(e) => println!("  #{i:<2} error {}: {}", e.kind(), e.message()),
            other => println!("  #{i:<2} {}", other.kind_str()),
        }
    }
    let s = &result.summary;
    println!(
        "\n{} requests in {:?}: {} succeeded, {} responses (2xx {}, 4xx {}), {} errors",
        s.total,
        s.duration,
        s.succeeded,
        s.responses,
        s.status_classes[1],
        s.status_classes[3],
        s.errors
    );
    println!(
        "latency p50 {:?}, p99 {:?}, max {:?}",
        s.latency.p50, s.latency.p99, s.latency.max
    );
    let p = pool.stats();
    println!(
        "connections (counted at the socket): {} opened, {} reused",
        p.connections_opened, p.connections_reused
    );
    assert_eq!(s.total, 20);
    assert_eq!(s.succeeded, 17);
    Ok(())
}
