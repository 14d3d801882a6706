//! The HTTP cache layer against the loopback server's `/cacheable/{key}` route, which sends
//! each caching header on request (and answers `304` to matching validators).

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use httpbatch::{
    CACHE_MODE_HEADER, CacheMode, CacheStatus, CachedExecutor, Context, Execute, FakeClock,
    HttpCache, HttpClient, Method, Rate, RateLimitedExecutor, RateLimiter, Request, Response,
};
use support::Server;

fn mem() -> HttpCache {
    HttpCache::builder().memory(8 << 20, 1000).build().unwrap()
}

fn get(e: &impl Execute, url: &str) -> Response {
    e.execute(Request::get(url).unwrap(), &Context::new())
        .unwrap()
}

fn get_with(e: &impl Execute, url: &str, headers: &[(&str, &str)]) -> Response {
    let mut b = Request::builder(Method::Get, url);
    for (n, v) in headers {
        b = b.header(n, v);
    }
    e.execute(b.build().unwrap(), &Context::new()).unwrap()
}

fn status(r: &Response) -> CacheStatus {
    r.cache_status().expect("through the cache")
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("httpbatch-cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_fresh_hit_costs_no_token_and_no_request() {
    let server = Server::start().unwrap();
    let limiter = RateLimiter::new(Rate::parse("1000/s").unwrap(), 10).unwrap();
    let cache = mem();
    let e = CachedExecutor::new(
        RateLimitedExecutor::new(HttpClient::new(), limiter.clone()),
        cache.clone(),
    );
    let url = server.url("/cacheable/a?cc=max-age%3D60&size=1000");
    let first = get(&e, &url);
    assert_eq!(status(&first), CacheStatus::Miss);
    for _ in 0..5 {
        let hit = get(&e, &url);
        assert_eq!(status(&hit), CacheStatus::Hit);
        assert_eq!(hit.body(), first.body());
        assert_eq!(hit.header("x-served"), Some("0"));
        assert_eq!(hit.header("cache-control"), Some("max-age=60"));
        assert!(hit.header("age").is_some());
        assert_eq!(hit.attempts(), 0);
    }
    assert_eq!(server.requests_for("/cacheable/a"), 1);
    assert_eq!(limiter.stats().admitted, 1);
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.stored, s.entries), (5, 1, 1, 1));
    assert!(s.bytes_stored >= 1000);
}

#[test]
fn max_age_expires_on_the_cache_clock_and_s_maxage_counts_when_shared() {
    let server = Server::start().unwrap();
    let clock = Arc::new(FakeClock::new());
    let cache = HttpCache::builder()
        .memory(1 << 20, 100)
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let e = CachedExecutor::new(HttpClient::new(), cache);
    let url = server.url("/cacheable/b?cc=max-age%3D60");
    assert_eq!(status(&get(&e, &url)), CacheStatus::Miss);
    clock.advance(Duration::from_secs(59));
    assert_eq!(status(&get(&e, &url)), CacheStatus::Hit);
    clock.advance(Duration::from_secs(2));
    // Stale, and no validator to revalidate with: fetched again.
    let again = get(&e, &url);
    assert_eq!(status(&again), CacheStatus::Miss);
    assert_eq!(again.header("x-served"), Some("1"));
    assert_eq!(status(&get(&e, &url)), CacheStatus::Hit);

    let url = server.url("/cacheable/s?cc=s-maxage%3D60");
    get(&e, &url);
    assert_eq!(status(&get(&e, &url)), CacheStatus::Hit);
    let private = CachedExecutor::new(
        HttpClient::new(),
        HttpCache::builder()
            .memory(1 << 20, 100)
            .shared(false)
            .build()
            .unwrap(),
    );
    get(&private, &url);
    assert_eq!(
        status(&get(&private, &url)),
        CacheStatus::Miss,
        "a private cache ignores s-maxage"
    );
}

#[test]
fn expires_in_the_future_is_fresh_and_in_the_past_is_not() {
    let server = Server::start().unwrap();
    let e = CachedExecutor::new(HttpClient::new(), mem());
    let fresh = server.url("/cacheable/e1?expires=60");
    get(&e, &fresh);
    assert_eq!(status(&get(&e, &fresh)), CacheStatus::Hit);
    let past = server.url("/cacheable/e2?expires=past");
    get(&e, &past);
    assert_eq!(status(&get(&e, &past)), CacheStatus::Miss);
    assert_eq!(server.requests_for("/cacheable/e2"), 2);
}

