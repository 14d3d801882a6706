//! The leaf's configuration.

use std::net::IpAddr;
use std::time::Duration;

use super::proxy::ProxyOptions;
use super::tls::TlsOptions;
use crate::error::{Error, ErrorKind};

/// The largest per-connection buffer: each pooled connection allocates it twice.
const MAX_BUFFER: usize = 4 << 20;

/// Configuration of an [`HttpClient`](super::HttpClient).
///
/// ```
/// use httpbatch::HttpClientConfig;
/// use std::time::Duration;
/// let config = HttpClientConfig::default()
///     .timeout(Duration::from_secs(5))
///     .max_body_size(1 << 20)
///     .max_idle_per_origin(64);
/// assert_eq!(config.get_timeout(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct HttpClientConfig {
    pub(super) connect_timeout: Duration,
    pub(super) timeout: Duration,
    pub(super) max_body_size: u64,
    pub(super) max_idle_per_origin: usize,
    pub(super) idle_timeout: Duration,
    pub(super) buffer_size: usize,
    pub(super) max_response_head: usize,
    pub(super) max_redirects: u32,
    pub(super) redirect_https_to_http: bool,
    pub(super) dns_ttl: Duration,
    pub(super) resolve: Vec<(String, u16, IpAddr)>,
    pub(super) user_agent: String,
    pub(super) tls: TlsOptions,
    pub(super) proxy: ProxyOptions,
    pub(super) decompress: bool,
    pub(super) accept_encoding: Option<String>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_body_size: 10 * 1024 * 1024,
            max_idle_per_origin: 128,
            idle_timeout: Duration::from_secs(15),
            buffer_size: 16 * 1024,
            max_response_head: 64 * 1024,
            max_redirects: 10,
            redirect_https_to_http: false,
            dns_ttl: Duration::from_secs(60),
            resolve: Vec::new(),
            user_agent: concat!("httpbatch/", env!("CARGO_PKG_VERSION")).into(),
            tls: TlsOptions::default(),
            proxy: ProxyOptions::default(),
            decompress: true,
            accept_encoding: None,
        }
    }
}

