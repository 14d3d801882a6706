//! `httpbatch_executor_builder` and `httpbatch_executor`: worker threads over a stack of layers,
//! running batches; executor-wide and connection statistics.

use std::ffi::c_char;
use std::time::Duration;

use crate::agent::HttpClientConfig;
use crate::dedup::{DedupConfig, DedupStats};
use crate::error::{Error, ErrorKind};
use crate::execute::Execute;
use crate::pool::ConnectionPool;
use crate::stack::Stack;
use std::sync::Arc;

use super::base::{
    Fail, HasLastError, LastError, free_raw, guard, guard_on, guard_on_mut, guard_or, into_raw,
    last_error_into, try_mut, try_out, try_str, write_sized,
};
use super::coalesce::Extras;
use super::httpbatch_result;
use super::limiter::{LimiterSpec, httpbatch_limiter, httpbatch_limiter_stats};
use super::pool::httpbatch_pool;
use super::request::httpbatch_batch;
use super::result::httpbatch_batch_result;

/// Room for error kinds in `httpbatch_executor_stats.errors`, indexed by code: kinds are numbered
/// from 1 and new kinds get new numbers below this bound.
pub const HTTPBATCH_ERROR_CODES: usize = 64;

/// Configures an executor (opaque). Not thread-safe. Consumed by
/// `httpbatch_executor_builder_build`.
pub struct httpbatch_executor_builder {
    workers: usize,
    pub(super) config: HttpClientConfig,
    /// Whether a client setting was changed (they do not apply when a pool is set).
    pub(super) client_set: bool,
    pool: Option<ConnectionPool>,
    limiter: Option<LimiterSpec>,
    /// Coalescing and adaptive limits (src/ffi/coalesce.rs).
    pub(super) extras: Extras,
    /// `httpbatch_executor_builder_set_dedup` (src/ffi/dedup.rs).
    pub(super) dedup: Option<DedupConfig>,
    /// The response cache and body compression (src/ffi/cache.rs).
    pub(super) cache: super::cache::CacheSpec,
    /// `httpbatch_executor_builder_set_redis_limiter` (src/ffi/redis.rs).
    #[cfg(feature = "redis")]
    pub(super) redis_limiter: Option<crate::distributed::RedisRateLimiter>,
    last_error: LastError,
}

impl HasLastError for httpbatch_executor_builder {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

/// Runs batches on a pool of worker threads (opaque). Thread-safe: several threads may run
/// batches on one executor at once, and read its statistics meanwhile. Free it once, after every
/// call on it has returned.
pub struct httpbatch_executor {
    pub(super) stack: Stack,
    last_error: LastError,
}

impl httpbatch_executor {
    /// The stack under the batch executor (dedup, limiter, pool), for pagination.
    pub(super) fn top(&self) -> Arc<dyn Execute> {
        self.stack.top().clone()
    }

    /// The dedup layer's statistics, when it is on.
    pub(super) fn dedup_stats(&self) -> Option<DedupStats> {
        self.stack.dedup().map(|d| d.stats())
    }
}

impl HasLastError for httpbatch_executor {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

fn ms(ms: u64, what: &str) -> Result<Duration, Fail> {
    if ms == 0 {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("{what} must be above 0 ms"),
        )
        .into());
    }
    Ok(Duration::from_millis(ms))
}

/// Creates a builder with the defaults: 32 workers, 30 s request timeout, 10 s connect timeout,
/// a 10 MiB response body limit, 128 idle connections per origin, 10 redirects.
///
/// Ownership: the caller owns the builder until `httpbatch_executor_builder_build` consumes it,
/// or frees it with `httpbatch_executor_builder_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_new(
    builder_out: *mut *mut httpbatch_executor_builder,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `builder_out` is NULL or writable, per the header.
        let out = unsafe { try_out(builder_out, "builder_out") }?;
        out.write(into_raw(httpbatch_executor_builder {
            workers: 32,
            config: HttpClientConfig::default(),
            client_set: false,
            pool: None,
            limiter: None,
            extras: Extras::default(),
            dedup: None,
            cache: Default::default(),
            #[cfg(feature = "redis")]
            redis_limiter: None,
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Sets the number of worker threads (1 to 4096): the most requests in flight at once. Threads
/// are created once, by `_build`, and reused by every batch. Defaults to 32.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_workers(
    builder: *mut httpbatch_executor_builder,
    workers: usize,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        if workers == 0 || workers > 4096 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("workers must be in 1..=4096, got {workers}"),
            )
            .into());
        }
        b.workers = workers;
        Ok(())
    })
}