#[test]
fn no_store_and_private_are_not_stored_by_a_shared_cache() {
    let server = Server::start().unwrap();
    let cache = mem();
    let e = CachedExecutor::new(HttpClient::new(), cache.clone());
    for url in [
        server.url("/cacheable/ns?cc=no-store"),
        server.url("/cacheable/pv?cc=private%2C%20max-age%3D60"),
    ] {
        assert_eq!(status(&get(&e, &url)), CacheStatus::Miss);
        assert_eq!(status(&get(&e, &url)), CacheStatus::Miss);
    }
    assert_eq!(cache.stats().stored, 0);
    assert_eq!(server.requests(), 4);

    // A cache for one user stores `private` (never `no-store`).
    let own = HttpCache::builder()
        .memory(1 << 20, 100)
        .shared(false)
        .build()
        .unwrap();
    let e = CachedExecutor::new(HttpClient::new(), own);
    let url = server.url("/cacheable/pv2?cc=private%2C%20max-age%3D60");
    get(&e, &url);
    assert_eq!(status(&get(&e, &url)), CacheStatus::Hit);
    let url = server.url("/cacheable/ns2?cc=no-store");
    get(&e, &url);
    assert_eq!(status(&get(&e, &url)), CacheStatus::Miss);
}

#[test]
fn an_etag_revalidates_with_a_304_that_updates_the_headers() {
    let server = Server::start().unwrap();
    let cache = mem();
    let e = CachedExecutor::new(HttpClient::new(), cache.clone());
    // Stale at once; the 304 makes it fresh for a minute.
    let url = server.url("/cacheable/r?cc=max-age%3D0&cc304=max-age%3D60&etag=1&size=5000");
    let first = get(&e, &url);
    assert_eq!(first.header("x-served"), Some("0"));
    let second = get(&e, &url);
    assert_eq!(status(&second), CacheStatus::Revalidated);
    assert_eq!(second.status(), 200);
    assert_eq!(second.body(), first.body(), "the stored body, not re-sent");
    assert_eq!(second.header("x-served"), Some("1"), "headers from the 304");
    assert_eq!(second.header("cache-control"), Some("max-age=60"));
    assert_eq!(second.header("etag"), Some("\"r\""));
    let third = get(&e, &url);
    assert_eq!(status(&third), CacheStatus::Hit);
    assert_eq!(third.header("x-served"), Some("1"));
    assert_eq!(server.requests_for("/cacheable/r"), 2);
    let s = cache.stats();
    assert_eq!(
        (s.misses, s.revalidations, s.not_modified, s.hits),
        (1, 1, 1, 1)
    );
}

#[test]
fn last_modified_no_cache_and_must_revalidate_revalidate() {
    let server = Server::start().unwrap();
    let cache = mem();
    let e = CachedExecutor::new(HttpClient::new(), cache.clone());
    for url in [
        server.url("/cacheable/lm?cc=no-cache&lm=1"),
        server.url("/cacheable/mr?cc=max-age%3D0%2C%20must-revalidate&etag=1"),
    ] {
        assert_eq!(status(&get(&e, &url)), CacheStatus::Miss);
        for _ in 0..3 {
            let r = get(&e, &url);
            assert_eq!(status(&r), CacheStatus::Revalidated);
            assert!(r.body().starts_with(b"lm:") || r.body().starts_with(b"mr:"));
        }
    }
    assert_eq!(cache.stats().not_modified, 6);
}

#[test]
fn heuristic_freshness_is_off_by_default() {
    let server = Server::start().unwrap();
    let url = server.url("/cacheable/h?lm=1");
    let e = CachedExecutor::new(HttpClient::new(), mem());
    get(&e, &url);
    assert_eq!(status(&get(&e, &url)), CacheStatus::Revalidated);
    let on = HttpCache::builder()
        .memory(1 << 20, 10)
        .heuristic_fraction(0.1)
        .build()
        .unwrap();
    let e = CachedExecutor::new(HttpClient::new(), on);
    get(&e, &url);
    assert_eq!(status(&get(&e, &url)), CacheStatus::Hit);
}

