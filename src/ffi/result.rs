//! `httpbatch_batch_result`: the items of a run, in input order, and its summary.

use std::ffi::{CStr, CString, c_char};

use crate::batch::{BatchResult, BatchSummary, Outcome};
use crate::response::Response;

use super::base::{Fail, StructSize, free_raw, guard, guard_or, try_out, try_ref, write_sized};
use super::executor::micros;
use super::executor_stats::httpbatch_latency;
use super::headers::httpbatch_header;
use super::httpbatch_result;

/// How an item of a batch ended.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum httpbatch_outcome {
    /// The server answered (any status: a 404 is a response, not an error).
    Response = 1,
    /// The request failed; the item's `code` and `error_message` say how.
    Error = 2,
    /// The batch was cancelled (or the executor shut down) before or while it ran.
    Cancelled = 3,
    /// Never started: fail-fast tripped or the batch deadline passed first.
    NotRun = 4,
}

/// One item of a result. Set `struct_size = sizeof(httpbatch_item)` before
/// `httpbatch_batch_result_item`. Every pointer in it is owned by the result and stays valid until
/// `httpbatch_batch_result_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_item {
    /// Set by the caller to `sizeof(httpbatch_item)`.
    pub struct_size: usize,
    /// How the item ended.
    pub outcome: httpbatch_outcome,
    /// `HTTPBATCH_RESULT_OK` for a response; otherwise the error kind's code
    /// (`HTTPBATCH_RESULT_CANCELLED`, `HTTPBATCH_RESULT_NOT_RUN`, `HTTPBATCH_RESULT_TIMEOUT`, …).
    pub code: httpbatch_result,
    /// The HTTP status of a response, 0 otherwise.
    pub status: u32,
    /// Attempts that went on the wire (more than 1 after retries; 0 if none did).
    pub attempts: u32,
    /// The request's tag.
    pub tag: u64,
    /// The response body (`body_len` bytes, not NUL-terminated); non-NULL even when empty.
    pub body: *const u8,
    /// Length of `body` in bytes.
    pub body_len: usize,
    /// The URL that answered, after redirects (`url_len` bytes, not NUL-terminated; empty unless
    /// a response).
    pub url: *const c_char,
    /// Length of `url` in bytes.
    pub url_len: usize,
    /// Why the item failed (NUL-terminated UTF-8; `""` for a response).
    pub error_message: *const c_char,
    /// Length of `error_message` without its NUL.
    pub error_message_len: usize,
    /// Number of response headers (see `httpbatch_batch_result_header`).
    pub header_count: usize,
    /// Microseconds from submission until a worker started it.
    pub queued_us: u64,
    /// Microseconds spent waiting for rate-limit tokens and retry backoff.
    pub waited_us: u64,
    /// Microseconds on the wire, summed over attempts.
    pub wire_us: u64,
    /// Microseconds from submission until the outcome was settled.
    pub total_us: u64,
    /// Bytes of all response headers' names and values together (what
    /// `httpbatch_batch_result_copy_range` copies of them). Newer than the fields above: a caller
    /// built against a header without it passes the smaller `struct_size` and does not get it.
    pub headers_len: usize,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_item {
    const KNOWN_SIZES: &'static [usize] = &[
        std::mem::offset_of!(httpbatch_item, headers_len),
        std::mem::size_of::<httpbatch_item>(),
    ];
}

/// What a run did, without the items. Set `struct_size` before `httpbatch_batch_result_summary`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_batch_summary {
    /// Set by the caller to `sizeof(httpbatch_batch_summary)`.
    pub struct_size: usize,
    /// Items.
    pub total: u64,
    /// Responses with a status below 400.
    pub succeeded: u64,
    /// Responses, any status.
    pub responses: u64,
    /// Responses by status class: index 0 is 1xx, … 4 is 5xx.
    pub status_classes: [u64; 5],
    /// Errors (cancelled and not run are counted apart).
    pub errors: u64,
    /// Cancelled items.
    pub cancelled: u64,
    /// Items not run.
    pub not_run: u64,
    /// Wall time of the run in microseconds.
    pub duration_us: u64,
    /// Items settled per second.
    pub throughput: f64,
    /// Latency of the requests that ran.
    pub latency: httpbatch_latency,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_batch_summary {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_batch_summary>()];
}

