//! Request coalescing and adaptive limits on an executor: `httpbatch_executor_builder_set_coalesce`,
//! `httpbatch_executor_builder_set_adaptive`, and their statistics.

use std::ffi::c_char;
use std::time::Duration;

use crate::coalesce::CoalesceStats;
#[cfg(feature = "coalesce-json")]
use crate::coalesce::{JsonArrayCodec, JsonRpcCodec};
use crate::error::{Error, ErrorKind};
use crate::rate_limit::{AdaptiveHostStats, AdaptiveLimits, Rate, RateLimiter};
use crate::stack::StackBuilder;

use super::base::{Fail, StructSize, guard_on, guard_on_mut, try_str, write_sized};
use super::executor::{httpbatch_executor, httpbatch_executor_builder};
use super::httpbatch_result;

/// No coalescing (the default).
pub const HTTPBATCH_COALESCE_NONE: u32 = 0;
/// JSON-RPC 2.0 batches: each request body is one call object; answers matched by `id`.
pub const HTTPBATCH_COALESCE_JSONRPC: u32 = 1;
/// JSON arrays: the bodies collected into one array, results split from the answer's array.
pub const HTTPBATCH_COALESCE_JSON_ARRAY: u32 = 2;

/// What the builder adds for coalescing and adaptive limits.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Extras {
    coalesce: Option<(u32, usize, Duration)>,
    max_queued: Option<usize>,
    adaptive: bool,
}

impl Extras {
    /// Adds the layers to `builder`; `has_limiter` says whether a rate limiter is set already.
    pub(super) fn apply(
        &self,
        mut builder: StackBuilder,
        has_limiter: bool,
        workers: usize,
    ) -> Result<StackBuilder, Error> {
        if self.adaptive {
            if !has_limiter {
                // A rate no host reaches: only the servers' headers limit.
                let burst = u32::try_from(workers).unwrap_or(u32::MAX).max(1);
                builder = builder.rate_limiter(RateLimiter::new(Rate::per_second(1e6)?, burst)?);
            }
            builder = builder.adaptive(AdaptiveLimits::new());
        }
        if let Some(max_queued) = self.max_queued {
            builder = builder.coalesce_max_queued(max_queued);
        }
        #[cfg(feature = "coalesce-json")]
        return Ok(match self.coalesce {
            None => builder,
            Some((HTTPBATCH_COALESCE_JSONRPC, n, d)) => builder.coalesce(JsonRpcCodec::new(), n, d),
            Some((_, n, d)) => builder.coalesce(JsonArrayCodec::new(), n, d),
        });
        // The built-in codecs need the `coalesce-json` feature (on by default).
        #[cfg(not(feature = "coalesce-json"))]
        match self.coalesce {
            None => Ok(builder),
            Some(_) => Err(Error::new(
                ErrorKind::InvalidConfig,
                "coalescing: this library was built without the coalesce-json feature, which \
                 the built-in codecs need",
            )),
        }
    }
}

/// Combines requests with the same method, URL and headers into one HTTP request with the
/// built-in codec `codec` (`HTTPBATCH_COALESCE_JSONRPC`, `HTTPBATCH_COALESCE_JSON_ARRAY`, or
/// `HTTPBATCH_COALESCE_NONE` to turn it off): up to `max_batch` requests per HTTP request, a
/// request waiting at most `max_delay_ms` for others. At most `workers` requests are in flight,
/// so batches fill up to the worker count. Per-item errors come back per item: a JSON-RPC error
/// object as `HTTPBATCH_RESULT_REMOTE` (its code and message in the item's error message), a
/// full queue as `HTTPBATCH_RESULT_QUEUE_FULL`. Fails with `HTTPBATCH_RESULT_INVALID_CONFIG` for
/// an unknown codec or `max_batch == 0`. Defaults to no coalescing.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_coalesce(
    builder: *mut httpbatch_executor_builder,
    codec: u32,
    max_batch: usize,
    max_delay_ms: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.extras.coalesce = match codec {
            HTTPBATCH_COALESCE_NONE => None,
            HTTPBATCH_COALESCE_JSONRPC | HTTPBATCH_COALESCE_JSON_ARRAY if max_batch > 0 => {
                Some((codec, max_batch, Duration::from_millis(max_delay_ms)))
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!("coalescing: unknown codec {codec} or max_batch 0"),
                )
                .into());
            }
        };
        Ok(())
    })
}

/// Bounds how many requests coalescing holds while their batches fill (default 10,000): one more
/// ends at once with `HTTPBATCH_RESULT_QUEUE_FULL` in its own item. Only a bound below `workers`
/// can fill, since at most `workers` requests are in flight. Fails with
/// `HTTPBATCH_RESULT_INVALID_CONFIG` for 0; has no effect without
/// `httpbatch_executor_builder_set_coalesce`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_coalesce_max_queued(
    builder: *mut httpbatch_executor_builder,
    max_queued: usize,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        if max_queued == 0 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "coalescing: max_queued must be at least 1",
            )
            .into());
        }
        b.extras.max_queued = Some(max_queued);
        Ok(())
    })
}

