//! One stack assembly: the usual order of the layers, built in one place. The CLI and the C ABI
//! build their stacks here, so the order rule lives in this file only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::agent::{ConnectionStats, HttpClient, HttpClientConfig};
use crate::batch::{BatchExecutor, BatchResult, BatchStats, BatchSummary, IntoBatchItem, Outcome};
use crate::cache::{CacheStats, CachedExecutor, HttpCache};
use crate::coalesce::{CoalesceStats, CoalescingExecutor, Codec};
use crate::compress::{BodyCompression, CompressBody};
use crate::dedup::{DedupConfig, DedupExecutor, DedupStats};
#[cfg(feature = "redis")]
use crate::distributed::{RedisLimitStats, RedisRateLimitedExecutor, RedisRateLimiter};
use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::pool::{ConnectionPool, PoolStats, WarmupReport};
use crate::rate_limit::{AdaptiveLimits, Rate, RateLimitStats, RateLimitedExecutor, RateLimiter};
use crate::retry::RetryStats;
use crate::run::BatchOptions;

/// The layer under the batch executor in a [`Stack`]: the rate limiter when there is one, else
/// the pool or the client.
pub type StackTop = Arc<dyn Execute>;

enum Lower {
    Client(Box<HttpClientConfig>),
    Pool(ConnectionPool),
}

/// Builds a [`Stack`]. See [`Stack`] for the order of the layers.
#[must_use]
pub struct StackBuilder {
    workers: usize,
    thread_name: Option<String>,
    limiter: Option<RateLimiter>,
    per_host_rate: Option<(Rate, u32)>,
    adaptive: Option<AdaptiveLimits>,
    coalesce: Option<(Box<dyn Codec>, usize, Duration)>,
    coalesce_max_queued: Option<usize>,
    dedup: Option<DedupConfig>,
    client_set: bool,
    lower: Lower,
    cache: Option<HttpCache>,
    compress: Option<BodyCompression>,
    #[cfg(feature = "redis")]
    shared: Option<RedisRateLimiter>,
}

impl fmt::Debug for StackBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackBuilder")
            .field("workers", &self.workers)
            .field("thread_name", &self.thread_name)
            .field("limiter", &self.limiter.is_some())
            .field("per_host_rate", &self.per_host_rate)
            .field("shared_limiter", &self.shared_is_set())
            .field("pool", &matches!(self.lower, Lower::Pool(_)))
            .finish()
    }
}

impl Default for StackBuilder {
    fn default() -> Self {
        StackBuilder {
            workers: 32,
            thread_name: None,
            limiter: None,
            per_host_rate: None,
            adaptive: None,
            coalesce: None,
            coalesce_max_queued: None,
            dedup: None,
            client_set: false,
            lower: Lower::Client(Box::default()),
            cache: None,
            compress: None,
            #[cfg(feature = "redis")]
            shared: None,
        }
    }
}

impl StackBuilder {
    fn shared_is_set(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.shared.is_some();
        #[cfg(not(feature = "redis"))]
        false
    }

