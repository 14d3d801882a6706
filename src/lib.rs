//! httpbatch: a synchronous, thread-based HTTP batch client.
//!
//! Blocking [ureq](https://docs.rs/ureq) agents on a reusable pool of worker threads, in the style
//! of Go worker pools, for programs without an async runtime. Hand it thousands of requests and get
//! back one [`Outcome`] per request, in input order, sent at most N at a time, at most R per
//! second, with transient failures retried, and a [`CancelToken`] that reaches every wait and
//! every socket in flight. The same engine is exported through a stable C ABI
//! (`include/httpbatch.h`).
//!
//! # The stack
//!
//! Every layer implements one blocking trait, [`Execute`], and wraps an inner `Execute`, so the
//! layers chain in any order and each is useful alone. Requests flow down, outcomes flow up:
//!
//! | Layer | Owns |
//! |---|---|
//! | [`BatchExecutor`] | worker threads, input order, cancel / deadline / fail-fast, progress, statistics |
//! | [`DedupExecutor`] | identical requests in flight at once share one wire request, each caller its own outcome |
//! | [`RetryExecutor`] (or the pool's retry policy) | backoff with jitter, `Retry-After` with a cap, retry budget |
//! | [`RateLimitedExecutor`] | a GCRA token bucket: rate and burst apart, any interval, per-host buckets |
//! | [`ConnectionPool`] | per-host in-flight caps, warmup, health checks, circuit breaking |
//! | [`HttpClient`] | one ureq agent per origin, exact connection counts, a caching resolver |
//!
//! **One admission gate.** Every request that goes on the wire passes each rate limiter above it
//! exactly once — first attempts, retries and redirect hops alike — whatever the order of the
//! layers: a limiter only registers on the [`Context`] as an [`Admission`], and the leaf
//! ([`HttpClient`], the only code that writes to a socket) calls [`Context::admit`] immediately
//! before each request it writes. A custom leaf (a fake in a test) calls it too. Pool warmup is
//! real traffic and pays: [`ConnectionPool::warmup_with`] runs it under a context carrying the
//! limiters (one token per warmup request). Health probes do not pay: they run on the pool's own
//! thread with no limiter registered, so a saturated or stopped limiter can never starve them and
//! mark a healthy host down.
//!
//! # Example
//!
//! A batch through a pool with retries, under a rate limit, against the scripted loopback server
//! of the `httpbatch-testserver` workspace crate (a dev-dependency; not part of this library):
//!
//! ```
//! use std::time::Duration;
//! use httpbatch_testserver::Server;
//! use httpbatch::{
//!     BatchExecutor, BatchOptions, ConnectionPool, Rate, RateLimitedExecutor, RateLimiter,
//!     Request, RetryPolicy,
//! };
//!
//! let server = Server::start()?;
//! let pool = ConnectionPool::builder()
//!     .max_in_flight_per_host(8)
//!     .retry_policy(RetryPolicy::builder().base_delay(Duration::from_millis(5)).build()?)
//!     .build()?;
//! let limiter = RateLimiter::new(Rate::parse("500/s")?, 10)?;
//! let executor = BatchExecutor::new(RateLimitedExecutor::new(pool, limiter), 16)?;
//!
//! // Every third request hits an endpoint that answers 503 once, then 200.
//! let requests: Vec<_> = (0..30)
//!     .map(|i| match i % 3 {
//!         0 => Request::get(&server.url(&format!("/flaky/k{i}?fail=1"))),
//!         _ => Request::get(&server.url("/bytes/64")),
//!     })
//!     .collect();
//! let result = executor.execute_batch(requests, BatchOptions::new().batch_timeout(Duration::from_secs(30)));
//!
//! assert_eq!(result.summary.succeeded, 30);
//! assert_eq!(result.outcomes[0].response().unwrap().attempts(), 2);
//! // Each layer's statistics are reachable from the outside in.
//! let limiter_stats = executor.get_ref().stats();
//! let pool_stats = executor.get_ref().get_ref().stats();
//! assert_eq!(limiter_stats.admitted, 40); // 30 first attempts + 10 retries
//! assert_eq!(pool_stats.connections_opened, server.accepted());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Also: [`par`] for rayon-style parallel maps and pipelines over request lists; [`paginate`]
//! to walk paginated APIs page by page or item by item (`Link` headers, JSON cursors, page or
//! offset numbers) through any stack, with a resumable [`PageState`]; with the `json` feature,
//! typed JSON bodies ([`RequestBuilder::json`](RequestBuilder), `Response::json`) and
//! [`ResponseError`]; and the `httpbatch` command-line tool (`cargo run --release` runs its
//! demo).
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod agent;
mod batch;
mod cache;
mod clock;
pub mod coalesce;
mod compress;
mod dedup;
#[cfg(feature = "redis")]
pub mod distributed;
mod error;
mod execute;
mod httpdate;
mod json;
mod paginate;
pub mod par;
mod pool;
pub mod prelude;
mod rate_limit;
mod request;
mod response;
mod retry;
mod run;
mod stack;
mod stats;
mod sync;

pub use agent::{ConnectionStats, HttpClient, HttpClientConfig, TlsVersion};
pub use batch::{
    BatchExecutor, BatchExecutorBuilder, BatchResult, BatchStats, BatchSummary, IntoBatchItem,
    Outcome,
};
pub use cache::{
    CACHE_MODE_HEADER, CacheMode, CacheStats, CachedExecutor, HttpCache, HttpCacheBuilder,
};
pub use clock::{Clock, FakeClock, SystemClock};
pub use compress::{
    BodyCompression, COMPRESS_HEADER, CompressBody, CompressStats, gzip_request_body,
};
pub use dedup::{DedupConfig, DedupExecutor, DedupStats};
pub use error::{Error, ErrorKind};
pub use execute::{Admission, Answer, CancelToken, Context, Execute};
pub use json::ResponseError;
#[cfg(feature = "json")]
pub use paginate::TypedItems;
pub use paginate::{Items, Page, PageError, PageState, Paginator, Strategy, paginate};
pub use par::{
    IntoParCall, ParCall, ParClient, ParCollected, ParError, ParExecutor, ParExecutorBuilder,
    ParMap, ParStats, Pipeline,
};
pub use pool::{
    ConnectionPool, ConnectionPoolBuilder, HealthCheckConfig, HealthState, HostHealth, HostStats,
    HostWarmup, PoolStats, WarmupReport,
};
pub use rate_limit::{
    AdaptiveHostStats, AdaptiveLimits, AdaptiveLimitsBuilder, Rate, RateLimitStats,
    RateLimitedExecutor, RateLimiter, TryExecuteError,
};
pub use request::{Method, Request, RequestBuilder, Scheme, Url};
pub use response::{CacheStatus, Headers, HeadersIter, Response, Timings};
pub use retry::{
    Jitter, RetryBudget, RetryExecutor, RetryPolicy, RetryPolicyBuilder, RetryStats,
    parse_retry_after,
};
pub use run::{BatchControl, BatchEvent, BatchOptions, ParOptions, ProgressSnapshot};
pub use stack::{Stack, StackBuilder, StackStats, StackTop};
pub use stats::LatencySummary;
// The C ABI: the only module allowed `unsafe` (see src/ffi/mod.rs).
#[allow(unsafe_code)]
mod ffi;
