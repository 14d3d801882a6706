//! The leaf of every stack: sends requests with ureq, one agent per origin.
//!
//! Invariants:
//! - One `ureq::Agent` per origin (scheme, host, port), created on first use and never replaced.
//!   A shared agent across many hosts costs O(idle × hosts) under one mutex per checkout; an agent
//!   per origin keeps a checkout O(idle of that origin).
//! - Connection counters belong to the origin's connector and are only ever incremented; figures
//!   are derived from them when read (`live = opened - closed`, `reused = requests - opened`).

mod connector;
mod no_proxy;
mod proxy;
mod resolver;
mod tls;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use ureq::http;
use ureq::unversioned::transport::{
    ConnectProxyConnector, Connector, SocksConnector, TcpConnector,
};

use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::request::{Request, Url};
use crate::response::{Response, Timings};

use self::connector::{ConnCounters, CountingConnector, CurrentSlot, InflightSlot};
use self::proxy::{ForwardConnector, ForwardResolver, ProxyOptions, ProxyRules};
use self::resolver::CachingResolver;
pub use self::tls::TlsVersion;
use self::tls::{TlsConnector, TlsOptions};

/// Connection figures, counted at the socket (not estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Sockets opened.
    pub opened: u64,
    /// Sockets closed (by either side, or dropped from the idle pool).
    pub closed: u64,
    /// Sockets open now: `opened - closed`.
    pub live: u64,
    /// Requests sent (attempts that reached a connection).
    pub requests: u64,
    /// Requests served on an already open connection: `requests - opened`.
    pub reused: u64,
}

impl ConnectionStats {
    fn read(c: &ConnCounters) -> ConnectionStats {
        // Read `closed` before `opened` so a close racing with the read cannot make live negative.
        let closed = c.closed.load(Ordering::Acquire);
        let opened = c.opened.load(Ordering::Acquire).max(closed);
        let requests = c.requests.load(Ordering::Acquire);
        ConnectionStats {
            opened,
            closed,
            live: opened - closed,
            requests,
            reused: requests.saturating_sub(opened),
        }
    }

    fn add(mut self, o: ConnectionStats) -> ConnectionStats {
        self.opened += o.opened;
        self.closed += o.closed;
        self.live += o.live;
        self.requests += o.requests;
        self.reused += o.reused;
        self
    }
}

/// Configuration of an [`HttpClient`].
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
    connect_timeout: Duration,
    timeout: Duration,
    max_body_size: u64,
    max_idle_per_origin: usize,
    idle_timeout: Duration,
    buffer_size: usize,
    max_redirects: u32,
    dns_ttl: Duration,
    user_agent: String,
    tls: TlsOptions,
    proxy: ProxyOptions,
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
            max_redirects: 5,
            dns_ttl: Duration::from_secs(60),
            user_agent: concat!("httpbatch/", env!("CARGO_PKG_VERSION")).into(),
            tls: TlsOptions::default(),
            proxy: ProxyOptions::default(),
        }
    }
}

impl HttpClientConfig {
    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Time allowed to establish a TCP (and TLS) connection. Defaults to `10 s`.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
    /// Sets the whole-request timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Time allowed for a whole exchange (connect, send, receive the whole body) when the request
    /// sets none. Defaults to `30 s`.
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }
    /// Sets the response body limit.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.max_body_size = bytes;
        self
    }
    /// Largest response body accepted; a larger one fails with [`ErrorKind::BodyTooLarge`].
    /// Defaults to `10 MiB`.
    pub fn get_max_body_size(&self) -> u64 {
        self.max_body_size
    }
    /// Sets the idle connection cap per origin.
    pub fn max_idle_per_origin(mut self, n: usize) -> Self {
        self.max_idle_per_origin = n.max(1);
        self
    }
    /// Idle connections kept per origin. Keep it at least the concurrency per origin, or
    /// connections churn. Defaults to `128`.
    pub fn get_max_idle_per_origin(&self) -> usize {
        self.max_idle_per_origin
    }
    /// Sets how long an idle connection is kept.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    /// How long an idle connection is kept before it is closed. Defaults to `15 s`.
    pub fn get_idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
    /// Sets the per-connection I/O buffer size.
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.max(1024);
        self
    }
    /// Input and output buffer of each connection (16 KiB ≈ 73 KiB per pooled connection in
    /// all, against ≈ 305 KiB at ureq's defaults). Defaults to `16 KiB`.
    pub fn get_buffer_size(&self) -> usize {
        self.buffer_size
    }
    /// Sets the redirect limit (0: do not follow).
    pub fn max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }
    /// Redirects followed; credentials are never forwarded to another host. Defaults to `5`.
    pub fn get_max_redirects(&self) -> u32 {
        self.max_redirects
    }
    /// Sets how long resolved addresses are cached.
    pub fn dns_ttl(mut self, d: Duration) -> Self {
        self.dns_ttl = d;
        self
    }
    /// How long a resolved host name is reused. Defaults to `60 s`.
    pub fn get_dns_ttl(&self) -> Duration {
        self.dns_ttl
    }
    /// Sets the `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
    /// The `User-Agent` header sent unless a request sets its own. Defaults to
    /// `httpbatch/VERSION`.
    pub fn get_user_agent(&self) -> &str {
        &self.user_agent
    }
}

