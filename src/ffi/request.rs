//! `httpbatch_request` (one request, built with typed setters) and `httpbatch_batch` (the
//! requests of one run and its options: fail-fast, deadline, concurrency, cancel token,
//! progress callback).

use std::ffi::{c_char, c_void};
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::execute::CancelToken;
use crate::request::{Method, Request, Url, validate_header};
use crate::run::BatchControl;

use super::base::{
    FfiResult, HasLastError, LastError, free_raw, guard, guard_on_mut, guard_or, into_raw,
    last_error_into, try_bytes, try_out, try_ref, try_str,
};
use super::cancel::httpbatch_cancel_token;
use super::control::httpbatch_control;
use super::httpbatch_result;

/// One HTTP request under construction (opaque). Not thread-safe: use it from one thread at a
/// time. Adding it to a batch copies it, so it may be changed, reused or freed afterwards.
pub struct httpbatch_request {
    method: Method,
    url: Option<Url>,
    headers: Vec<(Box<str>, Box<str>)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    tag: u64,
    priority: i32,
    retry_non_idempotent: bool,
    last_error: LastError,
}

impl HasLastError for httpbatch_request {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

impl httpbatch_request {
    pub(super) fn to_request(&self) -> FfiResult<Request> {
        let url = self.url.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidUrl,
                "the request has no URL (call httpbatch_request_set_url)",
            )
        })?;
        let mut b = Request::builder(self.method, url.as_str())
            .body(self.body.clone())
            .tag(self.tag)
            .priority(self.priority)
            .retry_non_idempotent(self.retry_non_idempotent);
        for (n, v) in &self.headers {
            b = b.header(n, v);
        }
        if let Some(t) = self.timeout {
            b = b.timeout(t);
        }
        Ok(b.build()?)
    }
}

/// Creates an empty request in `*request_out`: method `GET`, no URL yet, no headers, no body,
/// tag 0, priority 0, the executor's timeout.
///
/// Ownership: the caller owns the request and frees it with `httpbatch_request_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_new(
    request_out: *mut *mut httpbatch_request,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `request_out` is NULL or writable, per the header.
        let out = unsafe { try_out(request_out, "request_out") }?;
        out.write(into_raw(httpbatch_request {
            method: Method::Get,
            url: None,
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            tag: 0,
            priority: 0,
            retry_non_idempotent: false,
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Sets the method from its name (`method_len` bytes, case-insensitive): GET, HEAD, POST, PUT,
/// DELETE, PATCH, OPTIONS or TRACE. Any other name fails with `HTTPBATCH_RESULT_INVALID_REQUEST`
/// and leaves the method unchanged. The text is copied.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_method(
    request: *mut httpbatch_request,
    method: *const c_char,
    method_len: usize,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        // SAFETY: `method` is valid for `method_len` bytes, per the header.
        let name = unsafe { try_str(method, method_len, "method") }?;
        r.method = Method::parse(name)?;
        Ok(())
    })
}

/// Sets the URL (`url_len` bytes of UTF-8, no NUL needed): an absolute `http://` or `https://`
/// URL. A malformed URL fails with `HTTPBATCH_RESULT_INVALID_URL` (the request's last error says
/// why) and leaves the URL unchanged. The text is copied.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_url(
    request: *mut httpbatch_request,
    url: *const c_char,
    url_len: usize,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        // SAFETY: `url` is valid for `url_len` bytes, per the header.
        let text = unsafe { try_str(url, url_len, "url") }?;
        r.url = Some(Url::parse(text)?);
        Ok(())
    })
}

/// Adds a header. The name must be an HTTP token; the value must not contain a control byte
/// but HTAB (header injection): either fails with `HTTPBATCH_RESULT_INVALID_HEADER` and adds nothing.
/// Both are UTF-8 text given as pointer + length, copied during the call.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_add_header(
    request: *mut httpbatch_request,
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        // SAFETY: each pointer is valid for its length, per the header.
        let name = unsafe { try_str(name, name_len, "name") }?;
        let value = unsafe { try_str(value, value_len, "value") }?;
        validate_header(name, value)?;
        r.headers.push((name.into(), value.into()));
        Ok(())
    })
}

