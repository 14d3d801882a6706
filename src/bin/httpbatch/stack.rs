//! The layers under the batch, built from the options, and their statistics.
//!
//! The library's `Stack` assembles the layers, top to bottom: `BatchExecutor` → `DedupExecutor`
//! (when `--dedup`) → `RateLimitedExecutor` (when `--rate`) → `ConnectionPool` (per-host in-flight cap, retries,
//! health checks) → socket. The limiter registers on the context and the leaf admits every write
//! through it (first attempts, retries, redirect hops, warmup), so each pays one token.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::args::NetArgs;
use crate::coalesce::CoalesceArgs;
use httpbatch::{
    BatchStats, CacheStats, ConnectionPool, DedupConfig, DedupStats, Error, HostHealth, HostStats,
    HttpCache, HttpClient, HttpClientConfig, PoolStats, Rate, RateLimitStats, RateLimiter, Request,
    RetryPolicy, RetryStats, WarmupReport,
};

/// What the layers are built from.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Worker threads = requests in flight at once.
    pub concurrency: usize,
    /// Global rate limit and its burst.
    pub rate: Option<(Rate, u32)>,
    /// Requests in flight per host (defaults to the concurrency: no extra cap).
    pub per_host: Option<usize>,
    /// Retries after the first attempt (0 = none).
    pub retries: u32,
    /// Delay before the first retry.
    pub retry_backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub retry_after_cap: Duration,
    /// Retry POST and PATCH.
    pub retry_post: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Response body limit.
    pub max_body: u64,
    /// Response head limit (status line and headers).
    pub max_head: usize,
    /// Probe every host this often and fail fast while one is down.
    pub health_check: Option<Duration>,
    /// The path probes ask for (and warmup requests).
    pub health_path: String,
    /// TLS and proxy options.
    pub net: NetArgs,
    /// `--coalesce`, `--max-batch`, `--max-delay`, `--adaptive`.
    pub coalesce: CoalesceArgs,
    /// Share identical requests in flight (`--dedup`): the dedup layer on top.
    pub dedup: bool,
    /// Response cache and request-body compression options.
    pub cache: crate::cache::CacheArgs,
}

/// The built stack (the library's [`httpbatch::Stack`], which owns the order of the layers),
/// with handles to every layer that has statistics.
pub struct Stack {
    /// The layers, batch executor on top.
    pub executor: httpbatch::Stack,
    pool: ConnectionPool,
    limiter: Option<RateLimiter>,
    retries: bool,
    cache: Option<HttpCache>,
}

/// Every layer's statistics after a run.
#[derive(Debug, Clone)]
pub struct LayerStats {
    /// Errors by kind, and the executor's view.
    pub batch: BatchStats,
    /// The pool's retry engine, when retries are on.
    pub retry: Option<RetryStats>,
    /// The rate limiter, when on.
    pub limiter: Option<RateLimitStats>,
    /// The pool: connections (counted at the socket), attempts, circuit rejections.
    pub pool: PoolStats,
    /// Per host.
    pub hosts: Vec<HostStats>,
    /// Per host, when health checks are on.
    pub health: Vec<(String, HostHealth)>,
    /// The response cache, when on.
    pub cache: Option<CacheStats>,
}

impl Stack {
    /// Builds the layers; fails on an invalid setting (reported as a usage error).
    pub fn build(config: &StackConfig) -> Result<Stack, Error> {
        let policy = if config.retries == 0 {
            RetryPolicy::none()
        } else {
            RetryPolicy::builder()
                .max_attempts(config.retries.saturating_add(1))
                .base_delay(config.retry_backoff)
                .max_delay(config.retry_backoff.max(Duration::from_secs(10)))
                .retry_after_cap(config.retry_after_cap)
                .retry_non_idempotent(config.retry_post)
                .build()?
        };
        let client = config.net.apply(
            HttpClientConfig::default()
                .timeout(config.timeout)
                .connect_timeout(config.connect_timeout)
                .max_body_size(config.max_body)
                .max_response_head(config.max_head),
        );
        // An unreadable --cacert or a bad --proxy is a usage error, not one error per request.
        HttpClient::try_with_config(client.clone())?;
        let pool = ConnectionPool::builder()
            .client_config(client)
            .max_in_flight_per_host(config.per_host.unwrap_or(config.concurrency))
            .retry_policy(policy)
            .warmup_path(config.health_path.clone())
            .warmup_timeout(config.connect_timeout.max(Duration::from_millis(1)))
            .build()?;
        let mut stack = httpbatch::Stack::builder()
            .workers(config.concurrency)
            .pool(pool.clone());
        let cache = config.cache.build(config.max_body)?;
        if let Some(c) = &cache {
            stack = stack.cache(c.clone());
        }
        if let Some(c) = config.cache.compression() {
            stack = stack.compress_body(c);
        }
        if config.dedup {
            stack = stack.dedup(DedupConfig::new());
        }
        let mut limiter = None;
        if let Some((rate, burst)) = config.rate {
            let l = RateLimiter::new(rate, burst)?;
            stack = stack.rate_limiter(l.clone());
            limiter = Some(l);
        }
        let stack = config
            .coalesce
            .apply(stack, config.rate, config.concurrency)?;
        Ok(Stack {
            executor: stack.build()?,
            pool,
            limiter,
            retries: config.retries > 0,
            cache,
        })
    }

    /// Opens `n` connections to every origin the requests go to, before the batch (each
    /// warmup request pays its rate-limit token).
    pub fn warmup<'r>(
        &self,
        requests: impl Iterator<Item = &'r Request>,
        n: usize,
    ) -> WarmupReport {
        let origins: Vec<String> = origins(requests).into_iter().collect();
        let hosts: Vec<&str> = origins.iter().map(String::as_str).collect();
        // The CLI's stack always has a pool, which is all `Stack::warmup` needs.
        match self.executor.warmup(&hosts, n) {
            Ok(report) => report,
            Err(_) => self.pool.warmup(&hosts, n),
        }
    }

    /// Starts health checks of every origin the requests go to.
    pub fn health_check<'r>(
        &self,
        requests: impl Iterator<Item = &'r Request>,
        interval: Duration,
        path: &str,
    ) -> Result<(), Error> {
        let origins: Vec<String> = origins(requests).into_iter().collect();
        let hosts: Vec<&str> = origins.iter().map(String::as_str).collect();
        self.pool.enable_health_check(&hosts, interval, path)
    }

    /// The dedup layer's statistics, when `--dedup` is on.
    pub fn dedup_stats(&self) -> Option<DedupStats> {
        self.executor.dedup().map(|d| d.stats())
    }

    /// Every layer's statistics now.
    pub fn stats(&self) -> LayerStats {
        LayerStats {
            batch: self.executor.executor().stats(),
            retry: self.retries.then(|| self.pool.retry_stats()),
            limiter: self.limiter.as_ref().map(RateLimiter::stats),
            pool: self.pool.stats(),
            hosts: self.pool.host_stats(),
            health: self.pool.health(),
            cache: self.cache.as_ref().map(HttpCache::stats),
        }
    }
}

fn origins<'r>(requests: impl Iterator<Item = &'r Request>) -> BTreeSet<String> {
    requests.map(|r| r.url().origin().to_owned()).collect()
}
