//! Dedup figures (issue 12): wire requests saved, and the cost per logical request with and
//! without the dedup layer.
//!
//! `DEDUP_N` GETs (default 10,000) of `{base}{DEDUP_PATH}?k=K`, `DEDUP_KEYS` keys (default 100)
//! in runs of consecutive requests, through a
//! `BatchExecutor` of 8 workers, over the `HttpClient` leaf (`plain`) or over
//! `DedupExecutor<HttpClient>` (`dedup`). `DEDUP_MODE` picks one (default: both); `DEDUP_URL`
//! points at a server in another process (`httpbatch serve`), else one starts here.
//! `scripts/bench-dedup-callgrind.sh` runs it under callgrind for instructions per request.
//!
//! Run: `cargo bench --bench dedup`.

use std::time::Instant;

use httpbatch::{
    BatchExecutor, BatchOptions, DedupConfig, DedupExecutor, Execute, HttpClient, Request,
};
use httpbatch_testserver::Server;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run<E: Execute>(exec: E, base: &str, path: &str, n: usize, keys: usize) -> f64 {
    let batch = BatchExecutor::new(exec, 8).expect("workers");
    let t = Instant::now();
    // Keys in runs of n / keys consecutive requests: what 8 workers have in flight together
    // mostly shares a key (a crawler meeting the same links, widgets loading the same data).
    let requests = (0..n).map(|i| Request::get(&format!("{base}{path}?k={}", i * keys / n)));
    let result = batch.execute_batch(requests, BatchOptions::new());
    let wall = t.elapsed().as_secs_f64();
    assert_eq!(result.summary.succeeded, n, "every request answered");
    wall
}

fn main() {
    let n = env("DEDUP_N", 10_000);
    let keys = env("DEDUP_KEYS", 100).max(1);
    let path = std::env::var("DEDUP_PATH").unwrap_or_else(|_| "/bytes/64".into());
    let mode = std::env::var("DEDUP_MODE").unwrap_or_else(|_| "both".into());
    let server = match std::env::var("DEDUP_URL") {
        Ok(_) => None,
        Err(_) => Some(Server::start().expect("loopback server")),
    };
    let base = match (&server, std::env::var("DEDUP_URL")) {
        (Some(s), _) => s.base_url(),
        (None, Ok(u)) => u.trim_end_matches('/').to_string(),
        (None, Err(_)) => unreachable!(),
    };
    let requests = || server.as_ref().map(|s| s.requests());
    if mode == "plain" || mode == "both" {
        let before = requests();
        let wall = run(HttpClient::new(), &base, &path, n, keys);
        let wire = requests().zip(before).map(|(a, b)| a - b);
        println!("plain: {n} requests over {keys} keys in {wall:.3}s, server saw {wire:?}");
    }
    if mode == "dedup" || mode == "both" {
        let dedup = DedupExecutor::new(HttpClient::new(), DedupConfig::new());
        let before = requests();
        let wall = run(&dedup, &base, &path, n, keys);
        let wire = requests().zip(before).map(|(a, b)| a - b);
        let s = dedup.stats();
        println!(
            "dedup: {n} requests over {keys} keys in {wall:.3}s, {} wire, {} saved ({:.1} %), \
             server saw {wire:?}",
            s.wire,
            s.saved,
            100.0 * s.saved as f64 / n as f64
        );
    }
}
