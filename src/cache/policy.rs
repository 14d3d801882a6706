//! The bridge to `http-cache-semantics`: our requests, responses and entries as the `http`
//! crate's parts, so the RFC 9111 rules (freshness, storability, `Vary`, validators, the merge
//! of a `304`'s headers) are the crate's, not ours.

use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http_cache_semantics::{CacheOptions, CachePolicy, RequestLike, ResponseLike};

use super::entry::Entry;
use crate::request::Request;
use crate::response::Response;

/// A request as the crate sees it.
pub(crate) struct HttpReq {
    method: http::Method,
    uri: http::Uri,
    headers: HeaderMap,
}

impl RequestLike for HttpReq {
    fn uri(&self) -> http::Uri {
        self.uri.clone()
    }
    fn is_same_uri(&self, other: &http::Uri) -> bool {
        &self.uri == other
    }
    fn method(&self) -> &http::Method {
        &self.method
    }
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

/// A response as the crate sees it.
pub(crate) struct HttpRes {
    status: http::StatusCode,
    headers: HeaderMap,
}

impl ResponseLike for HttpRes {
    fn status(&self) -> http::StatusCode {
        self.status
    }
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

fn header_map<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (n, v) in pairs {
        // Our requests and responses only carry valid names and values; anything the `http`
        // crate still refuses is left out of the computation rather than failing the request.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            map.append(n, v);
        }
    }
    map
}

fn uri(url: &str) -> http::Uri {
    url.parse().unwrap_or_default()
}

impl HttpReq {
    pub(crate) fn from_request(req: &Request) -> HttpReq {
        HttpReq {
            method: http::Method::from_bytes(req.method().as_str().as_bytes()).unwrap_or_default(),
            uri: uri(req.url().as_str()),
            headers: header_map(req.headers()),
        }
    }

    /// The same request with `cache-control: no-cache` added: the crate then answers "stale"
    /// with a revalidation request, which is what a forced refresh sends.
    pub(crate) fn no_cache(&self) -> HttpReq {
        let mut headers = self.headers.clone();
        headers.append(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        HttpReq {
            method: self.method.clone(),
            uri: self.uri.clone(),
            headers,
        }
    }

    /// The values of the headers named by a response's `Vary` (what an entry must keep to
    /// decide whether a later request matches it).
    pub(crate) fn vary_headers(&self, res: &Response) -> Vec<(String, String)> {
        let mut out = Vec::new();
        // The crate also matches a stored request's `Host` against a new one's.
        if let Some(host) = self
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
        {
            out.push(("host".to_owned(), host.to_owned()));
        }
        for v in res
            .headers()
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
        {
            for name in v.1.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let name = name.to_ascii_lowercase();
                for value in self.headers.get_all(name.as_str()) {
                    if let Ok(value) = value.to_str() {
                        out.push((name.clone(), value.to_owned()));
                    }
                }
            }
        }
        out
    }
}

impl HttpRes {
    pub(crate) fn from_response(res: &Response) -> HttpRes {
        HttpRes {
            status: http::StatusCode::from_u16(res.status()).unwrap_or_default(),
            headers: header_map(res.headers().iter()),
        }
    }
}

/// The options every policy is computed with.
pub(crate) fn options(shared: bool, heuristic: f32) -> CacheOptions {
    CacheOptions {
        shared,
        cache_heuristic: heuristic,
        ..CacheOptions::default()
    }
}

/// The policy for a fresh response to `req`.
pub(crate) fn for_response(
    req: &HttpReq,
    res: &Response,
    at: SystemTime,
    opts: CacheOptions,
) -> CachePolicy {
    CachePolicy::new_options(req, &HttpRes::from_response(res), at, opts)
}

/// The policy of a stored entry, rebuilt (once per entry) from what it keeps: the request's
/// method, URL and varying headers, the response's status and headers, and when it was
/// received.
pub(crate) fn for_entry(entry: &Entry, opts: CacheOptions) -> &CachePolicy {
    entry.policy.0.get_or_init(|| compute(entry, opts))
}

fn compute(entry: &Entry, opts: CacheOptions) -> CachePolicy {
    let (method, url) = entry.key.split_once(' ').unwrap_or(("GET", ""));
    let req = HttpReq {
        method: http::Method::from_bytes(method.as_bytes()).unwrap_or_default(),
        uri: uri(url),
        headers: header_map(
            entry
                .vary_headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        ),
    };
    let res = HttpRes {
        status: http::StatusCode::from_u16(entry.status).unwrap_or_default(),
        headers: header_map(entry.headers.iter()),
    };
    CachePolicy::new_options(&req, &res, entry.stored_at, opts)
}

/// Headers as owned pairs (lower-case names), for an entry or a response.
pub(crate) fn pairs(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
