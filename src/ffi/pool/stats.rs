//! The pool's statistics, for the pool and per host.

use std::ffi::c_char;

use crate::ffi::base::{Fail, StructSize, guard_on, try_str, write_sized};
use crate::ffi::executor::micros;
use crate::ffi::httpbatch_result;

use super::httpbatch_pool;

/// A pool's statistics (connection figures counted at the socket). Set `struct_size` first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_pool_stats {
    /// Set by the caller to `sizeof(httpbatch_pool_stats)`.
    pub struct_size: usize,
    /// Sockets opened.
    pub connections_opened: u64,
    /// Sockets closed.
    pub connections_closed: u64,
    /// Sockets open now.
    pub connections_live: u64,
    /// Requests sent on an already open socket.
    pub connections_reused: u64,
    /// Requests the pool was asked to send.
    pub requests: u64,
    /// Attempts on the wire (first attempts and retries).
    pub attempts: u64,
    /// Attempts after a request's first.
    pub retries: u64,
    /// Requests that ended in a response below 500.
    pub succeeded: u64,
    /// Requests that ended in an error or a 5xx.
    pub failures: u64,
    /// Requests and retries rejected by an open circuit.
    pub circuit_open: u64,
    /// Origins the pool has sent to.
    pub hosts: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Retries not made because the retry budget was empty.
    pub retry_budget_exhausted: u64,
    /// Waits that followed a server's `Retry-After`.
    pub retry_after_waits: u64,
    /// Answers returned without a retry because their `Retry-After` exceeded the cap.
    pub retry_after_capped: u64,
    /// Microseconds spent in backoff and `Retry-After` waits.
    pub backoff_us: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_pool_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_pool_stats>()];
}

/// Writes the pool's statistics into `*stats_out` (set its `struct_size` first).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_stats_get(
    pool: *const httpbatch_pool,
    stats_out: *mut httpbatch_pool_stats,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        let s = p.pool.stats();
        let r = p.pool.retry_stats();
        let c = httpbatch_pool_stats {
            struct_size: std::mem::size_of::<httpbatch_pool_stats>(),
            connections_opened: s.connections_opened,
            connections_closed: s.connections_closed,
            connections_live: s.connections_live,
            connections_reused: s.connections_reused,
            requests: s.requests,
            attempts: s.attempts,
            retries: s.retries,
            succeeded: s.succeeded,
            failures: s.failures,
            circuit_open: s.circuit_open,
            hosts: s.hosts as u64,
            in_flight: s.in_flight,
            retry_budget_exhausted: r.budget_exhausted,
            retry_after_waits: r.retry_after_waits,
            retry_after_capped: r.retry_after_capped,
            backoff_us: micros(r.backoff_time),
        };
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, c, "stats_out") }
    })
}

/// Statistics of one host of a pool. Set `struct_size` first.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_pool_host_stats {
    /// Set by the caller to `sizeof(httpbatch_pool_host_stats)`.
    pub struct_size: usize,
    /// Sockets opened to this origin.
    pub connections_opened: u64,
    /// Sockets open now.
    pub connections_live: u64,
    /// Requests sent on an already open socket.
    pub connections_reused: u64,
    /// Requests for this origin.
    pub requests: u64,
    /// Attempts on the wire.
    pub attempts: u64,
    /// Responses below 500.
    pub succeeded: u64,
    /// Errors and 5xx.
    pub failures: u64,
    /// Rejected by the open circuit.
    pub circuit_open: u64,
    /// In flight now.
    pub in_flight: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_pool_host_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_pool_host_stats>()];
}

/// Writes the statistics of `host` (a URL or origin, `host_len` bytes) into `*stats_out`. A host
/// the pool never sent to fails with `HTTPBATCH_RESULT_NOT_FOUND`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_host_stats_get(
    pool: *const httpbatch_pool,
    host: *const c_char,
    host_len: usize,
    stats_out: *mut httpbatch_pool_host_stats,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        // SAFETY: `host` is valid for `host_len` bytes, per the header.
        let host = unsafe { try_str(host, host_len, "host") }?;
        let url = crate::request::Url::parse(host)?;
        let origin = url.origin();
        let h = p
            .pool
            .host_stats()
            .into_iter()
            .find(|h| h.origin == origin)
            .ok_or_else(|| {
                Fail::new(
                    httpbatch_result::NotFound,
                    format!("the pool has not sent to {origin}"),
                )
            })?;
        let c = httpbatch_pool_host_stats {
            struct_size: std::mem::size_of::<httpbatch_pool_host_stats>(),
            connections_opened: h.connections.opened,
            connections_live: h.connections.live,
            connections_reused: h.connections.reused,
            requests: h.requests,
            attempts: h.attempts,
            succeeded: h.succeeded,
            failures: h.failures,
            circuit_open: h.circuit_open,
            in_flight: h.in_flight,
        };
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, c, "stats_out") }
    })
}
