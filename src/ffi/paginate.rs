//! `httpbatch_paginator`: walks the pages of a paginated API through an executor's stack.

use std::ffi::c_char;

use crate::execute::Context;
use crate::paginate::{Items, PageError, PageState, Paginator, Strategy, paginate_owned};
use crate::response::Response;

use super::base::{
    Fail, FfiResult, HasLastError, LastError, free_raw, guard, guard_on_mut, into_raw,
    last_error_into, try_out, try_ref, try_str, write_text,
};
use super::cancel::httpbatch_cancel_token;
use super::executor::httpbatch_executor;
use super::httpbatch_result;
use super::request::httpbatch_request;

/// `*outcome_out` of `httpbatch_paginator_next_page` and `_next_item`: the walk is over (its
/// last page was read, or a page or item limit was reached); nothing new to read.
pub const HTTPBATCH_PAGE_DONE: u32 = 0;
/// `*outcome_out`: a page (or an item) was read.
pub const HTTPBATCH_PAGE_READ: u32 = 1;
/// `*outcome_out`: the page answered a status of 400 or more, or a body the strategy cannot read.
/// Its status and body are readable (`httpbatch_paginator_page_status`, `_page_body`), the
/// paginator's last error says what was wrong, and its state still names this page (save it
/// to resume later). The walk is over for this paginator.
pub const HTTPBATCH_PAGE_FAILED: u32 = 2;

enum Walk {
    /// Not started: options may still change.
    Setup(Option<Paginator<'static>>),
    Pages(Paginator<'static>),
    Items(Items<'static>),
}

/// A walk over the pages of a paginated API (opaque). Not thread-safe: use it from one thread at
/// a time. Every page request goes through the stack of the executor it was made from (its
/// limiter, retries, pool caps, dedup), which must outlive it.
pub struct httpbatch_paginator {
    walk: Walk,
    ctx: Context,
    /// The page last read (or the failed one).
    page: Option<Response>,
    /// Its items as JSON text.
    items: Vec<String>,
    /// The item last read by `_next_item`.
    item: String,
    last_error: LastError,
}

impl HasLastError for httpbatch_paginator {
    fn last_error(&self) -> &LastError {
        &self.last_error
    }
}

impl httpbatch_paginator {
    /// Changes an option; only before the first page.
    fn configure(&mut self, f: impl FnOnce(Paginator<'static>) -> Paginator<'static>) -> FfiResult {
        match &mut self.walk {
            Walk::Setup(p) => {
                let walk = p.take().expect("set up");
                *p = Some(f(walk));
                Ok(())
            }
            _ => Err(Fail::invalid(
                "the walk has started: set options before the first page",
            )),
        }
    }

    fn start(&mut self, items: bool) -> FfiResult {
        if let Walk::Setup(p) = &mut self.walk {
            let walk = p.take().expect("set up").context(self.ctx.clone());
            self.walk = if items {
                Walk::Items(walk.items())
            } else {
                Walk::Pages(walk)
            };
        }
        match (&self.walk, items) {
            (Walk::Pages(_), false) | (Walk::Items(_), true) => Ok(()),
            _ => Err(Fail::invalid(
                "a walk reads pages (_next_page) or items (_next_item), not both",
            )),
        }
    }

    fn state(&self) -> Option<&PageState> {
        match &self.walk {
            Walk::Setup(p) => p.as_ref().map(Paginator::state),
            Walk::Pages(p) => Some(p.state()),
            Walk::Items(i) => Some(i.state()),
        }
    }

    /// Records a failed page: `Ok(FAILED)` with the page kept, or the request's error.
    fn failed(&mut self, e: PageError) -> FfiResult<u32> {
        let message = e.to_string();
        match e {
            PageError::Request(e) => Err(e.into()),
            PageError::Status(r) | PageError::Body { response: r, .. } => {
                self.page = Some(*r);
                self.items.clear();
                self.last_error.set(&message);
                Ok(HTTPBATCH_PAGE_FAILED)
            }
            // Typed items are Rust's only; a C walk hands out JSON text.
            PageError::Item { .. } => Err(Fail::invalid(message)),
        }
    }
}

/// Creates a paginator in `*paginator_out` that walks the pages of `request` (copied) under
/// `strategy` (`strategy_len` bytes): `link` (the `Link` header's `rel="next"`),
/// `cursor:POINTER:PARAM` (the next cursor at a JSON pointer, sent back as query parameter
/// PARAM), `page:PARAM` or `offset:PARAM` (numbers until an empty page or the total). Pages go
/// through `executor`'s stack, so the executor must outlive the paginator.
///
/// Ownership: the caller owns the paginator and frees it with `httpbatch_paginator_free`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_new(
    executor: *const httpbatch_executor,
    request: *const httpbatch_request,
    strategy: *const c_char,
    strategy_len: usize,
    paginator_out: *mut *mut httpbatch_paginator,
) -> httpbatch_result {
    guard(|| {
        // SAFETY: pointers are NULL or valid, per the header.
        let out = unsafe { try_out(paginator_out, "paginator_out") }?;
        let exec = unsafe { try_ref(executor, "executor") }?;
        let req = unsafe { try_ref(request, "request") }?.to_request()?;
        let spec = unsafe { try_str(strategy, strategy_len, "strategy") }?;
        let strategy: Strategy = spec.parse()?;
        out.write(into_raw(httpbatch_paginator {
            walk: Walk::Setup(Some(paginate_owned(exec.top(), req, strategy))),
            ctx: Context::new(),
            page: None,
            items: Vec::new(),
            item: String::new(),
            last_error: LastError::default(),
        }));
        Ok(())
    })
}

/// Reads each page's items from the array at JSON `pointer` (`""`: the page itself is the
/// array). Before the first page only.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_set_items(
    paginator: *mut httpbatch_paginator,
    pointer: *const c_char,
    pointer_len: usize,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: `pointer` is valid for `pointer_len` bytes, per the header.
        let ptr = unsafe { try_str(pointer, pointer_len, "pointer") }?.to_owned();
        p.configure(|w| w.with_strategy(|s| s.items(&ptr)))
    })
}

