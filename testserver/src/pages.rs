//! Paginated APIs: `/pages/link/{total}`, `/pages/cursor/{total}`, `/pages/numbered/{total}`.
//!
//! Items are `{"id":N}` for N in `1..=total`, `per` to a page (default 10, at most 10,000).
//! `&fail=KEY&fail_page=F` makes the first request for page `F` (1-based) under `KEY` answer
//! `500`, once, for tests that resume a walk after a failure.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::inner::Inner;
use crate::routes::{Body, Reply, param};

const MAX_PER: u64 = 10_000;
const MAX_TOTAL: u64 = 1 << 40;

pub(super) fn route(inner: &Inner, arg: &str, query: &str, extra: &mut Vec<u8>) -> Reply {
    let Some((kind, total)) = arg.split_once('/') else {
        return bad();
    };
    let Some(total) = total.parse::<u64>().ok().filter(|t| *t <= MAX_TOTAL) else {
        return bad();
    };
    let per = match param(query, "per").map(str::parse::<u64>) {
        None => 10,
        Some(Ok(n)) if (1..=MAX_PER).contains(&n) => n,
        _ => return bad(),
    };
    let num = |name| param(query, name).map(str::parse::<u64>);
    // The first item's index (0-based) on the page asked for.
    let start = match kind {
        "link" => match num("page") {
            None => 0,
            Some(Ok(p)) if p >= 1 => (p - 1).saturating_mul(per),
            _ => return bad(),
        },
        "cursor" => match param(query, "after") {
            None => 0,
            Some(c) => match c.strip_prefix('c').map(|h| u64::from_str_radix(h, 16)) {
                Some(Ok(o)) => o,
                _ => return bad(),
            },
        },
        "numbered" => match (num("page"), num("offset")) {
            (None, None) => 0,
            (Some(Ok(p)), None) if p >= 1 => (p - 1).saturating_mul(per),
            (None, Some(Ok(o))) => o,
            _ => return bad(),
        },
        _ => return bad(),
    };
    let page = start / per + 1;
    if let (Some(key), Some(Ok(f))) = (param(query, "fail"), num("fail_page")) {
        if f == page && inner.next_in_sequence(&format!("pages/{key}/{f}")) == 0 {
            return Reply {
                status: 500,
                body: Body::Static(b"{\"error\":\"scripted failure\"}"),
                close: false,
            };
        }
    }
    let end = start.saturating_add(per).min(total);
    let mut items = String::from("[");
    for id in start.min(total)..end {
        if id > start {
            items.push(',');
        }
        let _ = write!(items, "{{\"id\":{}}}", id + 1);
    }
    items.push(']');
    let more = end < total;
    extra.extend_from_slice(b"content-type: application/json\r\n");
    let body = match kind {
        "link" => {
            // Relative references (RFC 8288 §3.1: resolved against the request's URL).
            let _ = write!(
                extra,
                "link: <{total}?{}>; rel=\"first\"",
                with_param(query, "page", 1)
            );
            if more {
                let _ = write!(
                    extra,
                    ", <{total}?{}>; rel=\"next\"",
                    with_param(query, "page", page + 1)
                );
            }
            extra.extend_from_slice(b"\r\n");
            format!("{{\"items\":{items}}}")
        }
        "cursor" => match more {
            true => format!("{{\"data\":{items},\"meta\":{{\"next\":\"c{end:x}\"}}}}"),
            false => format!("{{\"data\":{items},\"meta\":{{\"next\":null}}}}"),
        },
        _ => format!("{{\"total\":{total},\"page\":{page},\"items\":{items}}}"),
    };
    Reply {
        status: 200,
        body: Body::Text(body),
        close: false,
    }
}

fn bad() -> Reply {
    Reply {
        status: 400,
        body: Body::Static(
            b"want /pages/{link|cursor|numbered}/{total}?per=N&page=P (or after=C, offset=O)",
        ),
        close: false,
    }
}

/// `query` with `name` set to `value` (added if missing).
fn with_param(query: &str, name: &str, value: u64) -> String {
    let mut out = String::new();
    let mut set = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('&');
        }
        match pair.split_once('=').map_or(pair, |(k, _)| k) == name {
            true => {
                let _ = write!(out, "{name}={value}");
                set = true;
            }
            false => out.push_str(pair),
        }
    }
    if !set {
        if !out.is_empty() {
            out.push('&');
        }
        let _ = write!(out, "{name}={value}");
    }
    out
}
