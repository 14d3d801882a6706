//! `httpbatch_retry_policy`: a retry policy under construction, copied into pools.

use std::ffi::c_char;
use std::time::Duration;

use crate::retry::{Jitter, RetryBudget, RetryPolicy, RetryPolicyBuilder};

use crate::ffi::base::{
    Fail, FfiResult, HasLastError, LastError, free_raw, guard, guard_on_mut, guard_or, into_raw,
    last_error_into, try_out, try_ref,
};
use crate::ffi::httpbatch_result;

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

pub(super) fn build_policy(p: *const httpbatch_retry_policy) -> FfiResult<RetryPolicy> {
    // SAFETY: NULL or live, per the header.
    let p = unsafe { try_ref(p, "policy") }?;
    Ok(p.builder.clone().build()?)
}