/// Reads the total number of items at JSON `pointer` of the first page (`page` and `offset`
/// strategies): the walk stops there. Before the first page only.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_set_total(
    paginator: *mut httpbatch_paginator,
    pointer: *const c_char,
    pointer_len: usize,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: `pointer` is valid for `pointer_len` bytes, per the header.
        let ptr = unsafe { try_str(pointer, pointer_len, "pointer") }?.to_owned();
        p.configure(|w| w.with_strategy(|s| s.total(&ptr)))
    })
}

/// Stops after `max_pages` pages and `max_items` items (counting those before a resume; 0 or
/// `UINT64_MAX`: no limit). Before the first page only.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_set_limits(
    paginator: *mut httpbatch_paginator,
    max_pages: u64,
    max_items: u64,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        let no_limit = |n: u64| if n == 0 { u64::MAX } else { n };
        p.configure(|w| {
            w.max_pages(no_limit(max_pages))
                .max_items(no_limit(max_items))
        })
    })
}

/// Runs every page request under `token` (NULL: none): cancelling it from any thread interrupts
/// the page in flight, and the call reading it fails with `HTTPBATCH_RESULT_CANCELLED`. Before
/// the first page only.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_set_cancel_token(
    paginator: *mut httpbatch_paginator,
    token: *const httpbatch_cancel_token,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        if !matches!(p.walk, Walk::Setup(_)) {
            return Err(Fail::invalid("set the token before the first page"));
        }
        // SAFETY: `token` is NULL or live, per the header.
        p.ctx = match unsafe { token.as_ref() } {
            Some(t) => Context::new().with_cancel(t.token.clone()),
            None => Context::new(),
        };
        Ok(())
    })
}

/// Continues the walk from a state saved with `httpbatch_paginator_state` (JSON text,
/// `state_len` bytes), with the same request and strategy. Before the first page only; a state
/// that does not parse fails with `HTTPBATCH_RESULT_INVALID_CONFIG`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_resume(
    paginator: *mut httpbatch_paginator,
    state: *const c_char,
    state_len: usize,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: `state` is valid for `state_len` bytes, per the header.
        let text = unsafe { try_str(state, state_len, "state") }?;
        let state = PageState::from_json(text)?;
        p.configure(|w| w.resume(state))
    })
}

/// Reads the next page into the paginator and writes `HTTPBATCH_PAGE_READ`,
/// `HTTPBATCH_PAGE_DONE` or `HTTPBATCH_PAGE_FAILED` to `*outcome_out`. A request that fails
/// (transport, cancel, limiter) returns its error code instead; the state still names that page.
/// The page (status, body, items) stays readable until the next call on the paginator.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_next_page(
    paginator: *mut httpbatch_paginator,
    outcome_out: *mut u32,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: `outcome_out` is NULL or writable, per the header.
        let out = unsafe { try_out(outcome_out, "outcome_out") }?;
        p.start(false)?;
        let Walk::Pages(walk) = &mut p.walk else {
            unreachable!("started as pages")
        };
        let outcome = match walk.next() {
            None => {
                p.page = None;
                p.items.clear();
                HTTPBATCH_PAGE_DONE
            }
            Some(Ok(mut page)) => {
                p.items = page.take_items().iter().map(|v| v.to_string()).collect();
                p.page = Some(page.into_response());
                HTTPBATCH_PAGE_READ
            }
            Some(Err(e)) => p.failed(e)?,
        };
        out.write(outcome);
        Ok(())
    })
}

