//! Client: httpbatch's Rust API. `BatchExecutor::execute_batch` on a plain `HttpClient` (its
//! default timeouts: 30 s, connect 10 s), with httpbatch's own `RateLimiter` when a rate is
//! given; every outcome's status and body length read. Command line: see the crate docs.

use std::time::Instant;

use httpbatch::{
    BatchExecutor, BatchOptions, BatchResult, HttpClient, Rate, RateLimitedExecutor, RateLimiter,
    Request,
};
use httpbatch_compare::{Args, Tally};

fn main() {
    let args = Args::from_env();
    let tally = Tally::default();
    let started = Instant::now();
    let requests = (0..args.n).map(|i| Request::get(args.url(i)));
    let result: BatchResult = if args.rate > 0.0 {
        let rate = Rate::per_second(args.rate).expect("rate");
        let limiter = RateLimiter::new(rate, args.burst).expect("limiter");
        let client = RateLimitedExecutor::new(HttpClient::new(), limiter);
        let exec = BatchExecutor::builder()
            .workers(args.c)
            .build(client)
            .expect("executor");
        exec.execute_batch(requests, BatchOptions::new())
    } else {
        let exec = BatchExecutor::builder()
            .workers(args.c)
            .build(HttpClient::new())
            .expect("executor");
        exec.execute_batch(requests, BatchOptions::new())
    };
    for outcome in &result.outcomes {
        match (outcome.response(), outcome.error()) {
            (Some(r), _) => tally.response(r.status(), r.body().len()),
            (None, Some(e)) => tally.error(e),
            (None, None) => tally.error("not run"),
        }
    }
    drop(result);
    tally.finish("httpbatch", &args, started);
}
