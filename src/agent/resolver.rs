//! A caching, synchronous DNS resolver.
//!
//! ureq's default resolver looks the host up on every request, and when any timeout applies to
//! resolution it spawns one thread per lookup to enforce it. With a per-request timeout on every
//! request that is one thread per request. This resolver answers IP literals without a lookup and
//! caches names for a TTL, resolving on the calling thread.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// (host, port) to (resolved at, addresses).
type Cache = HashMap<(String, u16), (Instant, Vec<SocketAddr>)>;

#[derive(Debug)]
pub(crate) struct CachingResolver {
    ttl: Duration,
    cache: RwLock<Cache>,
    /// Fixed answers (`HttpClientConfig::resolve`): host (lower-cased), port, address.
    fixed: Vec<(String, u16, IpAddr)>,
}

impl CachingResolver {
    pub(crate) fn new(ttl: Duration, fixed: Vec<(String, u16, IpAddr)>) -> CachingResolver {
        CachingResolver {
            ttl,
            cache: RwLock::new(HashMap::new()),
            fixed,
        }
    }

    fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ureq::Error> {
        if let Some((_, _, ip)) = self
            .fixed
            .iter()
            .find(|(h, p, _)| *p == port && h.eq_ignore_ascii_case(host))
        {
            return Ok(vec![SocketAddr::new(*ip, port)]);
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let key = (host.to_ascii_lowercase(), port);
        if let Some((at, addrs)) = self.cache.read().get(&key) {
            if at.elapsed() < self.ttl {
                return Ok(addrs.clone());
            }
        }
        let addrs: Vec<SocketAddr> = (bare, port).to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        self.cache
            .write()
            .insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .ok_or_else(|| ureq::Error::BadUri(format!("{uri} has no host")))?;
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let addrs = self.lookup(host, port)?;
        let mut out = self.empty();
        for a in config.ip_family().keep_wanted(addrs.into_iter()).take(16) {
            out.push(a);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

/// One origin's resolver: the shared cache, with the last answer kept at hand (for good when
/// the host is an IP address, else for the TTL), so a request on a pooled connection costs no
/// parse, no lower-cased key and no map lookup.
#[derive(Debug)]
pub(crate) struct OriginResolver<R> {
    inner: R,
    ttl: Duration,
    /// The last answer: the authority asked for (a proxy's, through the same resolver, differs
    /// from the origin's), until when (`None`: for good), and the addresses.
    last: RwLock<Option<(String, Option<Instant>, ResolvedSocketAddrs)>>,
}

impl<R: Resolver> OriginResolver<R> {
    pub(crate) fn new(inner: R, ttl: Duration) -> OriginResolver<R> {
        OriginResolver {
            inner,
            ttl,
            last: RwLock::new(None),
        }
    }
}

impl<R: Resolver> Resolver for OriginResolver<R> {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if self.ttl.is_zero() {
            return self.inner.resolve(uri, config, timeout);
        }
        let authority = uri.authority().map_or("", |a| a.as_str());
        if let Some((of, until, addrs)) = &*self.last.read() {
            if of == authority && until.is_none_or(|t| Instant::now() < t) {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let host = uri.host().unwrap_or_default();
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok();
        let until = match literal {
            true => None,
            false => Instant::now().checked_add(self.ttl),
        };
        *self.last.write() = Some((authority.to_owned(), until, addrs.clone()));
        Ok(addrs)
    }
}

/// Lets every origin's resolver share one DNS cache.
#[derive(Debug)]
pub(crate) struct SharedResolver(pub(crate) Arc<CachingResolver>);

impl Resolver for SharedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        self.0.resolve(uri, config, timeout)
    }
}