/// Reads the next item of the walk (as compact JSON text, valid until the next call on the
/// paginator) into `*json_out`/`*len_out`, and writes the outcome as `httpbatch_paginator_next_page`
/// does. A walk reads pages or items, not both.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_next_item(
    paginator: *mut httpbatch_paginator,
    json_out: *mut *const c_char,
    len_out: *mut usize,
    outcome_out: *mut u32,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: out-pointers are NULL or writable, per the header.
        let json = unsafe { try_out(json_out, "json_out") }?;
        let len = unsafe { try_out(len_out, "len_out") }?;
        let out = unsafe { try_out(outcome_out, "outcome_out") }?;
        json.write(std::ptr::null());
        len.write(0);
        p.start(true)?;
        let Walk::Items(walk) = &mut p.walk else {
            unreachable!("started as items")
        };
        let outcome = match walk.next() {
            None => HTTPBATCH_PAGE_DONE,
            Some(Ok(v)) => {
                p.item = v.to_string();
                json.write(p.item.as_ptr().cast());
                len.write(p.item.len());
                HTTPBATCH_PAGE_READ
            }
            Some(Err(e)) => p.failed(e)?,
        };
        out.write(outcome);
        Ok(())
    })
}

fn page(p: &httpbatch_paginator) -> FfiResult<&Response> {
    p.page.as_ref().ok_or_else(|| {
        Fail::new(
            httpbatch_result::NotFound,
            "no page read (or the walk is over)",
        )
    })
}

/// Writes the status of the page last read (or the failed one) to `*status_out`; fails with
/// `HTTPBATCH_RESULT_NOT_FOUND` when there is none.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_page_status(
    paginator: *mut httpbatch_paginator,
    status_out: *mut u16,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: `status_out` is NULL or writable, per the header.
        let out = unsafe { try_out(status_out, "status_out") }?;
        out.write(page(p)?.status());
        Ok(())
    })
}

/// Points `*body_out`/`*len_out` at the body of the page last read (or the failed one), valid
/// until the next call on the paginator. (A page read by `_next_item` keeps no body.)
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_page_body(
    paginator: *mut httpbatch_paginator,
    body_out: *mut *const u8,
    len_out: *mut usize,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: out-pointers are NULL or writable, per the header.
        let body = unsafe { try_out(body_out, "body_out") }?;
        let len = unsafe { try_out(len_out, "len_out") }?;
        let b = page(p)?.body();
        body.write(b.as_ptr());
        len.write(b.len());
        Ok(())
    })
}

/// Writes the number of items of the page last read to `*count_out`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_page_item_count(
    paginator: *mut httpbatch_paginator,
    count_out: *mut usize,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: `count_out` is NULL or writable, per the header.
        let out = unsafe { try_out(count_out, "count_out") }?;
        page(p)?;
        out.write(p.items.len());
        Ok(())
    })
}

/// Points `*json_out`/`*len_out` at item `index` of the page last read, as compact JSON text
/// (no NUL), valid until the next call on the paginator. Fails with
/// `HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE` past the end.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_page_item(
    paginator: *mut httpbatch_paginator,
    index: usize,
    json_out: *mut *const c_char,
    len_out: *mut usize,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        // SAFETY: out-pointers are NULL or writable, per the header.
        let json = unsafe { try_out(json_out, "json_out") }?;
        let len = unsafe { try_out(len_out, "len_out") }?;
        let item = p.items.get(index).ok_or_else(|| {
            Fail::new(
                httpbatch_result::IndexOutOfRange,
                format!("item {index} of {}", p.items.len()),
            )
        })?;
        json.write(item.as_ptr().cast());
        len.write(item.len());
        Ok(())
    })
}

/// Copies the walk's state as JSON (`{"next":…,"pages":N,"items":N,"done":B}`, plus `"skip":S`
/// when an item limit cut a page: the resumed walk reads that page again from item S) into `buf`
/// (see `httpbatch_executor_last_error` for the buffer rules): save it, and hand it to
/// `httpbatch_paginator_resume` to continue the walk later, in this process or another.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_state(
    paginator: *mut httpbatch_paginator,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    guard_on_mut(paginator, "paginator", |p| {
        let text = p.state().map(PageState::to_json).unwrap_or_default();
        // SAFETY: `buf`/`len_out` validity is the caller's contract.
        unsafe { write_text(&text, buf, buf_len, len_out) }
    })
}

/// Copies the text of the paginator's last failure into `buf` (see
/// `httpbatch_executor_last_error`).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_last_error(
    paginator: *const httpbatch_paginator,
    buf: *mut c_char,
    buf_len: usize,
    len_out: *mut usize,
) -> httpbatch_result {
    last_error_into(paginator, buf, buf_len, len_out)
}

/// Frees a paginator (NULL is ignored).
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_paginator_free(paginator: *mut httpbatch_paginator) {
    super::base::guard_or((), || {
        // SAFETY: NULL or from `_new`, freed once.
        unsafe { free_raw(paginator) }
    })
}

#[cfg(test)]
mod tests;
