//! The streaming form of a run (`httpbatch_executor_execute_streaming`: one callback per settled
//! item, nothing kept) and the rate limiter's non-blocking admission
//! (`httpbatch_executor_try_execute`: run now, or say how long to wait).

use std::ffi::c_void;
use std::time::Instant;

use crate::batch::{BatchResult, BatchSummary, Outcome};
use crate::execute::Context;
use crate::rate_limit::TryExecuteError;

use super::base::{Fail, guard_on, into_raw, try_mut, try_out, try_ref, write_sized};
use super::batch::httpbatch_batch;
use super::executor::httpbatch_executor;
use super::headers::httpbatch_header;
use super::httpbatch_result;
use super::request::httpbatch_request;
use super::result::{
    headers_to_c, httpbatch_batch_result, httpbatch_batch_summary, httpbatch_item, outcome_message,
    outcome_to_c, summary_to_c,
};

/// A streaming callback: item `index` (its input index) has settled. `item` and `headers` (an
/// array of `item->header_count` response headers; NULL when there are none) and every pointer in
/// them are valid only during the call: copy what you keep. `user` is the pointer given to
/// `httpbatch_executor_execute_streaming`. It runs on the thread that called it, never after it
/// returns, and must not unwind (no C++ exception or `longjmp` may leave it). It may cancel the
/// run (`httpbatch_cancel_token_cancel`, `httpbatch_control_cancel`).
pub type httpbatch_stream_fn = Option<
    unsafe extern "C" fn(
        index: usize,
        item: *const httpbatch_item,
        headers: *const httpbatch_header,
        user: *mut c_void,
    ),
>;

/// Runs every request of `batch` like `httpbatch_executor_execute`, but hands each item to
/// `callback` as it settles (in completion order, with its input index) instead of keeping the
/// results: memory stays bounded by what is queued and in flight, whatever the batch's size.
/// Every index in `0 .. count` is delivered exactly once, before the call returns. Progress and
/// event callbacks set on the batch run too, on this thread. Writes the run's summary into
/// `*summary_out` (set its `struct_size` first; NULL: not wanted).
///
/// The requests are moved out of `batch`, as with `httpbatch_executor_execute`. A NULL `callback`
/// fails with `HTTPBATCH_RESULT_NULL_ARGUMENT` and runs nothing.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_execute_streaming(
    executor: *const httpbatch_executor,
    batch: *mut httpbatch_batch,
    callback: httpbatch_stream_fn,
    user: *mut c_void,
    summary_out: *mut httpbatch_batch_summary,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        // SAFETY: pointers are NULL or valid, per the header; `batch` is not shared.
        let b = unsafe { try_mut(batch, "batch") }?;
        let callback = callback.ok_or_else(|| Fail::null("callback"))?;
        let requests = std::mem::take(&mut b.requests);
        let opts = b.run_options();
        let summary = exec
            .stack
            .execute_streaming(requests, opts, |index, outcome| {
                let message = outcome_message(&outcome);
                let item = outcome_to_c(&outcome, message.as_deref().unwrap_or(c""));
                let headers = outcome.response().map(headers_to_c).unwrap_or_default();
                let headers_ptr = if headers.is_empty() {
                    std::ptr::null()
                } else {
                    headers.as_ptr()
                };
                // SAFETY: the caller's callback and `user`, as given; `item` and `headers` (and
                // the outcome they borrow from) live for the call.
                unsafe { callback(index, &item, headers_ptr, user) }
            });
        if summary_out.is_null() {
            return Ok(());
        }
        // SAFETY: non-NULL, valid for its `struct_size`, per the header.
        unsafe { write_sized(summary_out, summary_to_c(&summary), "summary_out") }
    })
}

/// Sends `request` through the executor's rate limiter without waiting for it: when a token is
/// available now, the request runs on this thread (through the rest of the stack: pool, retries)
/// and `*result_out` receives a one-item result (free it with `httpbatch_batch_result_free`) and
/// `*wait_us_out` 0. When none is, nothing is sent, `*result_out` is NULL and `*wait_us_out` says
/// how many microseconds until a token should be available (another caller may take it first;
/// `UINT64_MAX` when the limiter is stopped). The call returns `HTTPBATCH_RESULT_OK` either way;
/// a request that fails validation gives a one-item result holding its error. An executor without
/// a limiter fails with `HTTPBATCH_RESULT_NOT_FOUND`. `request` is only read.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_try_execute(
    executor: *const httpbatch_executor,
    request: *const httpbatch_request,
    result_out: *mut *mut httpbatch_batch_result,
    wait_us_out: *mut u64,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(request, "request") }?;
        let out = unsafe { try_out(result_out, "result_out") }?;
        out.write(std::ptr::null_mut());
        let wait_out = unsafe { try_out(wait_us_out, "wait_us_out") }?;
        wait_out.write(0);
        let limiter = exec.stack.rate_limited().ok_or_else(|| {
            Fail::new(
                httpbatch_result::NotFound,
                "the executor has no rate limiter (httpbatch_executor_builder_set_limiter)",
            )
        })?;
        let start = Instant::now();
        let outcome = match r.to_request() {
            Err(e) => Outcome::Error(e),
            Ok(req) => match limiter.try_execute(req, &Context::new()) {
                Ok(response) => Outcome::Response(Box::new(response)),
                Err(TryExecuteError::Failed(e)) => Outcome::from_result(Err(e)),
                Err(TryExecuteError::WouldBlock { wait, .. }) => {
                    wait_out.write(super::executor::micros(wait));
                    return Ok(());
                }
            },
        };
        let summary = one_item_summary(&outcome, start.elapsed());
        out.write(into_raw(httpbatch_batch_result::new(BatchResult {
            outcomes: vec![outcome],
            summary,
        })));
        Ok(())
    })
}

fn one_item_summary(outcome: &Outcome, duration: std::time::Duration) -> BatchSummary {
    let mut s = BatchSummary {
        total: 1,
        duration,
        throughput: crate::stats::rate(1, duration),
        ..BatchSummary::default()
    };
    match outcome {
        Outcome::Response(r) => {
            s.responses = 1;
            s.succeeded = usize::from(r.is_success());
            if let Some(class) = s
                .status_classes
                .get_mut(usize::from(r.status() / 100).wrapping_sub(1))
            {
                *class = 1;
            }
        }
        Outcome::Error(_) => s.errors = 1,
        Outcome::Cancelled => s.cancelled = 1,
        Outcome::NotRun => s.not_run = 1,
    }
    s
}
