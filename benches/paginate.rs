//! Pagination figures (issue 12): memory while walking 100,000 items, and pages per second
//! through a rate limit.
//!
//! - **Memory**: a counting global allocator records the live heap; the walk of
//!   `/pages/numbered/100000?per=100` (1,000 pages, item by item) reports the peak live bytes
//!   over its first 10 pages and over the whole walk. Flat means the two are about equal (the
//!   loopback server runs in this process and is counted too).
//! - **Pages per second** through a `RateLimiter` of 500/s (burst 1): 300 pages walked one by
//!   one, then the same with the pages after the first fetched in parallel (8 at a time).
//!
//! Run: `cargo bench --bench paginate`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use httpbatch::{
    ConnectionPool, ParExecutor, Rate, RateLimitedExecutor, RateLimiter, Request, Strategy,
    paginate,
};
use httpbatch_testserver::Server;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let pool = ConnectionPool::new();

    // Memory while walking 100,000 items.
    let first = Request::get(&server.url("/pages/numbered/100000?per=100"))?;
    let strategy = Strategy::page("page").items("/items").total("/total");
    let start_live = LIVE.load(Ordering::Relaxed);
    PEAK.store(start_live, Ordering::Relaxed);
    let mut items = 0u64;
    let mut early_peak = 0;
    let mut walk = paginate(&pool, first, strategy).items();
    let t = Instant::now();
    for item in walk.by_ref() {
        item?;
        items += 1;
        if items == 1_000 {
            early_peak = PEAK.load(Ordering::Relaxed);
        }
    }
    let wall = t.elapsed();
    let peak = PEAK.load(Ordering::Relaxed);
    assert_eq!(items, 100_000);
    println!(
        "memory: 100,000 items over {} pages in {wall:.2?}: peak live heap {} KiB over the first \
         10 pages, {} KiB over all 1,000 (started at {} KiB)",
        walk.state().pages(),
        early_peak / 1024,
        peak / 1024,
        start_live / 1024
    );

    // Pages per second through a rate limit.
    let limiter = RateLimiter::new(Rate::parse("500/s")?, 1)?;
    let limited = RateLimitedExecutor::new(&pool, limiter.clone());
    let first = Request::get(&server.url("/pages/numbered/3000?per=10"))?;
    let strategy = Strategy::page("page").items("/items").total("/total");
    let t = Instant::now();
    let pages = paginate(&limited, first.clone(), strategy.clone()).count();
    let d = t.elapsed();
    println!(
        "rate 500/s, sequential: {pages} pages in {d:.2?} = {:.0} pages/s",
        pages as f64 / d.as_secs_f64()
    );
    let par = ParExecutor::new(&limited, 8)?;
    let t = Instant::now();
    let pages = paginate(&par, first, strategy).parallel(&par, 0).count();
    let d = t.elapsed();
    println!(
        "rate 500/s, parallel (8): {pages} pages in {d:.2?} = {:.0} pages/s; limiter admitted {}",
        pages as f64 / d.as_secs_f64(),
        limiter.stats().admitted
    );
    Ok(())
}
