//! Request coalescing (issue 12): N JSON-RPC calls from 50 workers through `BatchExecutor`,
//! either coalesced (`CoalescingExecutor` + `JsonRpcCodec`, batches of 50) or one HTTP request
//! per call, against the loopback server's `/jsonrpc`.
//!
//! Reports the HTTP requests the server saw (wire requests saved), the mean batch size and the
//! wall time per logical request.
//!
//! Run: `cargo bench --bench coalesce`. Environment: `COALESCE_N` (default 10000),
//! `COALESCE_MODE` (`both`, `coalesced` or `plain`), `COALESCE_URL` (a server base URL, e.g. an
//! `httpbatch serve` in another process, so callgrind counts the client alone:
//! `scripts/bench-coalesce-callgrind.sh`).

use std::time::{Duration, Instant};

use httpbatch::coalesce::{CoalescingExecutor, JsonRpcCodec};
use httpbatch::{BatchExecutor, BatchOptions, Execute, HttpClient, Request};
use httpbatch_testserver::Server;

fn calls(base: &str, n: usize) -> impl Iterator<Item = Request> + '_ {
    (0..n).map(move |i| {
        let body = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":[{i}],"id":{i}}}"#);
        Request::post(&format!("{base}/jsonrpc"), body).unwrap()
    })
}

fn run<E: Execute>(name: &str, exec: E, base: &str, n: usize) -> E {
    let batch = BatchExecutor::builder().workers(50).build(exec).unwrap();
    let start = Instant::now();
    let r = batch.execute_batch(calls(base, n), BatchOptions::new());
    let took = start.elapsed();
    assert_eq!(r.summary.succeeded, n, "{name}: every call answered");
    println!(
        "{name}: {n} calls in {took:.2?}, {:.2} µs per call",
        took.as_secs_f64() * 1e6 / n as f64
    );
    batch.into_inner()
}

fn main() {
    let n: usize = std::env::var("COALESCE_N").map_or(10_000, |v| v.parse().unwrap());
    let mode = std::env::var("COALESCE_MODE").unwrap_or_else(|_| "both".into());
    let local = match std::env::var("COALESCE_URL") {
        Ok(_) => None,
        Err(_) => Some(Server::start().unwrap()),
    };
    let base = match &local {
        Some(s) => s.base_url(),
        None => std::env::var("COALESCE_URL").unwrap(),
    };
    let base = base.trim_end_matches('/').to_owned();
    if mode == "both" || mode == "plain" {
        let before = local.as_ref().map(|s| s.requests_for("/jsonrpc"));
        run("plain", HttpClient::new(), &base, n);
        if let (Some(s), Some(b)) = (&local, before) {
            println!(
                "plain: the server saw {} HTTP requests",
                s.requests_for("/jsonrpc") - b
            );
        }
    }
    if mode == "both" || mode == "coalesced" {
        let before = local.as_ref().map(|s| s.requests_for("/jsonrpc"));
        let exec = CoalescingExecutor::builder(HttpClient::new(), JsonRpcCodec::new())
            .max_batch_size(50)
            .max_delay(Duration::from_millis(50))
            .build()
            .unwrap();
        let exec = run("coalesced", exec, &base, n);
        let st = exec.stats();
        println!(
            "coalesced: {} logical, {} HTTP requests, mean batch {:.1}, {} saved",
            st.logical,
            st.http_requests,
            st.mean_batch_size(),
            st.saved()
        );
        if let (Some(s), Some(b)) = (&local, before) {
            println!(
                "coalesced: the server saw {} HTTP requests",
                s.requests_for("/jsonrpc") - b
            );
        }
    }
}
