//! `httpbatch_redis_limiter`: the rate limiter shared through Redis (feature `redis`), from a
//! Redis URL: every process on any machine that names the same URL and key shares one limit.

use std::time::{Duration, Instant};

use crate::Context;
use crate::distributed::{OnUnreachable, RedisLimitStats, RedisRateLimiter};
use crate::request::Request;

use super::base::{
    HasLastError, LastError, StructSize, free_raw, guard, guard_on, guard_on_mut, guard_or,
    into_raw, last_error_into, try_out, try_str, write_sized,
};
use super::cancel::httpbatch_cancel_token;
use super::executor::{httpbatch_executor_builder, micros};
use super::httpbatch_result;
use super::limiter::{httpbatch_limiter_stats, rate};

/// A rate limiter whose buckets live in Redis (opaque). Thread-safe.
pub struct httpbatch_redis_limiter {
    limiter: RedisRateLimiter,
    /// What `_acquire` admits: without per-host buckets a request only names the admission, so
    /// one is made once rather than parsed on every call.
    request: Request,
    last_error: LastError,
}

impl HasLastError for httpbatch_redis_limiter {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

/// Creates a limiter on the Redis at `url` (`redis://[user:pass@]HOST:PORT/DB`, UTF-8, `url_len`
/// bytes) under the key `key` (`key_len` bytes; processes sharing a key share the limit),
/// admitting `count` requests per `interval_ms` with bursts of `burst`. `lease` (0 or 1: none)
/// takes that many tokens per Redis round trip. `fail_open_share` is 0 to wait while Redis is
/// unreachable (fail closed), or the share (0, 1] of the rate a local limiter admits meanwhile
/// (fail open). Connects lazily: an unreachable server is not an error here.
///
/// Ownership: the caller frees the limiter with `httpbatch_redis_limiter_free`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn httpbatch_redis_limiter_new(
    url: *const std::ffi::c_char,
    url_len: usize,
    key: *const std::ffi::c_char,
    key_len: usize,
    count: f64,
    interval_ms: u64,
    burst: u32,
    lease: u32,
    fail_open_share: f64,
    limiter_out: *mut *mut httpbatch_redis_limiter,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `limiter_out` is NULL or writable, per the header.
        let out = unsafe { try_out(limiter_out, "limiter_out") }?;
        out.write(std::ptr::null_mut());
        // SAFETY: `url` and `key` are NULL or valid for their lengths, per the header.
        let url = unsafe { try_str(url, url_len, "url") }?;
        // SAFETY: as above.
        let key = unsafe { try_str(key, key_len, "key") }?;
        let mut b = RedisRateLimiter::builder(url, rate(count, interval_ms)?, burst).lease(lease);
        if !key.is_empty() {
            b = b.key(key);
        }
        if fail_open_share != 0.0 {
            b = b.on_unreachable(OnUnreachable::LocalShare(fail_open_share));
        }
        out.write(into_raw(httpbatch_redis_limiter {
            limiter: b.build()?,
            request: Request::get("http://127.0.0.1/")?,
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Blocks until one request may go on the wire under the shared limit, and writes the time
/// waited in microseconds to `*waited_us_out` (may be NULL). `timeout_ms` (0: none) is a
/// deadline: a token that would come later fails at once with
/// `HTTPBATCH_RESULT_DEADLINE_EXCEEDED`, taking nothing. `cancel` (may be NULL) cancelled from
/// another thread ends the wait with `HTTPBATCH_RESULT_CANCELLED`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_limiter_acquire(
    limiter: *const httpbatch_redis_limiter,
    timeout_ms: u64,
    cancel: *const httpbatch_cancel_token,
    waited_us_out: *mut u64,
) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        let mut ctx = Context::new();
        // SAFETY: `cancel` is NULL or live, per the header.
        if let Some(c) = unsafe { cancel.as_ref() } {
            ctx = ctx.with_cancel(c.token.clone());
        }
        if timeout_ms > 0 {
            if let Some(at) = Instant::now().checked_add(Duration::from_millis(timeout_ms)) {
                ctx = ctx.with_deadline(at);
            }
        }
        let waited = l.limiter.acquire(&l.request, &ctx)?;
        // SAFETY: `waited_us_out` is NULL or writable, per the header.
        if let Some(out) = unsafe { waited_us_out.as_mut() } {
            *out = micros(waited);
        }
        Ok(())
    })
}

/// Changes the shared rate for every process at once (no free burst).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_limiter_set_rate(
    limiter: *const httpbatch_redis_limiter,
    count: f64,
    interval_ms: u64,
) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        l.limiter.set_rate(rate(count, interval_ms)?)?;
        Ok(())
    })
}

/// A shared limiter's statistics, for this handle. Set `struct_size` before the call (the
/// library sets `limiter.struct_size`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_redis_limiter_stats {
    /// Set by the caller to `sizeof(httpbatch_redis_limiter_stats)`.
    pub struct_size: usize,
    /// Admissions, waits, rate and burst, as for a local limiter (fallback admissions
    /// included; `current_waiters` is always 0).
    pub limiter: httpbatch_limiter_stats,
    /// Commands sent to Redis.
    pub round_trips: u64,
    /// Admissions served from a lease, without a round trip.
    pub from_lease: u64,
    /// Leased slots dropped unused after the lease TTL.
    pub lease_expired: u64,
    /// Calls to Redis that failed because it was unreachable.
    pub redis_errors: u64,
    /// Times Redis became unreachable.
    pub switches: u64,
    /// Times it came back.
    pub recoveries: u64,
    /// Admissions granted by the local fallback limiter (fail open).
    pub fallback_admitted: u64,
    /// Whether Redis was unreachable at the last try.
    pub degraded: bool,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_redis_limiter_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_redis_limiter_stats>()];
}