/// Sets the timeout of a whole exchange (connect, send, read the whole body) for requests that
/// set none, in milliseconds (above 0). Defaults to 30000.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_timeout_ms(
    builder: *mut httpbatch_executor_builder,
    timeout_ms: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.client_set = true;
        b.config = b.config.clone().timeout(ms(timeout_ms, "timeout")?);
        Ok(())
    })
}

/// Sets the connect timeout in milliseconds (above 0). Defaults to 10000.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_connect_timeout_ms(
    builder: *mut httpbatch_executor_builder,
    timeout_ms: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.client_set = true;
        b.config = b
            .config
            .clone()
            .connect_timeout(ms(timeout_ms, "connect timeout")?);
        Ok(())
    })
}

/// Sets the largest response body accepted, in bytes; a larger body fails the item with
/// `HTTPBATCH_RESULT_BODY_TOO_LARGE`. Defaults to 10 MiB.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_max_body_size(
    builder: *mut httpbatch_executor_builder,
    bytes: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.client_set = true;
        b.config = b.config.clone().max_body_size(bytes);
        Ok(())
    })
}

/// Sets the largest response head (status line and headers) accepted, in bytes; a larger head
/// fails the item with `HTTPBATCH_RESULT_PROTOCOL` (not retried). Values are clamped to
/// 1 KiB ..= 4 MiB, and the limit is never below the connection buffer size. Defaults to 64 KiB.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_max_response_head(
    builder: *mut httpbatch_executor_builder,
    bytes: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.client_set = true;
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        b.config = b.config.clone().max_response_head(bytes);
        Ok(())
    })
}

/// Sets the idle connections kept per origin (at least 1; keep it at least the concurrency per
/// origin, or connections churn). Defaults to 128.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_max_idle_per_origin(
    builder: *mut httpbatch_executor_builder,
    connections: usize,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        if connections == 0 {
            return Err(Fail::from(Error::new(
                ErrorKind::InvalidConfig,
                "max idle connections per origin must be at least 1",
            )));
        }
        b.client_set = true;
        b.config = b.config.clone().max_idle_per_origin(connections);
        Ok(())
    })
}

/// Sets how many redirects are followed (0: none). Defaults to 10.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_max_redirects(
    builder: *mut httpbatch_executor_builder,
    redirects: u32,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.client_set = true;
        b.config = b.config.clone().max_redirects(redirects);
        Ok(())
    })
}

/// Sets the `User-Agent` sent by requests that set none (UTF-8, no CR/LF/NUL; copied).
/// Defaults to `httpbatch/VERSION`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_user_agent(
    builder: *mut httpbatch_executor_builder,
    user_agent: *const c_char,
    user_agent_len: usize,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        // SAFETY: valid for `user_agent_len` bytes, per the header.
        let ua = unsafe { try_str(user_agent, user_agent_len, "user_agent") }?;
        crate::request::validate_header("user-agent", ua)?;
        b.client_set = true;
        b.config = b.config.clone().user_agent(ua);
        Ok(())
    })
}

