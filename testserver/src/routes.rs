//! The scripted routes: a pure function of the request and the per-key sequences.
//!
//! Runs on handler threads. Extra answer headers are appended, already formatted, to the
//! caller's reusable `extra` buffer, so the common routes allocate nothing.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use crate::api;
use crate::conn::Req;
use crate::date::http_date;
use crate::inner::Inner;

/// Largest `/bytes/{n}`.
const MAX_BYTES: u64 = 1 << 30;
/// Longest `/delay/{ms}`: a day.
const MAX_DELAY_MS: u64 = 86_400_000;
/// Most statuses in a `/seq` script.
const MAX_SEQ: usize = 1024;

/// What to do with a request.
pub(super) enum Action {
    /// Answer now.
    Reply(Reply),
    /// Wait until `until`, then answer `status` (unless stop or a mode change intervenes).
    Delay { until: Instant, status: u16 },
    /// Close the connection without answering.
    Close,
}

/// An answer, minus the extra headers (in the `extra` buffer).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Body,
    /// Send `Connection: close` and close after.
    pub(crate) close: bool,
}

/// Where an answer's body comes from.
pub(crate) enum Body {
    Static(&'static [u8]),
    /// The status code as three ASCII digits.
    Code,
    /// The request body.
    Echo,
    /// `n` bytes of `x`.
    Repeat(u64),
    /// Made for this answer (`/__stats`).
    Text(String),
    /// Bytes made for this answer (`/gunzip-echo`, `/bomb/{mib}`).
    Bytes(Vec<u8>),
}

impl Reply {
    /// `status` with the code as body.
    pub(crate) fn code(status: u16) -> Reply {
        Reply {
            status,
            body: Body::Code,
            close: false,
        }
    }

    /// `200 ok`, or `status` with the code as body.
    pub(crate) fn ok_with(status: u16) -> Reply {
        if status == 200 {
            Reply::ok()
        } else {
            Reply::code(status)
        }
    }

    fn ok() -> Reply {
        Reply {
            status: 200,
            body: Body::Static(b"ok"),
            close: false,
        }
    }

