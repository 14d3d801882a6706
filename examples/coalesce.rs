//! Request coalescing and adaptive limits together: 500 JSON-RPC calls to a server that allows
//! 5 HTTP requests per second and says so in its headers.
//!
//! The calls are combined into JSON-RPC batches of up to 50 (one HTTP request each), answers are
//! matched back by id although the server sends them in reverse order, and an error object comes
//! back as an error of its own item. Adaptive limits read the server's `RateLimit` headers and
//! keep the combined requests under its quota: no 429.
//!
//! Run with `cargo run --example coalesce`.

use std::time::Duration;

use httpbatch::coalesce::{ItemError, JsonRpcCodec};
use httpbatch::{AdaptiveLimits, BatchOptions, Rate, RateLimiter, Request, Stack};
use httpbatch_testserver::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let url = server.url("/jsonrpc?limit=5");
    let stack = Stack::builder()
        .workers(50)
        // Far above the server's quota: adaptive limits bring it down to what the server says.
        .rate_limiter(RateLimiter::new(Rate::parse("1000/s")?, 10)?)
        .adaptive(AdaptiveLimits::new())
        .coalesce(JsonRpcCodec::new(), 50, Duration::from_millis(20))
        .build()?;
    let calls = (0..500).map(|i| {
        let method = if i == 7 { "no_such_method" } else { "add" };
        let call = format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":[{i},1],"id":{i}}}"#);
        Request::post(&url, call)
    });
    let result = stack.execute_batch(calls, BatchOptions::new());
    assert!(result.outcomes.iter().all(|o| o.status() != Some(429)));
    for (i, outcome) in result.outcomes.iter().enumerate() {
        match outcome.response() {
            Some(res) => assert!(res.text().contains(&format!(r#""result":{}.0"#, i + 1))),
            None => {
                let err = outcome.error().expect("a response or an error");
                match ItemError::of(err) {
                    Some(ItemError::Remote { code, message, .. }) => {
                        println!("call {i}: the server answered error {code} ({message})")
                    }
                    other => panic!("call {i}: {other:?}"),
                }
            }
        }
    }
    let stats = stack.stats().coalesce.expect("the stack coalesces");
    println!(
        "{} calls in {} HTTP requests (mean batch {:.1}): {} requests saved",
        stats.logical,
        stats.http_requests,
        stats.mean_batch_size(),
        stats.saved()
    );
    assert_eq!(server.requests_for("/jsonrpc"), stats.http_requests);
    Ok(())
}
