//! Client: httpbatch's Rust API in its streaming form. `BatchExecutor::execute_streaming` on a
//! plain `HttpClient` (its default timeouts: 30 s, connect 10 s), with httpbatch's own
//! `RateLimiter` when a rate is given; each outcome's status and body length is read as it
//! settles, and the outcome dropped; the wall time stops after the last one, before the
//! executor's teardown (see client-httpbatch.rs). It keeps no responses, as the ureq, reqwest and Go
//! net/http clients keep none: its peak RSS is the like-for-like one, where the `httpbatch`
//! client (`execute_batch`) also holds every response until the end. Command line: see the
//! crate docs.

use std::time::{Duration, Instant};

use httpbatch::{
    BatchExecutor, BatchOptions, Execute, HttpClient, Outcome, Rate, RateLimitedExecutor,
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
        stream(client, &args, &tally, started)
    } else {
        stream(HttpClient::new(), &args, &tally, started)
    };
    tally.finish_wall("httpbatch-stream", &args, wall);
}

/// Runs the batch, reading each outcome as it settles; the wall time up to the last one (the
/// executor is dropped after it is taken).
fn stream<E: Execute + 'static>(
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
    exec.execute_streaming(requests, BatchOptions::new(), |_, outcome: Outcome| match (
        outcome.response(),
        outcome.error(),
    ) {
        (Some(r), _) => tally.response(r.status(), r.body().len()),
        (None, Some(e)) => tally.error(e),
        (None, None) => tally.error("not run"),
    });
    started.elapsed()
}