struct Origin {
    agent: ureq::Agent,
    counters: Arc<ConnCounters>,
}

struct ClientInner {
    config: HttpClientConfig,
    resolver: Arc<CachingResolver>,
    origins: RwLock<HashMap<String, Arc<Origin>>>,
    tls: TlsConnector,
    /// The proxy rules, or why the proxy options cannot be used.
    proxies: Result<ProxyRules, String>,
}

/// The leaf [`Execute`]: sends each request with ureq over per-origin agents.
///
/// - one `ureq::Agent` per origin, created on first use;
/// - connection statistics counted at the socket ([`connection_stats`](Self::connection_stats));
/// - a caching DNS resolver that never spawns a thread per request;
/// - any HTTP status is a [`Response`]; timeouts, a body-size limit and TLS verification are on
///   by default;
/// - cancelling the [`Context`]'s token shuts down the socket of a request in flight.
///
/// Cloning gives another handle to the same agents and counters.
///
/// ```no_run
/// use httpbatch::{Context, Execute, HttpClient, Request};
/// let client = HttpClient::new();
/// let res = client.execute(Request::get("http://127.0.0.1:8080/")?, &Context::new())?;
/// println!("{} {}", res.status(), res.text());
/// # Ok::<(), httpbatch::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<ClientInner>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("config", &self.inner.config)
            .field("origins", &self.inner.origins.read().len())
            .finish()
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

impl HttpClient {
    /// A client with the default configuration.
    pub fn new() -> HttpClient {
        HttpClient::with_config(HttpClientConfig::default())
    }

