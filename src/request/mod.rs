//! Requests: validated when built, owned bytes, cheap to queue.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

mod url;

pub use self::url::{Scheme, Url};

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

/// Validates a header name (an RFC 9110 token) and value (RFC 9110 §5.5: no control byte but
/// HTAB; bytes above 0x7F are obs-text and pass).
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
    if let Some(b) = value
        .bytes()
        .find(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
    {
        return Err(Error::new(
            ErrorKind::InvalidHeader,
            format!(
                "header {name:?} has the control byte 0x{b:02X} in its value \
                 (CR, LF and every control byte but HTAB are refused)"
            ),
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
        // What the builder makes of a bare URL, without moving a builder through `build`: lists
        // of GETs are built by the million.
        Ok(Request {
            url: Url::parse(url)?,
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            tag: 0,
            priority: 0,
            method: Method::Get,
            retry_non_idempotent: false,
        })
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
            query: String::new(),
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

    /// The URL, without copying it.
    pub(crate) fn into_url(self) -> Url {
        self.url
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

    /// Removes every header `name` (case-insensitive); returns the first value removed. For
    /// layers that take a per-request instruction out of the headers (the cache's mode, body
    /// compression) and for conditional headers a layer manages itself.
    pub(crate) fn remove_header(&mut self, name: &str) -> Option<String> {
        let first = self
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.to_string());
        if first.is_some() {
            self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
        }
        first
    }

    /// Replaces the body (a layer that encodes it once, so every retry replays the same bytes).
    pub(crate) fn set_body(&mut self, body: Vec<u8>) {
        self.body = body;
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
    /// Query pairs added by [`query`](Self::query), already encoded (`a=1&b=2`).
    query: String,
}

impl RequestBuilder {
    /// Appends `key=value` to the URL's query, both encoded as `application/x-www-form-urlencoded`
    /// is in the WHATWG URL standard (what browsers' `URLSearchParams` and HTML forms send):
    /// ASCII letters, digits and `*-._` as they are, a space as `+`, every other byte of the
    /// UTF-8 text as `%XX`. So any text round-trips, `&`, `=`, `+`, `#` and `%` included. Pairs
    /// keep their order and follow a query already in the URL.
    ///
    /// ```
    /// use httpbatch::{Method, Request};
    /// let req = Request::builder(Method::Get, "http://127.0.0.1:8080/search?page=2")
    ///     .query("q", "fish & chips")
    ///     .query("tag", "ü+1")
    ///     .build()?;
    /// assert_eq!(
    ///     req.url().as_str(),
    ///     "http://127.0.0.1:8080/search?page=2&q=fish+%26+chips&tag=%C3%BC%2B1"
    /// );
    /// # Ok::<(), httpbatch::Error>(())
    /// ```
    pub fn query(mut self, key: &str, value: &str) -> Self {
        if !self.query.is_empty() {
            self.query.push('&');
        }
        url::form_urlencode(key, &mut self.query);
        self.query.push('=');
        url::form_urlencode(value, &mut self.query);
        self
    }

    /// Appends every `(key, value)` pair, in order, as [`query`](Self::query) does.
    ///
    /// ```
    /// use httpbatch::{Method, Request};
    /// let req = Request::builder(Method::Get, "http://127.0.0.1:8080/")
    ///     .query_pairs([("a", "1"), ("b", "x y")])
    ///     .build()?;
    /// assert_eq!(req.url().as_str(), "http://127.0.0.1:8080/?a=1&b=x+y");
    /// # Ok::<(), httpbatch::Error>(())
    /// ```
    pub fn query_pairs<K, V>(self, pairs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        pairs
            .into_iter()
            .fold(self, |b, (k, v)| b.query(k.as_ref(), v.as_ref()))
    }

    /// Adds a header. A name that is not a token, or a value with a control byte other than
    /// HTAB (0x00–0x1F, 0x7F), makes [`build`](Self::build) fail with
    /// [`ErrorKind::InvalidHeader`].
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

    /// Sets the timeout for the whole exchange (every redirect hop included); zero or
    /// [`Duration::MAX`] means no limit, as for
    /// [`HttpClientConfig::timeout`](crate::HttpClientConfig::timeout).
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

    /// Makes [`build`](Self::build) fail with `e` (unless an earlier error already will): for
    /// setters elsewhere in the crate that can fail (a JSON body that does not serialise).
    #[cfg(feature = "json")]
    pub(crate) fn fail(mut self, e: Error) -> Self {
        self.error.get_or_insert(e);
        self
    }

    /// Validates and builds the request.
    pub fn build(self) -> Result<Request, Error> {
        let mut url = self.url?;
        if let Some(e) = self.error {
            return Err(e);
        }
        if !self.query.is_empty() {
            url = url.with_query_pairs(&self.query)?;
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
    fn headers_are_validated() {
        for (n, v) in [("", "x"), ("a b", "x"), ("x", "a\nb"), ("x", "a\rb")] {
            let e = Request::builder(Method::Get, "http://a/")
                .header(n, v)
                .build()
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidHeader);
        }
        // Every control byte but HTAB, and DEL, in a value; every non-token byte in a name.
        for b in (0u8..0x20).chain([0x7f]).filter(|&b| b != b'\t') {
            let v = format!("a{}b", b as char);
            for r in [
                Request::builder(Method::Get, "http://a/")
                    .header("x", &v)
                    .build(),
                Request::builder(Method::Get, "http://a/")
                    .sensitive_header("x", &v)
                    .build(),
            ] {
                let e = r.unwrap_err();
                assert_eq!(e.kind(), ErrorKind::InvalidHeader, "0x{b:02X}");
                assert!(e.message().contains(&format!("0x{b:02X}")), "{e}");
            }
            let mut req = Request::get("http://a/").unwrap();
            assert!(req.add_header("x", &v).is_err(), "0x{b:02X}");
        }
        for b in
            (0u8..=0x7f).filter(|b| !b.is_ascii_alphanumeric() && !b"!#$%&'*+-.^_`|~".contains(b))
        {
            let n = format!("x{}y", b as char);
            let e = Request::builder(Method::Get, "http://a/")
                .header(&n, "v")
                .build()
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidHeader, "0x{b:02X}");
        }
        assert!(
            Request::builder(Method::Get, "http://a/")
                .header("x", "tab\there, obs-text ü, all printable !~")
                .header("ünicode", "v")
                .build()
                .is_err(),
            "a non-ASCII name is not a token"
        );
        Request::builder(Method::Get, "http://a/")
            .header("X-Ok_1.2", "tab\there, obs-text ü, all printable !~")
            .build()
            .unwrap();
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
    fn get_is_the_builders_get() {
        for url in [
            "http://127.0.0.1:8080/x?y",
            "HTTP://A/ü",
            "ftp://a/",
            "http://a:0/",
            "",
        ] {
            let direct = format!("{:?}", Request::get(url));
            let built = format!("{:?}", Request::builder(Method::Get, url).build());
            assert_eq!(direct, built, "{url:?}");
        }
    }

    #[test]
    fn queued_request_is_small() {
        // A queued request costs this much beyond its URL text and header/body heap bytes.
        assert!(std::mem::size_of::<Request>() <= 104);
    }
}
