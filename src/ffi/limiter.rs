//! `httpbatch_limiter`: a rate limiter handle (rate as count per interval, burst, run-time
//! changes, optional per-host buckets), composed into an executor with
//! `httpbatch_executor_builder_set_limiter`.

use std::time::Duration;

use parking_lot::Mutex;

use crate::error::{Error, ErrorKind};
use crate::rate_limit::{Rate, RateLimitStats, RateLimiter};

use super::base::{
    HasLastError, LastError, StructSize, free_raw, guard, guard_on, guard_or, into_raw,
    last_error_into, try_out, write_sized,
};
use super::executor::micros;
use super::httpbatch_result;

/// A rate limiter (opaque). Thread-safe. Every request an executor built with it sends on the
/// wire takes one token, retries included. Executors hold their own reference: the limiter may
/// be freed before them, and changes made through any handle (rate, burst, stop) reach them.
pub struct httpbatch_limiter {
    pub(crate) limiter: RateLimiter,
    pub(crate) per_host: Mutex<Option<(Rate, u32)>>,
    last_error: LastError,
}

impl HasLastError for httpbatch_limiter {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

pub(crate) fn rate(count: f64, interval_ms: u64) -> Result<Rate, Error> {
    if interval_ms == 0 {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            "the rate's interval must be above 0 ms",
        ));
    }
    Rate::new(count, Duration::from_millis(interval_ms))
}

/// Creates a limiter allowing `count` requests per `interval_ms` milliseconds (any positive
/// count, fractional too: 5000 per 3600000 ms, or 0.5 per 1000 ms), refilled continuously, with
/// bursts of up to `burst` requests (at least 1). A zero or invalid rate or burst fails with
/// `HTTPBATCH_RESULT_INVALID_CONFIG`.
///
/// Ownership: the caller owns the limiter and frees it with `httpbatch_limiter_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_new(
    count: f64,
    interval_ms: u64,
    burst: u32,
    limiter_out: *mut *mut httpbatch_limiter,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `limiter_out` is NULL or writable, per the header.
        let out = unsafe { try_out(limiter_out, "limiter_out") }?;
        out.write(std::ptr::null_mut());
        let limiter = RateLimiter::new(rate(count, interval_ms)?, burst)?;
        out.write(into_raw(httpbatch_limiter {
            limiter,
            per_host: Mutex::new(None),
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Changes the rate at run time: waiters are neither stranded nor granted a fresh burst.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_set_rate(
    limiter: *const httpbatch_limiter,
    count: f64,
    interval_ms: u64,
) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        l.limiter.set_rate(rate(count, interval_ms)?);
        Ok(())
    })
}

/// Changes the burst at run time (at least 1).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_set_burst(
    limiter: *const httpbatch_limiter,
    burst: u32,
) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        l.limiter.set_burst(burst)?;
        Ok(())
    })
}

/// Adds one bucket per origin (`scheme://host:port`) with this rate and burst, on top of the
/// global one, for executors built with this limiter afterwards. Their per-host statistics are
/// read with `httpbatch_executor_limiter_host_stats`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_set_per_host(
    limiter: *const httpbatch_limiter,
    count: f64,
    interval_ms: u64,
    burst: u32,
) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        let r = rate(count, interval_ms)?;
        RateLimiter::new(r, burst)?;
        *l.per_host.lock() = Some((r, burst));
        Ok(())
    })
}

/// Stops the limiter: every waiting and later request fails with `HTTPBATCH_RESULT_STOPPED`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_stop(limiter: *const httpbatch_limiter) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        l.limiter.stop();
        Ok(())
    })
}

/// A limiter's statistics. Set `struct_size` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_limiter_stats {
    /// Set by the caller to `sizeof(httpbatch_limiter_stats)`.
    pub struct_size: usize,
    /// Requests admitted (each attempt counts once).
    pub admitted: u64,
    /// Admitted requests that had to wait first.
    pub throttled: u64,
    /// Requests that got no token (cancelled, deadline, stopped while waiting).
    pub rejected: u64,
    /// Total microseconds admitted requests waited.
    pub total_wait_us: u64,
    /// Longest single wait in microseconds.
    pub max_wait_us: u64,
    /// Threads waiting right now.
    pub current_waiters: u64,
    /// The configured rate in requests per second.
    pub rate_per_sec: f64,
    /// The configured burst.
    pub burst: u32,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_limiter_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_limiter_stats>()];
}

impl From<RateLimitStats> for httpbatch_limiter_stats {
    fn from(s: RateLimitStats) -> Self {
        httpbatch_limiter_stats {
            struct_size: std::mem::size_of::<Self>(),
            admitted: s.admitted,
            throttled: s.throttled,
            rejected: s.rejected,
            total_wait_us: micros(s.total_wait),
            max_wait_us: micros(s.max_wait),
            current_waiters: s.current_waiters,
            rate_per_sec: s.rate_per_sec,
            burst: s.burst,
        }
    }
}

