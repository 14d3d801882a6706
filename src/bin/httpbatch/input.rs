//! Reading the batch: URLs and JSON request specs from arguments, files and stdin.
//!
//! Every input line becomes one slot. A line that cannot become a request (malformed JSON, an
//! invalid URL, a header with CR/LF) is reported on stderr with where it came from, and its slot
//! carries the error, so the rest of the batch still runs and the output keeps one line per input.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use httpbatch::{Error, ErrorKind, Method, Request};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::glob::Glob;

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
    /// Expand URL patterns (not `-g`).
    pub glob: bool,
}

/// What the output needs to know about a slot besides its outcome.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The input's position (0-based, counting every request read, globs expanded).
    pub index: usize,
    /// The URL as given (absent when a JSON line could not be read).
    pub url: Option<String>,
    /// The method name as given or defaulted (a known method's name is not copied).
    pub method: Option<Cow<'static, str>>,
    /// The caller's tag from a JSON line.
    pub tag: Option<Value>,
    /// A JSON line's own fields (those httpbatch does not use), echoed on its output line.
    pub fields: Option<Map<String, Value>>,
    /// Where the input came from: `line 3`, `urls.txt line 3`, `argument 2`.
    pub origin: Origin,
}

/// Where an input came from, written out (`urls.txt line 3`) only when shown: most inputs
/// never are, so a line costs a number and a shared name, not a formatted string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origin {
    /// Not known (shown as nothing).
    #[default]
    Unknown,
    /// Said in words: `argument 2`, `entry 7`.
    Text(String),
    /// Line `.1` of the file named `.0`, or of stdin.
    Line(Option<Arc<str>>, usize),
    /// URL `.1` of the `.2` a pattern at `.0` expands to.
    Glob(Box<Origin>, u64, u64),
}

impl Origin {
    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        match self {
            Origin::Unknown => true,
            Origin::Text(t) => t.is_empty(),
            Origin::Line(..) | Origin::Glob(..) => false,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Unknown => Ok(()),
            Origin::Text(t) => f.write_str(t),
            Origin::Line(Some(name), n) => write!(f, "{name} line {n}"),
            Origin::Line(None, n) => write!(f, "line {n}"),
            Origin::Glob(at, k, total) => write!(f, "{at} (URL {k} of {total})"),
        }
    }
}

impl From<String> for Origin {
    fn from(text: String) -> Self {
        Origin::Text(text)
    }
}

impl From<&str> for Origin {
    fn from(text: &str) -> Self {
        Origin::Text(text.to_owned())
    }
}

/// One input: its metadata and the request, or why there is none.
#[derive(Debug)]
pub struct Item {
    /// Metadata for the output line.
    pub meta: Meta,
    /// The request, or the error that ends up in the slot.
    pub request: Result<Request, Error>,
}

/// A JSON request spec, one per line. Fields of the user's own are kept and echoed.
#[derive(Debug, Deserialize)]
struct Spec {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A string is sent as it is; any other JSON value is sent as JSON.
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    body_base64: Option<String>,
    /// A number or a string, echoed as given (a number also becomes the request's tag).
    #[serde(default)]
    tag: Option<Value>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// What one input line becomes.
#[derive(Debug)]
pub enum Parsed {
    /// A blank line or a comment.
    Skip,
    /// One request (or the error in its slot), boxed: a line is parsed once, so the box costs
    /// little, and the enum stays small.
    One(Box<Item>),
    /// A URL pattern: one request per URL it expands to (see [`Parser::url_item`]).
    Glob(Glob),
}

/// Turns input lines into [`Item`]s. A bad line is reported on stderr with where it came from.
#[derive(Debug)]
pub struct Parser<'a> {
    defaults: &'a Defaults,
}

impl<'a> Parser<'a> {
    /// A parser applying `defaults`.
    pub fn new(defaults: &'a Defaults) -> Self {
        Parser { defaults }
    }