/// Sends through `pool` (NULL: a plain HTTP client from this builder's settings): the executor
/// keeps its own reference, so the pool may be freed first, and the pool's statistics, health and
/// retry policy stay reachable through the pool handle. With a pool, the client settings
/// (timeouts, body limit, idle, redirects, user agent) are the pool's: setting them here too makes
/// `_build` fail with `HTTPBATCH_RESULT_INVALID_CONFIG`.
///
/// The stack is `pool -> limiter -> batch executor`: every attempt (retries inside the pool
/// included) takes one limiter token.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_pool(
    builder: *mut httpbatch_executor_builder,
    pool: *const httpbatch_pool,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        // SAFETY: `pool` is NULL or live, per the header.
        b.pool = unsafe { pool.as_ref() }.map(|p| p.pool.clone());
        Ok(())
    })
}

/// Rate-limits the executor with `limiter` (NULL: none), including its per-host buckets as set
/// now. The executor keeps its own reference; rate and burst changes through the limiter handle
/// reach it at run time.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_limiter(
    builder: *mut httpbatch_executor_builder,
    limiter: *const httpbatch_limiter,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        // SAFETY: `limiter` is NULL or live, per the header.
        b.limiter = unsafe { limiter.as_ref() }.map(httpbatch_limiter::spec);
        Ok(())
    })
}

/// Copies the message of the most recent failed call on `executor_builder` (empty if none) into `buf`
/// (`buf_len` bytes, NUL-terminated) and its length without the NUL into `*len_out` (may be
/// NULL). With `buf == NULL` and `buf_len == 0` only the length is written (and
/// `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` returned); a buffer too small receives the prefix that fits
/// and the call returns `HTTPBATCH_RESULT_BUFFER_TOO_SMALL`. The text is copied: nothing to free.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_last_error(
    executor_builder: *const httpbatch_executor_builder,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(executor_builder, buf, buf_len, len_out)
}

