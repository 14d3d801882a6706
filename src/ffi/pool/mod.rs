//! `httpbatch_retry_policy`, `httpbatch_pool_builder` and `httpbatch_pool`: the connection pool
//! layer (per-host in-flight caps, retries with Retry-After cap, warmup, health checks and host
//! state), composed into an executor with `httpbatch_executor_builder_set_pool`.
//!
//! Files: `retry_policy.rs`, `builder.rs` (configuration), `warmup.rs`, `health.rs`, `stats.rs`;
//! this one holds the pool handle itself. Extremes map as in Rust: `SIZE_MAX` in flight is no
//! cap, `UINT64_MAX` milliseconds is no limit, and a zero that would mean nothing (a zero
//! timeout, interval or cap) or a NaN or infinite factor is `HTTPBATCH_RESULT_INVALID_CONFIG`;
//! `tests.rs` checks each setter at its extremes.

// In the order of the header (cbindgen follows it; rustfmt would sort one block).
mod retry_policy;
// The builder, then the pool handle (below), then what the pool does.
pub(super) mod builder;
// Warmup.
mod warmup;
// Health checks.
mod health;
// The health-change callback.
mod health_callback;
// Statistics.
mod stats;
#[cfg(test)]
mod tests;

use std::ffi::c_char;

use crate::error::{Error, ErrorKind};
use crate::pool::ConnectionPool;

use crate::ffi::base::{
    Fail, HasLastError, LastError, free_raw, guard_on, guard_or, last_error_into,
};
use crate::ffi::httpbatch_result;

use retry_policy::{build_policy, httpbatch_retry_policy};

fn config(what: impl Into<String>) -> Fail {
    Error::new(ErrorKind::InvalidConfig, what).into()
}

/// A connection pool (opaque). Thread-safe. Executors built with it keep their own reference, so
/// it may be freed before them; its statistics, health and warmup stay reachable through any
/// handle.
pub struct httpbatch_pool {
    pub(crate) pool: ConnectionPool,
    last_error: LastError,
}

impl HasLastError for httpbatch_pool {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

/// Splits a newline-separated host list (blank lines ignored).
fn host_list(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Replaces the pool's retry policy at run time (copied from `policy`).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_set_retry_policy(
    pool: *const httpbatch_pool,
    policy: *const httpbatch_retry_policy,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        p.pool.set_retry_policy(build_policy(policy)?);
        Ok(())
    })
}

/// Zeroes the pool's counters (levels such as live connections are kept).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_reset_stats(pool: *const httpbatch_pool) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        p.pool.reset_stats();
        Ok(())
    })
}

/// Copies the message of the most recent failed call on `pool`; see
/// `httpbatch_request_last_error` for the buffer rules.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_last_error(
    pool: *const httpbatch_pool,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(pool, buf, buf_len, len_out)
}

/// Frees this pool handle (NULL is ignored). Executors built with it keep their own reference;
/// the health-check thread stops when the last reference goes. No other thread may be using
/// this handle.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_free(pool: *mut httpbatch_pool) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_pool_builder_build`, freed once.
        unsafe { free_raw(pool) }
    })
}
