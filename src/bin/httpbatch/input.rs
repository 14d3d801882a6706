//! Reading the batch: URLs and JSON request specs from arguments, files and stdin.
//!
//! Every input line becomes one slot. A line that cannot become a request (malformed JSON, an
//! invalid URL, a header with CR/LF) is reported on stderr with where it came from, and its slot
//! carries the error, so the rest of the batch still runs and the output keeps one line per input.

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::path::Path;
use std::time::Duration;

use httpbatch::{Error, ErrorKind, Method, Request};
use serde::Deserialize;

/// Request settings that apply to every input unless the input sets its own.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// `-X`.
    pub method: Option<Method>,
    /// `-H`, in order.
    pub headers: Vec<(String, String)>,
    /// `-d`.
    pub body: Option<Vec<u8>>,
    /// `--jsonl`: every line is JSON.
    pub jsonl: bool,
}

/// What the output needs to know about a slot besides its outcome.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The URL as given (absent when a JSON line could not be read).
    pub url: Option<String>,
    /// The method name as given or defaulted.
    pub method: Option<String>,
    /// The caller's tag from a JSON line.
    pub tag: Option<u64>,
    /// Where the input came from: `line 3`, `urls.txt line 3`, `argument 2`.
    pub origin: String,
}

/// One input: its metadata and the request, or why there is none.
#[derive(Debug)]
pub struct Item {
    /// Metadata for the output line.
    pub meta: Meta,
    /// The request, or the error that ends up in the slot.
    pub request: Result<Request, Error>,
}

/// A JSON request spec, one per line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    tag: Option<u64>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// Collects inputs and turns each into an [`Item`].
#[derive(Debug)]
pub struct Reader<'a> {
    defaults: &'a Defaults,
    items: Vec<Item>,
}

impl<'a> Reader<'a> {
    /// An empty batch with `defaults`.
    pub fn new(defaults: &'a Defaults) -> Self {
        Reader {
            defaults,
            items: Vec::new(),
        }
    }

    /// Adds a URL given as command-line argument number `position` (1-based).
    pub fn add_argument(&mut self, position: usize, text: &str) {
        self.add_line(format!("argument {position}"), text);
    }

    /// Adds every line of `reader`; `name` (a file name, or `None` for stdin) labels errors.
    /// Fails only if reading fails; bad lines become error slots.
    pub fn add_lines(&mut self, name: Option<&Path>, reader: impl BufRead) -> io::Result<()> {
        for (i, line) in reader.split(b'\n').enumerate() {
            let line = line?;
            let origin = match name {
                Some(path) => format!("{} line {}", path.display(), i + 1),
                None => format!("line {}", i + 1),
            };
            match String::from_utf8(line) {
                Ok(text) => self.add_line(origin, &text),
                Err(_) => self.push_bad(
                    origin,
                    Meta::default(),
                    Error::new(ErrorKind::InvalidRequest, "line is not valid UTF-8"),
                ),
            }
        }
        Ok(())
    }

    /// The items, in input order.
    pub fn into_items(self) -> Vec<Item> {
        self.items
    }

    fn add_line(&mut self, origin: String, raw: &str) {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            return;
        }
        let (meta, request) = if self.defaults.jsonl || text.starts_with('{') {
            self.parse_json(text)
        } else {
            self.parse_url(text)
        };
        match request {
            Ok(request) => self.items.push(Item {
                meta: Meta { origin, ..meta },
                request: Ok(request),
            }),
            Err(e) => self.push_bad(origin, meta, e),
        }
    }

    fn push_bad(&mut self, origin: String, meta: Meta, error: Error) {
        eprintln!("httpbatch: {origin}: {error} (skipped; its slot reports the error)");
        self.items.push(Item {
            meta: Meta { origin, ..meta },
            request: Err(error),
        });
    }

    fn parse_url(&self, url: &str) -> (Meta, Result<Request, Error>) {
        let d = self.defaults;
        let body = d.body.clone().unwrap_or_default();
        let method = d.method.unwrap_or(default_method(!body.is_empty()));
        let meta = Meta {
            url: Some(url.to_owned()),
            method: Some(method.as_str().to_owned()),
            ..Meta::default()
        };
        let mut b = Request::builder(method, url).body(body);
        for (n, v) in &d.headers {
            b = b.header(n, v);
        }
        (meta, b.build())
    }

    fn parse_json(&self, text: &str) -> (Meta, Result<Request, Error>) {
        let spec: Spec = match serde_json::from_str(text) {
            Ok(s) => s,
            Err(e) => {
                let err = Error::new(ErrorKind::InvalidRequest, format!("bad JSON line: {e}"));
                return (Meta::default(), Err(err));
            }
        };
        let d = self.defaults;
        let body = match spec.body {
            Some(b) => b.into_bytes(),
            None => d.body.clone().unwrap_or_default(),
        };
        let method = match spec.method.as_deref() {
            Some(m) => Method::parse(m),
            None => Ok(d.method.unwrap_or(default_method(!body.is_empty()))),
        };
        let meta = Meta {
            url: Some(spec.url.clone()),
            method: Some(match &method {
                Ok(m) => m.as_str().to_owned(),
                Err(_) => spec.method.clone().unwrap_or_default(),
            }),
            tag: spec.tag,
            origin: String::new(),
        };
        let method = match method {
            Ok(m) => m,
            Err(e) => return (meta, Err(e)),
        };
        let mut b = Request::builder(method, &spec.url).body(body);
        // A line's own header replaces a -H header of the same name.
        for (n, v) in &d.headers {
            if !spec.headers.keys().any(|k| k.eq_ignore_ascii_case(n)) {
                b = b.header(n, v);
            }
        }
        for (n, v) in &spec.headers {
            b = b.header(n, v);
        }
        if let Some(tag) = spec.tag {
            b = b.tag(tag);
        }
        if let Some(p) = spec.priority {
            b = b.priority(p);
        }
        if let Some(ms) = spec.timeout_ms {
            b = b.timeout(Duration::from_millis(ms));
        }
        (meta, b.build())
    }
}

