//! Health checks: enabling, disabling, and each host's health.

use std::ffi::c_char;
use std::time::{Duration, SystemTime};

use crate::pool::HealthState;

use crate::ffi::base::{Fail, FfiResult, StructSize, guard_on, try_str, write_sized, write_text};
use crate::ffi::executor::micros;
use crate::ffi::httpbatch_result;

use super::{config, host_list, httpbatch_pool};

/// Starts (or reconfigures) the pool's one health-check thread: every `interval_ms` it probes
/// `path` (`path_len` bytes) on each host of the newline-separated `hosts` list. Enabling again
/// replaces the list; it never starts a second thread.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_enable_health_check(
    pool: *const httpbatch_pool,
    hosts: *const c_char,
    hosts_len: usize,
    interval_ms: u64,
    path: *const c_char,
    path_len: usize,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        // SAFETY: pointers are valid for their lengths, per the header.
        let text = unsafe { try_str(hosts, hosts_len, "hosts") }?;
        let path = unsafe { try_str(path, path_len, "path") }?;
        if interval_ms == 0 {
            return Err(config("health check interval must be above 0 ms"));
        }
        p.pool
            .enable_health_check(&host_list(text), Duration::from_millis(interval_ms), path)?;
        Ok(())
    })
}

/// Stops the health-check thread (hosts keep their last state). Idempotent.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_disable_health_check(
    pool: *const httpbatch_pool,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        p.pool.disable_health_check();
        Ok(())
    })
}

/// Where a host stands with the health checker.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum httpbatch_health_state {
    /// Answering probes: requests go through.
    Healthy = 1,
    /// Failed probes: requests fail fast with `HTTPBATCH_RESULT_CIRCUIT_OPEN`.
    Unhealthy = 2,
    /// Recovering: some good probes, not yet enough; requests still fail fast.
    HalfOpen = 3,
}

/// The health of one host. Set `struct_size` before `httpbatch_pool_host_health`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_host_health {
    /// Set by the caller to `sizeof(httpbatch_host_health)`.
    pub struct_size: usize,
    /// The state.
    pub state: httpbatch_health_state,
    /// Failed probes in a row.
    pub consecutive_failures: u32,
    /// Good probes in a row.
    pub consecutive_successes: u32,
    /// Probes made.
    pub checks: u64,
    /// Probes failed.
    pub failed_checks: u64,
    /// When the host became unhealthy, in milliseconds since the Unix epoch (0 while healthy).
    pub unhealthy_since_unix_ms: u64,
    /// When the last probe finished, in milliseconds since the Unix epoch (0 before the first).
    pub last_checked_unix_ms: u64,
    /// Duration of the last probe in microseconds (0 before the first).
    pub last_latency_us: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_host_health {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_host_health>()];
}

fn unix_ms(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn host_health(
    p: &httpbatch_pool,
    host: *const c_char,
    host_len: usize,
) -> FfiResult<crate::pool::HostHealth> {
    // SAFETY: `host` is valid for `host_len` bytes, per the header.
    let host = unsafe { try_str(host, host_len, "host") }?;
    p.pool.host_health(host).ok_or_else(|| {
        Fail::new(
            httpbatch_result::NotFound,
            format!("{host:?} is not health-checked"),
        )
    })
}

/// Writes the health of `host` (a URL or origin, `host_len` bytes) into `*health_out` (set its
/// `struct_size` first). A host not health-checked fails with `HTTPBATCH_RESULT_NOT_FOUND`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_host_health(
    pool: *const httpbatch_pool,
    host: *const c_char,
    host_len: usize,
    health_out: *mut httpbatch_host_health,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        let h = host_health(p, host, host_len)?;
        let c = httpbatch_host_health {
            struct_size: std::mem::size_of::<httpbatch_host_health>(),
            state: match h.state {
                HealthState::Healthy => httpbatch_health_state::Healthy,
                HealthState::Unhealthy => httpbatch_health_state::Unhealthy,
                HealthState::HalfOpen => httpbatch_health_state::HalfOpen,
            },
            consecutive_failures: h.consecutive_failures,
            consecutive_successes: h.consecutive_successes,
            checks: h.checks,
            failed_checks: h.failed_checks,
            unhealthy_since_unix_ms: unix_ms(h.unhealthy_since),
            last_checked_unix_ms: unix_ms(h.last_checked),
            last_latency_us: h.last_latency.map_or(0, micros),
        };
        // SAFETY: `health_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(health_out, c, "health_out") }
    })
}

/// Copies what the last failed probe of `host` reported (`""` if none) into `buf`; see
/// `httpbatch_request_last_error` for the buffer rules. Fails with `HTTPBATCH_RESULT_NOT_FOUND`
/// for a host not health-checked.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_host_last_probe_error(
    pool: *const httpbatch_pool,
    host: *const c_char,
    host_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        let h = host_health(p, host, host_len)?;
        let text = h.last_error.unwrap_or_default();
        // SAFETY: `buf`/`len_out` validity is the caller's contract.
        unsafe { write_text(&text, buf, buf_len, len_out) }
    })
}