    fn bad(msg: &'static str) -> Reply {
        Reply {
            status: 400,
            body: Body::Static(msg.as_bytes()),
            close: false,
        }
    }
}

pub(super) fn route(inner: &Inner, req: &Req<'_>, extra: &mut Vec<u8>) -> Action {
    let path = req.path;
    let reply = match path {
        "/" | "/ok" => Reply::ok(),
        "/echo" => echo(req, extra),
        "/gunzip-echo" => crate::cache_routes::gunzip_echo(req, extra),
        "/close" => Reply {
            close: true,
            ..Reply::ok()
        },
        "/reset" => return Action::Close,
        "/jsonrpc" => api::jsonrpc(inner, req, extra),
        "/json-array" => api::json_array(req, extra),
        _ => {
            let (route, arg) = match path[1..].split_once('/') {
                Some((route, arg)) => (route, arg),
                None => (&path[1..], ""),
            };
            match route {
                "status" => match parse_status(arg) {
                    Some(code) => Reply::code(code),
                    None => Reply::bad("bad status: want /status/{100..599}"),
                },
                "bytes" => match arg.parse::<u64>() {
                    Ok(n) if n <= MAX_BYTES => Reply {
                        status: 200,
                        body: Body::Repeat(n),
                        close: false,
                    },
                    _ => Reply::bad("bad length: want /bytes/{0..=1073741824}"),
                },
                "delay" => return delay(arg, req.query),
                "seq" if !arg.is_empty() => seq(inner, arg, req.query, extra),
                "flaky" if !arg.is_empty() => flaky(inner, arg, req.query, extra),
                "limited" if !arg.is_empty() => limited(inner, arg, req.query, extra),
                "quota" if !arg.is_empty() => api::quota(inner, arg, req.query, extra),
                "redirect" => redirect_n(arg, extra),
                "redirect-to" => redirect_to(req.query, extra),
                "big-header" => big_header(arg, extra),
                "pages" => crate::pages::route(inner, arg, req.query, extra),
                "cacheable" if !arg.is_empty() => {
                    crate::cache_routes::cacheable(inner, arg, req, extra)
                }
                "encoded" => encoded(arg, extra),
                "bomb" => bomb(arg, extra),
                _ => Reply {
                    status: 404,
                    body: Body::Static(b"not found"),
                    close: false,
                },
            }
        }
    };
    Action::Reply(reply)
}

/// Whether `path` (without query) is a control route: answered in every mode, and counted
/// nowhere (see `/__stats` in the crate docs).
pub(super) fn is_control(path: &str) -> bool {
    path.starts_with("/__")
}

/// Answers a control route: `/__stats` (the counters as JSON, `?prefix=P` adds `requests_for`)
/// and `/__reset` (`reset_counters`).
pub(super) fn control(inner: &Inner, req: &Req<'_>, extra: &mut Vec<u8>) -> Reply {
    match req.path {
        "/__stats" => {
            extra.extend_from_slice(b"content-type: application/json\r\n");
            Reply {
                status: 200,
                body: Body::Text(inner.stats_json(param(req.query, "prefix"))),
                close: false,
            }
        }
        "/__reset" => {
            inner.reset_counters();
            Reply::ok()
        }
        _ => Reply {
            status: 404,
            body: Body::Static(b"not found"),
            close: false,
        },
    }
}

fn echo(req: &Req<'_>, extra: &mut Vec<u8>) -> Reply {
    let _ = write!(
        extra,
        "x-echo-method: {}\r\nx-echo-path: {}\r\nx-echo-body-len: {}\r\n",
        req.method,
        req.target,
        req.body.len()
    );
    for (name, value) in req.headers {
        extra.extend_from_slice(b"x-echo-h-");
        extra.extend(req.head[name.clone()].iter().map(u8::to_ascii_lowercase));
        extra.extend_from_slice(b": ");
        extra.extend_from_slice(&req.head[value.clone()]);
        extra.extend_from_slice(b"\r\n");
    }
    Reply {
        status: 200,
        body: Body::Echo,
        close: false,
    }
}

fn delay(arg: &str, query: &str) -> Action {
    let ms = match arg.parse::<u64>() {
        Ok(ms) if ms <= MAX_DELAY_MS => ms,
        _ => return Action::Reply(Reply::bad("bad delay: want /delay/{0..=86400000}")),
    };
    let status = match param(query, "status") {
        None => 200,
        Some(s) => match parse_status(s) {
            Some(code) => code,
            None => return Action::Reply(Reply::bad("bad status parameter")),
        },
    };
    Action::Delay {
        until: Instant::now() + Duration::from_millis(ms),
        status,
    }
}

fn seq(inner: &Inner, key: &str, query: &str, extra: &mut Vec<u8>) -> Reply {
    let Some(script) = param(query, "s") else {
        return Reply::bad("missing s: want /seq/{key}?s=503,503,200");
    };
    let mut statuses = [0u16; MAX_SEQ];
    let mut len = 0;
    for part in script.split(',') {
        match parse_status(part) {
            Some(code) if len < MAX_SEQ => {
                statuses[len] = code;
                len += 1;
            }
            _ => return Reply::bad("bad s: want comma-separated statuses 100..599"),
        }
    }
    let Some(retry) = RetryAfter::parse(query) else {
        return Reply::bad("bad retry_after or retry_after_date");
    };
    let n = inner.next_in_sequence(&format!("seq/{key}"));
    let status = statuses[(n as usize).min(len - 1)];
    if !(200..300).contains(&status) {
        retry.write(extra);
    }
    Reply::code(status)
}

fn flaky(inner: &Inner, key: &str, query: &str, extra: &mut Vec<u8>) -> Reply {
    let fail = match param(query, "fail").map(str::parse::<u64>) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Reply::bad("bad fail: want a count"),
    };
    let status = match param(query, "status").map(parse_status) {
        None => 503,
        Some(Some(code)) => code,
        Some(None) => return Reply::bad("bad status parameter"),
    };
    let Some(retry) = RetryAfter::parse(query) else {
        return Reply::bad("bad retry_after or retry_after_date");
    };
    if inner.next_in_sequence(&format!("flaky/{key}")) < fail {
        if !(200..300).contains(&status) {
            retry.write(extra);
        }
        Reply::code(status)
    } else {
        Reply::ok()
    }
}

