//! Response headers of a result's items, and their bytes in one copy: for callers that read
//! many items at once (cgo) or keep them in their own memory.

use std::ffi::c_char;

use super::base::{Fail, guard, try_out, try_ref, try_str};
use super::httpbatch_result;
use super::result::httpbatch_batch_result;
use crate::response::Headers;

/// Writes the response headers of items `start .. start + count`, one item after the other (each
/// item's `header_count` says how many are its), into `headers_out` (room for `capacity`), and
/// their total into `*count_out`. Fails with `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` when `capacity`
/// is smaller than the total (the first `capacity` are written). Pointers are owned by `result`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_headers_range(
    result: *const httpbatch_batch_result,
    start: usize,
    count: usize,
    headers_out: *mut httpbatch_header,
    capacity: usize,
    count_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let count_out = unsafe { try_out(count_out, "count_out") }?;
        let items = r.range(start, count)?;
        let all = items
            .iter()
            .filter_map(|it| it.outcome.response())
            .flat_map(|r| r.headers());
        let total: usize = items
            .iter()
            .map(|it| it.outcome.response().map_or(0, |r| r.headers().len()))
            .sum();
        count_out.write(total);
        if total.min(capacity) > 0 && headers_out.is_null() {
            return Err(Fail::null("headers_out"));
        }
        for (i, (name, value)) in all.take(capacity).enumerate() {
            // SAFETY: `headers_out` has room for `capacity` entries, per the header.
            unsafe {
                headers_out.add(i).write(httpbatch_header {
                    name: name.as_ptr().cast(),
                    name_len: name.len(),
                    value: value.as_ptr().cast(),
                    value_len: value.len(),
                })
            };
        }
        if capacity < total {
            return Err(Fail::new(
                httpbatch_result::BufferTooSmall,
                format!("{total} headers, room for {capacity}"),
            ));
        }
        Ok(())
    })
}

/// Copies the bytes of items `start .. start + count` back to back into `buf` (`capacity`
/// bytes), for callers that keep results in their own memory (a garbage-collected runtime): for
/// each item that is a response, in order, its URL, its body, then each header's name and value,
/// with the lengths `httpbatch_batch_result_items` and `_headers_range` report and nothing in
/// between. Writes the total into `*needed_out` (may be NULL). Fails with
/// `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` and writes nothing when `capacity` is smaller than the
/// total. One copy per field instead of one call per field.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_copy_bytes(
    result: *const httpbatch_batch_result,
    start: usize,
    count: usize,
    buf: *mut u8,
    capacity: usize,
    needed_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let items = r.range(start, count)?;
        let responses = || items.iter().filter_map(|it| it.outcome.response());
        let needed: usize = responses()
            .map(|res| res.url().len() + res.body().len() + res.headers().text().len())
            .sum();
        if !needed_out.is_null() {
            // SAFETY: non-NULL, writable per the header.
            unsafe { needed_out.write(needed) };
        }
        if capacity < needed {
            return Err(Fail::new(
                httpbatch_result::BufferTooSmall,
                format!("{needed} bytes needed, room for {capacity}"),
            ));
        }
        if needed == 0 {
            return Ok(());
        }
        if buf.is_null() {
            return Err(Fail::null("buf"));
        }
        // SAFETY: `buf` is valid for `capacity >= needed` byte writes, per the header.
        let out = unsafe { std::slice::from_raw_parts_mut(buf, needed) };
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        for res in responses() {
            put(res.url().as_bytes());
            put(res.body());
            // Each name, then its value, in order: the headers' text as it is kept.
            put(res.headers().text().as_bytes());
        }
        Ok(())
    })
}

/// Copies items `start .. start + count` out in one pass, for callers that keep results in their
/// own memory (a garbage-collected runtime): into `buf` (`capacity` bytes), for each item that is
/// a response, in order, its URL, its body, then each header's name and value, back to back (the
/// bytes `httpbatch_batch_result_copy_bytes` copies); into `lengths_out` (room for
/// `lengths_capacity` entries), for each of those headers in the same order, its name's length
/// then its value's. The room needed is, over the items' `httpbatch_item`s, twice the sum of
/// `header_count` entries and the sum of `url_len + body_len + headers_len` bytes. Fails with
/// `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` when either is short (what was written then is
/// unspecified), and with `HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE` for a range past the end.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_copy_range(
    result: *const httpbatch_batch_result,
    start: usize,
    count: usize,
    lengths_out: *mut usize,
    lengths_capacity: usize,
    buf: *mut u8,
    capacity: usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let items = r.range(start, count)?;
        let out: &mut [u8] = match capacity {
            0 => &mut [],
            _ if buf.is_null() => return Err(Fail::null("buf")),
            // SAFETY: `buf` is valid for `capacity` byte writes, per the header.
            _ => unsafe { std::slice::from_raw_parts_mut(buf, capacity) },
        };
        let lengths: &mut [usize] = match lengths_capacity {
            0 => &mut [],
            _ if lengths_out.is_null() => return Err(Fail::null("lengths_out")),
            // SAFETY: `lengths_out` has room for `lengths_capacity` entries, per the header.
            _ => unsafe { std::slice::from_raw_parts_mut(lengths_out, lengths_capacity) },
        };
        let short = |what: &str| Fail::new(httpbatch_result::BufferTooSmall, what.to_owned());
        let (mut at, mut k) = (0, 0);
        for res in items.iter().filter_map(|it| it.outcome.response()) {
            let (text, pairs) = res.headers().text_and_iter();
            for part in [res.url().as_bytes(), res.body(), text.as_bytes()] {
                out.get_mut(at..at + part.len())
                    .ok_or_else(|| short("buf is smaller than the items' bytes"))?
                    .copy_from_slice(part);
                at += part.len();
            }
            for (name, value) in pairs {
                lengths
                    .get_mut(k..k + 2)
                    .ok_or_else(|| short("lengths_out has room for fewer than the items' headers"))?
                    .copy_from_slice(&[name.len(), value.len()]);
                k += 2;
            }
        }
        Ok(())
    })
}

