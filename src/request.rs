//! Requests: validated when built, owned bytes, cheap to queue.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
    /// `OPTIONS`
    Options,
    /// `TRACE`
    Trace,
}

impl Method {
    /// The method's name as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
        }
    }

    /// Whether repeating the request has the same effect as sending it once (RFC 9110 §9.2.2):
    /// GET, HEAD, PUT, DELETE, OPTIONS and TRACE. Only these are retried by default.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post | Method::Patch)
    }

    /// Parses a method name (case-insensitive).
    pub fn parse(name: &str) -> Result<Method, Error> {
        Ok(match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!("unsupported method {name:?}"),
                ));
            }
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A validated absolute `http` or `https` URL.
///
/// Stored as its text plus the offsets of its host, so a queued request costs the URL's bytes and
/// a few words, not a parsed tree.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    text: Box<str>,
    host_start: u16,
    host_end: u16,
    port: u16,
    scheme: Scheme,
}

impl Url {
    /// Parses and validates an absolute `http://` or `https://` URL.
    ///
    /// ```
    /// use httpbatch::Url;
    /// let url = Url::parse("http://127.0.0.1:8080/a?b=1").unwrap();
    /// assert_eq!(url.host(), "127.0.0.1");
    /// assert_eq!(url.port(), 8080);
    /// assert_eq!(url.origin(), "http://127.0.0.1:8080");
    /// assert!(Url::parse("127.0.0.1/no-scheme").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Url, Error> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidUrl, format!("{why}: {text:?}"));
        if text.len() > u16::MAX as usize {
            return Err(bad("URL longer than 65535 bytes"));
        }
        if text.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("URL contains whitespace or control characters"));
        }
        let (scheme, rest_at) = match text.find("://") {
            Some(i) => {
                let s = &text[..i];
                let scheme = if s.eq_ignore_ascii_case("http") {
                    Scheme::Http
                } else if s.eq_ignore_ascii_case("https") {
                    Scheme::Https
                } else {
                    return Err(bad(&format!(
                        "unsupported scheme {s:?} (only http and https)"
                    )));
                };
                (scheme, i + 3)
            }
            None => return Err(bad("missing scheme (expected http:// or https://)")),
        };
        let rest = &text[rest_at..];
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..auth_end];
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not supported; send a header",
            ));
        }
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            let close = stripped
                .find(']')
                .ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            let after = &stripped[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("junk after IPv6 address")),
            };
            (&authority[..close + 2], port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        if !host.starts_with('[')
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(bad("invalid host"));
        }
        let port = match port {
            None => scheme.default_port(),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("invalid port"))?,
        };
        let host_start = rest_at as u16;
        Ok(Url {
            text: text.into(),
            host_start,
            host_end: host_start + host.len() as u16,
            port,
            scheme,
        })
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &str {
        &self.text[self.host_start as usize..self.host_end as usize]
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `scheme://host:port`, lower-cased: the key of per-origin agents, limits and statistics.
    pub fn origin(&self) -> String {
        format!(
            "{}://{}:{}",
            self.scheme.as_str(),
            self.host().to_ascii_lowercase(),
            self.port
        )
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

/// Validates a header name (an RFC 9110 token) and value (no CR, LF or NUL).
pub(crate) fn validate_header(name: &str, value: &str) -> Result<(), Error> {
    const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~";
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || TCHAR.contains(&b))
    {
        return Err(Error::new(
            ErrorKind::InvalidHeader,
            format!("invalid header name {name:?}"),
        ));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::new(
            ErrorKind::InvalidHeader,
            format!("header {name:?} has CR, LF or NUL in its value"),
        ));
    }
    Ok(())
}

/// A request header; `sensitive` ones are dropped when a redirect changes the origin.
#[derive(Clone, Debug)]
struct Header {
    name: Box<str>,
    value: Box<str>,
    sensitive: bool,
}

/// Headers that carry credentials: never forwarded to another origin by a redirect.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// Headers that describe a body: dropped when a redirect turns the request into a `GET`.
const BODY_HEADERS: [&str; 6] = [
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
    "content-location",
    "transfer-encoding",
];