/// Writes the (global) limiter's statistics into `*stats_out` (set its `struct_size` first).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_stats_get(
    limiter: *const httpbatch_limiter,
    stats_out: *mut httpbatch_limiter_stats,
) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        let s = httpbatch_limiter_stats::from(l.limiter.stats());
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, s, "stats_out") }
    })
}

/// Zeroes the limiter's counters (not its tokens).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_reset_stats(
    limiter: *const httpbatch_limiter,
) -> httpbatch_result {
    guard_on(limiter, "limiter", |l| {
        l.limiter.reset_stats();
        Ok(())
    })
}

/// Copies the message of the most recent failed call on `limiter`; see
/// `httpbatch_request_last_error` for the buffer rules.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_last_error(
    limiter: *const httpbatch_limiter,
    buf: *mut std::ffi::c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(limiter, buf, buf_len, len_out)
}

/// Frees this handle (NULL is ignored). Executors built with it keep working with their own
/// reference. No other thread may be using this handle.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_limiter_free(limiter: *mut httpbatch_limiter) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_limiter_new`, freed once.
        unsafe { free_raw(limiter) }
    })
}

/// What an executor keeps of a limiter when it is built.
pub(crate) struct LimiterSpec {
    pub(crate) limiter: RateLimiter,
    pub(crate) per_host: Option<(Rate, u32)>,
}

impl httpbatch_limiter {
    pub(crate) fn spec(&self) -> LimiterSpec {
        LimiterSpec {
            limiter: self.limiter.clone(),
            per_host: *self.per_host.lock(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The limiter's C setters at their extremes: `OK` or `INVALID_CONFIG`, never `PANIC`.

    use std::ptr;

    use proptest::prelude::*;

    use super::*;
    use crate::error::extremes::{count32, float};
    use httpbatch_result as R;

    fn new(count: f64, interval_ms: u64, burst: u32) -> (R, *mut httpbatch_limiter) {
        let mut l = ptr::null_mut();
        (httpbatch_limiter_new(count, interval_ms, burst, &mut l), l)
    }

    #[test]
    fn extremes() {
        for (count, ms, burst) in [
            (f64::NAN, 1000, 1),
            (f64::INFINITY, 1000, 1),
            (0.0, 1000, 1),
            (-1.0, 1000, 1),
            (1.0, 0, 1),
            (1.0, u64::MAX, 1), // one per 584 million years: slower than the one-year bound
            (1.0, 1000, 0),
        ] {
            let (rc, l) = new(count, ms, burst);
            assert_eq!(
                (rc, l.is_null()),
                (R::InvalidConfig, true),
                "{count} {ms} {burst}"
            );
        }
        let (rc, l) = new(f64::MAX, 1, u32::MAX);
        assert_eq!(rc, R::Ok);
        assert_eq!(httpbatch_limiter_set_rate(l, f64::MAX, 1), R::Ok);
        assert_eq!(
            httpbatch_limiter_set_rate(l, 1.0, 366 * 24 * 3600 * 1000),
            R::Ok
        );
        assert_eq!(httpbatch_limiter_set_rate(l, f64::NAN, 1), R::InvalidConfig);
        assert_eq!(
            httpbatch_limiter_set_rate(l, 1.0, u64::MAX),
            R::InvalidConfig
        );
        assert_eq!(httpbatch_limiter_set_burst(l, u32::MAX), R::Ok);
        assert_eq!(httpbatch_limiter_set_burst(l, 0), R::InvalidConfig);
        assert_eq!(
            httpbatch_limiter_set_per_host(l, f64::MAX, 1, u32::MAX),
            R::Ok
        );
        assert_eq!(
            httpbatch_limiter_set_per_host(l, f64::INFINITY, 1, 1),
            R::InvalidConfig
        );
        httpbatch_limiter_free(l);
    }

    proptest! {
        #[test]
        fn any_numbers_are_ok_or_invalid_config(
            count in float(),
            ms in any::<u64>(),
            burst in count32(),
        ) {
            let (rc, l) = new(count, ms, burst);
            prop_assert!(matches!(rc, R::Ok | R::InvalidConfig), "{rc:?}");
            if rc == R::Ok {
                for rc in [
                    httpbatch_limiter_set_rate(l, count, ms),
                    httpbatch_limiter_set_burst(l, burst),
                    httpbatch_limiter_set_per_host(l, count, ms, burst),
                ] {
                    prop_assert!(matches!(rc, R::Ok | R::InvalidConfig), "{rc:?}");
                }
            }
            httpbatch_limiter_free(l);
        }
    }
}
