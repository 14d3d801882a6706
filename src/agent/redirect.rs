//! Redirects, followed by httpbatch (ureq's own following is off).
//!
//! Invariants:
//! - Every hop is a request of its own through the leaf: it passes the admission gate
//!   ([`Context::admit`]) right before it is written, uses its origin's agent and counters, and
//!   a failure names the hop's URL (and the URL that redirected to it).
//! - A `Location` is resolved against the URL that answered (RFC 3986 §5.2, fragments dropped:
//!   they never go on the wire) and must pass [`Url::parse`], the crate's one URL rule; a bad one
//!   is an [`ErrorKind::Redirect`] naming it, never a guess (no port 80 for a port that overflows).
//! - Method and body: 303 turns anything but `HEAD` into a body-less `GET`, 301 and 302 turn a
//!   `POST` into one (as browsers and curl do), 307 and 308 replay method and body byte for byte.
//! - Credentials (`Authorization`, `Proxy-Authorization`, `Cookie`, headers marked sensitive)
//!   and `Host` never reach another origin; an `https` → `http` hop is refused unless allowed.
//! - The whole-exchange timeout covers every hop's wire time together; token waits at the
//!   admission gate do not count against it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::http;

use super::HttpClient;
use super::connector::{self, CurrentSlot, InflightSlot};
use super::failure::map_error;
use crate::error::{Error, ErrorKind};
use crate::execute::{Answer, Context};
use crate::request::{Method, Request, Scheme, Url};
use crate::response::{Headers, Response, Timings};

/// Statuses whose `Location` the leaf follows.
pub(super) fn is_followed(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

impl HttpClient {
    /// Sends `request` and follows its redirects, each hop through the admission gate.
    pub(super) fn exchange(
        &self,
        mut req: Request,
        ctx: &Context,
        mut hold: Option<&mut dyn FnMut()>,
        slot: &Arc<InflightSlot>,
    ) -> Result<Response, Error> {
        let config = &self.inner.config;
        // `None`: no limit.
        let budget = super::limit(req.timeout().unwrap_or(config.timeout));
        let max = config.max_redirects;
        let mut chain: Vec<String> = Vec::new();
        let mut waited = Duration::ZERO;
        let mut wire = Duration::ZERO;
        loop {
            // Attempts reported with an error: the hops already written count as one.
            let attempts = u32::from(!chain.is_empty());
            ctx.check().map_err(|e| e.with_attempts(attempts))?;
            // The admission gate: every registered limiter, right before the write.
            waited += ctx
                .admit(&req)
                .map_err(|e| blame(e, &chain).with_attempts(attempts))?;
            let left = match budget {
                None => None,
                Some(b) => match b.checked_sub(wire).filter(|l| !l.is_zero()) {
                    Some(left) => Some(left),
                    None => {
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            format!("timeout of {b:?} spent before {}", req.url()),
                        )
                        .with_attempts(1));
                    }
                },
            };
            let follow = (chain.len() as u32) < max;
            let origin = self.origin(req.url());
            let start = Instant::now();
            // The deadline bounds the exchange too, so a request never outlives its batch by
            // much even under an executor that does not cancel at the deadline.
            let remaining = ctx.deadline().map(|d| d.saturating_duration_since(start));
            let timeout = match (remaining, left) {
                (Some(r), Some(l)) => Some(r.min(l)),
                (r, l) => r.or(l),
            };
            let deadline = timeout.and_then(|t| start.checked_add(t));
            let pass = self.inner.gate.pass(&origin.counters, ctx, deadline);
            let mut sent = {
                let _current = CurrentSlot::enter(slot, &origin.counters, deadline);
                self.send(&origin, &req, follow, hold.as_deref_mut())
            };
            drop(pass);
            if sent.as_ref().is_err_and(is_disconnect)
                && connector::was_stale()
                && req.method().is_idempotent()
                && !slot.is_cancelled()
            {
                // A keep-alive connection the peer closed while idle took the request and died
                // before a byte of answer: the server never saw it. Once, on another
                // connection (what browsers and curl do); it is a write, so it is admitted.
                waited += ctx
                    .admit(&req)
                    .map_err(|e| blame(e, &chain).with_attempts(1))?;
                let _current = CurrentSlot::enter(slot, &origin.counters, deadline);
                sent = self.send(&origin, &req, follow, hold.as_deref_mut());
            }
            wire += start.elapsed();
            let (parts, body) = match sent {
                Ok(sent) => sent,
                Err(e) => return Err(self.failure(e, &req, ctx, slot, &chain)),
            };
            let status = parts.status.as_u16();
            // Every answer read, hop or final, is reported to the admissions (adaptive limits).
            ctx.observe(&req, &Answer::from_map(status, &parts.headers));
            let location = match is_followed(status) {
                true => parts.headers.get(http::header::LOCATION),
                false => None,
            };
            if let Some(location) = location {
                let location = ascii_location(location.as_bytes());
                if !follow {
                    if max == 0 {
                        // Following is off: the redirect is the answer.
                        return Ok(response(parts, body, req, chain, waited, wire));
                    }
                    return Err(Error::new(
                        ErrorKind::Redirect,
                        format!(
                            "too many redirects: {} answered {status} to {location:?} after {max}",
                            req.url()
                        ),
                    )
                    .with_attempts(1));
                }
                let next = next_hop(&req, status, &location, config.redirect_https_to_http)
                    .map_err(|e| e.with_attempts(1))?;
                log::debug!(target: "httpbatch::redirect", "{} answered {status}: following to {}", req.url(), next.url());
                chain.push(req.url().as_str().to_owned());
                req = next;
                continue;
            }
            return Ok(response(parts, body, req, chain, waited, wire));
        }
    }

    fn failure(
        &self,
        e: ureq::Error,
        req: &Request,
        ctx: &Context,
        slot: &InflightSlot,
        chain: &[String],
    ) -> Error {
        if slot.is_cancelled() {
            if let Some(err) = ctx.cancel_token().and_then(|t| t.error()) {
                return err.with_attempts(1);
            }
        }
        let deadline_passed = ctx.deadline().is_some_and(|d| Instant::now() >= d);
        let mut err = map_error(e, req, &self.inner.config);
        if deadline_passed && err.kind() == ErrorKind::Timeout {
            err = Error::deadline_exceeded();
        }
        blame(err, chain).with_attempts(1)
    }
}