/// One HTTP request: method, URL, headers, body bytes, options.
///
/// Built with [`Request::get`], [`Request::post`] or [`Request::builder`]. Everything is
/// validated when built: a malformed URL, an unsupported scheme or a header with CR/LF is a typed
/// [`Error`], never a panic. The body is owned bytes, so a retry replays it byte for byte.
///
/// ```
/// use httpbatch::{Method, Request};
/// let req = Request::builder(Method::Post, "http://127.0.0.1:8080/items")
///     .header("content-type", "application/json")
///     .body(br#"{"id":1}"#.to_vec())
///     .tag(42)
///     .build()
///     .unwrap();
/// assert_eq!(req.method(), Method::Post);
/// assert_eq!(req.tag(), 42);
///
/// let bad = Request::builder(Method::Get, "http://127.0.0.1/").header("x", "a\r\nb").build();
/// assert_eq!(bad.unwrap_err().kind(), httpbatch::ErrorKind::InvalidHeader);
/// ```
#[derive(Clone, Debug)]
pub struct Request {
    url: Url,
    headers: Vec<Header>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    tag: u64,
    priority: i32,
    method: Method,
    retry_non_idempotent: bool,
}

impl Request {
    /// A `GET` of `url`.
    pub fn get(url: &str) -> Result<Request, Error> {
        Request::builder(Method::Get, url).build()
    }

    /// A `POST` of `body` to `url`.
    pub fn post(url: &str, body: impl Into<Vec<u8>>) -> Result<Request, Error> {
        Request::builder(Method::Post, url).body(body).build()
    }

    /// A builder for any request.
    pub fn builder(method: Method, url: &str) -> RequestBuilder {
        RequestBuilder {
            url: Url::parse(url),
            method,
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            tag: 0,
            priority: 0,
            retry_non_idempotent: false,
            error: None,
        }
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.headers.iter().map(|h| (&*h.name, &*h.value))
    }

    /// Whether header `name` (case-insensitive) is dropped when a redirect leaves the origin:
    /// `Authorization`, `Proxy-Authorization`, `Cookie`, and any header added with
    /// [`RequestBuilder::sensitive_header`].
    pub fn is_sensitive_header(&self, name: &str) -> bool {
        CREDENTIAL_HEADERS
            .iter()
            .any(|c| name.eq_ignore_ascii_case(c))
            || self
                .headers
                .iter()
                .any(|h| h.sensitive && h.name.eq_ignore_ascii_case(name))
    }

    /// The request for a redirect hop to `url`: the same request, as a `GET` without body (and
    /// without the headers that describe one) when `to_get`, and without its credentials and
    /// sensitive headers (and any `Host`) when the hop leaves the origin.
    pub(crate) fn redirected(&self, url: Url, to_get: bool) -> Request {
        let cross_origin = url.origin() != self.url.origin();
        let keep = |h: &Header| {
            let n = &*h.name;
            !(to_get && BODY_HEADERS.iter().any(|b| n.eq_ignore_ascii_case(b))
                || cross_origin
                    && (h.sensitive
                        || n.eq_ignore_ascii_case("host")
                        || CREDENTIAL_HEADERS.iter().any(|c| n.eq_ignore_ascii_case(c))))
        };
        Request {
            url,
            headers: self.headers.iter().filter(|h| keep(h)).cloned().collect(),
            body: if to_get {
                Vec::new()
            } else {
                self.body.clone()
            },
            method: if to_get { Method::Get } else { self.method },
            timeout: self.timeout,
            tag: self.tag,
            priority: self.priority,
            retry_non_idempotent: self.retry_non_idempotent,
        }
    }

    /// The body bytes (empty for none).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The per-request timeout for the whole exchange, if set. Defaults to the executor's.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sets the per-request timeout.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The caller's tag, copied to the response. Defaults to `0`.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The dispatch priority: within one batch, higher priorities are dispatched first.
    /// Defaults to `0`.
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// Whether a retry policy may retry this request: true for idempotent methods, or when the
    /// request opted in with [`RequestBuilder::retry_non_idempotent`].
    pub fn is_retryable(&self) -> bool {
        self.method.is_idempotent() || self.retry_non_idempotent
    }

    /// Adds a header after validating it.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), Error> {
        validate_header(name, value)?;
        self.headers.push(Header {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        });
        Ok(())
    }
}

