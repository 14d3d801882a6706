//! `httpbatch_batch`: the requests of one run, in order (a request that failed validation keeps
//! its slot as an error), and its options: fail-fast, deadline, concurrency, cancel token,
//! control, progress callback.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use crate::error::Error;
use crate::execute::CancelToken;
use crate::request::Request;
use crate::run::{BatchControl, BatchOptions, ProgressSnapshot};

use super::base::{
    FfiResult, HasLastError, LastError, free_raw, guard, guard_on_mut, guard_or, into_raw,
    last_error_into, try_out, try_ref, try_str,
};
use super::cancel::httpbatch_cancel_token;
use super::control::httpbatch_control;
use super::events::Events;
use super::executor::micros;
use super::httpbatch_result;
use super::request::{copy_error, httpbatch_request};

/// Progress of a running batch, passed to a progress callback. The library sets `struct_size`
/// to the size of the struct it filled; read a field only if `struct_size` covers it (a newer
/// library may add fields at the end).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct httpbatch_progress {
    /// Size of this struct as filled by the library.
    pub struct_size: usize,
    /// Items settled so far (of any outcome).
    pub completed: u64,
    /// Items in the batch.
    pub total: u64,
    /// Responses with a status below 400.
    pub succeeded: u64,
    /// Everything else settled: error statuses, errors, cancelled, not run.
    pub failed: u64,
    /// `completed / total` in percent (100 for an empty batch).
    pub percent: f64,
    /// Microseconds since the batch started.
    pub elapsed_us: u64,
    /// Items settled per second so far.
    pub throughput: f64,
    /// Estimated microseconds remaining, or -1 while it cannot be estimated.
    pub eta_us: i64,
    /// Whether dispatch is paused now (see `httpbatch_control`).
    pub paused: bool,
    /// Microseconds spent paused so far.
    pub paused_us: u64,
}

/// A progress callback. `progress` is valid only during the call (copy what you keep); `user` is
/// the pointer given to `httpbatch_batch_set_progress`. It runs on the thread that called
/// `httpbatch_executor_execute`, never after that call returns, and must not unwind (no C++
/// exception or `longjmp` may leave it). It may call `httpbatch_cancel_token_cancel`.
pub type httpbatch_progress_fn =
    Option<unsafe extern "C" fn(progress: *const httpbatch_progress, user: *mut c_void)>;

pub(crate) struct Progress {
    pub(crate) callback: unsafe extern "C" fn(*const httpbatch_progress, *mut c_void),
    pub(crate) user: *mut c_void,
    pub(crate) interval: Duration,
}

/// The requests of one run and its options (opaque). Not thread-safe: use it from one thread at
/// a time. `httpbatch_executor_execute` moves the requests out of it (it is empty afterwards and
/// may be refilled); the options stay set.
pub struct httpbatch_batch {
    /// The inputs in order: a request, or the validation error that ends in its slot.
    pub(crate) requests: Vec<Result<Request, Error>>,
    /// Whether the add functions refuse an invalid request instead of keeping its error in its
    /// slot.
    strict: bool,
    pub(crate) fail_fast: bool,
    pub(crate) fail_fast_status: Option<u16>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) control: Option<BatchControl>,
    pub(crate) progress: Option<Progress>,
    pub(crate) events: Option<Events>,
    last_error: LastError,
}

