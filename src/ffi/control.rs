//! `httpbatch_control`: pause, resume and cancel running batches from any thread.

use crate::run::BatchControl;

use super::base::{FfiResult, guard, guard_or, into_raw, try_out, try_ref};
use super::httpbatch_result;

/// Pauses, resumes and cancels the batches it is set on (opaque). Thread-safe: any thread may
/// call its functions at any time, including from a progress callback or while a batch runs on
/// another thread. A batch holds its own reference, so the control may be freed while that batch
/// still exists.
///
/// Pausing stops dispatch (requests in flight finish, nothing new starts); the batch deadline
/// keeps running while paused. Cancelling ends the batch paused or not: every item not started
/// ends `HTTPBATCH_OUTCOME_CANCELLED`.
pub struct httpbatch_control {
    pub(crate) control: BatchControl,
}

/// Creates a control (not paused, not cancelled) in `*control_out`.
///
/// Ownership: the caller owns the control and frees it with `httpbatch_control_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_control_new(
    control_out: *mut *mut httpbatch_control,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `control_out` is NULL or writable, per the header.
        let out = unsafe { try_out(control_out, "control_out") }?;
        out.write(into_raw(httpbatch_control {
            control: BatchControl::new(),
        }));
        Ok(())
    })
}

/// Pauses dispatch of every batch under this control. Idempotent; safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_control_pause(control: *const httpbatch_control) -> httpbatch_result {
    guard(|| {
        // SAFETY: `control` is NULL or live, per the header.
        unsafe { try_ref(control, "control") }?.control.pause();
        Ok(())
    })
}

/// Resumes dispatch. Idempotent; safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_control_resume(control: *const httpbatch_control) -> httpbatch_result {
    guard(|| {
        // SAFETY: `control` is NULL or live, per the header.
        unsafe { try_ref(control, "control") }?.control.resume();
        Ok(())
    })
}

/// Cancels every batch under this control (paused or not). Idempotent and final; safe from any
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_control_cancel(control: *const httpbatch_control) -> httpbatch_result {
    guard(|| {
        // SAFETY: `control` is NULL or live, per the header.
        unsafe { try_ref(control, "control") }?.control.cancel();
        Ok(())
    })
}

/// Writes whether dispatch is paused to `*paused_out`. Safe from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_control_is_paused(
    control: *const httpbatch_control,
    paused_out: *mut bool,
) -> httpbatch_result {
    guard(|| -> FfiResult {
        // SAFETY: pointers are NULL or valid, per the header.
        let c = unsafe { try_ref(control, "control") }?;
        let out = unsafe { try_out(paused_out, "paused_out") }?;
        out.write(c.control.is_paused());
        Ok(())
    })
}

/// Frees a control (NULL is ignored). Batches that were given it keep their own reference. The
/// caller must not use `control` afterwards, nor free it while another thread may still use it.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_control_free(control: *mut httpbatch_control) {
    guard_or((), || {
        // SAFETY: `control` is NULL or came from `httpbatch_control_new`, freed once.
        unsafe { super::base::free_raw(control) }
    })
}
