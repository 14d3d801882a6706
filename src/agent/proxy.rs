//! Proxies for the leaf: the client's proxy options, the curl conventions for proxy environment
//! variables and `NO_PROXY`, and the connector that forwards plain-HTTP requests to an HTTP proxy
//! in absolute form.
//!
//! Invariants:
//! - The route of an origin (direct, forwarded to an HTTP proxy, tunnelled through CONNECT or
//!   SOCKS) is decided once, when its agent is created, from rules fixed when the client is
//!   created (the environment is read then, never per request). Every origin has its own agent,
//!   so its agent's pool only ever holds connections of that one route.
//! - Tunnels (CONNECT for https through an HTTP proxy, SOCKS4/5 for everything) are ureq's own
//!   connectors; the forwarder here only rewrites the request line of plain-HTTP requests. Both
//!   sit inside the counting connector, so connections to a proxy count for the origin they carry.

use std::fmt;

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, Transport,
};
use ureq::{Proxy, ProxyProtocol};

use super::HttpClientConfig;
use super::no_proxy::NoProxy;
use crate::error::{Error, ErrorKind};
use crate::request::{Scheme, Url};

/// The proxy part of an [`HttpClientConfig`]; set through its proxy methods.
#[derive(Clone)]
pub(crate) struct ProxyOptions {
    url: Option<String>,
    no_proxy: Option<String>,
    from_env: bool,
}

/// `scheme://***@host…` for a URL with credentials: a config's `Debug` must not print them.
fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if scheme.is_empty() => format!("***{}", &rest[at..]),
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

impl fmt::Debug for ProxyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyOptions")
            .field("url", &self.url.as_deref().map(redacted))
            .field("no_proxy", &self.no_proxy)
            .field("from_env", &self.from_env)
            .finish()
    }
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions {
            url: None,
            no_proxy: None,
            from_env: true,
        }
    }
}

/// Proxy options. A proxy URL that cannot be used makes
/// [`HttpClient::try_with_config`](super::HttpClient::try_with_config) fail with
/// [`ErrorKind::InvalidConfig`], and every request of a client built anyway fail with it.
impl HttpClientConfig {
    /// Sends every request through the proxy at `url`, as curl's `-x` does:
    /// - `http://[user:password@]host[:port]` (port 80 by default): plain-HTTP requests are
    ///   forwarded in absolute form, https requests tunnelled with `CONNECT`;
    /// - `socks5://…` (the client resolves names), `socks5h://…` (the proxy resolves them),
    ///   `socks4://…`, `socks4a://…` (port 1080 by default).
    ///
    /// Credentials in the URL are sent to the proxy only (`Proxy-Authorization: Basic`, or
    /// SOCKS5 user/password). A URL without a scheme is `http://`. An empty `url` means no proxy
    /// and no proxy from the environment either.
    ///
    /// ```
    /// use httpbatch::HttpClientConfig;
    /// let config = HttpClientConfig::default()
    ///     .proxy("http://user:secret@proxy.internal:3128")
    ///     .no_proxy("localhost,.internal,10.0.0.0/8");
    /// assert_eq!(config.get_no_proxy(), Some("localhost,.internal,10.0.0.0/8"));
    /// ```
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy.url = Some(url.into());
        self
    }
    /// The proxy set with [`proxy`](Self::proxy) (environment aside). Defaults to `None`.
    pub fn get_proxy(&self) -> Option<&str> {
        self.proxy.url.as_deref()
    }
    /// Sets the hosts reached directly, bypassing any proxy, as curl's `--noproxy`: a comma
    /// separated list of host names (each also matching its subdomains; a leading dot is
    /// ignored), IP addresses, CIDR ranges (`10.0.0.0/8`, `fd00::/8`), or `*` for every host.
    /// Replaces `NO_PROXY` from the environment.
    pub fn no_proxy(mut self, list: impl Into<String>) -> Self {
        self.proxy.no_proxy = Some(list.into());
        self
    }
    /// The list set with [`no_proxy`](Self::no_proxy). Defaults to `None`.
    pub fn get_no_proxy(&self) -> Option<&str> {
        self.proxy.no_proxy.as_deref()
    }
    /// Sets whether proxies are read from the environment as curl reads them: `http_proxy` for
    /// http URLs (lower case only: a CGI program sets `HTTP_PROXY` from a request's `Proxy`
    /// header), `https_proxy`/`HTTPS_PROXY` for https ones, `all_proxy`/`ALL_PROXY` for both,
    /// and `no_proxy`/`NO_PROXY` (lower case wins). A proxy set with [`proxy`](Self::proxy)
    /// takes precedence. The environment is read when the client is created.
    pub fn proxy_from_env(mut self, yes: bool) -> Self {
        self.proxy.from_env = yes;
        self
    }
    /// Whether proxies are read from the environment. Defaults to `true`.
    pub fn get_proxy_from_env(&self) -> bool {
        self.proxy.from_env
    }
}

