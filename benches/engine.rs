//! The run engine's own costs, with executors that do no I/O (issue 9):
//!
//! 1. Peak memory of a 1,000,000-request `execute_streaming` fed by a lazy iterator: peak RSS
//!    (`VmHWM` from `/proc/self/status`, measured first, so nothing else has raised it) and the
//!    peak of live heap bytes (a counting allocator).
//! 2. The time `execute_batch` adds for 10,000 requests to an executor that answers at once
//!    (`OVERHEAD_N` changes the count, `ROUNDS` the rounds), beside the same calls made in a loop
//!    on one thread.
//! 3. Cancel-to-return: 10,000 requests queued and 32 in flight (blocked until cancelled); the
//!    time from `cancel()` to `execute_batch` returning with every slot settled.
//!
//! 4. `W1_URL=http://127.0.0.1:PORT/bytes/64 W1_N=2000 cargo bench --bench engine` runs only a
//!    W1 client (N GETs at concurrency 8 through `BatchExecutor` over `HttpClient`) against a
//!    server in another process, for instruction counts with callgrind: the marginal cost per
//!    request is (instructions at N=2000 − instructions at N=500) / 1500. See
//!    `scripts/bench-engine-callgrind.sh`.
//!
//! 5. `ENGINE_ONLY=memory`: bytes per queued request on a 100,000-request batch and the engine's
//!    peak while it takes the batch in; bytes per kept 64-byte response on a 1,000,000-request
//!    `execute_batch` (issue 11). `W1_C` sets the W1 client's concurrency (default 8);
//!    `W1_VERBOSE` also prints its connection counts and peak RSS; `W1_STREAM` runs it as
//!    `execute_streaming` from a lazy iterator (responses dropped once counted).
//!
//! 6. `ENGINE_ONLY=slow`: W2's shape without a network (2,000 requests of 20 ms at concurrency
//!    100), for how promptly every runner starts.
//!
//! Run: `cargo bench --bench engine`. Every load is in-process or on loopback, bounded in count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use httpbatch::{
    BatchExecutor, BatchOptions, CancelToken, Context, Error, Execute, Request, Response,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// `VmHWM` (peak resident set) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// CPU time so far of `clock`: the whole process (every thread) or the calling thread.
fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock})");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn process_cpu() -> Duration {
    cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn thread_cpu() -> Duration {
    cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)
}

struct Immediate;

impl Execute for Immediate {
    fn execute(&self, req: Request, _ctx: &Context) -> Result<Response, Error> {
        Ok(Response::new(200, Vec::new()).with_tag(req.tag()))
    }
}

/// Holds every request until the run is cancelled.
struct UntilCancelled;

impl Execute for UntilCancelled {
    fn execute(&self, _req: Request, ctx: &Context) -> Result<Response, Error> {
        ctx.wait_until(Instant::now() + Duration::from_secs(3600))?;
        Ok(Response::new(200, Vec::new()))
    }
}

fn streaming_million() {
    const N: usize = 1_000_000;
    let ex = BatchExecutor::new(Immediate, 32).unwrap();
    let base_heap = LIVE.load(Ordering::Relaxed);
    PEAK.store(base_heap, Ordering::Relaxed);
    let requests = (0..N).map(|i| {
        Request::builder(
            httpbatch::Method::Get,
            "http://127.0.0.1:8080/some/path?with=query",
        )
        .tag(i as u64)
        .build()
    });
    let t = Instant::now();
    let mut seen = 0usize;
    let summary = ex.execute_streaming(requests, BatchOptions::new(), |_, o| {
        seen += usize::from(o.is_success());
    });
    let took = t.elapsed();
    assert_eq!((summary.succeeded, seen), (N, N));
    println!(
        "streaming: {N} requests from a lazy iterator in {took:.2?}: peak RSS {:.1} MiB, \
         peak live heap {:.2} MiB above the start",
        peak_rss_kib() as f64 / 1024.0,
        (PEAK.load(Ordering::Relaxed) - base_heap) as f64 / (1024.0 * 1024.0)
    );
}

