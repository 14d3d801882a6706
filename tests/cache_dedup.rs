//! The cache and in-flight dedup together (cache above dedup): concurrent misses for one URL
//! share one wire request, and what it brings back answers every later request from the cache.

mod support;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use httpbatch::{
    BatchExecutor, BatchOptions, CachedExecutor, Context, DedupConfig, DedupExecutor, Error,
    Execute, HttpCache, HttpClient, Request, Response,
};
use support::{Server, eventually};

/// Holds every request that reaches the wire until the test opens the gate, so the test can
/// watch the other callers join the one in flight.
struct Gate {
    inner: HttpClient,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Execute for Gate {
    fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
        let (lock, cv) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        drop(open);
        self.inner.execute(req, ctx)
    }
}

#[test]
fn concurrent_misses_share_one_wire_request_and_later_ones_hit_the_cache() {
    let server = Server::start().unwrap();
    let url = server.url("/cacheable/shared?cc=max-age%3D600&size=2000");
    let open = Arc::new((Mutex::new(false), Condvar::new()));
    let dedup = DedupExecutor::new(
        Gate {
            inner: HttpClient::new(),
            open: open.clone(),
        },
        DedupConfig::new(),
    );
    let cache = HttpCache::builder().memory(1 << 20, 100).build().unwrap();
    let ex = BatchExecutor::new(CachedExecutor::new(dedup.clone(), cache.clone()), 16).unwrap();
    let probe = Request::get(&url).unwrap();

    let first = std::thread::scope(|s| {
        s.spawn(|| {
            // Every worker has missed the cache and joined the one request in flight.
            assert!(eventually(Duration::from_secs(20), || dedup
                .waiters(&probe)
                == 16));
            *open.0.lock().unwrap() = true;
            open.1.notify_all();
        });
        ex.execute_batch((0..100).map(|_| Request::get(&url)), BatchOptions::new())
    });
    assert_eq!(first.summary.succeeded, 100);
    assert!(
        first
            .outcomes
            .iter()
            .all(|o| o.response().is_some_and(|r| r.body().len() >= 2000)),
        "every caller got the whole body"
    );
    assert_eq!(server.requests(), 1, "one wire request for the whole batch");
    let d = dedup.stats();
    assert_eq!(d.saved, 15, "{d:?}");
    let c = cache.stats();
    assert_eq!((c.misses, c.hits), (16, 84), "{c:?}");

    // A second batch: answered from the cache alone.
    let second = ex.execute_batch((0..100).map(|_| Request::get(&url)), BatchOptions::new());
    assert_eq!(second.summary.succeeded, 100);
    assert_eq!(server.requests(), 1, "nothing more on the wire");
    assert_eq!(cache.stats().hits, 184);
}
