//! `httpbatch_request`: one request, built with typed setters. A setter that refuses its input
//! makes the request carry that error, so that it ends in its own slot when added to a batch.

use std::ffi::c_char;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::request::{Method, Request, Url, validate_header};

use super::base::{
    HasLastError, LastError, free_raw, guard, guard_on_mut, guard_or, into_raw, last_error_into,
    try_bytes, try_out, try_str,
};
use super::httpbatch_result;

/// One HTTP request under construction (opaque). Not thread-safe: use it from one thread at a
/// time. Adding it to a batch copies it, so it may be changed, reused or freed afterwards.
pub struct httpbatch_request {
    method: Method,
    /// The URL, or why the last `set_url` failed (the request is then invalid).
    url: Option<Result<Url, Error>>,
    /// The first header that failed validation: the request is invalid.
    bad_header: Option<Error>,
    /// Why the last `set_method` failed: the request is invalid until one succeeds.
    bad_method: Option<Error>,
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

/// A copy of a validation error (kind and message; validation errors have no source).
pub(super) fn copy_error(e: &Error) -> Error {
    Error::new(e.kind(), e.message())
}

impl httpbatch_request {
    /// The request, or the validation error it carries (ends in its slot unless the batch is
    /// strict).
    pub(super) fn to_request(&self) -> Result<Request, Error> {
        let url = match &self.url {
            Some(Ok(url)) => url,
            Some(Err(e)) => return Err(copy_error(e)),
            None => {
                return Err(Error::new(
                    ErrorKind::InvalidUrl,
                    "the request has no URL (call httpbatch_request_set_url)",
                ));
            }
        };
        if let Some(e) = self.bad_method.as_ref().or(self.bad_header.as_ref()) {
            return Err(copy_error(e));
        }
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
        b.build()
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
            bad_header: None,
            bad_method: None,
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
/// and makes the request invalid until a valid method is set: added to a batch, it ends as an
/// error item with that code in its own slot (see `httpbatch_batch_set_strict`). The text is
/// copied.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_method(
    request: *mut httpbatch_request,
    method: *const c_char,
    method_len: usize,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        // SAFETY: `method` is valid for `method_len` bytes, per the header.
        let name = unsafe { try_str(method, method_len, "method") }.inspect_err(|_| {
            r.bad_method = Some(Error::new(
                ErrorKind::InvalidRequest,
                "the method is not UTF-8",
            ));
        })?;
        match Method::parse(name) {
            Ok(m) => {
                r.method = m;
                r.bad_method = None;
                Ok(())
            }
            Err(e) => {
                r.bad_method = Some(copy_error(&e));
                Err(e.into())
            }
        }
    })
}

/// Sets the URL (`url_len` bytes of UTF-8, no NUL needed): an absolute `http://` or `https://`
/// URL. A malformed URL fails with `HTTPBATCH_RESULT_INVALID_URL` (the request's last error says
/// why) and makes the request invalid until a valid URL is set: added to a batch, it ends as an
/// error item with that code in its own slot (see `httpbatch_batch_set_strict`). Text that is not
/// UTF-8 fails with `HTTPBATCH_RESULT_INVALID_UTF8` and makes the request invalid the same way
/// (its item: `HTTPBATCH_RESULT_INVALID_URL`). The text is copied.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_request_set_url(
    request: *mut httpbatch_request,
    url: *const c_char,
    url_len: usize,
) -> httpbatch_result {
    guard_on_mut(request, "request", |r| {
        // SAFETY: `url` is valid for `url_len` bytes, per the header.
        let text = unsafe { try_str(url, url_len, "url") }.inspect_err(|_| {
            r.url = Some(Err(Error::new(
                ErrorKind::InvalidUrl,
                "the URL is not UTF-8",
            )));
        })?;
        let url = Url::parse(text);
        let result = url.as_ref().map(|_| ()).map_err(|e| copy_error(e).into());
        r.url = Some(url);
        result
    })
}

/// Adds a header. The name must be an HTTP token; the value must not contain a control byte
/// but HTAB (header injection): either fails with `HTTPBATCH_RESULT_INVALID_HEADER`, adds nothing
/// and makes the request invalid: added to a batch, it ends as an error item with that code in
/// its own slot (see `httpbatch_batch_set_strict`). Both are UTF-8 text given as pointer + length,
/// copied during the call.
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
        if let Err(e) = validate_header(name, value) {
            r.bad_header.get_or_insert_with(|| copy_error(&e));
            return Err(e.into());
        }
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

// Where other files of the C ABI have always found them.
pub(crate) use super::batch::httpbatch_batch;
