//! The JSON line of each outcome, body rendering, and the writer that keeps input order.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use httpbatch::{Outcome, Response, Timings};
use serde::Serialize;

use crate::args::{BodyMode, Order};
use crate::input::Meta;
use crate::units::millis;

/// `{"kind": "timeout", "message": "..."}`.
#[derive(Debug, Serialize)]
struct ErrorJson<'a> {
    kind: &'static str,
    message: &'a str,
}

/// Timings in milliseconds.
#[derive(Debug, Serialize)]
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

/// One output line. Every key is always present (null when it does not apply) except the body
/// keys, which follow `--body`, and `tag`, present when the input set one.
#[derive(Debug, Serialize)]
struct Line<'a> {
    index: usize,
    url: Option<&'a str>,
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a serde_json::Value>,
    /// A JSON line's own fields, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a serde_json::Map<String, serde_json::Value>>,
    outcome: &'static str,
    status: Option<u16>,
    error: Option<ErrorJson<'a>>,
    /// Where an input that failed came from (`line 3`), to find it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<&'a str>,
    attempts: Option<u32>,
    timings: Option<TimingsJson>,
    bytes: Option<usize>,
    /// With `--include`: the response headers, names lowercased, repeated ones joined by ", ".
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_error: Option<String>,
}

/// Renders one outcome as a JSON line (without the newline), writing the body to a file first
/// with `--body file:DIR`; `headers` adds the response headers.
pub fn render(meta: &Meta, outcome: &Outcome, body: &BodyMode, headers: bool) -> String {
    let index = meta.index;
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
            render_body(index, r, body, &mut line);
        }
        Outcome::Error(e) => {
            line.attempts = Some(e.attempts());
            line.input = Some(&meta.origin)
                .filter(|o| !o.is_empty())
                .map(String::as_str);
            line.error = Some(ErrorJson {
                kind: e.kind().as_str(),
                message: e.message(),
            });
        }
        Outcome::Cancelled | Outcome::NotRun => {}
    }
    serde_json::to_string(&line).expect("serialising plain data to a string cannot fail")
}

fn header_map(r: &Response) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in r.headers() {
        map.entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    map
}

fn render_body(index: usize, r: &Response, mode: &BodyMode, line: &mut Line<'_>) {
    match mode {
        BodyMode::None => {}
        BodyMode::Text => line.body = Some(r.text().into_owned()),
        BodyMode::Base64 => line.body = Some(base64(r.body())),
        BodyMode::File(dir) => match write_body(dir, index, r.body()) {
            Ok(path) => line.body_file = Some(path),
            Err(e) => line.body_error = Some(e.to_string()),
        },
    }
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
    pending: BTreeMap<usize, String>,
    error: Option<io::Error>,
}

impl<W: Write> Sink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W, order: Order) -> Self {
        Sink {
            out,
            order,
            next: 0,
            pending: BTreeMap::new(),
            error: None,
        }
    }

    /// Takes the line of slot `index`; returns `false` once writing has failed.
    pub fn push(&mut self, index: usize, line: String) -> bool {
        match self.order {
            Order::Completed => self.write(&line),
            Order::Input => {
                self.pending.insert(index, line);
                while let Some(line) = self.pending.remove(&self.next) {
                    self.next += 1;
                    self.write(&line);
                }
            }
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
        for line in std::mem::take(&mut self.pending).into_values() {
            self.write(&line);
        }
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.error = Some(e);
            }
        }
        self.error.map_or(Ok(()), Err)
    }

    fn write(&mut self, line: &str) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = writeln!(self.out, "{line}") {
            self.error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use httpbatch::{Error, ErrorKind};

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
        sink.push(2, "c".into());
        sink.push(0, "a".into());
        assert_eq!(sink.out, b"a\n");
        sink.push(1, "b".into());
        assert_eq!(sink.out, b"a\nb\nc\n");
        let mut sink = Sink::new(Vec::new(), Order::Completed);
        sink.push(2, "c".into());
        sink.push(0, "a".into());
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
