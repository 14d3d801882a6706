//! `httpbatch_cancel_token`: a cancellation signal any thread may trigger.

use crate::execute::CancelToken;

use super::base::{FfiResult, guard, guard_or, into_raw, try_out, try_ref};
use super::httpbatch_result;

/// A cancellation signal (opaque). Thread-safe: any thread may call
/// `httpbatch_cancel_token_cancel` at any time, including from a progress callback or while a
/// batch runs on another thread. A batch holds its own reference to the token it was given, so
/// the token may be freed while that batch still exists.
pub struct httpbatch_cancel_token {
    pub(crate) token: CancelToken,
}

/// Creates a live (not cancelled) token in `*token_out`.
///
/// Ownership: the caller owns the token and frees it with `httpbatch_cancel_token_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_cancel_token_new(
    token_out: *mut *mut httpbatch_cancel_token,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `token_out` is NULL or writable, per the header.
        let out = unsafe { try_out(token_out, "token_out") }?;
        out.write(into_raw(httpbatch_cancel_token {
            token: CancelToken::new(),
        }));
        Ok(())
    })
}

/// Cancels: every batch running under this token stops promptly (queued requests end
/// `HTTPBATCH_OUTCOME_CANCELLED`, requests in flight are interrupted). Idempotent; safe from any
/// thread. A batch started later under a cancelled token ends at once with every item cancelled.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_cancel_token_cancel(
    token: *const httpbatch_cancel_token,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `token` is NULL or live, per the header.
        unsafe { try_ref(token, "token") }?.token.cancel();
        Ok(())
    })
}

/// Writes whether the token was cancelled to `*cancelled_out`. Safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_cancel_token_is_cancelled(
    token: *const httpbatch_cancel_token,
    cancelled_out: *mut bool,
) -> httpbatch_result {
    guard(|| -> FfiResult {
        // SAFETY: pointers are NULL or valid, per the header.
        let t = unsafe { try_ref(token, "token") }?;
        let out = unsafe { try_out(cancelled_out, "cancelled_out") }?;
        out.write(t.token.is_cancelled());
        Ok(())
    })
}

/// Frees a token (NULL is ignored). Batches that were given it keep their own reference.
/// The caller must not use `token` afterwards, nor free it while another thread may still call
/// `httpbatch_cancel_token_cancel` on it.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_cancel_token_free(token: *mut httpbatch_cancel_token) {
    guard_or((), || {
        // SAFETY: `token` is NULL or came from `httpbatch_cancel_token_new`, freed once.
        unsafe { super::base::free_raw(token) }
    })
}