fn limited(inner: &Inner, key: &str, query: &str, extra: &mut Vec<u8>) -> Reply {
    let (Some(Ok(n)), Ok(retry_after)) = (
        param(query, "n").map(str::parse::<u64>),
        param(query, "retry_after").map_or(Ok(1), str::parse::<u64>),
    ) else {
        return Reply::bad("want /limited/{key}?n=N[&retry_after=SECS]");
    };
    if inner.next_in_sequence(&format!("limited/{key}")) < n {
        Reply::ok()
    } else {
        let _ = write!(extra, "retry-after: {retry_after}\r\n");
        Reply::code(429)
    }
}

/// `/redirect/{n}`: 302 to the relative `/redirect/{n-1}`; `/redirect/0` answers `200 ok`.
fn redirect_n(arg: &str, extra: &mut Vec<u8>) -> Reply {
    match arg.parse::<u32>() {
        Ok(0) => Reply::ok(),
        Ok(n) if n <= 1000 => {
            let _ = write!(extra, "location: /redirect/{}\r\n", n - 1);
            Reply::code(302)
        }
        _ => Reply::bad("bad count: want /redirect/{0..=1000}"),
    }
}

/// `/redirect-to?url=U[&status=S]`: `S` (default 302) with `Location: U`, `U` percent-decoded
/// (control bytes refused, so the answer stays well-formed).
fn redirect_to(query: &str, extra: &mut Vec<u8>) -> Reply {
    let status = match param(query, "status").map(parse_status) {
        None => 302,
        Some(Some(code)) if (300..400).contains(&code) => code,
        Some(_) => return Reply::bad("bad status: want 300..399"),
    };
    let Some(url) = param(query, "url").and_then(percent_decode) else {
        return Reply::bad("want /redirect-to?url=PERCENT-ENCODED[&status=3xx]");
    };
    if url.iter().any(|&b| b < b' ' || b == 0x7f) {
        return Reply::bad("control bytes in url");
    }
    extra.extend_from_slice(b"location: ");
    extra.extend_from_slice(&url);
    extra.extend_from_slice(b"\r\n");
    Reply::code(status)
}

/// `/big-header/{n}`: `200 ok` with an `x-big` header of `n` bytes (at most 1 MiB).
fn big_header(arg: &str, extra: &mut Vec<u8>) -> Reply {
    match arg.parse::<usize>() {
        Ok(n) if n <= 1 << 20 => {
            extra.extend_from_slice(b"x-big: ");
            extra.resize(extra.len() + n, b'x');
            extra.extend_from_slice(b"\r\n");
            Reply::ok()
        }
        _ => Reply::bad("bad size: want /big-header/{0..=1048576}"),
    }
}

/// What every `/encoded/{coding}` body decodes to: 20 lines, 900 bytes.
pub const ENCODED_TEXT: &str = "The quick brown fox jumps over the lazy dog.\n";

/// `/encoded/{coding}`: `200` with [`ENCODED_TEXT`] ×20 encoded with `coding` and named in
/// `Content-Encoding` (`deflate-raw` is raw deflate sent as `deflate`, as some servers do).
fn encoded(arg: &str, extra: &mut Vec<u8>) -> Reply {
    use std::sync::OnceLock;
    static BODIES: OnceLock<[Vec<u8>; 5]> = OnceLock::new();
    const NAMES: [&str; 5] = ["identity", "gzip", "deflate", "deflate-raw", "br"];
    let Some(i) = NAMES.iter().position(|n| *n == arg) else {
        return Reply::bad("bad coding: want /encoded/{gzip,deflate,deflate-raw,br,identity}");
    };
    let bodies = BODIES.get_or_init(|| {
        on_big_stack(|| {
            use flate2::{Compression, write};
            let text = ENCODED_TEXT.repeat(20).into_bytes();
            let level = Compression::default();
            let gzip = write::GzEncoder::new(Vec::new(), level);
            let zlib = write::ZlibEncoder::new(Vec::new(), level);
            let raw = write::DeflateEncoder::new(Vec::new(), level);
            [
                text.clone(),
                finish(gzip, &text),
                finish(zlib, &text),
                finish(raw, &text),
                brotli_stored(&text),
            ]
        })
    });
    let name = if i == 3 { "deflate" } else { NAMES[i] };
    if i > 0 {
        let _ = write!(extra, "content-encoding: {name}\r\n");
    }
    Reply {
        status: 200,
        body: Body::Static(&bodies[i]),
        close: false,
    }
}