    /// Sets the number of worker threads: the most requests in flight at once. Defaults to `32`.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Sets the worker threads' name prefix. Defaults to `httpbatch-worker`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = Some(prefix.into());
        self
    }

    /// Puts a rate limiter (GCRA, rate and burst apart) in the stack. The limiter is a shared
    /// handle: clones elsewhere enforce the same limit, and its statistics stay readable. Every
    /// request on the wire pays one token: first attempts, retries and redirect hops.
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// Puts a rate limiter shared through Redis in the stack (feature `redis`), where the local
    /// one goes: every request on the wire (retries and redirect hops included) takes a slot
    /// from the limit every process with the same Redis key shares. With a local
    /// [`rate_limiter`](Self::rate_limiter) too, a request passes the local one first, then
    /// takes its shared slot. The limiter is a shared handle: keep a clone to change the rate
    /// or read its statistics (also in [`StackStats::shared_limiter`]).
    ///
    /// ```no_run
    /// use httpbatch::distributed::RedisRateLimiter;
    /// use httpbatch::{Rate, Stack};
    ///
    /// let shared = RedisRateLimiter::builder("redis://127.0.0.1:6379/0", Rate::parse("200/s")?, 10)
    ///     .key("my-api")
    ///     .build()?;
    /// let stack = Stack::builder().shared_rate_limiter(shared.clone()).build()?;
    /// # Ok::<(), httpbatch::Error>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn shared_rate_limiter(mut self, limiter: RedisRateLimiter) -> Self {
        self.shared = Some(limiter);
        self
    }

    /// Adds a bucket of `rate` and `burst` per origin on top of the
    /// [`rate_limiter`](Self::rate_limiter) (which it needs).
    pub fn per_host_rate(mut self, rate: Rate, burst: u32) -> Self {
        self.per_host_rate = Some((rate, burst));
        self
    }

    /// Turns on adaptive limits on the rate limiter (which they need): each origin's bucket
    /// follows the server's `Retry-After`, `RateLimit` and `X-RateLimit-*` headers. See
    /// [`RateLimitedExecutor::adaptive`].
    pub fn adaptive(mut self, limits: AdaptiveLimits) -> Self {
        self.adaptive = Some(limits);
        self
    }

    /// Puts a [`CoalescingExecutor`] under the batch executor: requests with the same batch key
    /// are combined by `codec`, up to `max_batch_size` per HTTP request or `max_delay` of
    /// waiting. The combined request goes through the rate limiter and the pool as one request.
    pub fn coalesce(
        mut self,
        codec: impl Codec + 'static,
        max_batch_size: usize,
        max_delay: Duration,
    ) -> Self {
        self.coalesce = Some((Box::new(codec), max_batch_size, max_delay));
        self
    }

    /// Bounds how many requests coalescing holds while their batches fill (default 10,000, see
    /// [`CoalescingExecutorBuilder::max_queued`](crate::coalesce::CoalescingExecutorBuilder::max_queued)):
    /// one more ends at once with [`ErrorKind::QueueFull`]. Zero is refused at
    /// [`build`](Self::build) with [`ErrorKind::InvalidConfig`]; without
    /// [`coalesce`](Self::coalesce) it has no effect.
    pub fn coalesce_max_queued(mut self, max_queued: usize) -> Self {
        self.coalesce_max_queued = Some(max_queued);
        self
    }

    /// Puts an in-flight dedup layer on top (under the batch executor, above the limiter):
    /// identical requests in flight at once share one wire request, and pay one token.
    pub fn dedup(mut self, config: DedupConfig) -> Self {
        self.dedup = Some(config);
        self
    }

    /// Sends through a plain [`HttpClient`] with `config` (no pool). Not together with
    /// [`pool`](Self::pool): a pool carries its own client configuration.
    pub fn client_config(mut self, config: HttpClientConfig) -> Self {
        self.client_set = true;
        if let Lower::Client(c) = &mut self.lower {
            **c = config;
        }
        self
    }

    /// Sends through `pool` (per-host caps, retries, warmup, health checks, circuit breaking).
    /// The pool is a shared handle.
    pub fn pool(mut self, pool: ConnectionPool) -> Self {
        self.lower = Lower::Pool(pool);
        self
    }

    /// Puts a response cache on top of the stack, above the rate limiter: a hit costs no token
    /// and no connection. The cache is a shared handle (its statistics stay readable).
    pub fn cache(mut self, cache: HttpCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Gzips request bodies as `options` say, above the pool's retries (so a retry replays the
    /// compressed bytes). Defaults to no compression.
    pub fn compress_body(mut self, options: BodyCompression) -> Self {
        self.compress = Some(options);
        self
    }

    /// Assembles the stack and starts its workers.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] for both a client configuration and a pool, a
    /// per-host rate without a rate limiter, or a worker count outside `1..=4096`, and [`ErrorKind::Io`] if the
    /// threads cannot be spawned.
    pub fn build(self) -> Result<Stack, Error> {
        let (client, pool, bottom): (HttpClient, Option<ConnectionPool>, StackTop) =
            match self.lower {
                Lower::Pool(_) if self.client_set => {
                    return Err(Error::new(
                        ErrorKind::InvalidConfig,
                        "a stack takes a client configuration or a pool, not both: set the \
                         client configuration on the pool's builder",
                    ));
                }
                Lower::Pool(pool) => (pool.get_ref().clone(), Some(pool.clone()), Arc::new(pool)),
                Lower::Client(config) => {
                    let client = HttpClient::with_config(*config);
                    (client.clone(), None, Arc::new(client))
                }
            };
        let limited = match (self.limiter, self.per_host_rate) {
            (Some(limiter), per_host) => {
                let mut layer = RateLimitedExecutor::new(bottom.clone(), limiter);
                if let Some((rate, burst)) = per_host {
                    layer = layer.per_host(rate, burst)?;
                }
                if let Some(limits) = self.adaptive {
                    layer = layer.adaptive(limits);
                }
                Some(Arc::new(layer))
            }
            (None, Some(_)) => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    "per-host rates come with a rate limiter: set one (a rate no host reaches \
                     limits per host only)",
                ));
            }
            (None, None) if self.adaptive.is_some() => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    "adaptive limits adjust a rate limiter: set one (a rate no host reaches \
                     follows the servers only)",
                ));
            }
            (None, None) => None,
        };
        let mut top: StackTop = match &limited {
            Some(l) => l.clone(),
            None => bottom,
        };
        // Above the local limiter: `Context::admit` runs the lowest layer's admission first, so
        // a shared slot is reserved only once the local limiter lets the request through.
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            top = Arc::new(RedisRateLimitedExecutor::new(top, shared.clone()));
        }
        if let Some(options) = self.compress {
            top = Arc::new(CompressBody::new(top, options));
        }
        let mut coalescing = None;
        if let Some((codec, max_batch_size, max_delay)) = self.coalesce {
            let mut builder = CoalescingExecutor::builder(top, codec)
                .max_batch_size(max_batch_size)
                .max_delay(max_delay);
            if let Some(max_queued) = self.coalesce_max_queued {
                builder = builder.max_queued(max_queued);
            }
            let layer = Arc::new(builder.build()?);
            coalescing = Some(layer.clone());
            top = layer;
        }
        let dedup = self.dedup.map(|c| DedupExecutor::new(top.clone(), c));
        if let Some(d) = &dedup {
            top = Arc::new(d.clone());
        }
        if let Some(cache) = &self.cache {
            top = Arc::new(CachedExecutor::new(top, cache.clone()));
        }
        let mut builder = BatchExecutor::builder().workers(self.workers);
        if let Some(name) = self.thread_name {
            builder = builder.thread_name(name);
        }
        Ok(Stack {
            executor: builder.build(top)?,
            client,
            pool,
            limited,
            coalescing,
            dedup,
            cache: self.cache,
            #[cfg(feature = "redis")]
            shared: self.shared,
        })
    }
}