/// Sets the body to a copy of `body_len` bytes at `body` (any bytes; `body` may be NULL when
/// `body_len` is 0, which clears the body). Retries replay the same bytes.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_body(
    request: *mut httpbatch_request,
    body: *const u8,
    body_len: usize,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        // SAFETY: `body` is valid for `body_len` bytes, per the header.
        let bytes = unsafe { try_bytes(body, body_len, "body") }?;
        r.body = bytes.to_vec();
        Ok(())
    })
}

/// Sets the timeout of the whole exchange in milliseconds; 0 means the executor's timeout.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_timeout_ms(
    request: *mut httpbatch_request,
    timeout_ms: u64,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        r.timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Sets the caller's tag, reported back with the item's result. Defaults to 0.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_tag(
    request: *mut httpbatch_request,
    tag: u64,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        r.tag = tag;
        Ok(())
    })
}

/// Sets the dispatch priority: within one batch, higher priorities start first. Results stay
/// in input order whatever the priorities. Defaults to 0.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_priority(
    request: *mut httpbatch_request,
    priority: i32,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        r.priority = priority;
        Ok(())
    })
}

/// Opts a non-idempotent request (POST, PATCH) in to retries when the executor has a retry
/// policy. Idempotent methods are retried without opting in. Defaults to false.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_retry_non_idempotent(
    request: *mut httpbatch_request,
    retry: bool,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        r.retry_non_idempotent = retry;
        Ok(())
    })
}

/// Copies the message of the most recent failed call on `request` (empty if none) into `buf`
/// (`buf_len` bytes, NUL-terminated) and its length without the NUL into `*len_out` (may be
/// NULL). With `buf == NULL` and `buf_len == 0` only the length is written (and
/// `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` returned); a buffer too small receives the prefix that fits
/// and the call returns `HTTPBATCH_RESULT_BUFFER_TOO_SMALL`. The text is copied: nothing to free.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_last_error(
    request: *const httpbatch_request,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(request, buf, buf_len, len_out)
}

/// Frees a request (NULL is ignored). Batches it was added to hold their own copies.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_free(request: *mut httpbatch_request) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_request_new`, freed once.
        unsafe { free_raw(request) }
    })
}

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
    pub(crate) requests: Vec<Request>,
    pub(crate) fail_fast: bool,
    pub(crate) fail_fast_status: Option<u16>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) control: Option<BatchControl>,
    pub(crate) progress: Option<Progress>,
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
            fail_fast: false,
            fail_fast_status: None,
            deadline: None,
            request_timeout: None,
            concurrency: None,
            cancel: None,
            control: None,
            progress: None,
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Appends a copy of `request`; its result will be at the next index (results are in the order
/// requests were added). A request without a URL fails with `HTTPBATCH_RESULT_INVALID_URL` and
/// adds nothing. `request` is only read: the caller still owns (and frees) it.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_add(
    batch: *mut httpbatch_batch,
    request: *const httpbatch_request,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        // SAFETY: `request` is NULL or live, per the header.
        let r = unsafe { try_ref(request, "request") }?;
        b.requests.push(r.to_request()?);
        Ok(())
    })
}

/// Appends a `GET` of `url` (`url_len` bytes of UTF-8, copied): a shortcut for a request with
/// nothing but a URL. A malformed URL fails with `HTTPBATCH_RESULT_INVALID_URL` and adds nothing.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_add_get(
    batch: *mut httpbatch_batch,
    url: *const c_char,
    url_len: usize,
) -> httpbatch_result {
    guard_on_mut(batch, "batch", |b| {
        // SAFETY: `url` is valid for `url_len` bytes, per the header.
        let text = unsafe { try_str(url, url_len, "url") }?;
        b.requests.push(Request::get(text)?);
        Ok(())
    })
}

/// Appends `count` GETs at once: the URLs are `count` UTF-8 texts laid end to end at `urls`,
/// URL `i` being `lengths[i]` bytes long (no separators, no NULs). All or nothing: if any URL is
/// invalid, nothing is added and the batch's last error names its position. Everything is copied.
/// For many plain GETs this costs one call instead of one per URL (which matters through cgo).
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
            let req = Request::get(url).map_err(|e| {
                let mut f = super::base::Fail::from(e);
                f.message = format!("URL {i}: {}", f.message);
                f
            })?;
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