/// How one origin is reached.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    Direct,
    /// Plain HTTP through an HTTP proxy, in absolute form.
    Forward(Forward),
    /// Through ureq's CONNECT or SOCKS connector.
    Tunnel(Proxy),
}

/// The proxy a plain-HTTP origin is forwarded to.
#[derive(Debug, Clone)]
pub(crate) struct Forward {
    proxy: Uri,
    authorization: Option<String>,
}

impl Forward {
    pub(crate) fn proxy_uri(&self) -> &Uri {
        &self.proxy
    }
}

/// The routes a client takes, fixed when it is created.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxyRules {
    http: Option<Proxy>,
    https: Option<Proxy>,
    no_proxy: NoProxy,
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, msg)
}

fn parse_proxy(url: &str, what: &str) -> Result<Proxy, Error> {
    let p = Proxy::new(url.trim())
        .map_err(|e| invalid(format!("{what}: cannot use {url:?} as a proxy: {e}")))?;
    if p.protocol() == ProxyProtocol::Https {
        return Err(invalid(format!(
            "{what}: https proxies (TLS to the proxy) are not supported: {url:?}"
        )));
    }
    Ok(p)
}

impl ProxyRules {
    /// The rules of `options`, reading the environment through `env`.
    pub(crate) fn new(
        options: &ProxyOptions,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ProxyRules, Error> {
        // An empty value is "unset" (curl treats `http_proxy=` so).
        let var = |names: &[&'static str]| -> Option<(&'static str, String)> {
            names
                .iter()
                .find_map(|n| env(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
        };
        let mut rules = ProxyRules::default();
        match options.url.as_deref() {
            Some("") => return Ok(rules),
            Some(url) => {
                let p = parse_proxy(url, "proxy")?;
                rules.http = Some(p.clone());
                rules.https = Some(p);
            }
            None if options.from_env => {
                let all = var(&["all_proxy", "ALL_PROXY"]);
                let http = var(&["http_proxy"]).or_else(|| all.clone());
                let https = var(&["https_proxy", "HTTPS_PROXY"]).or(all);
                rules.http = http.map(|(n, v)| parse_proxy(&v, n)).transpose()?;
                rules.https = https.map(|(n, v)| parse_proxy(&v, n)).transpose()?;
            }
            None => {}
        }
        let no_proxy = match &options.no_proxy {
            Some(list) => Some(list.clone()),
            None if options.from_env => var(&["no_proxy", "NO_PROXY"]).map(|(_, v)| v),
            None => None,
        };
        if let Some(list) = no_proxy {
            rules.no_proxy = NoProxy::parse(&list);
        }
        Ok(rules)
    }

    /// The route to `url`'s origin.
    pub(crate) fn route(&self, url: &Url) -> Route {
        let proxy = match url.scheme() {
            Scheme::Http => &self.http,
            Scheme::Https => &self.https,
        };
        let Some(proxy) = proxy else {
            return Route::Direct;
        };
        if self.no_proxy.matches(url.host()) {
            return Route::Direct;
        }
        if url.scheme() == Scheme::Http && proxy.protocol() == ProxyProtocol::Http {
            let authorization = proxy.username().map(|user| {
                let creds = format!("{user}:{}", proxy.password().unwrap_or_default());
                format!("Basic {}", base64(creds.as_bytes()))
            });
            return Route::Forward(Forward {
                proxy: proxy.uri().clone(),
                authorization,
            });
        }
        Route::Tunnel(proxy.clone())
    }
}

/// An origin's route as the parts its agent is built from: the forwarding proxy (plain HTTP
/// through an HTTP proxy) or the proxy ureq tunnels through. Unusable rules route nowhere: the
/// leaf fails each request with them before it connects.
pub(crate) fn route_parts(
    rules: &Result<ProxyRules, String>,
    url: &Url,
) -> (Option<Forward>, Option<Proxy>) {
    match rules.as_ref().map(|r| r.route(url)) {
        Ok(Route::Forward(f)) => (Some(f), None),
        Ok(Route::Tunnel(p)) => (None, Some(p)),
        Ok(Route::Direct) | Err(_) => (None, None),
    }
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `host:port` of the proxy of an origin's route, if any (never its credentials).
pub(crate) fn proxy_label(forward: &Option<Forward>, tunnel: &Option<Proxy>) -> Option<String> {
    match (forward, tunnel) {
        (Some(f), _) => f.proxy.host().map(|h| {
            let port = f.proxy.port_u16().unwrap_or(80);
            format!("{h}:{port}")
        }),
        (None, Some(p)) => Some(format!("{}:{}", p.host(), p.port())),
        (None, None) => None,
    }
}

/// Resolves the forwarding proxy instead of the origin, so the TCP connector dials the proxy.
#[derive(Debug)]
pub(crate) struct ForwardResolver<R> {
    pub(crate) inner: R,
    pub(crate) forward_to: Option<Uri>,
}

impl<R: Resolver> Resolver for ForwardResolver<R> {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        self.inner
            .resolve(self.forward_to.as_ref().unwrap_or(uri), config, timeout)
    }
}

/// Turns each plain-HTTP request on a connection to a forwarding proxy into absolute form.
#[derive(Debug)]
pub(crate) struct ForwardConnector(pub(crate) Option<Forward>);

impl<In: Transport> Connector<In> for ForwardConnector {
    type Out = Either<In, ForwardTransport<In>>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(forward) = &self.0 else {
            return Ok(chained.map(Either::A));
        };
        let Some(inner) = chained else {
            return Ok(None);
        };
        let authority = details
            .uri
            .authority()
            .map(|a| a.as_str().rsplit('@').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        Ok(Some(Either::B(ForwardTransport {
            inner,
            target: format!("http://{authority}").into_bytes(),
            authorization: forward.authorization.clone(),
            at_request_start: true,
        })))
    }
}

/// A connection to a forwarding proxy.
pub(crate) struct ForwardTransport<T> {
    inner: T,
    /// `http://host[:port]` of the origin.
    target: Vec<u8>,
    authorization: Option<String>,
    /// No request has been written since the last read (ureq writes a request's head first and
    /// reads its whole response before the next request on the connection).
    at_request_start: bool,
}

impl<T> fmt::Debug for ForwardTransport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardTransport")
            .field("target", &String::from_utf8_lossy(&self.target))
            .finish_non_exhaustive()
    }
}

/// `head` with its request line in absolute form and the proxy's credentials added, or `None`
/// if `head` does not start with an origin-form request line.
pub(crate) fn absolute_form(
    head: &[u8],
    target: &[u8],
    authorization: Option<&str>,
) -> Option<Vec<u8>> {
    let eol = head.windows(2).position(|w| w == b"\r\n")?;
    let line = &head[..eol];
    let sp = line.iter().position(|&b| b == b' ')?;
    let (method, rest) = (&line[..sp], &line[sp + 1..]);
    if method.is_empty()
        || !method.iter().all(u8::is_ascii_uppercase)
        || rest.first() != Some(&b'/')
    {
        return None;
    }
    let sp = rest.iter().rposition(|&b| b == b' ')?;
    if !rest[sp + 1..].starts_with(b"HTTP/1.") {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + target.len() + 64);
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(rest);
    out.extend_from_slice(b"\r\n");
    if let Some(auth) = authorization {
        out.extend_from_slice(b"Proxy-Authorization: ");
        out.extend_from_slice(auth.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&head[eol + 2..]);
    Some(out)
}

impl<T: Transport> Transport for ForwardTransport<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if !std::mem::replace(&mut self.at_request_start, false) {
            return self.inner.transmit_output(amount, timeout);
        }
        let head = &self.inner.buffers().output()[..amount];
        let Some(out) = absolute_form(head, &self.target, self.authorization.as_deref()) else {
            return self.inner.transmit_output(amount, timeout);
        };
        // The rewritten head is longer than the buffer ureq filled: send it in buffer-sized
        // pieces.
        for piece in out.chunks(self.inner.buffers().output().len().max(1)) {
            self.inner.buffers().output()[..piece.len()].copy_from_slice(piece);
            self.inner.transmit_output(piece.len(), timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.at_request_start = true;
        self.inner.await_input(timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.at_request_start = true;
        self.inner.maybe_await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn route_of(rules: &ProxyRules, u: &str) -> String {
        match rules.route(&url(u)) {
            Route::Direct => "direct".into(),
            Route::Forward(f) => format!("forward {}", f.proxy),
            Route::Tunnel(p) => format!("tunnel {}:{}", p.host(), p.port()),
        }
    }

    #[test]
    fn environment_follows_curl() {
        let opts = ProxyOptions::default();
        let rules = ProxyRules::new(
            &opts,
            env(&[
                ("HTTP_PROXY", "http://ignored:1"),
                ("https_proxy", "http://lower:2"),
                ("HTTPS_PROXY", "http://upper:3"),
                ("NO_PROXY", "skip.me"),
            ]),
        )
        .unwrap();
        // Upper-case HTTP_PROXY is ignored, lower case wins for https.
        assert_eq!(route_of(&rules, "http://a.test/"), "direct");
        assert_eq!(route_of(&rules, "https://a.test/"), "tunnel lower:2");
        assert_eq!(route_of(&rules, "https://x.skip.me/"), "direct");

        let rules = ProxyRules::new(
            &opts,
            env(&[
                ("ALL_PROXY", "socks5h://s:1080"),
                ("http_proxy", "p:8080"),
                ("no_proxy", ""),
            ]),
        )
        .unwrap();
        assert_eq!(route_of(&rules, "http://a.test/"), "forward http://p:8080/");
        assert_eq!(route_of(&rules, "https://a.test/"), "tunnel s:1080");

        let off = ProxyOptions {
            from_env: false,
            ..ProxyOptions::default()
        };
        let rules = ProxyRules::new(&off, env(&[("all_proxy", "http://p:1")])).unwrap();
        assert_eq!(route_of(&rules, "https://a.test/"), "direct");

        let bad = ProxyRules::new(&opts, env(&[("https_proxy", "ftp://p:1")])).unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::InvalidConfig);
        assert!(bad.message().contains("https_proxy"), "{bad}");
    }

    #[test]
    fn options_override_the_environment() {
        let c = HttpClientConfig::default()
            .proxy("http://u:p%40ss@proxy:3128")
            .no_proxy("direct.test");
        let rules = ProxyRules::new(
            &c.proxy,
            env(&[("http_proxy", "http://other:1"), ("no_proxy", "*")]),
        )
        .unwrap();
        assert_eq!(
            route_of(&rules, "http://a.test/"),
            "forward http://u:p%40ss@proxy:3128/"
        );
        assert_eq!(route_of(&rules, "https://a.test/"), "tunnel proxy:3128");
        assert_eq!(route_of(&rules, "http://direct.test/"), "direct");
        let Route::Forward(f) = rules.route(&url("http://a.test/")) else {
            panic!("not forwarded")
        };
        assert_eq!(f.authorization.as_deref(), Some("Basic dTpwQHNz"));

        let none = HttpClientConfig::default().proxy("");
        let rules = ProxyRules::new(&none.proxy, env(&[("all_proxy", "http://p:1")])).unwrap();
        assert_eq!(route_of(&rules, "http://a.test/"), "direct");

        let https = HttpClientConfig::default().proxy("https://p:443");
        assert_eq!(
            ProxyRules::new(&https.proxy, env(&[])).unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
    }

    #[test]
    fn request_lines_become_absolute() {
        let head = b"GET /a?b=c HTTP/1.1\r\nHost: h:8\r\n\r\n";
        let out = absolute_form(head, b"http://h:8", Some("Basic eA==")).unwrap();
        assert_eq!(
            out,
            b"GET http://h:8/a?b=c HTTP/1.1\r\nProxy-Authorization: Basic eA==\r\nHost: h:8\r\n\r\n"
        );
        assert_eq!(
            absolute_form(b"POST / HTTP/1.1\r\n\r\n", b"http://h", None).unwrap(),
            b"POST http://h/ HTTP/1.1\r\n\r\n"
        );
        for not_a_head in [
            &b"{\"json\": 1}\r\n"[..],
            b"GET http://x/ HTTP/1.1\r\n",
            b"GET /",
        ] {
            assert_eq!(absolute_form(not_a_head, b"http://h", None), None);
        }
    }

    #[test]
    fn debug_output_hides_proxy_credentials() {
        let c = HttpClientConfig::default().proxy("http://user:s3cret@proxy:3128/");
        let text = format!("{c:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("user:"),
            "{text}"
        );
        assert!(text.contains("http://***@proxy:3128/"), "{text}");
        assert_eq!(redacted("u:p@h:1"), "***@h:1");
        assert_eq!(redacted("socks5://h:1"), "socks5://h:1");
        assert_eq!(redacted("http://h/p@x"), "http://h/p@x");
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