/// Runs `f` (a compressor, whose unoptimised frames outgrow a handler's small stack) on a
/// thread of its own, once per process.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("httpbatch-loopback-compress".into())
        .stack_size(16 << 20)
        .spawn(f)
        .and_then(|t| {
            t.join()
                .map_err(|_| std::io::Error::other("compressor panicked"))
        })
        .expect("compressing a test body")
}

/// Compresses `data` with a flate2 writer.
fn finish<W: Write + Finish>(mut w: W, data: &[u8]) -> Vec<u8> {
    w.write_all(data).expect("writing to a Vec");
    w.done()
}

trait Finish {
    fn done(self) -> Vec<u8>;
}

macro_rules! finish_impl {
    ($($t:ty),*) => {$(
        impl Finish for $t {
            fn done(self) -> Vec<u8> {
                self.finish().expect("writing to a Vec")
            }
        }
    )*};
}
finish_impl!(
    flate2::write::GzEncoder<Vec<u8>>,
    flate2::write::ZlibEncoder<Vec<u8>>,
    flate2::write::DeflateEncoder<Vec<u8>>
);

/// `data` as a brotli stream of uncompressed meta-blocks (RFC 7932 §9.2): valid brotli that
/// any decoder must read, without an encoder's tables in the test server.
fn brotli_stored(data: &[u8]) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        fn align(&mut self) {
            if self.n > 0 {
                self.put(0, 8 - self.n);
            }
        }
    }
    let mut b = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    b.put(0, 1); // WBITS = 16
    for chunk in data.chunks(1 << 15) {
        b.put(0, 1); // ISLAST = 0
        b.put(0, 2); // MNIBBLES = 4
        b.put(chunk.len() as u64 - 1, 16); // MLEN - 1
        b.put(1, 1); // ISUNCOMPRESSED
        b.align();
        b.out.extend_from_slice(chunk);
    }
    b.put(1, 1); // ISLAST
    b.put(1, 1); // ISLASTEMPTY
    b.align();
    b.out
}

/// `/bomb/{mib}`: `200`, `Content-Encoding: gzip`, a body that decodes to `mib` MiB of zero
/// bytes (1 to 1024) but is about 1 KiB per MiB on the wire (one gzip member per MiB).
fn bomb(arg: &str, extra: &mut Vec<u8>) -> Reply {
    use std::sync::OnceLock;
    static MEMBER: OnceLock<Vec<u8>> = OnceLock::new();
    let mib = match arg.parse::<usize>() {
        Ok(n @ 1..=1024) => n,
        _ => return Reply::bad("bad size: want /bomb/{1..=1024}"),
    };
    let member = MEMBER.get_or_init(|| {
        on_big_stack(|| {
            let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            finish(gzip, &vec![0u8; 1 << 20])
        })
    });
    extra.extend_from_slice(b"content-encoding: gzip\r\n");
    Reply {
        status: 200,
        body: Body::Bytes(member.repeat(mib)),
        close: false,
    }
}

pub(super) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The `retry_after` / `retry_after_date` parameters of `/seq` and `/flaky`.
#[derive(Default)]
struct RetryAfter {
    secs: Option<u64>,
    date_secs: Option<u64>,
}

impl RetryAfter {
    /// `None` if a parameter is present but not a number of seconds.
    fn parse(query: &str) -> Option<RetryAfter> {
        let num = |name| match param(query, name) {
            None => Some(None),
            Some(v) => v.parse::<u64>().ok().filter(|&s| s <= 1 << 32).map(Some),
        };
        Some(RetryAfter {
            secs: num("retry_after")?,
            date_secs: num("retry_after_date")?,
        })
    }

    fn write(&self, extra: &mut Vec<u8>) {
        if let Some(secs) = self.secs {
            let _ = write!(extra, "retry-after: {secs}\r\n");
        }
        if let Some(secs) = self.date_secs {
            // An HTTP-date has whole seconds: round up, so the date is at least `secs` ahead.
            let at = SystemTime::now() + Duration::from_secs(secs) + Duration::from_millis(999);
            let _ = write!(extra, "retry-after: {}\r\n", http_date(at));
        }
    }
}

/// The value of `name` in a query string, undecoded (`a=1&b=2`).
pub(crate) fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

fn parse_status(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|c| (100..=599).contains(c))
}

/// The reason phrase for `status` (any text is valid; clients ignore it).
pub(super) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}