/// Writes response header `header_index` of item `index`: its name (lower-case) and value, each
/// as pointer + length (not NUL-terminated), owned by `result` and valid until
/// `httpbatch_batch_result_free`. Fails with `HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE` past the end
/// (an item that is not a response has no headers).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_header(
    result: *const httpbatch_batch_result,
    index: usize,
    header_index: usize,
    name_out: *mut *const c_char,
    name_len_out: *mut usize,
    value_out: *mut *const c_char,
    value_len_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let name_out = unsafe { try_out(name_out, "name_out") }?;
        let name_len_out = unsafe { try_out(name_len_out, "name_len_out") }?;
        let value_out = unsafe { try_out(value_out, "value_out") }?;
        let value_len_out = unsafe { try_out(value_len_out, "value_len_out") }?;
        let none = Headers::default(); // no allocation
        let headers = r
            .item(index)?
            .outcome
            .response()
            .map_or(&none, |r| r.headers());
        let (n, v) = headers.get(header_index).ok_or_else(|| {
            Fail::new(
                httpbatch_result::IndexOutOfRange,
                format!("header {header_index} of {}", headers.len()),
            )
        })?;
        name_out.write(n.as_ptr().cast());
        name_len_out.write(n.len());
        value_out.write(v.as_ptr().cast());
        value_len_out.write(v.len());
        Ok(())
    })
}

/// One response header: name (lower-case) and value, each pointer + length (not
/// NUL-terminated), owned by the result they were read from.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct httpbatch_header {
    /// The name.
    pub name: *const c_char,
    /// Length of `name` in bytes.
    pub name_len: usize,
    /// The value.
    pub value: *const c_char,
    /// Length of `value` in bytes.
    pub value_len: usize,
}

/// Writes up to `capacity` response headers of item `index` into `headers_out` (an array the
/// caller provides; NULL allowed when `capacity` is 0) and the item's header count into
/// `*count_out`. Fails with `HTTPBATCH_RESULT_BUFFER_TOO_SMALL` when `capacity` is smaller than
/// the count (the first `capacity` are written). The pointers written are owned by `result` and
/// valid until `httpbatch_batch_result_free`. One call instead of one per header.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_headers(
    result: *const httpbatch_batch_result,
    index: usize,
    headers_out: *mut httpbatch_header,
    capacity: usize,
    count_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let count_out = unsafe { try_out(count_out, "count_out") }?;
        let none = Headers::default(); // no allocation
        let headers = r
            .item(index)?
            .outcome
            .response()
            .map_or(&none, |r| r.headers());
        count_out.write(headers.len());
        let n = headers.len().min(capacity);
        if n > 0 {
            if headers_out.is_null() {
                return Err(Fail::null("headers_out"));
            }
            for (i, (name, value)) in headers.iter().take(n).enumerate() {
                // SAFETY: `headers_out` has room for `capacity >= n` entries, per the header.
                unsafe {
                    headers_out.add(i).write(httpbatch_header {
                        name: name.as_ptr().cast(),
                        name_len: name.len(),
                        value: value.as_ptr().cast(),
                        value_len: value.len(),
                    })
                };
            }
        }
        if n < headers.len() {
            return Err(Fail::new(
                httpbatch_result::BufferTooSmall,
                format!("{} headers, room for {capacity}", headers.len()),
            ));
        }
        Ok(())
    })
}

/// Finds the first response header of item `index` named `name` (case-insensitive) and writes
/// its value as pointer + length (owned by `result`, valid until `httpbatch_batch_result_free`).
/// Fails with `HTTPBATCH_RESULT_NOT_FOUND` when there is none.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_batch_result_find_header(
    result: *const httpbatch_batch_result,
    index: usize,
    name: *const c_char,
    name_len: usize,
    value_out: *mut *const c_char,
    value_len_out: *mut usize,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let r = unsafe { try_ref(result, "result") }?;
        let name = unsafe { try_str(name, name_len, "name") }?;
        let value_out = unsafe { try_out(value_out, "value_out") }?;
        let value_len_out = unsafe { try_out(value_len_out, "value_len_out") }?;
        let value = r
            .item(index)?
            .outcome
            .response()
            .and_then(|res| res.header(name))
            .ok_or_else(|| Fail::new(httpbatch_result::NotFound, "no such header"))?;
        value_out.write(value.as_ptr().cast());
        value_len_out.write(value.len());
        Ok(())
    })
}