    /// Parses one line (`origin` says where it came from: `line 3`, `argument 2`).
    pub fn line(&self, origin: Origin, raw: &str) -> Parsed {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            return Parsed::Skip;
        }
        if self.defaults.jsonl || text.starts_with('{') {
            let (meta, request) = self.parse_json(text);
            return Parsed::One(Box::new(self.item(origin, meta, request)));
        }
        if self.defaults.glob {
            match Glob::parse(text) {
                Ok(g) if g.is_pattern() => return Parsed::Glob(g),
                Ok(_) => {}
                Err(e) => {
                    let error = Error::new(ErrorKind::InvalidUrl, format!("{e}: {text:?}"));
                    let meta = Meta {
                        url: Some(text.to_owned()),
                        ..Meta::default()
                    };
                    return Parsed::One(Box::new(self.item(origin, meta, Err(error))));
                }
            }
        }
        Parsed::One(Box::new(self.url_item(origin, text)))
    }

    /// A URL's item (a URL from a line or from a pattern's expansion).
    pub fn url_item(&self, origin: Origin, url: &str) -> Item {
        let (meta, request) = self.parse_url(url);
        self.item(origin, meta, request)
    }

    /// The item of a line that is not UTF-8.
    pub fn not_utf8(&self, origin: Origin) -> Item {
        let error = Error::new(ErrorKind::InvalidRequest, "line is not valid UTF-8");
        self.item(origin, Meta::default(), Err(error))
    }

    fn item(&self, origin: Origin, meta: Meta, request: Result<Request, Error>) -> Item {
        if let Err(error) = &request {
            eprintln!("httpbatch: {origin}: {error} (its slot reports the error)");
        }
        Item {
            meta: Meta { origin, ..meta },
            request,
        }
    }

    fn parse_url(&self, url: &str) -> (Meta, Result<Request, Error>) {
        let d = self.defaults;
        let url = with_scheme(url);
        let body = d.body.clone().unwrap_or_default();
        let method = d.method.unwrap_or(default_method(!body.is_empty()));
        let mut b = Request::builder(method, &url).body(body);
        for (n, v) in &d.headers {
            b = b.header(n, v);
        }
        let meta = Meta {
            url: Some(url),
            method: Some(Cow::Borrowed(method.as_str())),
            ..Meta::default()
        };
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
        let bad = |why: String| {
            (
                Meta::default(),
                Err(Error::new(ErrorKind::InvalidRequest, why)),
            )
        };
        if spec
            .tag
            .as_ref()
            .is_some_and(|t| !(t.is_u64() || t.is_string()))
        {
            return bad("\"tag\" must be a string or a whole number of 0 or more".into());
        }
        let mut json_body = false;
        let body = match (spec.body, spec.body_base64) {
            (Some(_), Some(_)) => return bad("give \"body\" or \"body_base64\", not both".into()),
            (Some(Value::String(text)), None) => text.into_bytes(),
            (Some(value), None) => {
                json_body = true;
                value.to_string().into_bytes()
            }
            (None, Some(b64)) => match base64_decode(&b64) {
                Some(bytes) => bytes,
                None => return bad("\"body_base64\" is not valid base64".into()),
            },
            (None, None) => d.body.clone().unwrap_or_default(),
        };
        let method = match spec.method.as_deref() {
            Some(m) => Method::parse(m),
            None => Ok(d.method.unwrap_or(default_method(!body.is_empty()))),
        };
        let meta = Meta {
            url: Some(spec.url.clone()),
            method: Some(match &method {
                Ok(m) => Cow::Borrowed(m.as_str()),
                Err(_) => Cow::Owned(spec.method.clone().unwrap_or_default()),
            }),
            tag: spec.tag.clone(),
            fields: Some(spec.fields).filter(|f| !f.is_empty()),
            ..Meta::default()
        };
        let method = match method {
            Ok(m) => m,
            Err(e) => return (meta, Err(e)),
        };
        let url = with_scheme(&spec.url);
        let meta = Meta {
            url: Some(url.clone()),
            ..meta
        };
        let mut b = Request::builder(method, &url).body(body);
        // A line's own header replaces a -H header of the same name.
        for (n, v) in &d.headers {
            if !spec.headers.keys().any(|k| k.eq_ignore_ascii_case(n)) {
                b = b.header(n, v);
            }
        }
        for (n, v) in &spec.headers {
            b = b.header(n, v);
        }
        let has = |name: &str| {
            let mut names = spec.headers.keys().chain(d.headers.iter().map(|(n, _)| n));
            names.any(|n| n.eq_ignore_ascii_case(name))
        };
        if json_body && !has("content-type") {
            b = b.header("content-type", "application/json");
        }
        if let Some(tag) = spec.tag.as_ref().and_then(Value::as_u64) {
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

/// `host/path` becomes `http://host/path`, as curl does: a URL without `://` gets `http://`.
pub fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// Decodes standard base64 (RFC 4648 §4; padding optional, whitespace not allowed).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=').as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= digit(*c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

fn default_method(has_body: bool) -> Method {
    if has_body { Method::Post } else { Method::Get }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    fn read(defaults: &Defaults, text: &str) -> Vec<Item> {
        let p = Parser::new(defaults);
        let mut items = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            match p.line(Origin::Line(None, i + 1), line) {
                Parsed::Skip => {}
                Parsed::One(item) => items.push(*item),
                Parsed::Glob(g) => {
                    items.extend(g.map(|u| p.url_item(Origin::Line(None, i + 1), &u)))
                }
            }
        }
        items
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
        assert_eq!(items[0].meta.origin.to_string(), "line 1");
        let b = items[1].request.as_ref().unwrap();
        assert_eq!(items[1].meta.origin.to_string(), "line 4");
        assert_eq!(b.method(), Method::Put);
        assert_eq!(b.body(), b"hi");
        assert_eq!((b.tag(), b.priority()), (7, 2));
        assert_eq!(b.timeout(), Some(Duration::from_millis(500)));
        let headers: Vec<_> = b.headers().collect();
        assert_eq!(headers, [("x-all", "1"), ("X-Over", "b")]);
        assert_eq!(items[1].meta.tag, Some(7.into()));
    }

    #[test]
    fn bad_lines_keep_their_slots() {
        let items = read(
            &Defaults::default(),
            "http://127.0.0.1/ok\n{not json\nftp://x/\n\
             {\"url\":\"http://127.0.0.1/\",\"headers\":{\"x\":\"a\\r\\nb\"}}\n\
             {\"url\":\"http://127.0.0.1/\",\"tag\":-1}\n\
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
        assert_eq!(items[2].meta.origin.to_string(), "line 3");
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
    fn json_bodies_base64_bodies_string_tags_and_own_fields() {
        let items = read(
            &Defaults::default(),
            "{\"url\":\"h/a\",\"body\":{\"k\":[1,2]},\"tag\":\"job-1\",\"id\":\"x\"}\n\
             {\"url\":\"h/b\",\"body_base64\":\"aGk=\",\"headers\":{\"Content-Type\":\"a/b\"}}\n\
             {\"url\":\"h/c\",\"body\":\"x\",\"body_base64\":\"eA==\"}\n",
        );
        let a = items[0].request.as_ref().unwrap();
        assert_eq!(a.body(), br#"{"k":[1,2]}"#);
        assert_eq!(a.method(), Method::Post);
        assert!(
            a.headers()
                .any(|h| h == ("content-type", "application/json"))
        );
        assert_eq!(items[0].meta.tag, Some("job-1".into()));
        assert_eq!(items[0].meta.fields.as_ref().unwrap()["id"], "x");
        let b = items[1].request.as_ref().unwrap();
        assert_eq!(b.body(), b"hi");
        assert_eq!(b.headers().count(), 1);
        assert!(items[1].meta.fields.is_none());
        assert!(items[2].request.is_err());
        for (plain, _) in [("", ""), ("f", ""), ("fo", ""), ("foo", ""), ("foob", "")] {
            let enc = crate::output::base64(plain.as_bytes());
            assert_eq!(base64_decode(&enc).unwrap(), plain.as_bytes());
        }
        assert!(base64_decode("a").is_none() && base64_decode("a*==").is_none());
    }

    #[test]
    fn schemeless_urls_get_http_and_patterns_expand_unless_off() {
        let d = Defaults {
            glob: true,
            ..Defaults::default()
        };
        let items = read(
            &d,
            "127.0.0.1:8/a\n127.0.0.1/[1-2]\n{\"url\":\"127.0.0.1/[1-2]\"}\n",
        );
        let urls: Vec<_> = items.iter().map(|i| i.meta.url.clone().unwrap()).collect();
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:8/a",
                "http://127.0.0.1/1",
                "http://127.0.0.1/2",
                "http://127.0.0.1/[1-2]"
            ]
        );
        assert_eq!(
            items[0].request.as_ref().unwrap().url().origin(),
            "http://127.0.0.1:8"
        );
        let off = read(&Defaults::default(), "127.0.0.1/[1-2]\n");
        assert_eq!(off.len(), 1);
        let bad = read(&d, "h/[1-100000][1-1000]\n");
        assert_eq!(
            bad[0].request.as_ref().unwrap_err().kind(),
            ErrorKind::InvalidUrl
        );
    }
}