/// Turns adaptive limits on (`on != 0`) or off: each host's rate follows its server's
/// `Retry-After` (on 429/503), `RateLimit`/`RateLimit-Policy` and `X-RateLimit-*` headers, never
/// above the limiter's rate (without a limiter, only the headers limit). Defaults to off.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_adaptive(
    builder: *mut httpbatch_executor_builder,
    on: i32,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.extras.adaptive = on != 0;
        Ok(())
    })
}

/// Coalescing statistics (`httpbatch_executor_coalesce_stats`). Set `struct_size` to
/// `sizeof(httpbatch_coalesce_stats)` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_coalesce_stats {
    /// `sizeof(httpbatch_coalesce_stats)`, set by the caller.
    pub struct_size: usize,
    /// Logical requests that joined a batch.
    pub logical: u64,
    /// Combined HTTP requests sent.
    pub http_requests: u64,
    /// Logical requests sent inside combined requests.
    pub batched: u64,
    /// Combined requests that failed as a whole.
    pub failed_requests: u64,
    /// Logical requests that ended with an error.
    pub item_errors: u64,
    /// Requests refused because the queue was full.
    pub rejected: u64,
    /// Callers that left before their outcome (cancel, deadline).
    pub abandoned: u64,
    /// Mean logical requests per HTTP request (0 before the first).
    pub mean_batch_size: f64,
}

// SAFETY: `#[repr(C)]`, starts with `struct_size: usize`, one version so far.
unsafe impl StructSize for httpbatch_coalesce_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_coalesce_stats>()];
}

impl From<CoalesceStats> for httpbatch_coalesce_stats {
    fn from(s: CoalesceStats) -> Self {
        httpbatch_coalesce_stats {
            struct_size: std::mem::size_of::<httpbatch_coalesce_stats>(),
            logical: s.logical,
            http_requests: s.http_requests,
            batched: s.batched,
            failed_requests: s.failed_requests,
            item_errors: s.item_errors,
            rejected: s.rejected,
            abandoned: s.abandoned,
            mean_batch_size: s.mean_batch_size(),
        }
    }
}

/// Writes the coalescing statistics into `*stats_out` (set its `struct_size` first). Fails with
/// `HTTPBATCH_RESULT_NOT_FOUND` when the executor does not coalesce.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_coalesce_stats(
    executor: *const httpbatch_executor,
    stats_out: *mut httpbatch_coalesce_stats,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        let stats = exec.stack.stats().coalesce.ok_or_else(|| {
            Fail::new(httpbatch_result::NotFound, "the executor does not coalesce")
        })?;
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, stats.into(), "stats_out") }
    })
}

/// What adaptive limits know about one host (`httpbatch_executor_adaptive_host_stats`). Set
/// `struct_size` to `sizeof(httpbatch_adaptive_host_stats)` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_adaptive_host_stats {
    /// `sizeof(httpbatch_adaptive_host_stats)`, set by the caller.
    pub struct_size: usize,
    /// The host's rate now, requests per second.
    pub effective_rate_per_sec: f64,
    /// The quota the server last advertised, requests per second; 0 when none.
    pub advertised_rate_per_sec: f64,
    /// Answers that held the host (Retry-After, a spent quota).
    pub holds: u64,
    /// How long the host is still held, in milliseconds.
    pub held_for_ms: u64,
    /// Answers that carried quota headers.
    pub quota_answers: u64,
}

// SAFETY: `#[repr(C)]`, starts with `struct_size: usize`, one version so far.
unsafe impl StructSize for httpbatch_adaptive_host_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_adaptive_host_stats>()];
}

impl From<AdaptiveHostStats> for httpbatch_adaptive_host_stats {
    fn from(s: AdaptiveHostStats) -> Self {
        httpbatch_adaptive_host_stats {
            struct_size: std::mem::size_of::<httpbatch_adaptive_host_stats>(),
            effective_rate_per_sec: s.effective_rate_per_sec,
            advertised_rate_per_sec: s.advertised_rate_per_sec.unwrap_or(0.0),
            holds: s.holds,
            held_for_ms: u64::try_from(s.held_for.as_millis()).unwrap_or(u64::MAX),
            quota_answers: s.quota_answers,
        }
    }
}

