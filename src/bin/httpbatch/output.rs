//! The JSON line of each outcome, body rendering, and the writer that keeps input order.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::path::Path;

use httpbatch::{Outcome, Response};
use serde::Serialize;

use crate::args::{BodyMode, Order};
use crate::input::Meta;
#[cfg(test)]
use crate::input::Origin;
use crate::units::millis;

/// Renders one outcome as a JSON line (without the newline), writing the body to a file first
/// with `--body file:DIR`; `headers` adds the response headers.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub fn render(meta: &Meta, outcome: &Outcome, body: &BodyMode, headers: bool) -> String {
    let mut buf = Vec::new();
    render_into(&mut buf, meta, outcome, body, headers);
    String::from_utf8(buf).expect("the line is built from strings and JSON")
}

/// Appends the JSON line of `outcome` (without the newline) to `buf`: the keys in a fixed
/// order, every one always present (null when it does not apply) except `tag` and `fields`
/// (present when the input set them), `input` (for an error from a known input), `headers`
/// (with `--include`) and the body keys (following `--body`). Written directly rather than
/// through a derived serializer: the keys are constants, and only strings that need escaping
/// and numbers go through `serde_json`, so the bytes are the same.
pub fn render_into(
    buf: &mut Vec<u8>,
    meta: &Meta,
    outcome: &Outcome,
    body: &BodyMode,
    headers: bool,
) {
    let index = meta.index;
    buf.extend_from_slice(b"{\"index\":");
    uint(buf, index as u64);
    buf.extend_from_slice(b",\"url\":");
    opt_str(buf, meta.url.as_deref());
    buf.extend_from_slice(b",\"method\":");
    opt_str(buf, meta.method.as_deref());
    if let Some(tag) = &meta.tag {
        buf.extend_from_slice(b",\"tag\":");
        json(buf, tag);
    }
    if let Some(fields) = &meta.fields {
        buf.extend_from_slice(b",\"fields\":");
        json(buf, fields);
    }
    buf.extend_from_slice(b",\"outcome\":");
    str(buf, outcome.kind_str());
    buf.extend_from_slice(b",\"status\":");
    match outcome.status() {
        Some(s) => uint(buf, u64::from(s)),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"error\":");
    match outcome {
        Outcome::Error(e) => {
            buf.extend_from_slice(b"{\"kind\":");
            str(buf, e.kind().as_str());
            buf.extend_from_slice(b",\"message\":");
            str(buf, e.message());
            buf.push(b'}');
            if !meta.origin.is_empty() {
                buf.extend_from_slice(b",\"input\":");
                str(buf, &meta.origin.to_string());
            }
            buf.extend_from_slice(b",\"attempts\":");
            uint(buf, u64::from(e.attempts()));
        }
        Outcome::Response(r) => {
            buf.extend_from_slice(b"null,\"attempts\":");
            uint(buf, u64::from(r.attempts()));
        }
        Outcome::Cancelled | Outcome::NotRun => buf.extend_from_slice(b"null,\"attempts\":null"),
    }
    let Outcome::Response(r) = outcome else {
        buf.extend_from_slice(b",\"timings\":null,\"bytes\":null}");
        return;
    };
    let t = r.timings();
    for (key, d) in [
        (&b",\"timings\":{\"queued_ms\":"[..], t.queued),
        (b",\"waited_ms\":", t.waited),
        (b",\"wire_ms\":", t.wire),
        (b",\"total_ms\":", t.total),
    ] {
        buf.extend_from_slice(key);
        json(buf, &millis(d));
    }
    buf.extend_from_slice(b"},\"bytes\":");
    uint(buf, r.body().len() as u64);
    if headers {
        buf.extend_from_slice(b",\"headers\":");
        json(buf, &header_map(r));
    }
    match body {
        BodyMode::None => {}
        BodyMode::Text => {
            buf.extend_from_slice(b",\"body\":");
            str(buf, &r.text());
        }
        BodyMode::Base64 => {
            buf.extend_from_slice(b",\"body\":");
            str(buf, &base64(r.body()));
        }
        BodyMode::File(dir) => match write_body(dir, index, r.body()) {
            Ok(path) => {
                buf.extend_from_slice(b",\"body_file\":");
                str(buf, &path);
            }
            Err(e) => {
                buf.extend_from_slice(b",\"body_error\":");
                str(buf, &e.to_string());
            }
        },
    }
    buf.push(b'}');
}