impl HasLastError for httpbatch_batch {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

/// Creates an empty batch in `*batch_out`: no requests, no fail-fast, no deadline, the
/// executor's concurrency, no cancel token, no progress callback.
///
/// Ownership: the caller owns the batch and frees it with `httpbatch_batch_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_new(batch_out: *mut *mut httpbatch_batch) -> httpbatch_result {
    guard(|| {
        // SAFETY: `batch_out` is NULL or writable, per the header.
        let out = unsafe { try_out(batch_out, "batch_out") }?;
        out.write(into_raw(httpbatch_batch {
            requests: Vec::new(),
            strict: false,
            fail_fast: false,
            fail_fast_status: None,
            deadline: None,
            request_timeout: None,
            concurrency: None,
            cancel: None,
            control: None,
            progress: None,
            events: None,
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

impl httpbatch_batch {
    /// The options of a run of this batch: fail-fast, deadline, timeouts, concurrency, cancel,
    /// control, and the C progress and event callbacks.
    pub(super) fn run_options(&self) -> BatchOptions<'static> {
        let mut opts = BatchOptions::new().fail_fast(self.fail_fast);
        if let Some(min) = self.fail_fast_status {
            opts = opts.fail_fast_on_status(move |s| s >= min);
        }
        if let Some(c) = &self.control {
            opts = opts.control(c.clone());
        }
        if let Some(d) = self.deadline {
            opts = opts.batch_timeout(d);
        }
        if let Some(t) = self.request_timeout {
            opts = opts.request_timeout(t);
        }
        if let Some(n) = self.concurrency {
            opts = opts.concurrency(n);
        }
        if let Some(t) = &self.cancel {
            opts = opts.cancel(t.clone());
        }
        if let Some(p) = &self.progress {
            let (callback, user) = (p.callback, p.user);
            opts = opts.on_progress(p.interval, move |snap| {
                let c = progress_to_c(snap);
                // SAFETY: the caller's callback and its `user` pointer, as registered; `c` lives
                // for the call.
                unsafe { callback(&c, user) }
            });
        }
        if let Some(events) = self.events {
            opts = opts.on_event(move |e| events.deliver(e));
        }
        opts
    }

    /// Appends an input: a validation error goes in its slot, or (strict) fails the call.
    fn push(&mut self, input: Result<Request, Error>) -> FfiResult<()> {
        match input {
            Err(e) if self.strict => Err(e.into()),
            input => {
                self.requests.push(input);
                Ok(())
            }
        }
    }
}

/// Appends a copy of `request`; its result will be at the next index (results are in the order
/// requests were added). A request that failed validation (no URL, a malformed URL, a refused
/// header) is appended all the same and ends as an error item with that code in its own slot,
/// like every interface of httpbatch does; the call returns `HTTPBATCH_RESULT_OK`. A strict batch
/// (`httpbatch_batch_set_strict`) refuses it instead, with its code, and adds nothing. `request`
/// is only read: the caller still owns (and frees) it.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_add(
    batch: *mut httpbatch_batch,
    request: *const httpbatch_request,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        // SAFETY: `request` is NULL or live, per the header.
        let r = unsafe { try_ref(request, "request") }?;
        b.push(r.to_request())
    })
}

/// Appends a `GET` of `url` (`url_len` bytes of UTF-8, copied): a shortcut for a request with
/// nothing but a URL. A malformed URL ends as an error item (`HTTPBATCH_RESULT_INVALID_URL`) in
/// its own slot and the call returns `HTTPBATCH_RESULT_OK`; a strict batch refuses it with that
/// code and adds nothing. Text that is not UTF-8 fails the call (`HTTPBATCH_RESULT_INVALID_UTF8`)
/// and adds nothing.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_add_get(
    batch: *mut httpbatch_batch,
    url: *const c_char,
    url_len: usize,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        // SAFETY: `url` is valid for `url_len` bytes, per the header.
        let text = unsafe { try_str(url, url_len, "url") }?;
        b.push(Request::get(text))
    })
}

/// Appends `count` GETs at once: the URLs are `count` UTF-8 texts laid end to end at `urls`,
/// URL `i` being `lengths[i]` bytes long (no separators, no NULs). A malformed URL ends as an
/// error item in its own slot, as with `httpbatch_batch_add_get`. A strict batch is all or
/// nothing: if any URL is invalid, nothing is added and the batch's last error names its
/// position. Interface errors (NULL `lengths`, text that is not UTF-8 or a length that splits a
/// character) add nothing. Everything is copied. For many plain GETs this costs one call instead
/// of one per URL (which matters through cgo).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_add_gets(
    batch: *mut httpbatch_batch,
    urls: *const c_char,
    lengths: *const usize,
    count: usize,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        if count == 0 {
            return Ok(());
        }
        if lengths.is_null() {
            return Err(super::base::Fail::null("lengths"));
        }
        // SAFETY: `lengths` is non-NULL and valid for `count` reads, per the header.
        let lengths = unsafe { std::slice::from_raw_parts(lengths, count) };
        let total = lengths.iter().try_fold(0usize, |a, l| a.checked_add(*l));
        let total = total.ok_or_else(|| super::base::Fail::invalid("lengths overflow"))?;
        // SAFETY: `urls` is valid for the sum of the lengths, per the header.
        let text = unsafe { try_str(urls, total, "urls") }?;
        let mut added = Vec::with_capacity(count);
        let mut at = 0;
        for (i, len) in lengths.iter().enumerate() {
            let url = text.get(at..at + len).ok_or_else(|| {
                super::base::Fail::new(
                    httpbatch_result::InvalidUtf8,
                    format!("URL {i} does not end on a character boundary"),
                )
            })?;
            at += len;
            let req = Request::get(url);
            if b.strict {
                if let Err(e) = &req {
                    let mut f = super::base::Fail::from(copy_error(e));
                    f.message = format!("URL {i}: {}", f.message);
                    return Err(f);
                }
            }
            added.push(req);
        }
        b.requests.append(&mut added);
        Ok(())
    })
}

/// Writes the number of requests in the batch to `*len_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_len(
    batch: *const httpbatch_batch,
    len_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let b = unsafe { try_ref(batch, "batch") }?;
        unsafe { try_out(len_out, "len_out") }?.write(b.requests.len());
        Ok(())
    })
}

/// Removes every request (options stay set).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_clear(batch: *mut httpbatch_batch) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.requests.clear();
        Ok(())
    })
}