pub(super) struct Item {
    pub(super) outcome: Outcome,
    /// Error text, NUL-terminated; `None` for a response.
    message: Option<CString>,
}

/// The items of a run, in the order the requests were added, and its summary (opaque).
/// Immutable once returned. Not thread-safe to free while another thread reads it.
pub struct httpbatch_batch_result {
    pub(super) items: Vec<Item>,
    summary: BatchSummary,
}

pub(crate) fn c_text(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|b| *b != 0);
        CString::new(bytes).expect("NUL bytes removed")
    })
}

impl httpbatch_batch_result {
    pub(crate) fn new(r: BatchResult) -> Self {
        let items = r
            .outcomes
            .into_iter()
            .map(|outcome| Item {
                message: outcome_message(&outcome),
                outcome,
            })
            .collect();
        httpbatch_batch_result {
            items,
            summary: r.summary,
        }
    }

    /// Items `start .. start + count`, or `IndexOutOfRange` for a range past the end.
    pub(super) fn range(&self, start: usize, count: usize) -> Result<&[Item], Fail> {
        start
            .checked_add(count)
            .and_then(|end| self.items.get(start..end))
            .ok_or_else(|| {
                Fail::new(
                    httpbatch_result::IndexOutOfRange,
                    format!("items {start}..+{count} of {}", self.items.len()),
                )
            })
    }

    pub(super) fn item(&self, index: usize) -> Result<&Item, Fail> {
        self.items.get(index).ok_or_else(|| {
            Fail::new(
                httpbatch_result::IndexOutOfRange,
                format!("item {index} of {}", self.items.len()),
            )
        })
    }
}

/// The error text of an item that is not a response (NUL-terminated).
pub(super) fn outcome_message(outcome: &Outcome) -> Option<CString> {
    match outcome {
        Outcome::Response(_) => None,
        Outcome::Error(e) => Some(c_text(e.to_string())),
        Outcome::Cancelled => Some(c"cancelled".to_owned()),
        Outcome::NotRun => Some(c"not run".to_owned()),
    }
}

fn item_to_c(item: &Item) -> httpbatch_item {
    outcome_to_c(&item.outcome, item.message.as_deref().unwrap_or(c""))
}

/// The C view of a response: its pointers borrow from `r`.
pub(super) fn response_to_c(r: &Response) -> httpbatch_item {
    outcome_to_c_inner(None, Some(r), c"")
}

/// The C view of an outcome, `msg` being its error text (`""` for a response): its pointers
/// borrow from `outcome` and `msg`.
pub(super) fn outcome_to_c(outcome: &Outcome, msg: &CStr) -> httpbatch_item {
    outcome_to_c_inner(Some(outcome), outcome.response(), msg)
}

/// Response headers as C pairs borrowing from `r`.
pub(super) fn headers_to_c(r: &Response) -> Vec<httpbatch_header> {
    r.headers()
        .iter()
        .map(|(name, value)| httpbatch_header {
            name: name.as_ptr().cast(),
            name_len: name.len(),
            value: value.as_ptr().cast(),
            value_len: value.len(),
        })
        .collect()
}

