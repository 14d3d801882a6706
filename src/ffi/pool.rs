//! `httpbatch_retry_policy`, `httpbatch_pool_builder` and `httpbatch_pool`: the connection pool
//! layer (per-host in-flight caps, retries with Retry-After cap, warmup, health checks and host
//! state), composed into an executor with `httpbatch_executor_builder_set_pool`.

use std::ffi::c_char;
use std::time::{Duration, SystemTime};

use crate::agent::HttpClientConfig;
use crate::error::{Error, ErrorKind};
use crate::pool::{
    ConnectionPool, ConnectionPoolBuilder, HealthCheckConfig, HealthState, WarmupReport,
};
use crate::retry::{Jitter, RetryBudget, RetryPolicy, RetryPolicyBuilder};

use super::base::{
    Fail, FfiResult, HasLastError, LastError, StructSize, free_raw, guard, guard_on, guard_on_mut,
    guard_or, into_raw, last_error_into, try_mut, try_out, try_ref, try_str, write_sized,
    write_text,
};
use super::executor::micros;
use super::httpbatch_result;

fn config(what: impl Into<String>) -> Fail {
    Error::new(ErrorKind::InvalidConfig, what).into()
}

/// A retry policy under construction (opaque). Not thread-safe. Copied where it is used
/// (`httpbatch_pool_builder_set_retry_policy`, `httpbatch_pool_set_retry_policy`), so it may be
/// freed afterwards. Defaults: 3 attempts, backoff 100 ms doubling up to 10 s with full jitter,
/// statuses 429, 502, 503, 504 and transient transport errors retried, `Retry-After` honoured up
/// to 60 s, only idempotent methods (and requests that opted in), no budget.
pub struct httpbatch_retry_policy {
    builder: RetryPolicyBuilder,
    last_error: LastError,
}

impl HasLastError for httpbatch_retry_policy {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

impl httpbatch_retry_policy {
    fn edit(&mut self, f: impl FnOnce(RetryPolicyBuilder) -> RetryPolicyBuilder) -> FfiResult {
        let next = f(self.builder.clone());
        next.clone().build()?;
        self.builder = next;
        Ok(())
    }
}

/// Jitter applied to retry backoff delays.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum httpbatch_jitter {
    /// Always the exponential delay `d`.
    None = 0,
    /// Uniform in `[0, d)` (the default).
    Full = 1,
    /// Uniform in `[d/2, d)`.
    Equal = 2,
}

/// Creates a retry policy with the defaults (see the type's description).
///
/// Ownership: the caller frees it with `httpbatch_retry_policy_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_new(
    policy_out: *mut *mut httpbatch_retry_policy,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `policy_out` is NULL or writable, per the header.
        let out = unsafe { try_out(policy_out, "policy_out") }?;
        out.write(into_raw(httpbatch_retry_policy {
            builder: RetryPolicy::builder(),
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Sets the most attempts per request, first included (1 disables retries). Defaults to 3.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_set_max_attempts(
    policy: *mut httpbatch_retry_policy,
    attempts: u32,
) -> httpbatch_result {
    guard_on_mut(policy, "policy", |p| p.edit(|b| b.max_attempts(attempts)))
}

/// Sets the backoff: `base_ms` before the first retry, multiplied by `multiplier` (at least 1)
/// each time, capped at `max_ms`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_set_backoff(
    policy: *mut httpbatch_retry_policy,
    base_ms: u64,
    max_ms: u64,
    multiplier: f64,
) -> httpbatch_result {
    guard_on_mut(policy, "policy", |p| {
        p.edit(|b| {
            b.base_delay(Duration::from_millis(base_ms))
                .max_delay(Duration::from_millis(max_ms))
                .multiplier(multiplier)
        })
    })
}

/// Sets the jitter (`httpbatch_jitter` value); an unknown value fails with
/// `HTTPBATCH_RESULT_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_set_jitter(
    policy: *mut httpbatch_retry_policy,
    jitter: u32,
) -> httpbatch_result {
    guard_on_mut(policy, "policy", |p| {
        let j = match jitter {
            x if x == httpbatch_jitter::None as u32 => Jitter::None,
            x if x == httpbatch_jitter::Full as u32 => Jitter::Full,
            x if x == httpbatch_jitter::Equal as u32 => Jitter::Equal,
            _ => return Err(Fail::invalid(format!("unknown jitter {jitter}"))),
        };
        p.edit(|b| b.jitter(j))
    })
}

/// Replaces the retried statuses with `count` statuses at `statuses` (copied; NULL allowed when
/// `count` is 0, which retries no status).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_set_retry_statuses(
    policy: *mut httpbatch_retry_policy,
    statuses: *const u16,
    count: usize,
) -> httpbatch_result {
    guard_on_mut(policy, "policy", |p| {
        let list: Vec<u16> = if count == 0 {
            Vec::new()
        } else {
            if statuses.is_null() {
                return Err(Fail::null("statuses"));
            }
            // SAFETY: non-NULL and valid for `count` reads, per the header.
            unsafe { std::slice::from_raw_parts(statuses, count) }.to_vec()
        };
        p.edit(|b| b.retry_statuses(list))
    })
}