/// Whether the peer closed or reset the connection under the request.
fn is_disconnect(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as Io;
    matches!(e, ureq::Error::Io(io) if matches!(
        io.kind(),
        Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof
    ))
}

/// `err` of a hop, with the URL that redirected to it named.
fn blame(err: Error, chain: &[String]) -> Error {
    match chain.last() {
        None => err,
        Some(from) => {
            let msg = format!("{} (redirect {} from {from})", err.message(), chain.len());
            let kind = err.kind();
            let retry_after = err.retry_after();
            let e = Error::with_source(kind, msg, err);
            match retry_after {
                Some(w) => e.with_retry_after(w),
                None => e,
            }
        }
    }
}

fn response(
    parts: http::response::Parts,
    body: Vec<u8>,
    req: Request,
    chain: Vec<String>,
    waited: Duration,
    wire: Duration,
) -> Response {
    Response {
        status: parts.status.as_u16(),
        // One exact-sized block (`len` counts every value): kept responses add up.
        headers: Headers::from_map(&parts.headers),
        body: body.into_boxed_slice(),
        tag: req.tag(),
        url: req.into_url().into_boxed_str(),
        redirects: (!chain.is_empty()).then(|| Box::new(chain)),
        attempts: 1,
        timings: Timings {
            wire,
            waited,
            total: wire + waited,
            ..Timings::default()
        },
        cache: None,
    }
}