/// Writes what adaptive limits know about `host` (a URL or origin, `host_len` bytes) into
/// `*stats_out` (set its `struct_size` first). Fails with `HTTPBATCH_RESULT_NOT_FOUND` when
/// adaptive limits are off or the host's server sent nothing to follow yet.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_adaptive_host_stats(
    executor: *const httpbatch_executor,
    host: *const c_char,
    host_len: usize,
    stats_out: *mut httpbatch_adaptive_host_stats,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        // SAFETY: `host` is valid for `host_len` bytes, per the header.
        let host = unsafe { try_str(host, host_len, "host") }?;
        let url = crate::request::Url::parse(host)?;
        let origin = url.origin();
        let stats = exec
            .stack
            .rate_limited()
            .and_then(|l| l.adaptive_stats(origin))
            .ok_or_else(|| {
                Fail::new(
                    httpbatch_result::NotFound,
                    format!("no adaptive limits state for {origin}"),
                )
            })?;
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, stats.into(), "stats_out") }
    })
}

#[cfg(test)]
mod tests {
    use std::ptr::null_mut;

    use super::*;
    use crate::ffi::batch::*;
    use crate::ffi::executor::*;
    use crate::ffi::request::*;
    use crate::ffi::result::*;
    use httpbatch_testserver::Server;

    type R = httpbatch_result;

    fn zeroed<T: StructSize>() -> T {
        // SAFETY: the stats structs are plain numbers, for which all-zero bytes are valid.
        let mut v: T = unsafe { std::mem::zeroed() };
        // SAFETY: the first field of every `StructSize` type is `struct_size: usize`.
        unsafe { (&raw mut v).cast::<usize>().write(std::mem::size_of::<T>()) };
        v
    }

    #[test]
    fn a_c_executor_coalesces_jsonrpc_calls_and_follows_quotas() {
        let server = Server::start().unwrap();
        let mut b = null_mut();
        assert_eq!(httpbatch_executor_builder_new(&mut b), R::Ok);
        assert_eq!(httpbatch_executor_builder_set_workers(b, 10), R::Ok);
        assert_eq!(
            httpbatch_executor_builder_set_coalesce(b, 9, 10, 0),
            R::InvalidConfig
        );
        assert_eq!(
            httpbatch_executor_builder_set_coalesce(b, HTTPBATCH_COALESCE_JSONRPC, 10, 10_000),
            R::Ok
        );
        assert_eq!(httpbatch_executor_builder_set_adaptive(b, 1), R::Ok);
        let mut exec = null_mut();
        assert_eq!(httpbatch_executor_builder_build(b, &mut exec), R::Ok);

        let mut batch = null_mut();
        assert_eq!(httpbatch_batch_new(&mut batch), R::Ok);
        let url = server.url("/jsonrpc");
        for i in 0..10 {
            let mut req = null_mut();
            assert_eq!(httpbatch_request_new(&mut req), R::Ok);
            assert_eq!(
                httpbatch_request_set_method(req, c"POST".as_ptr(), 4),
                R::Ok
            );
            assert_eq!(
                httpbatch_request_set_url(req, url.as_ptr().cast(), url.len()),
                R::Ok
            );
            let body = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":[{i}],"id":1}}"#);
            assert_eq!(
                httpbatch_request_set_body(req, body.as_ptr(), body.len()),
                R::Ok
            );
            assert_eq!(httpbatch_batch_add(batch, req), R::Ok);
            httpbatch_request_free(req);
        }
        let mut res = null_mut();
        assert_eq!(httpbatch_executor_execute(exec, batch, &mut res), R::Ok);
        let mut summary: httpbatch_batch_summary = zeroed();
        assert_eq!(httpbatch_batch_result_summary(res, &mut summary), R::Ok);
        assert_eq!(summary.succeeded, 10);
        httpbatch_batch_result_free(res);

        let mut stats: httpbatch_coalesce_stats = zeroed();
        assert_eq!(httpbatch_executor_coalesce_stats(exec, &mut stats), R::Ok);
        assert_eq!((stats.logical, stats.http_requests), (10, 1));
        assert_eq!(stats.mean_batch_size, 10.0);
        assert_eq!(server.requests_for("/jsonrpc"), 1);

        // Adaptive limits: the host is known once its server advertised a quota.
        let host = server.base_url();
        let mut hs: httpbatch_adaptive_host_stats = zeroed();
        let r =
            httpbatch_executor_adaptive_host_stats(exec, host.as_ptr().cast(), host.len(), &mut hs);
        assert_eq!(r, R::NotFound);
        // The batch is empty after a run; its options stay.
        let quota = server.url("/quota/c?limit=20");
        assert_eq!(
            httpbatch_batch_add_get(batch, quota.as_ptr().cast(), quota.len()),
            R::Ok
        );
        assert_eq!(httpbatch_executor_execute(exec, batch, &mut res), R::Ok);
        httpbatch_batch_result_free(res);
        let r =
            httpbatch_executor_adaptive_host_stats(exec, host.as_ptr().cast(), host.len(), &mut hs);
        assert_eq!(r, R::Ok);
        assert_eq!(hs.effective_rate_per_sec, 20.0);
        assert_eq!(hs.advertised_rate_per_sec, 20.0);
        httpbatch_batch_free(batch);
        httpbatch_executor_free(exec);
    }
}