/// The usual stack, assembled in one place:
///
/// ```text
/// BatchExecutor ─ [Cache] ─ [Dedup] ─ [CompressBody] ─ RateLimitedExecutor ─ ConnectionPool ─ HttpClient
///  workers, one   a hit      share      gzip bodies      registers its         per-host caps,   one agent per
///  run engine     costs no   in-flight  above a size     limiter(s) on the     retries, warmup, origin; admits
///                 token      requests                    Context               health, circuit  before each write
/// ```
///
/// The limiter sits above the pool and charges at the leaf, immediately before each request is
/// written: first attempts, retries and redirect hops each pay one token, whatever the order. A
/// request holds its per-host pool slot while it waits for its token. The rate limiter and the
/// pool are optional; without a pool the executor sends through a plain [`HttpClient`]. With
/// [`coalesce`](StackBuilder::coalesce), a [`CoalescingExecutor`] sits right above the rate
/// limiter (under dedup, when that is on too), so each combined request pays, retries and pools
/// as one.
///
/// ```
/// use std::time::Duration;
/// use httpbatch::{BatchOptions, ConnectionPool, Rate, RateLimiter, Request, Stack};
/// use httpbatch_testserver::Server;
///
/// let server = Server::start()?;
/// let stack = Stack::builder()
///     .workers(8)
///     .rate_limiter(RateLimiter::new(Rate::parse("1000/s")?, 10)?)
///     .pool(ConnectionPool::builder().max_in_flight_per_host(4).build()?)
///     .build()?;
/// let requests = (0..20).map(|_| Request::get(&server.url("/ok")));
/// let result = stack.execute_batch(requests, BatchOptions::new());
/// assert_eq!(result.summary.succeeded, 20);
/// let stats = stack.stats();
/// assert_eq!(stats.limiter.unwrap().admitted, 20);
/// assert_eq!(stats.connections.opened, server.accepted());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Stack {
    executor: BatchExecutor<StackTop>,
    client: HttpClient,
    pool: Option<ConnectionPool>,
    limited: Option<Arc<RateLimitedExecutor<StackTop>>>,
    coalescing: Option<Arc<CoalescingExecutor<StackTop, Box<dyn Codec>>>>,
    dedup: Option<DedupExecutor<StackTop>>,
    cache: Option<HttpCache>,
    #[cfg(feature = "redis")]
    shared: Option<RedisRateLimiter>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("executor", &self.executor)
            .field("pool", &self.pool.is_some())
            .field("limiter", &self.limited.is_some())
            .field("coalescing", &self.coalescing.is_some())
            .field("dedup", &self.dedup.is_some())
            .finish()
    }
}

/// Every layer's statistics, from [`Stack::stats`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct StackStats {
    /// The batch executor's.
    pub batch: BatchStats,
    /// The global rate limiter's, when the stack has one.
    pub limiter: Option<RateLimitStats>,
    /// The pool's, when the stack has one.
    pub pool: Option<PoolStats>,
    /// The pool's retry engine's, when the stack has a pool.
    pub retry: Option<RetryStats>,
    /// Connections, counted at the socket.
    pub connections: ConnectionStats,
    /// The coalescing layer's, when the stack has one.
    pub coalesce: Option<CoalesceStats>,
    /// The dedup layer's, when the stack has one.
    pub dedup: Option<DedupStats>,
    /// The response cache's, when the stack has one.
    pub cache: Option<CacheStats>,
    /// The Redis-shared limiter's (this process's handle), when the stack has one.
    #[cfg(feature = "redis")]
    pub shared_limiter: Option<RedisLimitStats>,
}