/// A `Location` value as ASCII: bytes above 0x7F percent-encoded (servers send UTF-8 raw).
fn ascii_location(raw: &[u8]) -> String {
    let mut s = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii() {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The request for the hop that `req`'s `status` with `location` asks for.
pub(crate) fn next_hop(
    req: &Request,
    status: u16,
    location: &str,
    https_to_http: bool,
) -> Result<Request, Error> {
    let bad = |why: String| {
        Error::new(
            ErrorKind::Redirect,
            format!(
                "{} answered {status} with an invalid Location {location:?}: {why}",
                req.url()
            ),
        )
    };
    let target = resolve(req.url().as_str(), location).ok_or_else(|| bad("not a URI".into()))?;
    let url = Url::parse(&target).map_err(|e| bad(e.message().to_owned()))?;
    if req.url().scheme() == Scheme::Https && url.scheme() == Scheme::Http && !https_to_http {
        return Err(Error::new(
            ErrorKind::Redirect,
            format!(
                "refused a redirect from https to http: {} to {url} \
                 (HttpClientConfig::redirect_https_to_http allows it)",
                req.url()
            ),
        ));
    }
    let to_get = match status {
        303 => req.method() != Method::Head,
        301 | 302 => req.method() == Method::Post,
        _ => false,
    };
    Ok(req.redirected(url, to_get))
}

/// The parts of a URI reference (RFC 3986 §4.1), fragment removed.
struct Parts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

fn split(r: &str) -> Parts<'_> {
    let r = r.split_once('#').map_or(r, |(a, _)| a);
    let (scheme, rest) = match r.find([':', '/', '?']) {
        Some(i)
            if r.as_bytes()[i] == b':'
                && r.as_bytes()[0].is_ascii_alphabetic()
                && r[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
        {
            (Some(&r[..i]), &r[i + 1..])
        }
        _ => (None, r),
    };
    let (authority, rest) = match rest.strip_prefix("//") {
        Some(a) => {
            let end = a.find(['/', '?']).unwrap_or(a.len());
            (Some(&a[..end]), &a[end..])
        }
        None => (None, rest),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    Parts {
        scheme,
        authority,
        path,
        query,
    }
}

/// Resolves `reference` against the absolute `base` (RFC 3986 §5.2.2, strict); `None` if the
/// result would have no scheme or authority.
pub(crate) fn resolve(base: &str, reference: &str) -> Option<String> {
    let b = split(base);
    let r = split(reference);
    let (scheme, authority, path, query);
    if let Some(s) = r.scheme {
        scheme = s;
        authority = r.authority;
        path = remove_dot_segments(r.path);
        query = r.query;
    } else {
        scheme = b.scheme?;
        if r.authority.is_some() {
            authority = r.authority;
            path = remove_dot_segments(r.path);
            query = r.query;
        } else {
            authority = b.authority;
            if r.path.is_empty() {
                path = b.path.to_owned();
                query = r.query.or(b.query);
            } else {
                path = if r.path.starts_with('/') {
                    remove_dot_segments(r.path)
                } else {
                    // Merge (§5.2.3): the base path up to its last slash, then the reference.
                    let merged = match (
                        b.authority.is_some() && b.path.is_empty(),
                        b.path.rfind('/'),
                    ) {
                        (true, _) | (false, None) => format!("/{}", r.path),
                        (false, Some(i)) => format!("{}{}", &b.path[..=i], r.path),
                    };
                    remove_dot_segments(&merged)
                };
                query = r.query;
            }
        }
    }
    let authority = authority?;
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut out = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") || input == "/.." {
            input = if input == "/.." { "/" } else { &input[3..] };
            match out.rfind('/') {
                Some(i) => out.truncate(i),
                None => out.clear(),
            }
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            out.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3986_reference_resolution_examples() {
        // RFC 3986 §5.4.1 and §5.4.2, against its base (with an http scheme).
        let base = "http://a/b/c/d;p?q";
        for (r, want) in [
            ("g:h", "g://h"), // not http: Url::parse refuses it later
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g#s", "http://a/b/c/g"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("http:g", "http:g"),
            ("https://other:8443/x/../y?z", "https://other:8443/y?z"),
        ] {
            let got = resolve(base, r);
            if r == "g:h" {
                assert_eq!(got, None, "{r:?}");
            } else if r == "http:g" {
                // Strict: a scheme without authority is not an http URL.
                assert_eq!(got, None, "{r:?}");
            } else {
                assert_eq!(got.as_deref(), Some(want), "{r:?}");
            }
        }
        assert_eq!(resolve("http://a:1", "x").as_deref(), Some("http://a:1/x"));
    }

    #[test]
    fn method_and_body_follow_the_status() {
        let post = Request::builder(Method::Post, "http://a/p")
            .header("content-type", "text/plain")
            .header("authorization", "Bearer t")
            .sensitive_header("x-api-key", "k")
            .header("x-keep", "1")
            .body("data")
            .build()
            .unwrap();
        for (status, method, body) in [
            (301, Method::Get, ""),
            (302, Method::Get, ""),
            (303, Method::Get, ""),
            (307, Method::Post, "data"),
            (308, Method::Post, "data"),
        ] {
            let next = next_hop(&post, status, "/q", false).unwrap();
            assert_eq!(next.method(), method, "{status}");
            assert_eq!(next.body(), body.as_bytes(), "{status}");
            assert_eq!(next.url().as_str(), "http://a/q");
            let names: Vec<_> = next.headers().map(|(n, _)| n).collect();
            // Same origin: credentials stay; body headers only with the body.
            assert!(names.contains(&"authorization") && names.contains(&"x-api-key"));
            assert_eq!(
                names.contains(&"content-type"),
                !body.is_empty(),
                "{status}"
            );
        }
        let put = Request::builder(Method::Put, "http://a/p")
            .body("x")
            .build()
            .unwrap();
        assert_eq!(
            next_hop(&put, 302, "/q", false).unwrap().method(),
            Method::Put
        );
        assert_eq!(
            next_hop(&put, 303, "/q", false).unwrap().method(),
            Method::Get
        );
        let head = Request::builder(Method::Head, "http://a/").build().unwrap();
        assert_eq!(
            next_hop(&head, 303, "/q", false).unwrap().method(),
            Method::Head
        );

        // Another origin (same host, other port): credentials and Host go, the rest stays.
        let next = next_hop(&post, 307, "http://a:81/q", false).unwrap();
        let names: Vec<_> = next.headers().map(|(n, _)| n).collect();
        assert_eq!(names, ["content-type", "x-keep"]);
    }

    #[test]
    fn bad_locations_and_downgrades_are_typed_errors_naming_them() {
        let req = Request::get("https://a/").unwrap();
        for bad in [
            "http://127.0.0.1:99999999/ok",
            "http://127.0.0.1:0/",
            "ftp://a/",
            "//",
            "http://a b/",
        ] {
            let e = next_hop(&req, 302, bad, true).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Redirect, "{bad:?}");
            assert!(e.message().contains(&format!("{bad:?}")), "{e}");
        }
        let e = next_hop(&req, 302, "http://a/", false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Redirect);
        assert!(e.message().contains("https to http"), "{e}");
        assert!(next_hop(&req, 302, "http://a/", true).is_ok());
    }
}
