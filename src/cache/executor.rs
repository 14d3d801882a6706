//! The cache layer: answers from the store, revalidates, stores what HTTP allows.
//!
//! Invariants:
//! - Only `GET` and `HEAD` read or write the store; every other method passes through, and a
//!   success (status below 400) removes the stored `GET` and `HEAD` entries of its URL.
//! - A request that carries its own validators (`If-None-Match`, `If-Modified-Since`,
//!   `If-Match`, `If-Unmodified-Since`, `If-Range`) or a `Range` passes through untouched: a `304`
//!   or `206` it gets back is the caller's, not something to store or merge.
//! - The layer never sends more than one request down per call, and only in the cases that
//!   are not a hit: a hit touches neither the limiter nor the pool.

use std::time::SystemTime;

use http_cache_semantics::{AfterResponse, BeforeRequest};

use super::entry::Entry;
use super::policy::{self, HttpReq};
use super::{CACHE_MODE_HEADER, CacheMode, HttpCache, bump};
use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::request::{Method, Request};
use crate::response::{CacheStatus, Headers, Response};

/// Request headers that take a request off the fast hit path (the crate decides then).
const SIMPLE_BREAKERS: [&str; 3] = ["cache-control", "pragma", "host"];

/// Request headers that make a request the caller's own conditional or partial request.
const CALLER_VALIDATORS: [&str; 6] = [
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
    "range",
];

/// Answers `GET`/`HEAD` requests from an [`HttpCache`] when HTTP's rules allow, and stores
/// what the inner layer returns. See the [module docs](crate::HttpCache) for where it goes in a
/// stack; it sees a request before every layer it wraps.
#[derive(Debug, Clone)]
pub struct CachedExecutor<E> {
    inner: E,
    cache: HttpCache,
}

impl<E: Execute> CachedExecutor<E> {
    /// Wraps `inner` with `cache` (a shared handle: keep a clone to read its statistics).
    pub fn new(inner: E, cache: HttpCache) -> CachedExecutor<E> {
        CachedExecutor { inner, cache }
    }

    /// The cache.
    pub fn cache(&self) -> &HttpCache {
        &self.cache
    }

    /// The inner layer.
    pub fn get_ref(&self) -> &E {
        &self.inner
    }

    /// The inner layer, mutably.
    pub fn get_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// Unwraps the inner layer.
    pub fn into_inner(self) -> E {
        self.inner
    }

    fn pass(&self, req: Request, ctx: &Context, status: CacheStatus) -> Result<Response, Error> {
        let mut res = self.inner.execute(req, ctx)?;
        res.cache = Some(status);
        Ok(res)
    }

    fn store(&self, key: String, req: &HttpReq, res: &Response, now: SystemTime) {
        let p = policy::for_response(req, res, now, self.cache.inner.opts);
        if !p.is_storable() || !res.redirects().is_empty() {
            // Not storable (a redirected answer is stored under neither URL: the chain's hops
            // have policies of their own). An older entry for the key stays valid only if it
            // was; drop it so a `no-store` answer is not followed by a stale hit.
            self.cache.remove(&key);
            return;
        }
        self.cache.put(Entry {
            key,
            stored_at: now,
            vary_headers: req.vary_headers(res),
            status: res.status(),
            headers: res.headers().clone(),
            body: res.body().to_vec(),
            url: res.url().to_owned(),
            policy: Default::default(),
        });
    }
}

/// The stored response as an answer to `req`.
fn from_entry(entry: &Entry, head: bool, age: Option<&str>, status: CacheStatus) -> Response {
    let mut res = Response::new(entry.status, entry.body.clone());
    // Stored names are lower-case already.
    let kept = entry.headers.iter().filter(|(n, _)| *n != "age");
    let pairs: Vec<(&str, &str)> = kept.chain(age.map(|age| ("age", age))).collect();
    res.headers = Headers::build(&pairs, false);
    if head {
        res.body = Box::default();
    }
    res.url = entry.url.as_str().into();
    res.attempts = 0;
    res.cache = Some(status);
    res
}

fn only_if_cached_miss(req: &Request) -> Response {
    let mut res =
        Response::new(504, b"not in the cache (only-if-cached)".to_vec()).with_tag(req.tag());
    res.url = req.url().as_str().into();
    res.attempts = 0;
    res.cache = Some(CacheStatus::Miss);
    res
}