#[test]
fn vary_keeps_responses_apart_by_the_named_header() {
    let server = Server::start().unwrap();
    let e = CachedExecutor::new(HttpClient::new(), mem());
    let url = server.url("/cacheable/v?cc=max-age%3D60&vary=accept-language");
    let en = get_with(&e, &url, &[("accept-language", "en")]);
    assert_eq!(en.body(), b"v:en:");
    let en2 = get_with(&e, &url, &[("accept-language", "en")]);
    assert_eq!(status(&en2), CacheStatus::Hit);
    let fr = get_with(&e, &url, &[("accept-language", "fr")]);
    assert_eq!(status(&fr), CacheStatus::Miss);
    assert_eq!(fr.body(), b"v:fr:", "never the other variant's body");
}

#[test]
fn per_request_modes_and_the_cache_header_never_reach_the_wire() {
    let server = Server::start().unwrap();
    let cache = mem();
    let e = CachedExecutor::new(HttpClient::new(), cache.clone());
    let url = server.url("/cacheable/m?cc=max-age%3D60&etag=1");
    let mode = |m: CacheMode| [(CACHE_MODE_HEADER, m.as_str())];

    let r = get_with(&e, &url, &mode(CacheMode::OnlyIfCached));
    assert_eq!((r.status(), status(&r)), (504, CacheStatus::Miss));
    assert_eq!(server.requests(), 0);

    let r = get_with(&e, &url, &mode(CacheMode::Bypass));
    assert_eq!(status(&r), CacheStatus::Bypass);
    assert_eq!(cache.stats().stored, 0, "bypass does not store");

    get(&e, &url);
    let r = get_with(&e, &url, &mode(CacheMode::OnlyIfCached));
    assert_eq!((r.status(), status(&r)), (200, CacheStatus::Hit));
    let r = get_with(&e, &url, &mode(CacheMode::Refresh));
    assert_eq!(status(&r), CacheStatus::Revalidated, "refresh revalidates");
    assert_eq!(server.requests(), 3);

    // The header was taken out: the echo route sees no x-httpbatch-cache.
    let echo = get_with(&e, &server.url("/echo"), &mode(CacheMode::Bypass));
    assert!(echo.header("x-echo-h-x-httpbatch-cache").is_none());
    let bad = Request::builder(Method::Get, &url)
        .header(CACHE_MODE_HEADER, "sometimes")
        .build()
        .unwrap();
    assert!(e.execute(bad, &Context::new()).is_err());

    // The caller's own validators pass through: its 304 is its own.
    let r = get_with(&e, &url, &[("if-none-match", "\"m\"")]);
    assert_eq!((r.status(), status(&r)), (304, CacheStatus::Bypass));
}

#[test]
fn an_unsafe_method_invalidates_its_url() {
    let server = Server::start().unwrap();
    let e = CachedExecutor::new(HttpClient::new(), mem());
    let url = server.url("/cacheable/p?cc=max-age%3D60");
    get(&e, &url);
    assert_eq!(status(&get(&e, &url)), CacheStatus::Hit);
    let post = e
        .execute(Request::post(&url, "x").unwrap(), &Context::new())
        .unwrap();
    assert_eq!(status(&post), CacheStatus::Bypass);
    assert_eq!(status(&get(&e, &url)), CacheStatus::Miss);
}

#[test]
fn memory_bounds_evict_least_recently_used_and_large_bodies_are_not_stored() {
    let server = Server::start().unwrap();
    let cache = HttpCache::builder()
        .memory(1 << 20, 3)
        .max_entry_size(2000)
        .build()
        .unwrap();
    let e = CachedExecutor::new(HttpClient::new(), cache.clone());
    for k in 0..5 {
        get(&e, &server.url(&format!("/cacheable/k{k}?cc=max-age%3D60")));
    }
    let s = cache.stats();
    assert_eq!((s.entries, s.evictions), (3, 2));
    assert_eq!(
        status(&get(&e, &server.url("/cacheable/k4?cc=max-age%3D60"))),
        CacheStatus::Hit
    );
    assert_eq!(
        status(&get(&e, &server.url("/cacheable/k0?cc=max-age%3D60"))),
        CacheStatus::Miss
    );
    let big = server.url("/cacheable/big?cc=max-age%3D60&size=3000");
    get(&e, &big);
    assert_eq!(status(&get(&e, &big)), CacheStatus::Miss);
}

