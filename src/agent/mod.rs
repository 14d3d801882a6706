//! The leaf of every stack: sends requests with ureq, one agent per origin.
//!
//! Invariants:
//! - One `ureq::Agent` per origin (scheme, host, port), created on first use and never replaced.
//!   A shared agent across many hosts costs O(idle × hosts) under one mutex per checkout; an agent
//!   per origin keeps a checkout O(idle of that origin).
//! - Connection counters belong to the origin's connector and are only ever incremented; figures
//!   are derived from them when read (`live = opened - closed`, `reused = requests - opened`).

mod buffers;
mod config;
mod connector;
mod decode;
mod failure;
mod gate;
mod no_proxy;
mod proxy;
mod redirect;
mod resolver;
mod slot;
mod socks;
mod stats;
mod tcp;
mod tls;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::RwLock;
use ureq::http;
use ureq::unversioned::transport::{ConnectProxyConnector, Connector};

use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::request::{Method, Request, Scheme, Url};
use crate::response::Response;

pub use self::config::HttpClientConfig;
use self::connector::{ConnCounters, CountingConnector};
use self::gate::Gate;
use self::proxy::{ForwardConnector, ForwardResolver, ProxyRules};
use self::resolver::{CachingResolver, OriginResolver, SharedResolver};
pub(crate) use self::slot::InflightSlot;
// RFC 3986 reference resolution, shared with pagination (`Link` targets are relative too).
pub(crate) use self::redirect::resolve as resolve_reference;
use self::socks::SocksConnector;
pub use self::stats::ConnectionStats;
use self::tcp::TcpConnector;
use self::tls::TlsConnector;
pub use self::tls::TlsVersion;

struct Origin {
    /// `scheme://host:port`, as [`Url::origin`] spells it: its key in the client's map.
    key: Box<str>,
    agent: ureq::Agent,
    counters: Arc<ConnCounters>,
    /// The authority of the first URI sent to this origin, as `http` parsed it: a request whose
    /// URL spells its authority the same way reuses it (a reference count) instead of parsing
    /// it again and copying its bytes apart from the path's.
    authority: OnceLock<http::uri::Authority>,
}

thread_local! {
    /// The client (by [`ClientInner::id`]) and origin of this thread's last request: a worker
    /// sends most requests to the origin of its last one, and finds it here with a string
    /// compare instead of the map's lock and hash. Weak, so it never keeps an origin (and its
    /// idle connections) alive.
    static LAST_ORIGIN: RefCell<Option<(u64, Weak<Origin>)>> = const { RefCell::new(None) };
}

/// The next [`ClientInner::id`]: never reused, so a new client at a freed client's address is
/// not mistaken for it.
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

impl Origin {
    /// `url` as the URI ureq takes, built from its parts when its authority is the one this
    /// origin has seen (only the path and query are parsed); `None` when it is not, or not known
    /// yet: then the whole URL is parsed, as it always could be.
    fn uri(&self, url: &Url) -> Option<http::Uri> {
        let authority = self.authority.get()?;
        let after_scheme = url.scheme().as_str().len() + 3;
        // The URL's authority and what follows it: known from parsing when the URL starts with
        // its origin, else found.
        let (spelled, target) = match url.after_origin() {
            Some(target) => (&url.origin()[after_scheme..], target),
            None => {
                let rest = &url.as_str()[after_scheme..];
                let end = rest
                    .bytes()
                    .position(|b| matches!(b, b'/' | b'?' | b'#'))
                    .unwrap_or(rest.len());
                rest.split_at(end)
            }
        };
        if spelled != authority.as_str() {
            return None;
        }
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(match url.scheme() {
            Scheme::Http => http::uri::Scheme::HTTP,
            Scheme::Https => http::uri::Scheme::HTTPS,
        });
        parts.authority = Some(authority.clone());
        // What `http` makes of an absolute URI's path: `/` when there is none.
        parts.path_and_query = Some(match target {
            "" => http::uri::PathAndQuery::from_static("/"),
            path => http::uri::PathAndQuery::try_from(path).ok()?,
        });
        http::Uri::from_parts(parts).ok()
    }