/// Whether transient transport errors (refused, reset, timeout) are retried. Defaults to true.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_set_retry_transport_errors(
    policy: *mut httpbatch_retry_policy,
    retry: bool,
) -> httpbatch_result {
    guard_on_mut(policy, "policy", |p| {
        p.edit(|b| b.retry_transport_errors(retry))
    })
}

/// Whether a server's `Retry-After` (seconds or HTTP-date) replaces the backoff, and the longest
/// wait honoured (`cap_ms`): an answer asking for longer is returned without a retry. Defaults to
/// true and 60000.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_set_retry_after(
    policy: *mut httpbatch_retry_policy,
    respect: bool,
    cap_ms: u64,
) -> httpbatch_result {
    guard_on_mut(policy, "policy", |p| {
        p.edit(|b| {
            b.respect_retry_after(respect)
                .retry_after_cap(Duration::from_millis(cap_ms))
        })
    })
}

/// Whether every method is retried, not only idempotent ones and requests that opted in with
/// `httpbatch_request_set_retry_non_idempotent`. Defaults to false.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_set_retry_non_idempotent(
    policy: *mut httpbatch_retry_policy,
    retry: bool,
) -> httpbatch_result {
    guard_on_mut(policy, "policy", |p| {
        p.edit(|b| b.retry_non_idempotent(retry))
    })
}

/// Caps retries with a budget: `ratio` retries per request plus `min_per_sec` per second.
/// A negative `ratio` removes the budget.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_set_budget(
    policy: *mut httpbatch_retry_policy,
    ratio: f64,
    min_per_sec: f64,
) -> httpbatch_result {
    guard_on_mut(policy, "policy", |p| {
        let budget = if ratio < 0.0 {
            None
        } else {
            Some(RetryBudget::new(ratio, min_per_sec)?)
        };
        p.edit(|b| b.budget(budget))
    })
}

/// Copies the message of the most recent failed call on `policy`; see
/// `httpbatch_request_last_error` for the buffer rules.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_last_error(
    policy: *const httpbatch_retry_policy,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(policy, buf, buf_len, len_out)
}

/// Frees a retry policy (NULL is ignored). Pools it was given to keep their copies.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_retry_policy_free(policy: *mut httpbatch_retry_policy) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_retry_policy_new`, freed once.
        unsafe { free_raw(policy) }
    })
}

fn build_policy(p: *const httpbatch_retry_policy) -> FfiResult<RetryPolicy> {
    // SAFETY: NULL or live, per the header.
    let p = unsafe { try_ref(p, "policy") }?;
    Ok(p.builder.clone().build()?)
}

