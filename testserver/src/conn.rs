//! One connection: read requests, route them, write answers, until either side closes.
//!
//! Runs on the connection's own handler thread and touches only its socket, its own buffers and
//! `Inner`'s counters. Buffers (head, body, output) are kept across requests, so a keep-alive
//! connection serving small requests allocates nothing per request once warm.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::inner::{Inner, Settle};
use crate::routes::{self, Action, Body, Reply};

/// Longest request head (request line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most header fields accepted.
const MAX_HEADERS: usize = 128;
/// Largest request body accepted.
pub(super) const MAX_BODY: u64 = 64 * 1024 * 1024;
/// Bodies larger than this are written apart from the head instead of copied behind it.
const INLINE_BODY: usize = 64 * 1024;

/// The `/bytes/{n}` body source: written in slices, never allocated per request.
static XS: [u8; 32 * 1024] = [b'x'; 32 * 1024];

/// Why reading a request stopped.
enum ReadError {
    /// The client closed (or reset) the connection, or stop shut it down.
    Closed,
    /// The request is malformed: answer this status and close.
    Bad(u16),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Closed
    }
}

/// A parsed request head; ranges index `buf`. Reused across the requests of a connection.
#[derive(Default)]
struct Head {
    buf: Vec<u8>,
    method: Range<usize>,
    target: Range<usize>,
    http10: bool,
    headers: Vec<(Range<usize>, Range<usize>)>,
    content_length: Option<u64>,
    chunked: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    expect_continue: bool,
}

impl Head {
    fn clear(&mut self) {
        self.buf.clear();
        self.headers.clear();
        self.method = 0..0;
        self.target = 0..0;
        self.http10 = false;
        self.content_length = None;
        self.chunked = false;
        self.conn_close = false;
        self.conn_keep_alive = false;
        self.expect_continue = false;
    }
}

/// A request as the routes see it.
pub(super) struct Req<'a> {
    pub(super) method: &'a str,
    /// Path with query, as sent.
    pub(super) target: &'a str,
    pub(super) path: &'a str,
    pub(super) query: &'a str,
    pub(super) head: &'a [u8],
    pub(super) headers: &'a [(Range<usize>, Range<usize>)],
    pub(super) body: &'a [u8],
}

struct Conn<'a> {
    inner: &'a Inner,
    id: u64,
    stream: &'a TcpStream,
    reader: BufReader<&'a TcpStream>,
    shard: usize,
    head: Head,
    body: Vec<u8>,
    out: Vec<u8>,
    extra: Vec<u8>,
    /// Whether this connection still counts in `open_connections`.
    counted_open: bool,
    /// Whether the current request still counts in `in_flight`.
    counted_in_flight: bool,
}

/// Serves one accepted connection until it closes, then unregisters it.
pub(super) fn serve(inner: Arc<Inner>, stream: Arc<TcpStream>, id: u64) {
    // Small answers go out in one write; without NODELAY, Nagle would hold the next one back
    // until the client's delayed ACK (40 ms) and wreck keep-alive throughput.
    let _ = stream.set_nodelay(true);
    let mut conn = Conn {
        inner: &inner,
        id,
        stream: &stream,
        reader: BufReader::with_capacity(16 * 1024, &*stream),
        shard: id as usize,
        head: Head::default(),
        body: Vec::new(),
        out: Vec::with_capacity(512),
        extra: Vec::new(),
        counted_open: true,
        counted_in_flight: false,
    };
    conn.run();
    // `Conn`'s drop uncounts and unregisters; then the last `Arc` (ours) closes the socket.
}

impl Drop for Conn<'_> {
    /// Runs on return and on unwind alike, so even a bug that panics a handler leaves the
    /// counters and the registry right (and is counted, for the tests to catch).
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.inner.handler_panics.fetch_add(1, Ordering::Relaxed);
        }
        self.end_request();
        self.end_connection();
        self.inner.conns.lock().remove(&self.id);
    }
}