/// Builds a [`Request`]; errors are reported by [`RequestBuilder::build`].
#[derive(Debug)]
#[must_use]
pub struct RequestBuilder {
    url: Result<Url, Error>,
    method: Method,
    headers: Vec<Header>,
    body: Vec<u8>,
    timeout: Option<Duration>,
    tag: u64,
    priority: i32,
    retry_non_idempotent: bool,
    error: Option<Error>,
}

impl RequestBuilder {
    /// Adds a header. A name that is not a token, or a value with a control byte other than
    /// HTAB, makes [`build`](Self::build) fail with [`ErrorKind::InvalidHeader`].
    pub fn header(self, name: &str, value: &str) -> Self {
        self.push_header(name, value, false)
    }

    /// Adds a header that carries a credential (an API key, a token): like
    /// [`header`](Self::header), and dropped — like `Authorization`, `Proxy-Authorization` and
    /// `Cookie` always are — when a redirect leads to another origin.
    ///
    /// ```
    /// use httpbatch::{Method, Request};
    /// let req = Request::builder(Method::Get, "http://127.0.0.1:8080/")
    ///     .sensitive_header("x-api-key", "secret")
    ///     .header("accept", "application/json")
    ///     .build()?;
    /// assert!(req.is_sensitive_header("X-Api-Key"));
    /// assert!(req.is_sensitive_header("authorization"));
    /// assert!(!req.is_sensitive_header("accept"));
    /// # Ok::<(), httpbatch::Error>(())
    /// ```
    pub fn sensitive_header(self, name: &str, value: &str) -> Self {
        self.push_header(name, value, true)
    }

    fn push_header(mut self, name: &str, value: &str, sensitive: bool) -> Self {
        if self.error.is_none() {
            match validate_header(name, value) {
                Ok(()) => self.headers.push(Header {
                    name: name.into(),
                    value: value.into(),
                    sensitive,
                }),
                Err(e) => self.error = Some(e),
            }
        }
        self
    }

    /// Sets the body bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the timeout for the whole exchange.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the caller's tag.
    pub fn tag(mut self, tag: u64) -> Self {
        self.tag = tag;
        self
    }

    /// Sets the dispatch priority (higher first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Opts a non-idempotent request (POST, PATCH) in to retries.
    pub fn retry_non_idempotent(mut self, yes: bool) -> Self {
        self.retry_non_idempotent = yes;
        self
    }

    /// Validates and builds the request.
    pub fn build(self) -> Result<Request, Error> {
        let url = self.url?;
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(Request {
            url,
            headers: self.headers,
            body: self.body,
            timeout: self.timeout,
            tag: self.tag,
            priority: self.priority,
            method: self.method,
            retry_non_idempotent: self.retry_non_idempotent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let u = Url::parse("HTTPS://Example.COM/x").unwrap();
        assert_eq!(u.scheme(), Scheme::Https);
        assert_eq!(u.port(), 443);
        assert_eq!(u.origin(), "https://example.com:443");
        let u = Url::parse("http://[::1]:9/x").unwrap();
        assert_eq!(u.host(), "[::1]");
        assert_eq!(u.port(), 9);
        for bad in [
            "",
            "http://",
            "http:///x",
            "ftp://a/",
            "http://a:0/",
            "http://a:99999/",
            "http://a b/",
            "http://u:p@a/",
            "http://a/\r\n",
            "http://[::1/",
            "localhost:80",
        ] {
            let e = Url::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad:?}");
        }
    }

    #[test]
    fn headers_are_validated() {
        for (n, v) in [("", "x"), ("a b", "x"), ("x", "a\nb"), ("x", "a\rb")] {
            let e = Request::builder(Method::Get, "http://a/")
                .header(n, v)
                .build()
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidHeader);
        }
    }

    #[test]
    fn retryability() {
        assert!(Request::get("http://a/").unwrap().is_retryable());
        assert!(!Request::post("http://a/", "x").unwrap().is_retryable());
        let r = Request::builder(Method::Post, "http://a/")
            .retry_non_idempotent(true)
            .build()
            .unwrap();
        assert!(r.is_retryable());
    }

    #[test]
    fn queued_request_is_small() {
        // A queued request costs this much beyond its URL text and header/body heap bytes.
        assert!(std::mem::size_of::<Request>() <= 104);
    }
}