/// Configures a connection pool (opaque). Not thread-safe. Consumed by
/// `httpbatch_pool_builder_build`. Defaults: 32 requests in flight per host, the default retry
/// policy, the executor defaults for timeouts and body limit, health checks off, warmup path `/`.
pub struct httpbatch_pool_builder {
    builder: ConnectionPoolBuilder,
    pub(super) client: HttpClientConfig,
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

/// What a warmup did (opaque), one entry per host in the order given. Immutable; not to be freed
/// while another thread reads it.
pub struct httpbatch_warmup_report {
    report: WarmupReport,
    /// Per host: its transport errors joined, NUL-terminated.
    messages: Vec<std::ffi::CString>,
}

/// Opens `connections` connections to each host concurrently (each warmup request holds its
/// connection until all have arrived, so they are distinct sockets) and writes a report to
/// `*report_out`. `hosts` is a newline-separated list of URLs or origins (`hosts_len` bytes of
/// UTF-8, copied), e.g. `"http://127.0.0.1:8080\nhttp://127.0.0.1:8081"`. A host that fails is
/// reported in its entry; the call itself succeeds.
///
/// Ownership: the caller frees `*report_out` with `httpbatch_warmup_report_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_pool_warmup(
    pool: *const httpbatch_pool,
    hosts: *const c_char,
    hosts_len: usize,
    connections: usize,
    report_out: *mut *mut httpbatch_warmup_report,
) -> httpbatch_result {
    guard_on(pool, "pool", |p| {
        // SAFETY: pointers are NULL or valid, per the header.
        let text = unsafe { try_str(hosts, hosts_len, "hosts") }?;
        let out = unsafe { try_out(report_out, "report_out") }?;
        out.write(std::ptr::null_mut());
        let report = p.pool.warmup(&host_list(text), connections);
        let messages = report
            .hosts
            .iter()
            .map(|h| {
                let mut m: Vec<String> = h.errors.iter().map(|e| e.to_string()).collect();
                m.dedup();
                super::result::c_text(m.join("; "))
            })
            .collect();
        out.write(into_raw(httpbatch_warmup_report { report, messages }));
        Ok(())
    })
}

/// The warmup of one host. Set `struct_size` before `httpbatch_warmup_report_host`. Pointers are
/// owned by the report and valid until `httpbatch_warmup_report_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_host_warmup {
    /// Set by the caller to `sizeof(httpbatch_host_warmup)`.
    pub struct_size: usize,
    /// The host's origin (`scheme://host:port`; empty if it could not be parsed), not
    /// NUL-terminated.
    pub origin: *const c_char,
    /// Length of `origin`.
    pub origin_len: usize,
    /// Connections asked for.
    pub requested: u64,
    /// Requests sent (capped at the idle-connection cap per origin).
    pub attempted: u64,
    /// Sockets opened during the warmup (counted at the socket).
    pub opened: u64,
    /// Sockets open to the origin afterwards.
    pub live: u64,
    /// Requests answered with 2xx or 3xx.
    pub ok: u64,
    /// Requests that failed (transport error or 4xx/5xx).
    pub failed: u64,
    /// Microseconds this host's warmup took.
    pub elapsed_us: u64,
    /// The transport errors, joined with `; ` (NUL-terminated, `""` if none).
    pub errors: *const c_char,
    /// Length of `errors` without the NUL.
    pub errors_len: usize,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_host_warmup {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_host_warmup>()];
}

/// Writes the number of hosts in the report to `*len_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_warmup_report_len(
    report: *const httpbatch_warmup_report,
    len_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(report, "report") }?;
        unsafe { try_out(len_out, "len_out") }?.write(r.report.hosts.len());
        Ok(())
    })
}

/// Writes host `index` of the report into `*host_out` (set its `struct_size` first).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_warmup_report_host(
    report: *const httpbatch_warmup_report,
    index: usize,
    host_out: *mut httpbatch_host_warmup,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(report, "report") }?;
        let h = r.report.hosts.get(index).ok_or_else(|| {
            Fail::new(
                httpbatch_result::IndexOutOfRange,
                format!("host {index} of {}", r.report.hosts.len()),
            )
        })?;
        let msg = &r.messages[index];
        let c = httpbatch_host_warmup {
            struct_size: std::mem::size_of::<httpbatch_host_warmup>(),
            origin: h.origin.as_ptr().cast(),
            origin_len: h.origin.len(),
            requested: h.requested as u64,
            attempted: h.attempted as u64,
            opened: h.opened,
            live: h.live,
            ok: h.ok as u64,
            failed: h.failed as u64,
            elapsed_us: micros(h.elapsed),
            errors: msg.as_ptr(),
            errors_len: msg.as_bytes().len(),
        };
        unsafe { write_sized(host_out, c, "host_out") }
    })
}

/// Frees a warmup report (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_warmup_report_free(report: *mut httpbatch_warmup_report) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_pool_warmup`, freed once.
        unsafe { free_raw(report) }
    })
}

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
        let origin = crate::request::Url::parse(host)?.origin();
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