    /// The figures, idle sockets the peer closed counted as closed.
    fn stats(&self) -> ConnectionStats {
        self.counters.sweep();
        ConnectionStats::read(&self.counters)
    }
}

struct ClientInner {
    /// Tells this client's origins from another's in [`LAST_ORIGIN`].
    id: u64,
    config: HttpClientConfig,
    /// Why the configuration cannot be used ([`HttpClientConfig::validate`]); every request
    /// then fails with it instead of reaching ureq, which would panic on it.
    invalid: Option<String>,
    resolver: Arc<CachingResolver>,
    origins: RwLock<HashMap<String, Arc<Origin>>>,
    tls: TlsConnector,
    /// The proxy rules, or why the proxy options cannot be used.
    proxies: Result<ProxyRules, String>,
    gate: Arc<Gate>,
    /// The headers ureq would add to a request that sets none of them (`Accept-Encoding`,
    /// `User-Agent`, `Accept`, in ureq's order), made once: a request without headers of its
    /// own takes a copy of this map (reference counts of the values) instead of ureq copying
    /// and checking the configured text every time.
    auto_headers: http::HeaderMap,
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

    /// A client with `config`. A configuration that [`validate`](HttpClientConfig::validate)
    /// refuses, and TLS or proxy options that cannot be used, make every request they concern
    /// fail with [`ErrorKind::InvalidConfig`]; [`try_with_config`](Self::try_with_config)
    /// reports them at once.
    pub fn with_config(config: HttpClientConfig) -> HttpClient {
        let proxies = ProxyRules::new(&config.proxy, |name| std::env::var(name).ok())
            .map_err(|e| e.message().to_owned());
        HttpClient {
            inner: Arc::new(ClientInner {
                id: NEXT_CLIENT.fetch_add(1, Ordering::Relaxed),
                resolver: Arc::new(CachingResolver::new(config.dns_ttl, config.resolve.clone())),
                invalid: config.validate().err().map(|e| e.message().to_owned()),
                tls: TlsConnector::new(&config.tls),
                proxies,
                auto_headers: auto_headers(&config),
                config,
                origins: RwLock::new(HashMap::new()),
                gate: Arc::default(),
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
            .map(|o| o.stats())
            .fold(ConnectionStats::default(), ConnectionStats::add)
    }

    /// Connection figures per origin (`scheme://host:port`), sorted by origin.
    pub fn origin_stats(&self) -> Vec<(String, ConnectionStats)> {
        let mut v: Vec<_> = self
            .inner
            .origins
            .read()
            .iter()
            .map(|(k, o)| (k.clone(), o.stats()))
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
            .map(|o| o.stats())
            .unwrap_or_default()
    }

    fn origin(&self, url: &Url) -> Arc<Origin> {
        let key = url.origin();
        let id = self.inner.id;
        let last = LAST_ORIGIN.with_borrow(|last| match last {
            Some((client, o)) if *client == id => o.upgrade().filter(|o| &*o.key == key),
            _ => None,
        });
        if let Some(o) = last {
            return o;
        }
        let o = self.find_origin(url);
        LAST_ORIGIN.with_borrow_mut(|last| *last = Some((id, Arc::downgrade(&o))));
        o
    }

    fn find_origin(&self, url: &Url) -> Arc<Origin> {
        let key = url.origin();
        if let Some(o) = self.inner.origins.read().get(key) {
            return o.clone();
        }
        let mut origins = self.inner.origins.write();
        origins
            .entry(key.to_owned())
            .or_insert_with(|| Arc::new(self.new_origin(url)))
            .clone()
    }

    fn new_origin(&self, url: &Url) -> Origin {
        let c = &self.inner.config;
        let counters = Arc::new(ConnCounters::new(self.inner.gate.clone()));
        self.inner.gate.add_origin();
        let (forward, tunnel) = proxy::route_parts(&self.inner.proxies, url);
        let forward_to = forward.as_ref().map(|f| f.proxy_uri().clone());
        let via = proxy::proxy_label(&forward, &tunnel);
        let chain =
            ().chain(SocksConnector)
                .chain(ConnectProxyConnector::default())
                .chain(TcpConnector)
                .chain(ForwardConnector(forward))
                .chain(self.inner.tls.clone());
        let config = ureq::Agent::config_builder()
            .proxy(tunnel)
            .http_status_as_error(false)
            .timeout_connect(limit(c.connect_timeout))
            // No `timeout_global`: the leaf bounds every I/O call by the request's own deadline
            // (`CurrentSlot`), which costs ureq no timeout bookkeeping and no request-level
            // config when a request sets its own timeout.
            .max_idle_connections(c.max_idle_per_origin)
            .max_idle_connections_per_host(c.max_idle_per_origin)
            .max_idle_age(c.idle_timeout)
            .input_buffer_size(c.buffer_size)
            // The leaf's transports grow the input buffer up to this for a large head only.
            .max_response_header_size(c.max_response_head.max(c.buffer_size))
            .output_buffer_size(c.buffer_size)
            // The leaf follows redirects itself (src/agent/redirect.rs).
            .max_redirects(0)
            .user_agent(c.user_agent.as_str())
            .accept_encoding(c.get_accept_encoding().unwrap_or(""))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            CountingConnector::new(chain, counters.clone()).via(via),
            ForwardResolver {
                inner: OriginResolver::new(SharedResolver(self.inner.resolver.clone()), c.dns_ttl),
                forward_to,
            },
        );
        Origin {
            key: url.origin().into(),
            agent,
            counters,
            authority: OnceLock::new(),
        }
    }

    /// Writes `req` and reads its answer, within the deadline the caller published with
    /// `CurrentSlot`. `hold` runs once the head has arrived, unless the answer is a redirect
    /// about to be followed (`follow`); a redirect's body is drained and not kept.
    fn send<'h>(
        &self,
        origin: &Origin,
        req: &Request,
        follow: bool,
        hold: Option<&mut (dyn FnMut() + 'h)>,
    ) -> Result<(http::response::Parts, Vec<u8>), ureq::Error> {
        let uri = match origin.uri(req.url()) {
            Some(uri) => uri,
            None => {
                let uri = http::Uri::try_from(req.url().as_str()).map_err(http::Error::from)?;
                if let Some(a) = uri.authority() {
                    let _ = origin.authority.set(a.clone());
                }
                uri
            }
        };
        // Set in place rather than through `http`'s builder, which moves the whole head at
        // every step; the same conversions, so the same errors.
        let mut head = http::Request::new(());
        *head.method_mut() = http_method(req.method());
        *head.uri_mut() = uri;
        let auto = &self.inner.auto_headers;
        if req.headers().len() == 0 {
            // Two allocations and a reference count per value; no hashing.
            *head.headers_mut() = auto.clone();
        } else {
            for (n, v) in req.headers() {
                let name = http::HeaderName::try_from(n).map_err(http::Error::from)?;
                let value = http::HeaderValue::try_from(v).map_err(http::Error::from)?;
                head.headers_mut()
                    .try_append(name, value)
                    .map_err(http::Error::from)?;
            }
            // The request's own win, as ureq decides it.
            for (name, value) in auto {
                if let http::header::Entry::Vacant(e) = head
                    .headers_mut()
                    .try_entry(name)
                    .map_err(http::Error::from)?
                {
                    e.try_insert(value.clone()).map_err(http::Error::from)?;
                }
            }
        }
        let agent = &origin.agent;
        let has_body =
            !req.body().is_empty() || matches!(req.method().as_str(), "POST" | "PUT" | "PATCH");
        let res = match has_body {
            false => agent.run(head)?,
            true => agent.run(head.map(|()| req.body()))?,
        };
        let (parts, body) = res.into_parts();
        let limit = self.inner.config.max_body_size;
        if follow
            && redirect::is_followed(parts.status.as_u16())
            && parts.headers.contains_key(http::header::LOCATION)
        {
            // Drained so the connection can be reused (the body limit is for answers, not for
            // a redirect's few bytes); a failure only costs the connection.
            let _ = body.into_with_config().limit(REDIRECT_DRAIN).read_to_vec();
            return Ok((parts, Vec::new()));
        }
        if let Some(hold) = hold {
            // The body is unread, so the connection is still checked out of the idle pool.
            hold();
        }
        let mut parts = parts;
        let codings = match self.inner.config.decompress
            && has_header(&parts.headers, &http::header::CONTENT_ENCODING)
        {
            true => decode::codings(&parts.headers).filter(|c| !c.is_empty()),
            false => None,
        };
        let bytes = match codings {
            None => read_body(body, limit)?,
            Some(codings) => {
                let bytes = decode::decode(
                    body.into_with_config().limit(limit).reader(),
                    &codings,
                    limit,
                )?;
                parts.headers.remove(http::header::CONTENT_ENCODING);
                parts.headers.remove(http::header::CONTENT_LENGTH);
                bytes
            }
        };
        Ok((parts, bytes))
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
        if let Some(why) = &self.inner.invalid {
            return Err(Error::new(ErrorKind::InvalidConfig, why.clone()));
        }
        if let Err(m) = &self.inner.proxies {
            return Err(Error::new(ErrorKind::InvalidConfig, m.clone()));
        }
        // The cancel token and the deadline are checked first thing in `exchange`.
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
        let _in_flight = self.inner.gate.enter();
        self.exchange(request, ctx, hold, &slot)
    }
}

impl Execute for HttpClient {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        self.run(request, ctx, None)
    }
}

/// The `http` crate's constant for `m` (no parse).
fn http_method(m: Method) -> http::Method {
    match m {
        Method::Get => http::Method::GET,
        Method::Head => http::Method::HEAD,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Delete => http::Method::DELETE,
        Method::Patch => http::Method::PATCH,
        Method::Options => http::Method::OPTIONS,
        Method::Trace => http::Method::TRACE,
    }
}

/// The headers ureq adds to a request that sets none of them, as its agent for `config` would
/// (see [`ClientInner::auto_headers`]). One whose value `http` refuses is left to ureq.
fn auto_headers(config: &HttpClientConfig) -> http::HeaderMap {
    use http::header::{ACCEPT, ACCEPT_ENCODING, USER_AGENT};
    let value = |v: &str| http::HeaderValue::from_str(v).ok();
    let ua = Some(config.user_agent.as_str()).filter(|v| !v.is_empty());
    [
        (
            ACCEPT_ENCODING,
            config.get_accept_encoding().and_then(value),
        ),
        (USER_AGENT, ua.and_then(value)),
        // ureq's default.
        (ACCEPT, Some(http::HeaderValue::from_static("*/*"))),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some((name, value?)))
    .collect()
}

/// Whether `headers` hold `name`: a look at each entry of a short map (most answers have a
/// handful of headers), which costs less than hashing the name.
fn has_header(headers: &http::HeaderMap, name: &http::HeaderName) -> bool {
    match headers.keys_len() <= 8 {
        true => headers.keys().any(|n| n == name),
        false => headers.contains_key(name),
    }
}

/// Reads `body` to its end, within `limit`, into a vector sized from its `Content-Length` (but
/// never more than [`PREALLOCATE_MAX`] ahead of the bytes that came): a small body then costs
/// one exact allocation and one read, where growing from empty costs a reallocation and a
/// probing read or two. ureq knows when there is no body at all (`HEAD`, 204, 304).
fn read_body(body: ureq::Body, limit: u64) -> Result<Vec<u8>, ureq::Error> {
    use std::io::Read;
    let expected = body
        .content_length()
        .map_or(0, |n| n.min(limit).min(PREALLOCATE_MAX));
    let mut bytes = Vec::with_capacity(expected as usize);
    body.into_with_config()
        .limit(limit)
        .reader()
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Most bytes of a body allocated on the word of its `Content-Length` alone.
const PREALLOCATE_MAX: u64 = 64 * 1024;

/// Most bytes of a redirect's body read (and dropped) to keep its connection.
const REDIRECT_DRAIN: u64 = 64 * 1024;

/// Durations from here on mean "no limit": an `Instant` that far ahead could overflow.
const NO_LIMIT_FROM: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A configured timeout as ureq takes it: zero, and anything from about a century on (up to
/// [`Duration::MAX`]), mean no limit.
pub(crate) fn limit(d: Duration) -> Option<Duration> {
    (!d.is_zero() && d < NO_LIMIT_FROM).then_some(d)
}

#[cfg(test)]
mod tests;