/// With `strict` true, the add functions refuse a request that fails validation (returning its
/// code, such as `HTTPBATCH_RESULT_INVALID_URL`, and adding nothing): the behaviour of
/// httpbatch 0.1. With `strict` false, such a request is added and ends as an error item in its
/// own slot, so item `i` is always the outcome of the `i`-th request added. Defaults to false.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_strict(
    batch: *mut httpbatch_batch,
    strict: bool,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.strict = strict;
        Ok(())
    })
}

/// With `fail_fast` true, after the first failure nothing more is started: requests not yet
/// started end `HTTPBATCH_OUTCOME_NOT_RUN`. A failure is an error outcome (a response of any
/// status is not one, unless `httpbatch_batch_set_fail_fast_status` says so). Defaults to false.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_fail_fast(
    batch: *mut httpbatch_batch,
    fail_fast: bool,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.fail_fast = fail_fast;
        Ok(())
    })
}

/// Sets a deadline `deadline_ms` milliseconds after the run starts (0: none). At the deadline,
/// requests not started end `HTTPBATCH_OUTCOME_NOT_RUN` and requests in flight are interrupted and
/// end with error `HTTPBATCH_RESULT_DEADLINE_EXCEEDED`. Defaults to none.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_deadline_ms(
    batch: *mut httpbatch_batch,
    deadline_ms: u64,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.deadline = (deadline_ms > 0).then(|| Duration::from_millis(deadline_ms));
        Ok(())
    })
}

/// Sets the timeout of each request of this batch that sets none of its own (0: the
/// executor's). Defaults to the executor's.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_request_timeout_ms(
    batch: *mut httpbatch_batch,
    timeout_ms: u64,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.request_timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Caps the requests of this batch in flight at once (0: the executor's worker count; a value
/// above it is capped by it). Defaults to the worker count.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_concurrency(
    batch: *mut httpbatch_batch,
    concurrency: usize,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.concurrency = (concurrency > 0).then_some(concurrency);
        Ok(())
    })
}

/// Runs this batch under `token` (NULL: none). The batch keeps its own reference, so the token
/// may be freed before the batch; cancelling the token from any thread stops a running batch.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_cancel_token(
    batch: *mut httpbatch_batch,
    token: *const httpbatch_cancel_token,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        // SAFETY: `token` is NULL or live, per the header.
        b.cancel = unsafe { token.as_ref() }.map(|t| t.token.clone());
        Ok(())
    })
}

/// Steers this batch with `control` (NULL: none): pause, resume and cancel from any thread. The
/// batch keeps its own reference, so the control may be freed before the batch.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_control(
    batch: *mut httpbatch_batch,
    control: *const httpbatch_control,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        // SAFETY: `control` is NULL or live, per the header.
        b.control = unsafe { control.as_ref() }.map(|c| c.control.clone());
        Ok(())
    })
}

/// With fail-fast on, also stop after a response whose status is at least `min_status` (for
/// example 500); 0 turns this off, so only error outcomes stop the batch (the default). A value
/// above every status (such as 1000) never matches.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_fail_fast_status(
    batch: *mut httpbatch_batch,
    min_status: u16,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.fail_fast_status = (min_status != 0).then_some(min_status);
        Ok(())
    })
}

/// Sets a progress callback (NULL: none), called at most once per `min_interval_ms` while the
/// batch runs and once more when every item has settled (100 %). It runs on the thread that
/// called `httpbatch_executor_execute`, never after that call returns. `user` is passed through
/// untouched; it must stay valid until the run returns.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_set_progress(
    batch: *mut httpbatch_batch,
    callback: httpbatch_progress_fn,
    user: *mut c_void,
    min_interval_ms: u64,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        b.progress = callback.map(|callback| Progress {
            callback,
            user,
            interval: Duration::from_millis(min_interval_ms),
        });
        Ok(())
    })
}

/// Copies the message of the most recent failed call on `batch` (empty if none) into `buf`
/// (`buf_len` bytes, NUL-terminated) and its length without the NUL into `*len_out` (may be
/// NULL). With `buf == NULL` and `buf_len == 0` only the length is written (and
/// `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` returned); a buffer too small receives the prefix that fits
/// and the call returns `HTTPBATCH_RESULT_BUFFER_TOO_SMALL`. The text is copied: nothing to free.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_last_error(
    batch: *const httpbatch_batch,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(batch, buf, buf_len, len_out)
}

/// Frees a batch and the requests still in it (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_free(batch: *mut httpbatch_batch) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_batch_new`, freed once.
        unsafe { free_raw(batch) }
    })
}

fn progress_to_c(p: &ProgressSnapshot) -> httpbatch_progress {
    httpbatch_progress {
        struct_size: std::mem::size_of::<httpbatch_progress>(),
        completed: p.completed as u64,
        total: p.total as u64,
        succeeded: p.succeeded as u64,
        failed: p.failed as u64,
        percent: p.percent,
        elapsed_us: micros(p.elapsed),
        throughput: p.throughput,
        eta_us: p
            .eta
            .map_or(-1, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        paused: p.paused,
        paused_us: micros(p.paused_for),
    }
}