fn outcome_to_c_inner(
    outcome: Option<&Outcome>,
    response: Option<&Response>,
    msg: &CStr,
) -> httpbatch_item {
    let mut c = httpbatch_item {
        struct_size: std::mem::size_of::<httpbatch_item>(),
        outcome: httpbatch_outcome::Response,
        code: httpbatch_result::Ok,
        status: 0,
        attempts: 0,
        tag: 0,
        body: [].as_ptr(),
        body_len: 0,
        url: c"".as_ptr(),
        url_len: 0,
        error_message: msg.as_ptr(),
        error_message_len: msg.count_bytes(),
        header_count: 0,
        headers_len: 0,
        queued_us: 0,
        waited_us: 0,
        wire_us: 0,
        total_us: 0,
    };
    if let Some(r) = response {
        {
            c.status = u32::from(r.status());
            c.attempts = r.attempts();
            c.tag = r.tag();
            c.body = r.body().as_ptr();
            c.body_len = r.body().len();
            c.url = r.url().as_ptr().cast();
            c.url_len = r.url().len();
            (c.header_count, c.headers_len) = r.headers().count_and_len();
            let t = r.timings();
            c.queued_us = micros(t.queued);
            c.waited_us = micros(t.waited);
            c.wire_us = micros(t.wire);
            c.total_us = micros(t.total);
        }
        return c;
    }
    match outcome {
        None | Some(Outcome::Response(_)) => {}
        Some(Outcome::Error(e)) => {
            c.outcome = httpbatch_outcome::Error;
            c.code = httpbatch_result::from_kind(e.kind());
            c.attempts = e.attempts();
        }
        Some(Outcome::Cancelled) => {
            c.outcome = httpbatch_outcome::Cancelled;
            c.code = httpbatch_result::Cancelled;
        }
        Some(Outcome::NotRun) => {
            c.outcome = httpbatch_outcome::NotRun;
            c.code = httpbatch_result::NotRun;
        }
    }
    c
}

/// Writes the number of items (one per request, in the order they were added) to `*len_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_len(
    result: *const httpbatch_batch_result,
    len_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        unsafe { try_out(len_out, "len_out") }?.write(r.items.len());
        Ok(())
    })
}

/// Writes item `index` into `*item_out` (set its `struct_size` first). The pointers written
/// (body, URL, error message) are owned by `result` and valid until `httpbatch_batch_result_free`.
/// An index past the end fails with `HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_item(
    result: *const httpbatch_batch_result,
    index: usize,
    item_out: *mut httpbatch_item,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let c = item_to_c(r.item(index)?);
        unsafe { write_sized(item_out, c, "item_out") }
    })
}

/// Writes items `start .. start + count` into the array `items_out` in one call (for callers
/// where each call is costly, such as cgo). Set `items_out[0].struct_size` to
/// `sizeof(httpbatch_item)` first: it is the array's stride, and every element gets it. A range
/// past the end fails with `HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE` and writes nothing. Pointers are
/// owned by `result`, valid until `httpbatch_batch_result_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_items(
    result: *const httpbatch_batch_result,
    start: usize,
    count: usize,
    items_out: *mut httpbatch_item,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let items = r.range(start, count)?;
        if count == 0 {
            return Ok(());
        }
        if items_out.is_null() {
            return Err(Fail::null("items_out"));
        }
        // SAFETY: non-NULL; the caller set the first element's `struct_size`.
        let stride = unsafe { items_out.cast::<usize>().read() };
        for (i, item) in items.iter().enumerate() {
            // SAFETY: the array has `count` elements of `stride` bytes, per the header.
            let slot = unsafe { items_out.cast::<u8>().add(i * stride) }.cast::<httpbatch_item>();
            unsafe { slot.cast::<usize>().write(stride) };
            unsafe { write_sized(slot, item_to_c(item), "items_out") }?;
        }
        Ok(())
    })
}

/// Writes the run's summary into `*summary_out` (set its `struct_size` first).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_summary(
    result: *const httpbatch_batch_result,
    summary_out: *mut httpbatch_batch_summary,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let c = summary_to_c(&r.summary);
        unsafe { write_sized(summary_out, c, "summary_out") }
    })
}

/// The C view of a run's summary.
pub(super) fn summary_to_c(s: &BatchSummary) -> httpbatch_batch_summary {
    httpbatch_batch_summary {
        struct_size: std::mem::size_of::<httpbatch_batch_summary>(),
        total: s.total as u64,
        succeeded: s.succeeded as u64,
        responses: s.responses as u64,
        status_classes: s.status_classes.map(|n| n as u64),
        errors: s.errors as u64,
        cancelled: s.cancelled as u64,
        not_run: s.not_run as u64,
        duration_us: micros(s.duration),
        throughput: s.throughput,
        latency: s.latency.into(),
    }
}

/// Frees a result and everything its items point to (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_free(result: *mut httpbatch_batch_result) {
    guard_or((), || {
        // SAFETY: NULL or from `httpbatch_executor_execute`, freed once.
        unsafe { free_raw(result) }
    })
}
