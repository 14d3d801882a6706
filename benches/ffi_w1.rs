//! W1 through the Rust API, the baseline of the C ABI's W1 figures: 20,000 GETs of 64 bytes
//! (`/bytes/64`) at concurrency 32 against an in-process loopback server.
//!
//! Each timed batch covers what a caller does: build the requests, run the batch, read every
//! outcome's status and body length. The C program (`ffi-tests/bench/w1.c`) and the Go package
//! (`ffi-tests/go/w1_test.go`) time the same steps through the C ABI;
//! `ffi-tests/bench/w1.sh` runs all three interleaved and prints the ratios.
//!
//! Run: `cargo bench --bench ffi_w1 -- [BATCHES]` (default 5, after one untimed warmup batch).
//! Prints one `w1 rust SECONDS` line per timed batch.

use std::time::Instant;

use httpbatch::loopback::Server;
use httpbatch::{BatchExecutor, BatchOptions, HttpClient, Request};

const REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 32;

fn main() {
    let batches: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let server = Server::start().expect("loopback server");
    let url = server.url("/bytes/64");
    let executor = BatchExecutor::builder()
        .workers(CONCURRENCY)
        .build(HttpClient::new())
        .expect("executor");
    for round in 0..=batches {
        let t = Instant::now();
        let requests: Vec<_> = (0..REQUESTS).map(|_| Request::get(&url)).collect();
        let result = executor.execute_batch(requests, BatchOptions::new());
        let mut bytes = 0;
        for outcome in &result.outcomes {
            let r = outcome.response().expect("a response");
            assert_eq!(r.status(), 200);
            bytes += r.body().len();
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(bytes, REQUESTS * 64);
        if round > 0 {
            println!("w1 rust {secs:.6}");
        }
    }
}
