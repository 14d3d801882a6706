//! `httpbatch_redis_list` (feature `redis`): a work list shared through Redis Streams from C —
//! submit requests, read where it stands and its outcomes. Payloads are what `httpbatch submit`
//! stores (a URL or a JSON request spec) and outcomes what its workers record, so C, Go and CLI
//! programs share one list; `httpbatch_redis_worker` (redis_worker.rs) runs it.

use std::ffi::c_char;

use crate::distributed::{WorkList, WorkListStatus};

use super::base::{
    Fail, HasLastError, LastError, StructSize, free_raw, guard, guard_on, guard_or, into_raw,
    last_error_into, try_out, try_str, write_sized, write_text,
};
use super::httpbatch_result;

/// A work list in Redis (opaque): submit requests, read where it stands and its outcomes.
/// Thread-safe.
pub struct httpbatch_redis_list {
    list: WorkList,
    last_error: LastError,
}

impl HasLastError for httpbatch_redis_list {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

/// Opens the work list `name` (`name_len` bytes; its keys in Redis start with it) on the Redis
/// at `url` (`redis://[user:pass@]HOST:PORT/DB`, `url_len` bytes). Connects lazily: an
/// unreachable server is not an error here.
///
/// Ownership: the caller frees the list with `httpbatch_redis_list_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_list_new(
    url: *const c_char,
    url_len: usize,
    name: *const c_char,
    name_len: usize,
    list_out: *mut *mut httpbatch_redis_list,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: `list_out` is NULL or writable, per the header.
        let out = unsafe { try_out(list_out, "list_out") }?;
        out.write(std::ptr::null_mut());
        // SAFETY: `url` and `name` are NULL or valid for their lengths, per the header.
        let url = unsafe { try_str(url, url_len, "url") }?;
        // SAFETY: as above.
        let name = unsafe { try_str(name, name_len, "name") }?;
        out.write(into_raw(httpbatch_redis_list {
            list: WorkList::open(url, name)?,
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Appends `n` requests, in order: request `i` has the id `ids[i]` (`id_lens[i]` bytes; it
/// names its outcome, and should be unique in the list) and the payload `payloads[i]`
/// (`payload_lens[i]` bytes): a URL, or a JSON request spec as `httpbatch submit` reads it.
/// Writes how many were appended to `*submitted_out` (may be NULL). All strings are UTF-8 and
/// copied; nothing is appended when one is invalid.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_list_submit(
    list: *const httpbatch_redis_list,
    ids: *const *const c_char,
    id_lens: *const usize,
    payloads: *const *const c_char,
    payload_lens: *const usize,
    n: usize,
    submitted_out: *mut u64,
) -> httpbatch_result {
    guard_on(list, "list", |l| {
        let mut items = Vec::with_capacity(n.min(1 << 16));
        if n > 0 {
            for (p, what) in [
                (ids.cast::<u8>(), "ids"),
                (id_lens.cast(), "id_lens"),
                (payloads.cast(), "payloads"),
                (payload_lens.cast(), "payload_lens"),
            ] {
                if p.is_null() {
                    return Err(Fail::null(what));
                }
            }
        }
        for i in 0..n {
            // SAFETY: the four arrays are non-NULL (checked) and hold `n` elements, each string
            // valid for its length, per the header.
            let (id, payload) = unsafe {
                (
                    try_str(*ids.add(i), *id_lens.add(i), "ids[i]")?,
                    try_str(*payloads.add(i), *payload_lens.add(i), "payloads[i]")?,
                )
            };
            items.push((id.to_owned(), payload.to_owned()));
        }
        let submitted = l.list.submit(items)?;
        // SAFETY: `submitted_out` is NULL or writable, per the header.
        if let Some(out) = unsafe { submitted_out.as_mut() } {
            *out = submitted;
        }
        Ok(())
    })
}

/// Where a work list stands. Set `struct_size` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_redis_list_status {
    /// Set by the caller to `sizeof(httpbatch_redis_list_status)`.
    pub struct_size: usize,
    /// Requests submitted.
    pub total: u64,
    /// Not yet read by any worker.
    pub queued: u64,
    /// Read and not yet acknowledged (in flight, or held by a dead worker until reclaimed).
    pub pending: u64,
    /// Requests with a recorded outcome (dead-lettered ones included).
    pub recorded: u64,
    /// Recorded as failures (dead-lettered ones included).
    pub failed: u64,
    /// Dead-lettered: delivered too often without an outcome.
    pub dead: u64,
    /// Workers that have read or recorded anything.
    pub workers: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_redis_list_status {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_redis_list_status>()];
}

impl From<WorkListStatus> for httpbatch_redis_list_status {
    fn from(s: WorkListStatus) -> Self {
        httpbatch_redis_list_status {
            struct_size: std::mem::size_of::<Self>(),
            total: s.total,
            queued: s.queued,
            pending: s.pending,
            recorded: s.recorded,
            failed: s.failed,
            dead: s.dead,
            workers: s.workers.len() as u64,
        }
    }
}

/// Writes where the list stands into `*status_out` (set its `struct_size` first).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_list_status_get(
    list: *const httpbatch_redis_list,
    status_out: *mut httpbatch_redis_list_status,
) -> httpbatch_result {
    guard_on(list, "list", |l| {
        let s = httpbatch_redis_list_status::from(l.list.status()?);
        // SAFETY: `status_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(status_out, s, "status_out") }
    })
}

/// Copies the outcome recorded for the request `id` (`id_len` bytes) — one JSON object — into
/// `buf` with the buffer rules of `httpbatch_request_last_error` (`BUFFER_TOO_SMALL` with the
/// length needed in `*len_out`). Fails with `HTTPBATCH_RESULT_NOT_FOUND` while it has none.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_list_outcome(
    list: *const httpbatch_redis_list,
    id: *const c_char,
    id_len: usize,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    guard_on(list, "list", |l| {
        // SAFETY: `id` is NULL or valid for `id_len` bytes, per the header.
        let id = unsafe { try_str(id, id_len, "id") }?;
        let outcome = l.list.outcome(id)?.ok_or_else(|| {
            Fail::new(
                httpbatch_result::NotFound,
                format!("no outcome recorded for {id:?} yet"),
            )
        })?;
        // SAFETY: `buf` and `len_out` per the header.
        unsafe { write_text(&outcome, buf, buf_len, len_out) }
    })
}

/// Copies the message of the most recent failed call on `list`; see
/// `httpbatch_request_last_error` for the buffer rules.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_list_last_error(
    list: *const httpbatch_redis_list,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(list, buf, buf_len, len_out)
}

/// Frees the list handle (NULL is ignored); the list stays in Redis. No other thread may be
/// using it.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_redis_list_free(list: *mut httpbatch_redis_list) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_redis_list_new`, freed once.
        unsafe { free_raw(list) }
    })
}