impl Stack {
    /// A builder; see [`StackBuilder`].
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    /// The batch executor on top.
    pub fn executor(&self) -> &BatchExecutor<StackTop> {
        &self.executor
    }

    /// The client at the bottom (the pool's, when there is a pool).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The pool, when the stack has one.
    pub fn pool(&self) -> Option<&ConnectionPool> {
        self.pool.as_ref()
    }

    /// The rate-limiting layer, when the stack has one (its limiter, per-host buckets and
    /// `try_execute`).
    pub fn rate_limited(&self) -> Option<&RateLimitedExecutor<StackTop>> {
        self.limited.as_deref()
    }

    /// The limiter shared through Redis, when the stack has one (feature `redis`).
    #[cfg(feature = "redis")]
    pub fn shared_rate_limiter(&self) -> Option<&RedisRateLimiter> {
        self.shared.as_ref()
    }

    /// The dedup layer, when the stack has one.
    pub fn dedup(&self) -> Option<&DedupExecutor<StackTop>> {
        self.dedup.as_ref()
    }

    /// The layers under the batch executor (dedup, limiter, pool or client), as one
    /// [`Execute`]: for single requests and paginated walks through the same stack.
    pub fn top(&self) -> &StackTop {
        self.executor.get_ref()
    }

    /// See [`BatchExecutor::execute_batch`].
    pub fn execute_batch<I>(&self, requests: I, options: BatchOptions<'_>) -> BatchResult
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
    {
        self.executor.execute_batch(requests, options)
    }

    /// See [`BatchExecutor::execute_streaming`].
    pub fn execute_streaming<I>(
        &self,
        requests: I,
        options: BatchOptions<'_>,
        consumer: impl FnMut(usize, Outcome),
    ) -> BatchSummary
    where
        I: IntoIterator,
        I::Item: IntoBatchItem,
    {
        self.executor.execute_streaming(requests, options, consumer)
    }

    /// Opens `n` connections to each of `hosts` (origins such as `http://127.0.0.1:8080`) before
    /// a batch, through the pool; each warmup request pays its rate-limit token like any other
    /// request on the wire. Fails with [`ErrorKind::InvalidConfig`] without a pool.
    pub fn warmup(&self, hosts: &[&str], n: usize) -> Result<WarmupReport, Error> {
        let pool = self.pool.as_ref().ok_or_else(|| {
            Error::new(ErrorKind::InvalidConfig, "warmup needs a pool in the stack")
        })?;
        #[allow(unused_mut)]
        let mut ctx = Context::new();
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            ctx = ctx.with_admission(Arc::new(shared.clone()));
        }
        if let Some(l) = &self.limited {
            ctx = ctx.with_admission(l.admission());
        }
        Ok(pool.warmup_with(hosts, n, &ctx))
    }

    /// Every layer's statistics now.
    pub fn stats(&self) -> StackStats {
        StackStats {
            batch: self.executor.stats(),
            limiter: self.limited.as_ref().map(|l| l.stats()),
            pool: self.pool.as_ref().map(ConnectionPool::stats),
            retry: self.pool.as_ref().map(ConnectionPool::retry_stats),
            connections: self.client.connection_stats(),
            coalesce: self.coalescing.as_ref().map(|c| c.stats()),
            dedup: self.dedup.as_ref().map(DedupExecutor::stats),
            cache: self.cache.as_ref().map(HttpCache::stats),
            #[cfg(feature = "redis")]
            shared_limiter: self.shared.as_ref().map(RedisRateLimiter::stats),
        }
    }

    /// Stops the workers (see [`BatchExecutor::shutdown`]).
    pub fn shutdown(&self) {
        self.executor.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _assert_send_sync() {
        fn is<T: Send + Sync>() {}
        is::<Stack>();
    }

    #[test]
    fn a_client_configuration_and_a_pool_do_not_mix() {
        let e = Stack::builder()
            .client_config(HttpClientConfig::default())
            .pool(ConnectionPool::new())
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let e = Stack::builder().workers(0).build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let plain = Stack::builder().workers(1).build().unwrap();
        assert!(plain.pool().is_none() && plain.rate_limited().is_none());
        assert_eq!(
            plain.warmup(&["http://127.0.0.1:1"], 1).unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
    }
}
