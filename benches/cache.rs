//! The response cache's costs (issue 15):
//!
//! 1. A 10,000-request batch run twice through `Stack` with a memory cache, against responses
//!    fresh for a minute (the second run sends nothing) and against responses that must be
//!    revalidated and are answered `304` (the second run revalidates all 10,000, no body
//!    re-sent). Reports wire requests (counted by the server) and wall time per run; then the
//!    same with a disk cache.
//! 2. `CACHE_URL=http://127.0.0.1:PORT CACHE_MODE=mem|disk|wire CACHE_N=2000 cargo bench --bench
//!    cache` runs only N sequential requests for one URL — memory hits, disk hits, or plain wire
//!    GETs of the same 64-byte body — against a server in another process, for instruction
//!    counts with callgrind: see `scripts/bench-cache-callgrind.sh`.
//!
//! Run: `cargo bench --bench cache`. Every load is on loopback and bounded in count.

use std::time::Instant;

use httpbatch::{
    BatchOptions, CachedExecutor, Context, Execute, HttpCache, HttpClient, Request, Stack,
};
use httpbatch_testserver::Server;

const N: usize = 10_000;

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("httpbatch-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn two_runs(label: &str, server: &Server, cache: HttpCache, query: &str) {
    let stack = Stack::builder()
        .workers(32)
        .cache(cache.clone())
        .build()
        .expect("stack");
    let urls: Vec<String> = (0..N)
        .map(|i| server.url(&format!("/cacheable/{label}{i}?{query}")))
        .collect();
    for run in 1..=2 {
        server.reset_counters();
        cache.reset_stats();
        let t = Instant::now();
        let result = stack.execute_batch(urls.iter().map(|u| Request::get(u)), BatchOptions::new());
        let wall = t.elapsed();
        assert_eq!(result.summary.succeeded, N);
        let s = cache.stats();
        println!(
            "{label:>10} run {run}: {:>5} wire requests, {:>8.1} ms wall; cache: {} hits, {} misses, {} revalidations ({} x 304)",
            server.requests(),
            wall.as_secs_f64() * 1e3,
            s.hits,
            s.misses,
            s.revalidations,
            s.not_modified
        );
    }
}

fn one_url(base: &str, mode: &str, n: usize) {
    let client = HttpClient::new();
    let ctx = Context::new();
    let run = |e: &dyn Execute, url: &str| {
        for _ in 0..n {
            let r = e.execute(Request::get(url).unwrap(), &ctx).unwrap();
            assert_eq!(r.body().len(), 64);
        }
    };
    match mode {
        "wire" => run(&client, &format!("{base}/bytes/64")),
        _ => {
            let dir = tmpdir("one-url");
            let cache = if mode == "disk" {
                HttpCache::builder().disk(&dir, 1 << 30)
            } else {
                HttpCache::builder().memory(1 << 20, 100)
            }
            .build()
            .unwrap();
            let e = CachedExecutor::new(client, cache.clone());
            run(
                &e,
                &format!("{base}/cacheable/hit?cc=max-age%3D600&size=64"),
            );
            assert_eq!(cache.stats().hits, n as u64 - 1);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn main() {
    if let Ok(base) = std::env::var("CACHE_URL") {
        let mode = std::env::var("CACHE_MODE").unwrap_or_else(|_| "mem".into());
        let n = std::env::var("CACHE_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2000);
        one_url(base.trim_end_matches('/'), &mode, n);
        return;
    }
    let server = Server::start().expect("server");
    let mem = || {
        HttpCache::builder()
            .memory(256 << 20, 100_000)
            .build()
            .unwrap()
    };
    two_runs("fresh", &server, mem(), "cc=max-age%3D60&size=1000");
    two_runs("etag", &server, mem(), "cc=no-cache&etag=1&size=1000");
    let dir = tmpdir("batch");
    let disk = HttpCache::builder().disk(&dir, 1 << 30).build().unwrap();
    two_runs("disk", &server, disk, "cc=max-age%3D60&size=1000");
    let _ = std::fs::remove_dir_all(&dir);
}