#[test]
fn the_disk_store_survives_a_restart_and_a_damaged_entry_is_a_miss() {
    let server = Server::start().unwrap();
    let dir = tmpdir("restart");
    let url = server.url("/cacheable/d?cc=max-age%3D600&size=2000");
    let first = {
        let cache = HttpCache::builder().disk(&dir, 1 << 20).build().unwrap();
        get(&CachedExecutor::new(HttpClient::new(), cache), &url)
    };
    let cache = HttpCache::builder().disk(&dir, 1 << 20).build().unwrap();
    let e = CachedExecutor::new(HttpClient::new(), cache.clone());
    let hit = get(&e, &url);
    assert_eq!(status(&hit), CacheStatus::Hit);
    assert_eq!(hit.body(), first.body());
    assert_eq!(server.requests_for("/cacheable/d"), 1);

    let path = cache.disk_path(&url).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let after = get(&e, &url);
    assert_eq!(
        status(&after),
        CacheStatus::Miss,
        "a flipped byte is a miss"
    );
    assert_eq!(after.header("x-served"), Some("1"));
    assert_eq!(status(&get(&e, &url)), CacheStatus::Hit, "rewritten whole");

    std::fs::write(&path, &bytes[..10]).unwrap(); // half-written
    assert_eq!(status(&get(&e, &url)), CacheStatus::Miss);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_handles_on_one_directory_never_see_a_wrong_answer() {
    let server = Server::start().unwrap();
    let dir = tmpdir("shared");
    let urls: Vec<String> = (0..20)
        .map(|k| server.url(&format!("/cacheable/s{k}?cc=max-age%3D600&size=3000")))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let dir = &dir;
            let urls = &urls;
            s.spawn(move || {
                // Each thread opens its own store on the directory, as another process would.
                let cache = HttpCache::builder().disk(dir, 1 << 30).build().unwrap();
                let e = CachedExecutor::new(HttpClient::new(), cache);
                for round in 0..3 {
                    for (k, url) in urls.iter().enumerate() {
                        let r = get(&e, url);
                        let want = format!("s{k}::");
                        assert!(
                            r.body().starts_with(want.as_bytes()),
                            "round {round} key {k}"
                        );
                        assert_eq!(r.body().len(), 3000);
                    }
                }
            });
        }
    });
    let cache = HttpCache::builder().disk(&dir, 1 << 30).build().unwrap();
    assert_eq!(cache.stats().entries, 20);
    assert!(std::fs::read_dir(dir.join("tmp")).unwrap().next().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn request_directives_and_a_host_header_are_honoured() {
    let server = Server::start().unwrap();
    let e = CachedExecutor::new(HttpClient::new(), mem());
    let url = server.url("/cacheable/rq?cc=max-age%3D60&etag=1");
    get(&e, &url);
    assert_eq!(status(&get(&e, &url)), CacheStatus::Hit);
    // The request's own directives are the crate's to weigh: max-age=0 and no-cache revalidate.
    for cc in ["max-age=0", "no-cache"] {
        let r = get_with(&e, &url, &[("cache-control", cc)]);
        assert_eq!(status(&r), CacheStatus::Revalidated, "{cc}");
    }
    let r = get_with(&e, &url, &[("pragma", "no-cache")]);
    assert_eq!(status(&r), CacheStatus::Revalidated);
    let r = get_with(&e, &url, &[("cache-control", "max-stale=5")]);
    assert_eq!(status(&r), CacheStatus::Hit);

    // An explicit Host header is kept with the entry and matched.
    let addr = server.addr().to_string();
    let url = server.url("/cacheable/host?cc=max-age%3D60");
    get_with(&e, &url, &[("host", &addr)]);
    assert_eq!(
        status(&get_with(&e, &url, &[("host", &addr)])),
        CacheStatus::Hit
    );
}