impl Conn<'_> {
    fn end_request(&mut self) {
        if std::mem::take(&mut self.counted_in_flight) {
            self.inner.end_request();
        }
    }

    fn end_connection(&mut self) {
        if std::mem::take(&mut self.counted_open) {
            self.inner.end_connection();
        }
    }

    /// Closes without answering: uncount first, so a client that sees the close already sees
    /// the counters without this request and connection.
    fn close_now(&mut self) {
        self.end_request();
        self.end_connection();
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn run(&mut self) {
        for nth in 0u64.. {
            match self.read_head() {
                Ok(()) => {}
                Err(ReadError::Closed) => return,
                Err(ReadError::Bad(status)) => {
                    self.answer_error(status);
                    return;
                }
            }
            if !routes::is_control(self.path()) {
                self.count_request();
            } else if nth == 0 && std::mem::take(&mut self.counted_open) {
                self.inner.uncount_connection();
            }
            match self.read_body() {
                Ok(()) => {}
                Err(ReadError::Closed) => return self.close_now(),
                Err(ReadError::Bad(status)) => {
                    self.answer_error(status);
                    return;
                }
            }
            match self.handle() {
                Ok(true) => {}
                Ok(false) | Err(_) => return self.close_now(),
            }
        }
    }

    /// The request target without its query.
    fn path(&self) -> &str {
        let h = &self.head;
        // ASCII, checked by the parser.
        let target = std::str::from_utf8(&h.buf[h.target.clone()]).unwrap_or("");
        target.split('?').next().unwrap_or(target)
    }

    fn count_request(&mut self) {
        let h = &self.head;
        // Both are ASCII, checked by the parser.
        let method = std::str::from_utf8(&h.buf[h.method.clone()]).unwrap_or("");
        let target = std::str::from_utf8(&h.buf[h.target.clone()]).unwrap_or("");
        self.inner
            .count_request(self.shard, method, target, self.path());
        self.counted_in_flight = true;
    }

    /// Handles the request that was just read. `Ok(true)`: keep the connection for another.
    fn handle(&mut self) -> io::Result<bool> {
        self.extra.clear();
        let control = routes::is_control(self.path());
        let settle = if control {
            Settle::Proceed
        } else {
            self.inner.settle(None)
        };
        let h = &self.head;
        let head_only = &h.buf[h.method.clone()] == b"HEAD";
        let keep_alive = if h.http10 {
            h.conn_keep_alive && !h.conn_close
        } else {
            !h.conn_close
        };
        let action = match settle {
            Settle::Close => return Ok(false),
            Settle::Unavailable => Action::Reply(Reply::code(503)),
            Settle::Proceed => {
                let target = std::str::from_utf8(&h.buf[h.target.clone()]).unwrap_or("");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let req = Req {
                    method: std::str::from_utf8(&h.buf[h.method.clone()]).unwrap_or(""),
                    target,
                    path,
                    query,
                    head: &h.buf,
                    headers: &h.headers,
                    body: &self.body,
                };
                if control {
                    Action::Reply(routes::control(self.inner, &req, &mut self.extra))
                } else {
                    routes::route(self.inner, &req, &mut self.extra)
                }
            }
        };
        let reply = match action {
            Action::Reply(reply) => reply,
            Action::Close => return Ok(false),
            Action::Delay { until, status } => match self.inner.settle(Some(until)) {
                Settle::Proceed => Reply::ok_with(status),
                Settle::Unavailable => {
                    self.extra.clear();
                    Reply::code(503)
                }
                Settle::Close => return Ok(false),
            },
        };
        let keep_alive = keep_alive && !reply.close;
        self.write_reply(&reply, head_only, keep_alive)
    }

    /// Answers a malformed request and closes.
    fn answer_error(&mut self, status: u16) {
        self.extra.clear();
        let _ = self.write_reply(&Reply::code(status), false, false);
        self.close_now();
    }

    /// Writes the answer; `Ok(keep_alive)` after it went out. The request leaves `in_flight`
    /// (and, when closing, the connection leaves `open_connections`) just before the write.
    fn write_reply(
        &mut self,
        reply: &Reply,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<bool> {
        let status = reply.status;
        // 1xx, 204 and 304 cannot carry a body (RFC 9112 §6.3); a 1xx is taken by clients as
        // interim, so nothing sensible can follow it on this connection.
        let bodiless = status < 200 || status == 204 || status == 304;
        let keep_alive = keep_alive && status >= 200;
        let code_buf = three_digits(status);
        let body: &[u8] = match reply.body {
            Body::Static(b) => b,
            Body::Code => &code_buf,
            Body::Echo => &self.body,
            Body::Text(ref text) => text.as_bytes(),
            Body::Bytes(ref bytes) => bytes,
            Body::Repeat(_) => &[],
        };
        let body_len = match reply.body {
            Body::Repeat(n) => n,
            _ => body.len() as u64,
        };

        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(&three_digits(status));
        out.push(b' ');
        out.extend_from_slice(routes::reason(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.extra);
        if !bodiless {
            out.extend_from_slice(b"content-length: ");
            push_u64(out, body_len);
            out.extend_from_slice(b"\r\n");
        }
        if !keep_alive {
            out.extend_from_slice(b"connection: close\r\n");
        } else if self.head.http10 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");

        let send_body = !bodiless && !head_only;
        let mut rest: &[u8] = &[];
        let mut repeat = 0u64;
        if send_body {
            match reply.body {
                Body::Repeat(n) => {
                    let now = n.min(XS.len() as u64) as usize;
                    out.extend_from_slice(&XS[..now]);
                    repeat = n - now as u64;
                }
                _ if body.len() <= INLINE_BODY => out.extend_from_slice(body),
                _ => rest = body,
            }
        }

        // Inline rather than `end_request()`: `body`/`rest` still borrow `self.body`.
        if std::mem::take(&mut self.counted_in_flight) {
            self.inner.end_request();
        }
        if !keep_alive && std::mem::take(&mut self.counted_open) {
            self.inner.end_connection();
        }
        let mut w = self.stream;
        w.write_all(&self.out)?;
        if !rest.is_empty() {
            w.write_all(rest)?;
        }
        while repeat > 0 {
            let now = repeat.min(XS.len() as u64) as usize;
            w.write_all(&XS[..now])?;
            repeat -= now as u64;
        }
        if !keep_alive {
            // Half-close so the client reads our answer then EOF, even if it had pipelined more.
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        Ok(keep_alive)
    }

    /// Reads one request head. `Closed` on a clean EOF before it.
    fn read_head(&mut self) -> Result<(), ReadError> {
        self.head.clear();
        // RFC 9112 §2.2: ignore a few empty lines before the request line.
        let mut blank = 0;
        let line = loop {
            let start = self.head.buf.len();
            if read_line(&mut self.reader, &mut self.head.buf)? == 0 {
                return Err(ReadError::Closed);
            }
            let line = trim_eol(&self.head.buf, start)?;
            if !line.is_empty() {
                break line;
            }
            self.head.buf.truncate(start);
            blank += 1;
            if blank > 8 {
                return Err(ReadError::Bad(400));
            }
        };
        self.parse_request_line(line)?;
        loop {
            let start = self.head.buf.len();
            if read_line(&mut self.reader, &mut self.head.buf)? == 0 {
                return Err(ReadError::Closed);
            }
            let line = trim_eol(&self.head.buf, start)?;
            if line.is_empty() {
                return Ok(());
            }
            if self.head.headers.len() >= MAX_HEADERS {
                return Err(ReadError::Bad(431));
            }
            self.parse_header(line)?;
        }
    }

    fn parse_request_line(&mut self, line: Range<usize>) -> Result<(), ReadError> {
        let h = &mut self.head;
        let bytes = &h.buf[line.clone()];
        let mut parts = bytes.split(|&b| b == b' ');
        let (Some(m), Some(t), Some(v), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ReadError::Bad(400));
        };
        if m.is_empty() || !m.iter().all(|&b| is_tchar(b)) {
            return Err(ReadError::Bad(400));
        }
        if t.is_empty() || !t.iter().all(|&b| (0x21..0x7f).contains(&b)) {
            return Err(ReadError::Bad(400));
        }
        h.http10 = match v {
            b"HTTP/1.1" => false,
            b"HTTP/1.0" => true,
            _ if v.starts_with(b"HTTP/") => return Err(ReadError::Bad(505)),
            _ => return Err(ReadError::Bad(400)),
        };
        let m_start = line.start;
        h.method = m_start..m_start + m.len();
        let mut t_start = h.method.end + 1;
        let t_end = t_start + t.len();
        // Absolute form (`GET http://host/path`, RFC 9112 §3.2.2): route on its path.
        let t = &h.buf[t_start..t_end];
        if let Some(after) = t
            .strip_prefix(b"http://")
            .or_else(|| t.strip_prefix(b"https://"))
        {
            match after.iter().position(|&b| b == b'/' || b == b'?') {
                Some(i) if after[i] == b'/' => t_start = t_end - (after.len() - i),
                _ => return Err(ReadError::Bad(400)),
            }
        } else if t[0] != b'/' {
            // `*` (OPTIONS *) and authority form (CONNECT) are not served.
            return Err(ReadError::Bad(400));
        }
        h.target = t_start..t_end;
        Ok(())
    }

    fn parse_header(&mut self, line: Range<usize>) -> Result<(), ReadError> {
        let h = &mut self.head;
        let bytes = &h.buf[line.clone()];
        // Obsolete line folding (RFC 9112 §5.2) is rejected: a continuation starts with SP/HT.
        let colon = bytes
            .iter()
            .position(|&b| b == b':')
            .ok_or(ReadError::Bad(400))?;
        let name = &bytes[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(ReadError::Bad(400));
        }
        let mut v_start = colon + 1;
        let mut v_end = bytes.len();
        while v_start < v_end && matches!(bytes[v_start], b' ' | b'\t') {
            v_start += 1;
        }
        while v_end > v_start && matches!(bytes[v_end - 1], b' ' | b'\t') {
            v_end -= 1;
        }
        let value = &bytes[v_start..v_end];
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(ReadError::Bad(400));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_u64(value).ok_or(ReadError::Bad(400))?;
            if h.content_length.is_some_and(|prev| prev != n) {
                return Err(ReadError::Bad(400));
            }
            h.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only `chunked` as the final coding frames a request body (RFC 9112 §6.3).
            let last = value.rsplit(|&b| b == b',').next().unwrap_or(value);
            if !trim(last).eq_ignore_ascii_case(b"chunked") {
                return Err(ReadError::Bad(400));
            }
            h.chunked = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    h.conn_close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    h.conn_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect")
            && value.eq_ignore_ascii_case(b"100-continue")
        {
            h.expect_continue = true;
        }
        let base = line.start;
        h.headers
            .push((base..base + colon, base + v_start..base + v_end));
        Ok(())
    }

    fn read_body(&mut self) -> Result<(), ReadError> {
        self.body.clear();
        let h = &mut self.head;
        let has_body = h.chunked || h.content_length.is_some_and(|n| n > 0);
        if let Some(n) = h.content_length.filter(|_| !h.chunked) {
            if n > MAX_BODY {
                return Err(ReadError::Bad(413));
            }
        }
        if h.chunked && h.content_length.is_some() {
            // Both framings at once is how request smuggling starts (RFC 9112 §6.1): honour
            // chunked, but never trust this connection for another request.
            h.conn_close = true;
        }
        if has_body && h.expect_continue && !h.http10 {
            let mut w = self.stream;
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        if self.head.chunked {
            return self.read_chunked();
        }
        if let Some(n) = self.head.content_length {
            let got = (&mut self.reader).take(n).read_to_end(&mut self.body)?;
            if got as u64 != n {
                return Err(ReadError::Closed);
            }
        }
        Ok(())
    }

    fn read_chunked(&mut self) -> Result<(), ReadError> {
        let mut line = Vec::new();
        loop {
            line.clear();
            if read_line(&mut self.reader, &mut line)? == 0 {
                return Err(ReadError::Closed);
            }
            let end = trim_eol(&line, 0)?;
            let size_part = line[end]
                .split(|&b| b == b';')
                .next()
                .map(trim)
                .unwrap_or_default();
            let size = parse_hex(size_part).ok_or(ReadError::Bad(400))?;
            if size == 0 {
                break;
            }
            if self.body.len() as u64 + size > MAX_BODY {
                return Err(ReadError::Bad(413));
            }
            let got = (&mut self.reader).take(size).read_to_end(&mut self.body)?;
            if got as u64 != size {
                return Err(ReadError::Closed);
            }
            line.clear();
            if read_line(&mut self.reader, &mut line)? == 0 {
                return Err(ReadError::Closed);
            }
            if !trim_eol(&line, 0)?.is_empty() {
                return Err(ReadError::Bad(400));
            }
        }
        // Trailer fields, ignored, up to the empty line.
        let mut total = 0;
        loop {
            line.clear();
            let n = read_line(&mut self.reader, &mut line)?;
            if n == 0 {
                return Err(ReadError::Closed);
            }
            total += n;
            if total > MAX_HEAD {
                return Err(ReadError::Bad(431));
            }
            if trim_eol(&line, 0)?.is_empty() {
                return Ok(());
            }
        }
    }
}

/// Appends one line (up to and including `\n`) to `buf`; returns the bytes appended, 0 at EOF
/// before any byte. Errors past [`MAX_HEAD`] total in `buf`, or on EOF mid-line.
fn read_line(r: &mut BufReader<&TcpStream>, buf: &mut Vec<u8>) -> Result<usize, ReadError> {
    let start = buf.len();
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadError::Closed),
        };
        if avail.is_empty() {
            return if buf.len() == start {
                Ok(0)
            } else {
                Err(ReadError::Closed)
            };
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > MAX_HEAD {
            return Err(ReadError::Bad(431));
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        if done {
            return Ok(buf.len() - start);
        }
    }
}

/// The range of the line starting at `start` without its `\r\n` (or bare `\n`). A CR anywhere
/// else is malformed (RFC 9112 §2.2).
fn trim_eol(buf: &[u8], start: usize) -> Result<Range<usize>, ReadError> {
    let mut end = buf.len();
    if end > start && buf[end - 1] == b'\n' {
        end -= 1;
    }
    if end > start && buf[end - 1] == b'\r' {
        end -= 1;
    }
    if buf[start..end].contains(&b'\r') {
        return Err(ReadError::Bad(400));
    }
    Ok(start..end)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |i| i + 1);
    &b[start..end.max(start)]
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

fn parse_hex(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 15 {
        return None;
    }
    b.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some(n * 16 + u64::from(v))
    })
}

fn three_digits(n: u16) -> [u8; 3] {
    [
        b'0' + (n / 100 % 10) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_helpers() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"1234"), Some(1234));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"+1"), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
        assert_eq!(parse_hex(b"1aF"), Some(0x1af));
        assert_eq!(parse_hex(b"g"), None);
        assert_eq!(parse_hex(b"ffffffffffffffff"), None);
        let mut out = Vec::new();
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, b"0 18446744073709551615");
        assert_eq!(&three_digits(404), b"404");
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"   "), b"");
    }
}