impl From<RedisLimitStats> for httpbatch_redis_limiter_stats {
    fn from(s: RedisLimitStats) -> Self {
        httpbatch_redis_limiter_stats {
            struct_size: std::mem::size_of::<Self>(),
            limiter: httpbatch_limiter_stats::from(s.limiter),
            round_trips: s.round_trips,
            from_lease: s.from_lease,
            lease_expired: s.lease_expired,
            redis_errors: s.redis_errors,
            switches: s.switches,
            recoveries: s.recoveries,
            fallback_admitted: s.fallback_admitted,
            degraded: s.degraded,
        }
    }
}

/// Writes this handle's statistics into `*stats_out` (set its `struct_size` first).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_limiter_stats_get(
    limiter: *const httpbatch_redis_limiter,
    stats_out: *mut httpbatch_redis_limiter_stats,
) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        let s = httpbatch_redis_limiter_stats::from(l.limiter.stats());
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, s, "stats_out") }
    })
}

/// Copies the message of the most recent failed call on `limiter`; see
/// `httpbatch_request_last_error` for the buffer rules.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_limiter_last_error(
    limiter: *const httpbatch_redis_limiter,
    buf: *mut std::ffi::c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(limiter, buf, buf_len, len_out)
}

/// Rate-limits the executor built by `builder` with the shared `limiter` (NULL: none), where
/// a local limiter goes: every request it writes on the wire (retries and redirect hops
/// included) takes a slot of the limit shared through Redis. With a local limiter too
/// (`httpbatch_executor_builder_set_limiter`), a request passes the local one first. The
/// executor keeps its own reference: the limiter handle may be freed first, and its statistics
/// (`httpbatch_redis_limiter_stats_get`) and rate changes cover the executor's requests.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_redis_limiter(
    builder: *mut httpbatch_executor_builder,
    limiter: *const httpbatch_redis_limiter,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        // SAFETY: `limiter` is NULL or live, per the header.
        b.redis_limiter = unsafe { limiter.as_ref() }.map(|l| l.limiter.clone());
        Ok(())
    })
}

/// Frees the limiter (NULL is ignored). Executors built with it keep their own reference. No
/// other thread may be using this handle.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_limiter_free(limiter: *mut httpbatch_redis_limiter) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_redis_limiter_new`, freed once.
        unsafe { free_raw(limiter) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `redis-server` on a free loopback port (scripts/setup.sh installs it), killed on drop.
    struct Server(std::process::Child, u16);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn redis_server() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run scripts/setup.sh");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
        Server(child, port)
    }

    #[test]
    fn shared_limiter_through_the_c_abi() {
        let server = redis_server();
        let url = format!("redis://127.0.0.1:{}/0", server.1);
        let key = "ffi";
        let mut handles = [std::ptr::null_mut(); 2];
        for h in &mut handles {
            let r = httpbatch_redis_limiter_new(
                url.as_ptr().cast(),
                url.len(),
                key.as_ptr().cast(),
                key.len(),
                10.0,
                1000,
                2,
                0,
                0.0,
                h,
            );
            assert_eq!(r, httpbatch_result::Ok);
        }
        let mut waited = u64::MAX;
        let start = Instant::now();
        // The burst of 2 is shared by both handles; the third token is 100 ms away.
        for h in [handles[0], handles[1], handles[0]] {
            let r = httpbatch_redis_limiter_acquire(h, 0, std::ptr::null(), &mut waited);
            assert_eq!(r, httpbatch_result::Ok);
        }
        assert!(start.elapsed() >= Duration::from_millis(90));
        // The next is 100 ms away too: a 20 ms timeout fails at once.
        let r = httpbatch_redis_limiter_acquire(handles[1], 20, std::ptr::null(), &mut waited);
        assert_eq!(r, httpbatch_result::DeadlineExceeded);
        assert_eq!(
            httpbatch_redis_limiter_set_rate(handles[1], 0.0, 1000),
            httpbatch_result::InvalidConfig
        );
        let mut stats = httpbatch_redis_limiter_stats {
            struct_size: std::mem::size_of::<httpbatch_redis_limiter_stats>(),
            ..httpbatch_redis_limiter_stats::from(RedisLimitStats::default())
        };
        assert_eq!(
            httpbatch_redis_limiter_stats_get(handles[0], &mut stats),
            httpbatch_result::Ok
        );
        assert_eq!(
            (
                stats.limiter.admitted,
                stats.limiter.rejected,
                stats.degraded
            ),
            (2, 0, false)
        );
        assert_eq!((stats.limiter.burst, stats.limiter.rate_per_sec), (2, 10.0));
        for h in handles {
            httpbatch_redis_limiter_free(h);
        }
    }
}
