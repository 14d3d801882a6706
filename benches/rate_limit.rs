//! Cost of the rate limiter's hot path, and its pacing accuracy on the real clock.
//!
//! Run: `cargo bench --bench rate_limit`. Prints plain lines; no pass/fail.

use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use httpbatch::{Context, Rate, RateLimiter};

/// A limiter that never makes anyone wait: 1 token per nanosecond, a million in the bucket.
fn never_waits() -> RateLimiter {
    RateLimiter::new(Rate::per_second(1e9).unwrap(), 1_000_000).unwrap()
}

fn uncontended(ops: u64) {
    let limiter = never_waits();
    let ctx = Context::new();
    let start = Instant::now();
    for _ in 0..ops {
        black_box(limiter.acquire(black_box(&ctx)).unwrap());
    }
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    println!("uncontended acquire:      {ns:7.1} ns/op over {ops} ops");

    let start = Instant::now();
    for _ in 0..ops {
        black_box(limiter.try_acquire()).unwrap();
    }
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    println!("uncontended try_acquire:  {ns:7.1} ns/op over {ops} ops");
    assert_eq!(
        limiter.stats().throttled,
        0,
        "the bench limiter made someone wait"
    );
}

fn contended(threads: usize, ops_per_thread: u64) {
    let limiter = never_waits();
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (l, b) = (limiter.clone(), barrier.clone());
            std::thread::spawn(move || {
                let ctx = Context::new();
                b.wait();
                for _ in 0..ops_per_thread {
                    black_box(l.acquire(&ctx).unwrap());
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    let wall = start.elapsed();
    let total = threads as u64 * ops_per_thread;
    let per_op = wall.as_nanos() as f64 / total as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "contended acquire:        {per_op:7.1} ns/op wall ({threads} threads on {cores} cores, \
         {total} ops in {wall:.2?})"
    );
}

/// 8 threads acquire from a 200/s, burst-1 limiter on the real clock; reports how far the gaps
/// between consecutive admissions stray from 5 ms.
fn accuracy(threads: usize, admissions: usize) {
    let limiter = RateLimiter::new(Rate::parse("200/s").unwrap(), 1).unwrap();
    let stamps = Arc::new(Mutex::new(Vec::with_capacity(admissions + threads)));
    let per_thread = admissions / threads;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (l, stamps) = (limiter.clone(), stamps.clone());
            std::thread::spawn(move || {
                let ctx = Context::new();
                for _ in 0..per_thread {
                    l.acquire(&ctx).unwrap();
                    stamps.lock().unwrap().push(Instant::now());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut stamps = stamps.lock().unwrap().clone();
    stamps.sort();
    let target = Duration::from_millis(5).as_nanos() as i128;
    // Skip the first gap: the bucket starts full.
    let mut errs: Vec<u128> = stamps
        .windows(2)
        .skip(1)
        .map(|w| ((w[1] - w[0]).as_nanos() as i128 - target).unsigned_abs())
        .collect();
    errs.sort_unstable();
    let pct = |p: f64| Duration::from_nanos(errs[((errs.len() - 1) as f64 * p) as usize] as u64);
    let span = *stamps.last().unwrap() - stamps[0];
    println!(
        "accuracy 200/s, {threads} threads: |gap - 5ms| p50 {:?}, p99 {:?}, max {:?}; \
         {} admissions in {span:.3?} (ideal {:?})",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        stamps.len(),
        Duration::from_millis(5) * (stamps.len() as u32 - 1),
    );
}

fn main() {
    // `cargo test --all-targets` runs this binary unoptimised: keep that run short and
    // meaningless, the figures come from `cargo bench`.
    if cfg!(debug_assertions) {
        uncontended(10_000);
        contended(4, 1_000);
        return;
    }
    uncontended(10_000_000);
    contended(32, 10_000_000 / 32);
    accuracy(8, 400);
}
