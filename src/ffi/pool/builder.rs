//! `httpbatch_pool_builder`: the pool's configuration, consumed by `_build`.

use std::ffi::c_char;
use std::time::Duration;

use crate::agent::HttpClientConfig;
use crate::pool::{ConnectionPool, ConnectionPoolBuilder, HealthCheckConfig};

use crate::ffi::base::{
    HasLastError, LastError, free_raw, guard, guard_on_mut, guard_or, into_raw, last_error_into,
    try_mut, try_out, try_str,
};
use crate::ffi::httpbatch_result;

use super::retry_policy::{build_policy, httpbatch_retry_policy};
use super::{config, httpbatch_pool};

/// Configures a connection pool (opaque). Not thread-safe. Consumed by
/// `httpbatch_pool_builder_build`. Defaults: 32 requests in flight per host, the default retry
/// policy, the executor defaults for timeouts and body limit, health checks off, warmup path `/`.
pub struct httpbatch_pool_builder {
    pub(super) builder: ConnectionPoolBuilder,
    pub(in crate::ffi) client: HttpClientConfig,
    health: HealthCheckConfig,
    last_error: LastError,
}

impl HasLastError for httpbatch_pool_builder {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

/// Creates a pool builder with the defaults.
///
/// Ownership: consumed by `httpbatch_pool_builder_build`, or freed with
/// `httpbatch_pool_builder_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_new(
    builder_out: *mut *mut httpbatch_pool_builder,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `builder_out` is NULL or writable, per the header.
        let out = unsafe { try_out(builder_out, "builder_out") }?;
        out.write(into_raw(httpbatch_pool_builder {
            builder: ConnectionPool::builder(),
            client: HttpClientConfig::default(),
            health: HealthCheckConfig::default(),
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Caps the requests in flight to one host (origin) at once (at least 1): others wait for a
/// slot (the wait honours cancellation and deadlines). Defaults to 32.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_max_in_flight_per_host(
    builder: *mut httpbatch_pool_builder,
    max: usize,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        if max == 0 {
            return Err(config("max in flight per host must be at least 1"));
        }
        b.builder = std::mem::take(&mut b.builder).max_in_flight_per_host(max);
        Ok(())
    })
}

/// Sets the whole-exchange timeout of the pool's requests in milliseconds (above 0).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_timeout_ms(
    builder: *mut httpbatch_pool_builder,
    timeout_ms: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        if timeout_ms == 0 {
            return Err(config("timeout must be above 0 ms"));
        }
        b.client = b.client.clone().timeout(Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Sets the connect timeout in milliseconds (above 0).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_connect_timeout_ms(
    builder: *mut httpbatch_pool_builder,
    timeout_ms: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        if timeout_ms == 0 {
            return Err(config("connect timeout must be above 0 ms"));
        }
        b.client = b
            .client
            .clone()
            .connect_timeout(Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Sets the response body limit in bytes.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_max_body_size(
    builder: *mut httpbatch_pool_builder,
    bytes: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.client = b.client.clone().max_body_size(bytes);
        Ok(())
    })
}

/// Sets the retry policy (copied from `policy`, which the caller still owns).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_retry_policy(
    builder: *mut httpbatch_pool_builder,
    policy: *const httpbatch_retry_policy,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        let p = build_policy(policy)?;
        b.builder = std::mem::take(&mut b.builder).retry_policy(p);
        Ok(())
    })
}

/// Configures health checks (started later by `httpbatch_pool_enable_health_check`): a probe
/// fails after `probe_timeout_ms` (0: the check interval); `unhealthy_threshold` failed probes in
/// a row open a host's circuit (requests then fail fast with `HTTPBATCH_RESULT_CIRCUIT_OPEN`),
/// `healthy_threshold` good probes close it again (both at least 1). Defaults to 0, 2, 1.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_health_check(
    builder: *mut httpbatch_pool_builder,
    probe_timeout_ms: u64,
    unhealthy_threshold: u32,
    healthy_threshold: u32,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        if unhealthy_threshold == 0 || healthy_threshold == 0 {
            return Err(config("health thresholds must be at least 1"));
        }
        let mut h = HealthCheckConfig::default()
            .unhealthy_threshold(unhealthy_threshold)
            .healthy_threshold(healthy_threshold);
        if probe_timeout_ms > 0 {
            h = h.probe_timeout(Duration::from_millis(probe_timeout_ms));
        }
        b.health = h;
        Ok(())
    })
}

/// Sets the path warmup requests fetch (`path_len` bytes of UTF-8, copied) and their timeout
/// (above 0). Defaults to `/` and 10000.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_set_warmup(
    builder: *mut httpbatch_pool_builder,
    path: *const c_char,
    path_len: usize,
    timeout_ms: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        // SAFETY: `path` is valid for `path_len` bytes, per the header.
        let path = unsafe { try_str(path, path_len, "path") }?;
        if timeout_ms == 0 {
            return Err(config("warmup timeout must be above 0 ms"));
        }
        b.builder = std::mem::take(&mut b.builder)
            .warmup_path(path)
            .warmup_timeout(Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Copies the message of the most recent failed call on `builder`; see
/// `httpbatch_request_last_error` for the buffer rules.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_last_error(
    builder: *const httpbatch_pool_builder,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(builder, buf, buf_len, len_out)
}

/// Builds the pool into `*pool_out`.
///
/// Ownership: consumes `builder` whatever the result (unless it is NULL). On success the caller
/// owns `*pool_out` and frees it with `httpbatch_pool_free`; on failure `*pool_out` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_build(
    builder: *mut httpbatch_pool_builder,
    pool_out: *mut *mut httpbatch_pool,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `builder` is NULL or from `_builder_new`; taking it back consumes it.
        unsafe { try_mut(builder, "builder") }?;
        let b = unsafe { Box::from_raw(builder) };
        // SAFETY: `pool_out` is NULL or writable, per the header.
        let out = unsafe { try_out(pool_out, "pool_out") }?;
        out.write(std::ptr::null_mut());
        let pool = b
            .builder
            .client_config(b.client)
            .health_check(b.health)
            .build()?;
        out.write(into_raw(httpbatch_pool {
            pool,
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Frees a pool builder that was not built (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_builder_free(builder: *mut httpbatch_pool_builder) {
    guard_or((), || {
        // SAFETY: NULL or from `_builder_new`, not built, freed once.
        unsafe { free_raw(builder) }
    })
}