impl<E: Execute> Execute for CachedExecutor<E> {
    fn execute(&self, mut req: Request, ctx: &Context) -> Result<Response, Error> {
        let counters = &self.cache.inner.counters;
        let mode = match req.remove_header(CACHE_MODE_HEADER) {
            Some(v) => CacheMode::parse(&v)
                .map_err(|e| Error::new(ErrorKind::InvalidRequest, e.message().to_owned()))?,
            None => self.cache.inner.mode,
        };
        let method = req.method();
        if !matches!(method, Method::Get | Method::Head) {
            bump(&counters.bypassed);
            let url = req.url().as_str().to_owned();
            let res = self.pass(req, ctx, CacheStatus::Bypass)?;
            if res.status() < 400 {
                self.cache.remove(&format!("GET {url}"));
                self.cache.remove(&format!("HEAD {url}"));
            }
            return Ok(res);
        }
        let own_validators = req
            .headers()
            .any(|(n, _)| CALLER_VALIDATORS.iter().any(|v| n.eq_ignore_ascii_case(v)));
        if mode == CacheMode::Bypass || own_validators {
            bump(&counters.bypassed);
            return self.pass(req, ctx, CacheStatus::Bypass);
        }

        let key = format!("{} {}", method.as_str(), req.url().as_str());
        let now = self.cache.now();
        let entry = self.cache.get(&key);
        if let Some(entry) = &entry {
            let p = policy::for_entry(entry, self.cache.inner.opts);
            // The common hit, decided without building the request's header map: no request
            // directives (`cache-control`, `pragma`), nothing to match (`host`, `vary`), so the
            // crate's answer reduces to its freshness.
            if mode != CacheMode::Refresh
                && entry.vary_headers.is_empty()
                && !entry.headers.contains("vary")
                && !req
                    .headers()
                    .any(|(n, _)| SIMPLE_BREAKERS.iter().any(|b| n.eq_ignore_ascii_case(b)))
                && !p.is_stale(now)
            {
                bump(&counters.hits);
                let age = p.age(now).as_secs().to_string();
                let res = from_entry(entry, method == Method::Head, Some(&age), CacheStatus::Hit);
                return Ok(res.with_tag(req.tag()));
            }
        }
        let http_req = HttpReq::from_request(&req);
        let mut revalidating = None;
        if let Some(entry) = entry {
            let p = policy::for_entry(&entry, self.cache.inner.opts).clone();
            let asked = if mode == CacheMode::Refresh {
                p.before_request(&http_req.no_cache(), now)
            } else {
                p.before_request(&http_req, now)
            };
            match asked {
                BeforeRequest::Fresh(parts) => {
                    bump(&counters.hits);
                    let age = parts.headers.get("age").and_then(|v| v.to_str().ok());
                    let res = from_entry(&entry, method == Method::Head, age, CacheStatus::Hit);
                    return Ok(res.with_tag(req.tag()));
                }
                BeforeRequest::Stale { request, matches } if mode != CacheMode::OnlyIfCached => {
                    if matches {
                        let mut any = false;
                        for name in ["if-none-match", "if-modified-since"] {
                            if let Some(v) = request.headers.get(name).and_then(|v| v.to_str().ok())
                            {
                                req.add_header(name, v)?;
                                any = true;
                            }
                        }
                        if any {
                            revalidating = Some((entry, p));
                        }
                    }
                }
                BeforeRequest::Stale { .. } => {}
            }
        }
        if mode == CacheMode::OnlyIfCached {
            bump(&counters.misses);
            return Ok(only_if_cached_miss(&req));
        }

        let Some((entry, p)) = revalidating else {
            bump(&counters.misses);
            let mut res = self.inner.execute(req, ctx)?;
            self.store(key, &http_req, &res, now);
            res.cache = Some(CacheStatus::Miss);
            return Ok(res);
        };
        bump(&counters.revalidations);
        let res = self.inner.execute(req, ctx)?;
        let now = self.cache.now();
        if res.status() == 304 {
            bump(&counters.not_modified);
            let res_parts = policy::HttpRes::from_response(&res);
            if let AfterResponse::NotModified(_, parts) =
                p.after_response(&http_req, &res_parts, now)
            {
                // The stored headers, replaced by the 304's where it sent them (the crate's
                // merge); its `age` and `date` are the crate's view of now, so keep the
                // server's date instead.
                let mut headers: Vec<(String, String)> = policy::pairs(&parts.headers)
                    .into_iter()
                    .filter(|(n, _)| n != "age" && n != "date")
                    .collect();
                let date = res
                    .header("date")
                    .or_else(|| entry.headers.first("date"))
                    .map(str::to_owned);
                if let Some(d) = date {
                    headers.push(("date".into(), d));
                }
                let headers = Headers::build(&headers, false);
                let updated = Entry {
                    key,
                    stored_at: now,
                    vary_headers: entry.vary_headers.clone(),
                    status: entry.status,
                    headers,
                    body: entry.body.clone(),
                    url: entry.url.clone(),
                    policy: Default::default(),
                };
                let head = method == Method::Head;
                let mut out = from_entry(&updated, head, None, CacheStatus::Revalidated);
                out.tag = res.tag;
                out.attempts = res.attempts;
                out.timings = res.timings;
                self.cache.put(updated);
                return Ok(out);
            }
            // A 304 whose validators match nothing stored: the caller gets it as it came.
            let mut res = res;
            res.cache = Some(CacheStatus::Miss);
            return Ok(res);
        }
        let mut res = res;
        self.store(key, &http_req, &res, now);
        res.cache = Some(CacheStatus::Miss);
        Ok(res)
    }
}