fn default_method(has_body: bool) -> Method {
    if has_body { Method::Post } else { Method::Get }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(defaults: &Defaults, text: &str) -> Vec<Item> {
        let mut r = Reader::new(defaults);
        r.add_lines(None, text.as_bytes()).unwrap();
        r.into_items()
    }

    #[test]
    fn urls_and_json_lines_mixed() {
        let d = Defaults {
            headers: vec![("x-all".into(), "1".into()), ("x-over".into(), "a".into())],
            ..Defaults::default()
        };
        let items = read(
            &d,
            "http://127.0.0.1/a\n\n# comment\r\n\
             {\"url\":\"http://127.0.0.1/b\",\"method\":\"put\",\"headers\":{\"X-Over\":\"b\"},\
             \"body\":\"hi\",\"tag\":7,\"priority\":2,\"timeout_ms\":500}\n",
        );
        assert_eq!(items.len(), 2);
        let a = items[0].request.as_ref().unwrap();
        assert_eq!(a.method(), Method::Get);
        assert_eq!(a.headers().count(), 2);
        assert_eq!(items[0].meta.origin, "line 1");
        let b = items[1].request.as_ref().unwrap();
        assert_eq!(items[1].meta.origin, "line 4");
        assert_eq!(b.method(), Method::Put);
        assert_eq!(b.body(), b"hi");
        assert_eq!((b.tag(), b.priority()), (7, 2));
        assert_eq!(b.timeout(), Some(Duration::from_millis(500)));
        let headers: Vec<_> = b.headers().collect();
        assert_eq!(headers, [("x-all", "1"), ("X-Over", "b")]);
        assert_eq!(items[1].meta.tag, Some(7));
    }

    #[test]
    fn bad_lines_keep_their_slots() {
        let items = read(
            &Defaults::default(),
            "http://127.0.0.1/ok\n{not json\nftp://x/\n\
             {\"url\":\"http://127.0.0.1/\",\"headers\":{\"x\":\"a\\r\\nb\"}}\n\
             {\"url\":\"http://127.0.0.1/\",\"bogus\":1}\n\
             {\"url\":\"http://127.0.0.1/\",\"method\":\"BREW\"}\n",
        );
        assert_eq!(items.len(), 6);
        assert!(items[0].request.is_ok());
        let kinds: Vec<_> = items[1..]
            .iter()
            .map(|i| i.request.as_ref().unwrap_err().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                ErrorKind::InvalidRequest,
                ErrorKind::InvalidUrl,
                ErrorKind::InvalidHeader,
                ErrorKind::InvalidRequest,
                ErrorKind::InvalidRequest,
            ]
        );
        assert_eq!(items[2].meta.origin, "line 3");
        assert_eq!(items[5].meta.method.as_deref(), Some("BREW"));
    }

    #[test]
    fn jsonl_mode_rejects_plain_urls_and_data_implies_post() {
        let d = Defaults {
            jsonl: true,
            body: Some(b"x".to_vec()),
            ..Defaults::default()
        };
        let items = read(&d, "http://127.0.0.1/\n{\"url\":\"http://127.0.0.1/\"}\n");
        assert!(items[0].request.is_err());
        assert_eq!(items[1].request.as_ref().unwrap().method(), Method::Post);
    }

    #[test]
    fn invalid_utf8_is_a_bad_line() {
        let defaults = Defaults::default();
        let mut r = Reader::new(&defaults);
        r.add_lines(None, &b"http://127.0.0.1/\n\xff\xfe\n"[..])
            .unwrap();
        let items = r.into_items();
        assert_eq!(items.len(), 2);
        assert!(items[1].request.is_err());
        assert_eq!(items[1].meta.origin, "line 2");
    }
}