    /// A client with `config`. TLS or proxy options that cannot be used fail every request they
    /// concern with [`ErrorKind::InvalidConfig`]; [`try_with_config`](Self::try_with_config)
    /// reports them at once.
    pub fn with_config(config: HttpClientConfig) -> HttpClient {
        let proxies = ProxyRules::new(&config.proxy, |name| std::env::var(name).ok())
            .map_err(|e| e.message().to_owned());
        HttpClient {
            inner: Arc::new(ClientInner {
                resolver: Arc::new(CachingResolver::new(config.dns_ttl)),
                tls: TlsConnector::new(&config.tls),
                proxies,
                config,
                origins: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// A client with `config`, or an [`ErrorKind::InvalidConfig`] error naming the TLS or proxy
    /// option that cannot be used (an unreadable CA file, a proxy URL with an unknown scheme).
    /// Files named by the options are read, and proxy variables read from the environment, now.
    pub fn try_with_config(config: HttpClientConfig) -> Result<HttpClient, Error> {
        let client = HttpClient::with_config(config);
        if let Some(e) = client.inner.tls.error() {
            return Err(e);
        }
        if let Err(m) = &client.inner.proxies {
            return Err(Error::new(ErrorKind::InvalidConfig, m.clone()));
        }
        Ok(client)
    }

    /// The configuration.
    pub fn config(&self) -> &HttpClientConfig {
        &self.inner.config
    }

    /// Connection figures summed over every origin.
    pub fn connection_stats(&self) -> ConnectionStats {
        self.inner
            .origins
            .read()
            .values()
            .map(|o| ConnectionStats::read(&o.counters))
            .fold(ConnectionStats::default(), ConnectionStats::add)
    }

    /// Connection figures per origin (`scheme://host:port`), sorted by origin.
    pub fn origin_stats(&self) -> Vec<(String, ConnectionStats)> {
        let mut v: Vec<_> = self
            .inner
            .origins
            .read()
            .iter()
            .map(|(k, o)| (k.clone(), ConnectionStats::read(&o.counters)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Connection figures of one origin (`scheme://host:port`, as [`Url::origin`] spells it);
    /// all zero for an origin never used.
    pub(crate) fn stats_of(&self, origin: &str) -> ConnectionStats {
        self.inner
            .origins
            .read()
            .get(origin)
            .map(|o| ConnectionStats::read(&o.counters))
            .unwrap_or_default()
    }

    fn origin(&self, url: &Url) -> Arc<Origin> {
        let key = url.origin();
        if let Some(o) = self.inner.origins.read().get(&key) {
            return o.clone();
        }
        let mut origins = self.inner.origins.write();
        origins
            .entry(key)
            .or_insert_with(|| Arc::new(self.new_origin(url)))
            .clone()
    }

    fn new_origin(&self, url: &Url) -> Origin {
        let c = &self.inner.config;
        let counters = Arc::new(ConnCounters::default());
        let (forward, tunnel) = proxy::route_parts(&self.inner.proxies, url);
        let forward_to = forward.as_ref().map(|f| f.proxy_uri().clone());
        let via = proxy::proxy_label(&forward, &tunnel);
        let chain =
            ().chain(SocksConnector::default())
                .chain(ConnectProxyConnector::default())
                .chain(TcpConnector::default())
                .chain(ForwardConnector(forward))
                .chain(self.inner.tls.clone());
        let config = ureq::Agent::config_builder()
            .proxy(tunnel)
            .http_status_as_error(false)
            .timeout_connect(Some(c.connect_timeout))
            .timeout_global(Some(c.timeout))
            .max_idle_connections(c.max_idle_per_origin)
            .max_idle_connections_per_host(c.max_idle_per_origin)
            .max_idle_age(c.idle_timeout)
            .input_buffer_size(c.buffer_size)
            .output_buffer_size(c.buffer_size)
            .max_redirects(c.max_redirects)
            .user_agent(c.user_agent.as_str())
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            CountingConnector::new(chain, counters.clone()).via(via),
            ForwardResolver {
                inner: SharedResolver(self.inner.resolver.clone()),
                forward_to,
            },
        );
        Origin { agent, counters }
    }

    fn send(
        &self,
        origin: &Origin,
        req: &Request,
        timeout: Option<Duration>,
        hold: Option<&mut dyn FnMut()>,
    ) -> Result<(http::response::Parts, Vec<u8>, String), ureq::Error> {
        let mut b = http::Request::builder()
            .method(req.method().as_str())
            .uri(req.url().as_str());
        for (n, v) in req.headers() {
            b = b.header(n, v);
        }
        let agent = &origin.agent;
        // A request-level config clones the agent's whole config, so only build one when this
        // request's timeout differs from the agent's. (A batch deadline needs none: the batch
        // cancels its token at the deadline, which shuts the socket down.)
        let own_timeout = timeout.filter(|t| *t != self.inner.config.timeout);
        let has_body =
            !req.body().is_empty() || matches!(req.method().as_str(), "POST" | "PUT" | "PATCH");
        let res = match (has_body, own_timeout) {
            (false, None) => agent.run(b.body(())?)?,
            (true, None) => agent.run(b.body(req.body())?)?,
            (false, Some(t)) => agent.run(
                agent
                    .configure_request(b.body(())?)
                    .timeout_global(Some(t))
                    .build(),
            )?,
            (true, Some(t)) => agent.run(
                agent
                    .configure_request(b.body(req.body())?)
                    .timeout_global(Some(t))
                    .build(),
            )?,
        };
        let final_url = {
            use ureq::ResponseExt;
            res.get_uri().to_string()
        };
        let (parts, body) = res.into_parts();
        if let Some(hold) = hold {
            // The body is unread, so the connection is still checked out of the idle pool.
            hold();
        }
        let bytes = body
            .into_with_config()
            .limit(self.inner.config.max_body_size)
            .read_to_vec()?;
        Ok((parts, bytes, final_url))
    }
}

impl HttpClient {
    /// Like [`Execute::execute`], but calls `hold` once the response head has arrived and
    /// before its body is read: while `hold` runs, the connection stays checked out of the
    /// origin's idle pool (unless the response has no body, when ureq returns it at once).
    /// Warmup uses it so that n concurrent requests really open n sockets.
    pub(crate) fn execute_holding(
        &self,
        request: Request,
        ctx: &Context,
        hold: &mut dyn FnMut(),
    ) -> Result<Response, Error> {
        self.run(request, ctx, Some(hold))
    }

    fn run(
        &self,
        request: Request,
        ctx: &Context,
        hold: Option<&mut dyn FnMut()>,
    ) -> Result<Response, Error> {
        ctx.check()?;
        if let Err(m) = &self.inner.proxies {
            return Err(Error::new(ErrorKind::InvalidConfig, m.clone()));
        }
        // The deadline bounds the exchange too, so a request never outlives its batch by much
        // even under an executor that does not cancel at the deadline.
        let mut timeout = request.timeout();
        if let Some(left) = ctx.remaining() {
            if left < timeout.unwrap_or(self.inner.config.timeout) {
                timeout = Some(left);
            }
        }
        let origin = self.origin(request.url());
        // Batch workers bring a slot registered once for their lifetime; a direct caller gets a
        // slot registered for this request only.
        let (slot, _guard) = match ctx.slot() {
            Some(slot) => (slot.clone(), None),
            None => {
                let slot = Arc::new(InflightSlot::default());
                let canceller = slot.clone();
                let guard = ctx.on_cancel(Arc::new(move || canceller.cancel()));
                (slot, guard)
            }
        };
        let start = Instant::now();
        let sent = {
            let _current = CurrentSlot::enter(&slot);
            self.send(&origin, &request, timeout, hold)
        };
        let wire = start.elapsed();
        match sent {
            Ok((parts, body, url)) => {
                let headers = parts
                    .headers
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_owned(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                Ok(Response {
                    status: parts.status.as_u16(),
                    headers,
                    body,
                    url,
                    tag: request.tag(),
                    attempts: 1,
                    timings: Timings {
                        wire,
                        total: wire,
                        ..Timings::default()
                    },
                })
            }
            Err(e) => {
                if slot.is_cancelled() {
                    if let Some(err) = ctx.cancel_token().and_then(|t| t.error()) {
                        return Err(err.with_attempts(1));
                    }
                }
                let deadline_passed = ctx.deadline().is_some_and(|d| Instant::now() >= d);
                let mut err = map_error(e, &request, self.inner.config.max_body_size);
                if deadline_passed && err.kind() == ErrorKind::Timeout {
                    err = Error::deadline_exceeded();
                }
                Err(err.with_attempts(1))
            }
        }
    }
}

impl Execute for HttpClient {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        self.run(request, ctx, None)
    }
}

/// Lets every origin's agent share one DNS cache.
#[derive(Debug)]
struct SharedResolver(Arc<CachingResolver>);

impl ureq::unversioned::resolver::Resolver for SharedResolver {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        self.0.resolve(uri, config, timeout)
    }
}

fn map_error(e: ureq::Error, req: &Request, limit: u64) -> Error {
    use std::io::ErrorKind as Io;
    let url = req.url();
    if let Some((kind, msg)) = connector::typed_failure(&e, url) {
        return Error::with_source(kind, msg, e);
    }
    let (kind, msg) = match &e {
        ureq::Error::Timeout(t) => (ErrorKind::Timeout, format!("{t:?} timeout on {url}")),
        ureq::Error::HostNotFound => (ErrorKind::Dns, format!("host not found: {}", url.host())),
        ureq::Error::BodyExceedsLimit(_) => (
            ErrorKind::BodyTooLarge,
            format!("response body of {url} exceeds {limit} bytes"),
        ),
        ureq::Error::Tls(m) => (ErrorKind::Tls, format!("TLS failure with {url}: {m}")),
        ureq::Error::BadUri(m) => (ErrorKind::InvalidUrl, m.clone()),
        ureq::Error::Http(m) => (ErrorKind::InvalidRequest, m.to_string()),
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
            (ErrorKind::Redirect, format!("{e} for {url}"))
        }
        ureq::Error::Protocol(p) => (ErrorKind::Protocol, format!("{p} from {url}")),
        ureq::Error::ConnectionFailed => (
            ErrorKind::ConnectRefused,
            format!("connection to {} failed", url.origin()),
        ),
        ureq::Error::Io(io) => match io.kind() {
            Io::ConnectionRefused => (
                ErrorKind::ConnectRefused,
                format!("connection refused by {}", url.origin()),
            ),
            Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::BrokenPipe
            | Io::UnexpectedEof
            | Io::NotConnected => (
                ErrorKind::ConnectionReset,
                format!("connection to {} closed: {io}", url.origin()),
            ),
            Io::TimedOut | Io::WouldBlock => (ErrorKind::Timeout, format!("{io} on {url}")),
            _ if io.to_string().contains("dns") || io.to_string().contains("lookup") => {
                (ErrorKind::Dns, format!("resolving {}: {io}", url.host()))
            }
            _ => (ErrorKind::Io, format!("{io} on {url}")),
        },
        other => (ErrorKind::Io, format!("{other} on {url}")),
    };
    Error::with_source(kind, msg, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn _assert_send_sync() {
        fn is<T: Send + Sync>() {}
        is::<HttpClient>();
    }

    #[test]
    fn refused_is_typed() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = HttpClient::new();
        let err = client
            .execute(
                Request::get(&format!("http://127.0.0.1:{port}/")).unwrap(),
                &Context::new(),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectRefused, "{err:?}");
        // No connection, so no request went out and nothing was reused.
        assert_eq!(client.connection_stats(), ConnectionStats::default());
    }
}