fn overhead() {
    // `OVERHEAD_N` changes the count (10,000 by default), to tell the fixed cost of a run apart.
    let n = std::env::var("OVERHEAD_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // `OVERHEAD_C` caps the run's concurrency (the executor keeps 32 workers).
    let c = std::env::var("OVERHEAD_C")
        .ok()
        .and_then(|v| v.parse().ok());
    let ex = BatchExecutor::new(Immediate, 32).unwrap();
    let mut times = Vec::new();
    let mut cpus = Vec::new();
    let mut callers = Vec::new();
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    for _ in 0..rounds {
        let requests: Vec<_> = (0..n)
            .map(|_| Request::get("http://127.0.0.1/").unwrap())
            .collect();
        let mut options = BatchOptions::new();
        if let Some(c) = c {
            options = options.concurrency(c);
        }
        let cpu = process_cpu();
        let mine = thread_cpu();
        let t = Instant::now();
        let r = ex.execute_batch(requests, options);
        times.push(t.elapsed());
        callers.push(thread_cpu() - mine);
        cpus.push(process_cpu() - cpu);
        assert_eq!(r.summary.succeeded, n);
    }
    // The same work without the engine, for scale: one thread calls the executor in a loop and
    // keeps the outcomes.
    let mut floor = Vec::new();
    let ctx = Context::new();
    for _ in 0..rounds {
        let requests: Vec<_> = (0..n)
            .map(|_| Request::get("http://127.0.0.1/").unwrap())
            .collect();
        let t = Instant::now();
        let outcomes: Vec<_> = requests
            .into_iter()
            .map(|r| Immediate.execute(r, &ctx))
            .collect();
        floor.push(t.elapsed());
        assert_eq!(outcomes.len(), n);
    }
    times.sort();
    floor.sort();
    cpus.sort();
    callers.sort();
    println!(
        "overhead: execute_batch of {n} requests to an immediate executor: best {:?}, median {:?} \
         (CPU of every thread: best {:?}, median {:?}; of the calling thread: best {:?}, median \
         {:?}; the same calls in a loop on one thread: best {:?}, median {:?})",
        times[0],
        times[times.len() / 2],
        cpus[0],
        cpus[cpus.len() / 2],
        callers[0],
        callers[callers.len() / 2],
        floor[0],
        floor[floor.len() / 2]
    );
}

fn cancel_to_return() {
    const N: usize = 10_032;
    let ex = BatchExecutor::new(UntilCancelled, 32).unwrap();
    let mut times = Vec::new();
    for _ in 0..20 {
        let token = CancelToken::new();
        let requests: Vec<_> = (0..N)
            .map(|_| Request::get("http://127.0.0.1/").unwrap())
            .collect();
        let (took, r) = std::thread::scope(|s| {
            let canceller = s.spawn(|| {
                // Cancel once all 32 workers hold a request (observed, not slept on).
                while ex.stats().in_flight < 32 {
                    std::thread::yield_now();
                }
                let t = Instant::now();
                token.cancel();
                t
            });
            let r = ex.execute_batch(requests, BatchOptions::new().cancel(token.clone()));
            let returned = Instant::now();
            let cancelled_at = canceller.join().unwrap();
            (returned.duration_since(cancelled_at), r)
        });
        assert_eq!(r.summary.cancelled, N);
        times.push(took);
    }
    times.sort();
    println!(
        "cancel: 10,000 queued + 32 in flight, cancel() to return: best {:?}, median {:?}, \
         worst {:?}",
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
}

/// Answers after 20 ms (cancel- and deadline-aware), as W2's server does.
struct Slow20;

impl Execute for Slow20 {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        ctx.wait_until(Instant::now() + Duration::from_millis(20))?;
        Ok(Response::new(200, Vec::new()).with_tag(req.tag()))
    }
}

/// W2's shape without a network: 2,000 requests of 20 ms at concurrency 100. Efficiency is the
/// ideal time (20 waves of 20 ms) over the time taken; it shows how promptly every runner starts.
fn slow_items() {
    const N: usize = 2000;
    let ex = BatchExecutor::new(Slow20, 100).unwrap();
    let ideal = Duration::from_millis(20) * (N / 100) as u32;
    let mut eff = Vec::new();
    for _ in 0..5 {
        let requests: Vec<_> = (0..N)
            .map(|_| Request::get("http://127.0.0.1/").unwrap())
            .collect();
        let t = Instant::now();
        let r = ex.execute_batch(requests, BatchOptions::new().concurrency(100));
        eff.push(ideal.as_secs_f64() / t.elapsed().as_secs_f64());
        assert_eq!(r.summary.succeeded, N);
    }
    eff.sort_by(f64::total_cmp);
    println!(
        "slow: {N} requests of 20 ms at concurrency 100: efficiency best {:.4}, median {:.4}",
        eff[eff.len() - 1],
        eff[eff.len() / 2]
    );
}

/// Answers with a 64-byte body and two headers, as W1's server does.
struct Sized64;

impl Execute for Sized64 {
    fn execute(&self, req: Request, _ctx: &Context) -> Result<Response, Error> {
        Ok(Response::new(200, vec![b'x'; 64])
            .with_header("content-type", "application/octet-stream")
            .with_header("content-length", "64")
            .with_tag(req.tag()))
    }
}

/// Heap bytes above `base` now and at their peak since `reset_peak`.
fn heap_above(base: usize) -> (usize, usize) {
    let live = LIVE.load(Ordering::Relaxed);
    (
        live.saturating_sub(base),
        PEAK.load(Ordering::Relaxed).saturating_sub(base),
    )
}

fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Issue 11's memory figures: bytes per queued request (beyond the URL) on a 100,000-request
/// batch, and the peak while the engine takes it in; bytes per kept 64-byte response (beyond
/// body and header bytes) on a 1,000,000-request `execute_batch`.
fn memory() {
    const URL: &str = "http://127.0.0.1:8080/some/path?with=query";
    const QUEUED: usize = 100_000;
    let ex = BatchExecutor::new(Immediate, 32).unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    let requests: Vec<_> = (0..QUEUED).map(|_| Request::get(URL).unwrap()).collect();
    let (held, _) = heap_above(base);
    let url_bytes = requests[0].url().as_str().len();
    reset_peak();
    let before_run = LIVE.load(Ordering::Relaxed);
    let r = ex.execute_batch(requests, BatchOptions::new());
    let (_, peak) = heap_above(before_run);
    let outcomes_bytes = LIVE.load(Ordering::Relaxed).saturating_sub(base);
    assert_eq!(r.summary.succeeded, QUEUED);
    println!(
        "memory: {QUEUED} queued requests hold {:.0} B each ({:.0} B beyond a {url_bytes}-byte \
         URL); execute_batch's peak above them {:.0} B per request (its {QUEUED} outcomes keep \
         {:.0} B each)",
        held as f64 / QUEUED as f64,
        held as f64 / QUEUED as f64 - url_bytes as f64,
        peak as f64 / QUEUED as f64,
        outcomes_bytes as f64 / QUEUED as f64,
    );
    drop(r);

    const KEPT: usize = 1_000_000;
    let ex = BatchExecutor::new(Sized64, 32).unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    reset_peak();
    let requests = (0..KEPT).map(|i| {
        Request::builder(httpbatch::Method::Get, URL)
            .tag(i as u64)
            .build()
    });
    let r = ex.execute_batch(requests, BatchOptions::new());
    let (kept, peak) = heap_above(base);
    assert_eq!(r.summary.succeeded, KEPT);
    let res = r.outcomes[0].response().unwrap();
    let payload = res.body().len()
        + res
            .headers()
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>();
    println!(
        "memory: {KEPT} kept responses of 64 B: {:.0} B each ({:.0} B beyond {payload} B of \
         body and header bytes), peak {:.0} B each; peak RSS {:.1} MiB",
        kept as f64 / KEPT as f64,
        kept as f64 / KEPT as f64 - payload as f64,
        peak as f64 / KEPT as f64,
        peak_rss_kib() as f64 / 1024.0
    );
}

fn w1_client(url: &str, n: usize) {
    let c = std::env::var("W1_C")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let ex = BatchExecutor::new(httpbatch::HttpClient::new(), c).unwrap();
    if std::env::var_os("W1_STREAM").is_some() {
        // The streaming form from a lazy iterator: bodies read, checked and dropped.
        let mut bytes = 0;
        let summary = ex.execute_streaming(
            (0..n).map(|_| Request::get(url)),
            BatchOptions::new(),
            |_, o| bytes += o.response().map_or(0, |r| r.body().len()),
        );
        assert_eq!((summary.succeeded, bytes), (n, 64 * n));
    } else {
        let requests: Vec<_> = (0..n).map(|_| Request::get(url)).collect();
        let r = ex.execute_batch(requests, BatchOptions::new());
        assert_eq!(r.summary.succeeded, n);
    }
    if std::env::var_os("W1_VERBOSE").is_some() {
        eprintln!(
            "{:?}; peak RSS {:.1} MiB",
            ex.get_ref().connection_stats(),
            peak_rss_kib() as f64 / 1024.0
        );
    }
}

fn main() {
    if let Ok(url) = std::env::var("W1_URL") {
        let n = std::env::var("W1_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        w1_client(&url, n);
        return;
    }
    match std::env::var("ENGINE_ONLY").as_deref() {
        Ok("streaming") => streaming_million(),
        Ok("overhead") => overhead(),
        Ok("cancel") => cancel_to_return(),
        Ok("memory") => memory(),
        Ok("slow") => slow_items(),
        _ => {
            streaming_million();
            overhead();
            cancel_to_return();
        }
    }
}