/// Builds the executor into `*executor_out` and starts its worker threads.
///
/// Ownership: consumes `builder` whatever the result (do not use or free it afterwards) unless
/// `builder` is NULL. On success the caller owns `*executor_out` and frees it with
/// `httpbatch_executor_free`; on failure `*executor_out` is set to NULL (when writable).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_build(
    builder: *mut httpbatch_executor_builder,
    executor_out: *mut *mut httpbatch_executor,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `builder` is NULL or from `_builder_new`; taking it back consumes it.
        unsafe { try_mut(builder, "builder") }?;
        let b = unsafe { Box::from_raw(builder) };
        // SAFETY: `executor_out` is NULL or writable, per the header.
        let out = unsafe { try_out(executor_out, "executor_out") }?;
        out.write(std::ptr::null_mut());
        // The order of the layers lives in `Stack`: pool (or a plain client) -> rate limiter ->
        // batch executor.
        let mut builder = Stack::builder().workers(b.workers);
        if b.client_set || b.pool.is_none() {
            builder = builder.client_config(b.config.clone());
        }
        if let Some(pool) = &b.pool {
            builder = builder.pool(pool.clone());
        }
        if let Some(config) = &b.dedup {
            builder = builder.dedup(config.clone());
        }
        if let Some(spec) = &b.limiter {
            builder = builder.rate_limiter(spec.limiter.clone());
            if let Some((rate, burst)) = spec.per_host {
                builder = builder.per_host_rate(rate, burst);
            }
        }
        #[cfg(feature = "redis")]
        if let Some(shared) = &b.redis_limiter {
            builder = builder.shared_rate_limiter(shared.clone());
        }
        let builder = b.cache.apply(builder)?;
        let builder = b.extras.apply(builder, b.limiter.is_some(), b.workers)?;
        let stack = builder.build().map_err(|e| {
            if e.kind() == ErrorKind::InvalidConfig && b.pool.is_some() && b.client_set {
                Error::new(
                    ErrorKind::InvalidConfig,
                    "timeouts, body limit, idle, redirect and user-agent settings belong to the \
                     pool when one is set: set them on the pool builder",
                )
            } else {
                e
            }
        })?;
        out.write(into_raw(httpbatch_executor {
            stack,
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Frees a builder that was not built (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_free(builder: *mut httpbatch_executor_builder) {
    guard_or((), || {
        // SAFETY: NULL or from `_builder_new`, not built, freed once.
        unsafe { free_raw(builder) }
    })
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Runs every request of `batch` and writes the results to `*result_out`: one item per request,
/// in the order they were added, each a response (any status), an error, cancelled or not run.
/// Blocks until every item has settled, or the batch was cancelled, hit its deadline or failed
/// fast and the requests in flight were interrupted. The progress callback, if any, runs on this
/// thread during the call and never after it.
///
/// The requests are moved out of `batch` (it is empty afterwards; its options stay set). An
/// empty batch is valid and gives an empty result. Per-item failures do not make the call fail:
/// it returns `HTTPBATCH_RESULT_OK` whenever a result was written.
///
/// Ownership: the caller owns `*result_out` and frees it with `httpbatch_batch_result_free`;
/// every pointer read from the result stays valid until then. `executor` may be shared with other
/// threads; `batch` must not be.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_execute(
    executor: *const httpbatch_executor,
    batch: *mut httpbatch_batch,
    result_out: *mut *mut httpbatch_batch_result,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        // SAFETY: pointers are NULL or valid, per the header; `batch` is not shared.
        let b = unsafe { try_mut(batch, "batch") }?;
        let out = unsafe { try_out(result_out, "result_out") }?;
        out.write(std::ptr::null_mut());
        let requests = std::mem::take(&mut b.requests);
        let opts = b.run_options();
        let result = exec.stack.execute_batch(requests, opts);
        out.write(into_raw(httpbatch_batch_result::new(result)));
        Ok(())
    })
}

/// Writes the statistics of the per-host limiter bucket of `host` (a URL or origin, `host_len`
/// bytes) into `*stats_out` (set its `struct_size` first). Fails with
/// `HTTPBATCH_RESULT_NOT_FOUND` when the executor has no limiter with per-host buckets, or no
/// request went to that host yet.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_limiter_host_stats(
    executor: *const httpbatch_executor,
    host: *const c_char,
    host_len: usize,
    stats_out: *mut httpbatch_limiter_stats,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        // SAFETY: `host` is valid for `host_len` bytes, per the header.
        let host = unsafe { try_str(host, host_len, "host") }?;
        let url = crate::request::Url::parse(host)?;
        let origin = url.origin();
        let stats = exec
            .stack
            .rate_limited()
            .and_then(|l| l.host_stats(origin))
            .ok_or_else(|| {
                Fail::new(
                    httpbatch_result::NotFound,
                    format!("no per-host limiter bucket for {origin}"),
                )
            })?;
        let s = httpbatch_limiter_stats::from(stats);
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, s, "stats_out") }
    })
}

/// Stops the executor: running batches end their queued and in-flight items as cancelled, later
/// runs end every item with `HTTPBATCH_RESULT_STOPPED`, and the worker threads are joined.
/// Idempotent; `httpbatch_executor_free` does it too. Must not be called from a progress
/// callback.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_shutdown(
    executor: *const httpbatch_executor,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        exec.stack.shutdown();
        Ok(())
    })
}

/// Copies the message of the most recent failed call on `executor` (empty if none) into `buf`
/// (`buf_len` bytes, NUL-terminated) and its length without the NUL into `*len_out` (may be
/// NULL). With `buf == NULL` and `buf_len == 0` only the length is written (and
/// `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` returned); a buffer too small receives the prefix that fits
/// and the call returns `HTTPBATCH_RESULT_BUFFER_TOO_SMALL`. The text is copied: nothing to free.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_last_error(
    executor: *const httpbatch_executor,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(executor, buf, buf_len, len_out)
}

/// Shuts the executor down (see `httpbatch_executor_shutdown`) and frees it (NULL is ignored).
/// Results already returned stay valid. No other thread may be using `executor`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_free(executor: *mut httpbatch_executor) {
    guard_or((), || {
        // SAFETY: NULL or from `_builder_build`, freed once, no other user.
        unsafe { free_raw(executor) }
    })
}
