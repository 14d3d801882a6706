//! Client: httpbatch's Rust API. `BatchExecutor::execute_batch` on a plain `HttpClient` (its
//! default timeouts: 30 s, connect 10 s), with httpbatch's own `RateLimiter` when a rate is
//! given; every outcome's status and body length read, then the responses freed. The wall time
//! stops there: the executor's teardown (joining its worker threads, closing its connections)
//! runs after it, untimed, as the other clients exit with their pools and threads still up.
//! Command line: see the crate docs.

use std::time::{Duration, Instant};

use httpbatch::{
    BatchExecutor, BatchOptions, BatchResult, Execute, HttpClient, Rate, RateLimitedExecutor,
    RateLimiter, Request,
};
use httpbatch_compare::{Args, Tally};

fn main() {
    let args = Args::from_env();
    let tally = Tally::default();
    let started = Instant::now();
    let wall = if args.rate > 0.0 {
        let rate = Rate::per_second(args.rate).expect("rate");
        let limiter = RateLimiter::new(rate, args.burst).expect("limiter");
        let client = RateLimitedExecutor::new(HttpClient::new(), limiter);
        batch(client, &args, &tally, started)
    } else {
        batch(HttpClient::new(), &args, &tally, started)
    };
    tally.finish_wall("httpbatch", &args, wall);
}

/// Runs the batch and reads every outcome; the wall time up to the last response freed (the
/// executor is dropped after it is taken).
fn batch<E: Execute + 'static>(
    client: E,
    args: &Args,
    tally: &Tally,
    started: Instant,
) -> Duration {
    let exec = BatchExecutor::builder()
        .workers(args.c)
        .build(client)
        .expect("executor");
    let requests = (0..args.n).map(|i| Request::get(args.url(i)));
    let result: BatchResult = exec.execute_batch(requests, BatchOptions::new());
    for outcome in &result.outcomes {
        match (outcome.response(), outcome.error()) {
            (Some(r), _) => tally.response(r.status(), r.body().len()),
            (None, Some(e)) => tally.error(e),
            (None, None) => tally.error("not run"),
        }
    }
    drop(result);
    started.elapsed()
}
