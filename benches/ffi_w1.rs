//! W1 through the Rust API, the baseline of the C ABI's W1 figures: 20,000 GETs of 64 bytes
//! (`/bytes/64`) at concurrency 32 against a loopback server: the one at `HTTPBATCH_W1_URL` (a
//! base URL; `ffi-tests/bench/w1.sh` runs one `httpbatch serve` process for all three
//! implementations), else one started in this process.
//!
//! Each timed batch covers what a caller does: build the requests, run the batch, read every
//! outcome's status and body length, free the results. The C program (`ffi-tests/bench/w1.c`) and the Go package
//! (`bindings/go/w1_test.go`) time the same steps through the C ABI;
//! `ffi-tests/bench/w1.sh` runs all three interleaved and prints the ratios.
//!
//! Run: `cargo bench --bench ffi_w1 -- [BATCHES]` (default 5, after one untimed warmup batch).
//! Prints one `w1 rust WALL_SECONDS CPU_SECONDS` line per timed batch (CPU: user + system time
//! of this process during the batch, so the server's too when it runs in-process).

use std::time::Instant;

use httpbatch::{BatchExecutor, BatchOptions, HttpClient, Request};
use httpbatch_testserver::Server;

const REQUESTS: usize = 20_000;
const CONCURRENCY: usize = 32;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer it is given.
    #[allow(unsafe_code)]
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn main() {
    let batches: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let in_process;
    let url = match std::env::var("HTTPBATCH_W1_URL") {
        Ok(base) if !base.is_empty() => format!("{base}/bytes/64"),
        _ => {
            in_process = Server::start().expect("loopback server");
            in_process.url("/bytes/64")
        }
    };
    let executor = BatchExecutor::builder()
        .workers(CONCURRENCY)
        .build(HttpClient::new())
        .expect("executor");
    for round in 0..=batches {
        let t = Instant::now();
        let cpu = cpu_seconds();
        let requests: Vec<_> = (0..REQUESTS).map(|_| Request::get(&url)).collect();
        let built = t.elapsed();
        let result = executor.execute_batch(requests, BatchOptions::new());
        let executed = t.elapsed();
        let mut bytes = 0;
        for outcome in &result.outcomes {
            let r = outcome.response().expect("a response");
            assert_eq!(r.status(), 200);
            bytes += r.body().len();
        }
        // The C and Go callers free their results inside the timed region: so does this one.
        drop(result);
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        assert_eq!(bytes, REQUESTS * 64);
        if round > 0 {
            println!("w1 rust {secs:.6} {cpu:.6}");
            eprintln!(
                "phases rust build {:.2} ms, execute {:.2} ms, read {:.2} ms",
                built.as_secs_f64() * 1e3,
                (executed - built).as_secs_f64() * 1e3,
                secs * 1e3 - executed.as_secs_f64() * 1e3
            );
        }
    }
}
