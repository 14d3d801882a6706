//! Routes for HTTP caching and request-body tests: `/cacheable/{key}` and `/gunzip-echo`.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use crate::conn::Req;
use crate::date::http_date;
use crate::inner::Inner;
use crate::routes::{Body, Reply, param, percent_decode};

/// The `Last-Modified` of every `/cacheable/{key}?lm=1` answer.
const LAST_MODIFIED: &str = "Sat, 01 Jan 2022 00:00:00 GMT";

/// The first value of request header `name` (case-insensitive).
fn header<'a>(req: &Req<'a>, name: &str) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .find(|(n, _)| req.head[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| &req.head[v.clone()])
}

fn text_param(query: &str, name: &str) -> Option<String> {
    param(query, name)
        .and_then(percent_decode)
        .and_then(|v| String::from_utf8(v).ok())
        .filter(|v| !v.bytes().any(|b| b < b' ' || b == 0x7f))
}

/// `/cacheable/{key}`: a response that sends the caching headers the query asks for.
///
/// - `cc=V`: `Cache-Control: V` (percent-encoded in the query); `cc304=V`: the `Cache-Control`
///   of `304` answers instead (so a revalidation can change the lifetime).
/// - `expires=S`: `Expires` S seconds from now; `expires=past`: in 1970.
/// - `etag=1`: `ETag: "{key}"`, and `If-None-Match` with it answers `304`.
/// - `lm=1`: a fixed `Last-Modified`, and `If-Modified-Since` with it answers `304`.
/// - `vary=NAME`: `Vary: NAME`, and the body includes the request's NAME header.
/// - `size=N`: the body is padded to at least N bytes (at most 16 MiB).
///
/// Every answer (304s too) carries `x-served: N`, how many times the key was answered before.
/// The body is `{key}:{vary value}:` and padding.
pub(super) fn cacheable(inner: &Inner, key: &str, req: &Req<'_>, extra: &mut Vec<u8>) -> Reply {
    let q = req.query;
    let served = inner.next_in_sequence(&format!("cacheable/{key}"));
    let etag = param(q, "etag") == Some("1");
    let lm = param(q, "lm") == Some("1");
    let matches_etag = etag
        && header(req, "if-none-match").is_some_and(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .any(|t| t.trim().trim_start_matches("W/") == format!("\"{key}\""))
        });
    let matches_lm = lm && header(req, "if-modified-since") == Some(LAST_MODIFIED.as_bytes());
    let not_modified = matches_etag || (matches_lm && header(req, "if-none-match").is_none());
    let cc = if not_modified {
        text_param(q, "cc304").or_else(|| text_param(q, "cc"))
    } else {
        text_param(q, "cc")
    };
    if let Some(cc) = cc {
        let _ = write!(extra, "cache-control: {cc}\r\n");
    }
    match param(q, "expires") {
        Some("past") => {
            let _ = write!(extra, "expires: {}\r\n", http_date(SystemTime::UNIX_EPOCH));
        }
        Some(s) => {
            if let Ok(secs) = s.parse::<u64>() {
                let at = SystemTime::now() + Duration::from_secs(secs.min(1 << 32));
                let _ = write!(extra, "expires: {}\r\n", http_date(at));
            }
        }
        None => {}
    }
    if etag {
        let _ = write!(extra, "etag: \"{key}\"\r\n");
    }
    if lm {
        let _ = write!(extra, "last-modified: {LAST_MODIFIED}\r\n");
    }
    let _ = write!(extra, "x-served: {served}\r\n");
    let vary = text_param(q, "vary");
    if let Some(v) = &vary {
        let _ = write!(extra, "vary: {v}\r\n");
    }
    if not_modified {
        return Reply {
            status: 304,
            body: Body::Static(b""),
            close: false,
        };
    }
    let varied = vary
        .as_deref()
        .and_then(|v| header(req, v))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let mut body = format!("{key}:{varied}:");
    let size = param(q, "size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0)
        .min(16 << 20);
    if body.len() < size {
        body.extend(std::iter::repeat_n('b', size - body.len()));
    }
    Reply {
        status: 200,
        body: Body::Text(body),
        close: false,
    }
}

/// `/gunzip-echo`: echoes the request body after undoing `Content-Encoding: gzip` (if sent),
/// with `x-content-encoding` (what was sent: `gzip` or `identity`), `x-wire-len` (bytes
/// received) and `x-decoded-len`. A body that is not valid gzip answers `400`.
pub(super) fn gunzip_echo(req: &Req<'_>, extra: &mut Vec<u8>) -> Reply {
    let gzip = header(req, "content-encoding").is_some_and(|v| {
        String::from_utf8_lossy(v)
            .trim()
            .eq_ignore_ascii_case("gzip")
    });
    let body = if gzip {
        let mut out = Vec::new();
        match flate2::read::GzDecoder::new(req.body).read_to_end(&mut out) {
            Ok(_) => out,
            Err(_) => {
                return Reply {
                    status: 400,
                    body: Body::Static(b"body is not valid gzip"),
                    close: false,
                };
            }
        }
    } else {
        req.body.to_vec()
    };
    let _ = write!(
        extra,
        "x-content-encoding: {}\r\nx-wire-len: {}\r\nx-decoded-len: {}\r\n",
        if gzip { "gzip" } else { "identity" },
        req.body.len(),
        body.len()
    );
    Reply {
        status: 200,
        body: Body::Bytes(body),
        close: false,
    }
}