impl HttpClientConfig {
    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Time allowed to establish a TCP (and TLS) connection; zero or [`Duration::MAX`] (anything
    /// from about a century) means no limit. Defaults to `10 s`.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Sets the whole-request timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Time allowed for a whole exchange (connect, send, receive the whole body, every redirect
    /// hop) when the request sets none; zero or [`Duration::MAX`] (anything from about a
    /// century), here or on the request, means no limit. Defaults to `30 s`.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }
    /// Sets the response body limit.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.max_body_size = bytes;
        self
    }
    /// Largest response body accepted; a larger one fails with [`ErrorKind::BodyTooLarge`].
    /// `u64::MAX` means no limit. Defaults to `10 MiB`.
    pub fn get_max_body_size(&self) -> u64 {
        self.max_body_size
    }
    /// Sets the idle connection cap per origin.
    pub fn max_idle_per_origin(mut self, n: usize) -> Self {
        self.max_idle_per_origin = n.max(1);
        self
    }
    /// Idle connections kept per origin (0 is taken as 1; `usize::MAX` means no cap). Keep it
    /// at least the concurrency per origin, or connections churn. Defaults to `128`.
    pub fn get_max_idle_per_origin(&self) -> usize {
        self.max_idle_per_origin
    }
    /// Sets how long an idle connection is kept.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    /// How long an idle connection is kept before it is closed (zero: not kept;
    /// [`Duration::MAX`]: no limit). Defaults to `15 s`.
    pub fn get_idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
    /// Sets the per-connection I/O buffer size.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.clamp(1024, MAX_BUFFER);
        self
    }
    /// The output buffer of each connection, which bounds the longest request line or header
    /// line that can be sent (a longer one fails with [`ErrorKind::Protocol`]), and the input
    /// buffer's size before it adapts. Both are allocated on the connection's first use (ureq's
    /// defaults are 128 KiB each). The input starts at the smaller of this and 8 KiB (hyper's
    /// first read buffer too), grows up to [`max_response_head`](Self::get_max_response_head)
    /// for a response head that does not fit, and, while a body larger than it streams
    /// through, doubles with each read that fills it, up to the larger of the two (a 1 MB body
    /// takes about 20 reads rather than 64); it shrinks back once read, so an idle pooled
    /// connection holds about this plus 8 KiB. Values are clamped to `1 KiB ..= 4 MiB`.
    /// Defaults to `16 KiB`.
    pub fn get_buffer_size(&self) -> usize {
        self.buffer_size
    }
    /// Sets the largest response head accepted.
    pub fn max_response_head(mut self, bytes: usize) -> Self {
        self.max_response_head = bytes.clamp(1024, MAX_BUFFER);
        self
    }
    /// The largest response head (status line and headers) accepted; a larger one fails with
    /// [`ErrorKind::Protocol`], which is not retried. Only a connection reading a head larger
    /// than [`buffer_size`](Self::get_buffer_size) holds a buffer that large, and only until
    /// it is read. Never less than `buffer_size`; values are clamped to `1 KiB ..= 4 MiB`.
    /// Defaults to `64 KiB` (as browsers and curl accept at least).
    pub fn get_max_response_head(&self) -> usize {
        self.max_response_head.max(self.buffer_size)
    }
    /// Sets the redirect limit (0: do not follow; the 3xx response is the answer).
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }
    /// Redirects (301, 302, 303, 307, 308 with a `Location`) followed per request; one more is
    /// an [`ErrorKind::Redirect`]. The client follows them itself, each hop a request of its
    /// own: it passes the rate limiters ([`Context::admit`](crate::Context::admit)), its `Location` is resolved against
    /// the URL that answered and checked by [`Url::parse`](crate::Url::parse); 303 (and 301/302 after a `POST`)
    /// continue with a body-less `GET`, 307/308 replay method and body; `Authorization`,
    /// `Proxy-Authorization`, `Cookie` and [sensitive](crate::RequestBuilder::sensitive_header)
    /// headers are dropped when the origin changes. Defaults to `10` (as curl and browsers).
    pub fn get_max_redirects(&self) -> u32 {
        self.max_redirects
    }
    /// Sets whether a redirect from `https` to `http` is followed.
    pub fn redirect_https_to_http(mut self, allow: bool) -> Self {
        self.redirect_https_to_http = allow;
        self
    }
    /// Whether a redirect from `https` to `http` is followed; when not, it is an
    /// [`ErrorKind::Redirect`]. Defaults to `false`.
    pub fn get_redirect_https_to_http(&self) -> bool {
        self.redirect_https_to_http
    }
    /// Sets how long resolved addresses are cached.
    pub fn dns_ttl(mut self, d: Duration) -> Self {
        self.dns_ttl = d;
        self
    }
    /// How long a resolved host name is reused (zero: resolved every time; [`Duration::MAX`]:
    /// for the client's life). Defaults to `60 s`.
    pub fn get_dns_ttl(&self) -> Duration {
        self.dns_ttl
    }
    /// Sends requests for `host` on `port` to `ip` without resolving `host` (curl's
    /// `--resolve host:port:ip`); the URL, its `Host` header and TLS keep the name. `host` may
    /// be an internationalised name or its `xn--` form; later entries for the same host and port
    /// replace earlier ones.
    ///
    /// ```
    /// use httpbatch::HttpClientConfig;
    /// let config =
    ///     HttpClientConfig::default().resolve("bücher.example", 8080, [127, 0, 0, 1].into());
    /// let (host, port, ip) = &config.get_resolve()[0];
    /// assert_eq!((host.as_str(), *port), ("xn--bcher-kva.example", 8080));
    /// assert!(ip.is_loopback());
    /// ```
    pub fn resolve(mut self, host: &str, port: u16, ip: IpAddr) -> Self {
        let host = crate::request::Url::parse(&format!("http://{host}/"))
            .map(|u| u.host().to_owned())
            .unwrap_or_else(|_| host.to_ascii_lowercase());
        self.resolve.retain(|(h, p, _)| !(*h == host && *p == port));
        self.resolve.push((host, port, ip));
        self
    }
    /// The fixed addresses set by [`resolve`](Self::resolve): host (lower-cased ASCII form),
    /// port, address. Defaults to none.
    pub fn get_resolve(&self) -> &[(String, u16, IpAddr)] {
        &self.resolve
    }
    /// Sets the `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
    /// The `User-Agent` header sent unless a request sets its own; it must be a valid header
    /// value (see [`validate`](Self::validate)). Defaults to `httpbatch/VERSION`.
    pub fn get_user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Sets whether compressed bodies are decoded.
    pub fn decompress(mut self, yes: bool) -> Self {
        self.decompress = yes;
        self
    }
    /// Whether `gzip`, `deflate` (zlib or raw) and `br` bodies are decoded as they are read.
    /// A decoded body loses its `Content-Encoding` and `Content-Length` headers, and
    /// [`max_body_size`](Self::get_max_body_size) applies to the decoded size (and to the
    /// bytes on the wire), so a small compressed bomb stops at the limit with
    /// [`ErrorKind::BodyTooLarge`]; a body that does not decode is an [`ErrorKind::Protocol`].
    /// A body with a coding not in that list is returned as sent. When `false`, every body
    /// is returned as sent, `Content-Encoding` kept (curl without `--compressed`).
    /// Defaults to `true`.
    ///
    /// ```
    /// use httpbatch::HttpClientConfig;
    /// let raw = HttpClientConfig::default().decompress(false);
    /// assert!(!raw.get_decompress());
    /// // No Accept-Encoding is sent unless asked for.
    /// assert_eq!(raw.get_accept_encoding(), None);
    /// let raw = raw.accept_encoding("gzip");
    /// assert_eq!(raw.get_accept_encoding(), Some("gzip"));
    /// ```
    pub fn get_decompress(&self) -> bool {
        self.decompress
    }
    /// Sets the `Accept-Encoding` header sent when a request sets none (`""`: none sent).
    pub fn accept_encoding(mut self, value: impl Into<String>) -> Self {
        self.accept_encoding = Some(value.into());
        self
    }
    /// The `Accept-Encoding` header sent when a request sets none; `None` when none is sent.
    /// A request's own `Accept-Encoding` header always wins. Defaults to
    /// `gzip, deflate, br` when [decompressing](Self::get_decompress), else none.
    pub fn get_accept_encoding(&self) -> Option<&str> {
        match &self.accept_encoding {
            Some(v) if v.is_empty() => None,
            Some(v) => Some(v),
            None if self.decompress => Some(super::decode::DEFAULT_ACCEPT_ENCODING),
            None => None,
        }
    }

    /// Checks what no setter can clamp: fails with [`ErrorKind::InvalidConfig`] for a user agent
    /// or an `Accept-Encoding` with a control byte (other than HTAB). Every other option takes any value: durations of
    /// zero or [`Duration::MAX`] mean no limit where a limit is meant, sizes are clamped to what
    /// can be allocated.
    ///
    /// ```
    /// use httpbatch::{ErrorKind, HttpClientConfig};
    /// assert!(HttpClientConfig::default().validate().is_ok());
    /// let bad = HttpClientConfig::default().user_agent("a\r\nx-injected: 1");
    /// assert_eq!(bad.validate().unwrap_err().kind(), ErrorKind::InvalidConfig);
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        let check = |option: &str, name: &str, value: &str| {
            crate::request::validate_header(name, value).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("invalid HttpClientConfig::{option}: {}", e.message()),
                )
            })
        };
        check("user_agent", "user-agent", &self.user_agent)?;
        check(
            "accept_encoding",
            "accept-encoding",
            self.get_accept_encoding().unwrap_or(""),
        )
    }
}