/// Any serializable value, as `serde_json` writes it.
fn json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(&mut *buf, value).expect("serialising plain data to memory cannot fail");
}

/// A JSON string: written as it is when nothing in it needs an escape (`serde_json` escapes
/// only `"`, `\` and control characters), else through `serde_json`.
fn str(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        json(buf, s);
    } else {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    }
}

fn opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

/// A whole number in decimal.
fn uint(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

fn header_map(r: &Response) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in r.headers() {
        map.entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    map
}

fn write_body(dir: &Path, index: usize, body: &[u8]) -> io::Result<String> {
    let path = dir.join(format!("{index}.body"));
    std::fs::write(&path, body)?;
    Ok(path.display().to_string())
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes lines to stdout in input order (holding back lines whose predecessors are not done)
/// or as they come. After a write error (stdout closed) it drops everything and reports it.
#[derive(Debug)]
pub struct Sink<W: Write> {
    out: W,
    order: Order,
    next: usize,
    /// In input order, the lines held back: slot `i` is index `next + i`.
    pending: VecDeque<Option<Vec<u8>>>,
    /// Buffers of lines written after being held, for the next lines held.
    spare: Vec<Vec<u8>>,
    error: Option<io::Error>,
}

/// Spare line buffers a [`Sink`] keeps at most.
const SPARE: usize = 64;

impl<W: Write> Sink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W, order: Order) -> Self {
        Sink {
            out,
            order,
            next: 0,
            pending: VecDeque::new(),
            spare: Vec::new(),
            error: None,
        }
    }

    /// Takes the line of slot `index` (without its newline) and flushes what can go out;
    /// returns `false` once writing has failed. A line that cannot go out yet is copied.
    pub fn push(&mut self, index: usize, line: &[u8]) -> bool {
        match self.order {
            Order::Completed => self.write(line),
            Order::Input => match index.checked_sub(self.next) {
                // Each slot comes once; one that came again could only be printed.
                None => self.write(line),
                Some(0) => {
                    self.write(line);
                    self.pending.pop_front();
                    self.next += 1;
                    while let Some(Some(_)) = self.pending.front() {
                        let held = self.pending.pop_front().flatten().unwrap_or_default();
                        self.write(&held);
                        self.next += 1;
                        if self.spare.len() < SPARE {
                            self.spare.push(held);
                        }
                    }
                }
                Some(ahead) => {
                    if self.pending.len() <= ahead {
                        self.pending.resize(ahead + 1, None);
                    }
                    let mut held = self.spare.pop().unwrap_or_default();
                    held.clear();
                    held.extend_from_slice(line);
                    self.pending[ahead] = Some(held);
                }
            },
        }
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
        self.error.is_none()
    }

    /// Flushes; returns the first write error, if any.
    pub fn finish(mut self) -> io::Result<()> {
        // In input order, every slot arrives, so nothing is left pending; if something were,
        // it is still better printed than lost.
        for line in std::mem::take(&mut self.pending).into_iter().flatten() {
            self.write(&line);
        }
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
        self.error.map_or(Ok(()), Err)
    }

    fn write(&mut self, line: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let written = self
            .out
            .write_all(line)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use httpbatch::{Error, ErrorKind, Timings};

    /// The line as the derived serializer wrote it before `render_into` wrote it by hand: the
    /// two must agree byte for byte.
    mod derived {
        use super::super::*;
        use httpbatch::Timings;

        #[derive(Serialize)]
        struct ErrorJson<'a> {
            kind: &'static str,
            message: &'a str,
        }

        #[derive(Serialize)]
        struct TimingsJson {
            queued_ms: f64,
            waited_ms: f64,
            wire_ms: f64,
            total_ms: f64,
        }

        impl From<Timings> for TimingsJson {
            fn from(t: Timings) -> Self {
                TimingsJson {
                    queued_ms: millis(t.queued),
                    waited_ms: millis(t.waited),
                    wire_ms: millis(t.wire),
                    total_ms: millis(t.total),
                }
            }
        }

        #[derive(Serialize)]
        struct Line<'a> {
            index: usize,
            url: Option<&'a str>,
            method: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tag: Option<&'a serde_json::Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            fields: Option<&'a serde_json::Map<String, serde_json::Value>>,
            outcome: &'static str,
            status: Option<u16>,
            error: Option<ErrorJson<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            input: Option<&'a str>,
            attempts: Option<u32>,
            timings: Option<TimingsJson>,
            bytes: Option<usize>,
            #[serde(skip_serializing_if = "Option::is_none")]
            headers: Option<BTreeMap<String, String>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            body: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            body_file: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            body_error: Option<String>,
        }

        pub fn render(meta: &Meta, outcome: &Outcome, body: &BodyMode, headers: bool) -> String {
            let index = meta.index;
            let origin = meta.origin.to_string();
            let mut line = Line {
                index,
                url: meta.url.as_deref(),
                method: meta.method.as_deref(),
                tag: meta.tag.as_ref(),
                fields: meta.fields.as_ref(),
                outcome: outcome.kind_str(),
                status: outcome.status(),
                error: None,
                input: None,
                attempts: None,
                timings: None,
                bytes: None,
                headers: None,
                body: None,
                body_file: None,
                body_error: None,
            };
            match outcome {
                Outcome::Response(r) => {
                    line.attempts = Some(r.attempts());
                    line.timings = Some(r.timings().into());
                    line.bytes = Some(r.body().len());
                    if headers {
                        line.headers = Some(header_map(r));
                    }
                    match body {
                        BodyMode::None => {}
                        BodyMode::Text => line.body = Some(r.text().into_owned()),
                        BodyMode::Base64 => line.body = Some(base64(r.body())),
                        BodyMode::File(dir) => match write_body(dir, index, r.body()) {
                            Ok(path) => line.body_file = Some(path),
                            Err(e) => line.body_error = Some(e.to_string()),
                        },
                    }
                }
                Outcome::Error(e) => {
                    line.attempts = Some(e.attempts());
                    line.input = Some(origin.as_str()).filter(|o| !o.is_empty());
                    line.error = Some(ErrorJson {
                        kind: e.kind().as_str(),
                        message: e.message(),
                    });
                }
                Outcome::Cancelled | Outcome::NotRun => {}
            }
            serde_json::to_string(&line).unwrap()
        }
    }

    #[test]
    fn lines_are_the_bytes_the_derived_serializer_wrote() {
        use std::time::Duration;
        let dir = std::env::temp_dir().join(format!("httpbatch-render-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut fields = serde_json::Map::new();
        fields.insert("id".into(), "a\"b".into());
        fields.insert("n".into(), 1.5.into());
        let metas = [
            Meta::default(),
            Meta {
                index: 12_345_678_901,
                url: Some("http://h/x?q=\"1\"&t=\\\u{1}é\u{7f}".into()),
                method: Some("GET".into()),
                tag: Some("t\n".into()),
                fields: Some(fields),
                origin: Origin::Glob(Box::new(Origin::Line(Some("f.txt".into()), 3)), 1, 2),
            },
            Meta {
                index: 7,
                url: Some("http://127.0.0.1:1/bytes/64".into()),
                method: Some("POST".into()),
                tag: Some(9.into()),
                fields: None,
                origin: Origin::Unknown,
            },
        ];
        let mut ok = Response::new(200, b"hi \"there\"\n\xff".to_vec())
            .with_header("X-A", "1")
            .with_header("x-a", "2\"")
            .with_header("Content-Type", "text/plain");
        *ok.timings_mut() = Timings {
            queued: Duration::from_nanos(1_234_567),
            waited: Duration::ZERO,
            wire: Duration::from_micros(100),
            total: Duration::from_secs(86_400) + Duration::from_nanos(999),
        };
        let outcomes = [
            Outcome::Response(Box::new(ok)),
            Outcome::Response(Box::new(Response::new(404, Vec::new()))),
            Outcome::Error(Error::new(ErrorKind::Timeout, "slow \"x\"\t").with_attempts(3)),
            Outcome::Error(Error::new(ErrorKind::InvalidUrl, "bad")),
            Outcome::Cancelled,
            Outcome::NotRun,
        ];
        let bodies = [
            BodyMode::None,
            BodyMode::Text,
            BodyMode::Base64,
            BodyMode::File(dir.clone()),
            BodyMode::File(dir.join("missing")),
        ];
        for meta in &metas {
            for outcome in &outcomes {
                for body in &bodies {
                    for headers in [false, true] {
                        assert_eq!(
                            render(meta, outcome, body, headers),
                            derived::render(meta, outcome, body, headers),
                            "{meta:?} {outcome:?} {body:?} {headers}"
                        );
                    }
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn input_order_holds_back_later_lines() {
        let mut sink = Sink::new(Vec::new(), Order::Input);
        sink.push(2, b"c");
        sink.push(0, b"a");
        assert_eq!(sink.out, b"a\n");
        sink.push(1, b"b");
        assert_eq!(sink.out, b"a\nb\nc\n");
        for i in [6, 4, 3, 5] {
            sink.push(i, i.to_string().as_bytes());
        }
        assert_eq!(sink.out, b"a\nb\nc\n3\n4\n5\n6\n");
        let mut sink = Sink::new(Vec::new(), Order::Completed);
        sink.push(2, b"c");
        sink.push(0, b"a");
        assert_eq!(sink.out, b"c\na\n");
    }

    #[test]
    fn lines_carry_every_field() {
        let meta = Meta {
            index: 3,
            url: Some("http://h/x".into()),
            method: Some("GET".into()),
            tag: Some(9.into()),
            fields: None,
            origin: "line 1".into(),
        };
        let ok = Outcome::Response(Box::new(
            Response::new(200, b"hi".to_vec())
                .with_header("X-A", "1")
                .with_header("x-a", "2")
                .with_header("Content-Type", "text/plain"),
        ));
        let v: serde_json::Value =
            serde_json::from_str(&render(&meta, &ok, &BodyMode::Text, true)).unwrap();
        assert_eq!(v["headers"]["x-a"], "1, 2");
        assert_eq!(v["headers"]["content-type"], "text/plain");
        assert_eq!(v["index"], 3);
        assert_eq!(v["status"], 200);
        assert_eq!(v["outcome"], "response");
        assert_eq!(v["body"], "hi");
        assert_eq!(v["bytes"], 2);
        assert_eq!(v["tag"], 9);
        assert!(v["timings"]["total_ms"].is_number());
        let err = Outcome::Error(Error::new(ErrorKind::Timeout, "slow").with_attempts(3));
        let v: serde_json::Value =
            serde_json::from_str(&render(&meta, &err, &BodyMode::None, true)).unwrap();
        assert!(v.get("headers").is_none());
        assert_eq!(v["error"]["kind"], "timeout");
        assert_eq!(v["attempts"], 3);
        assert!(v["status"].is_null());
        let v: serde_json::Value = serde_json::from_str(&render(
            &Meta::default(),
            &Outcome::Cancelled,
            &BodyMode::None,
            false,
        ))
        .unwrap();
        assert_eq!(v["outcome"], "cancelled");
        assert!(v["url"].is_null());
    }
}
