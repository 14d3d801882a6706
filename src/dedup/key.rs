//! What makes two requests "the same": the dedup key.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::request::{Method, Request};

/// A user function that names a request's dedup key, or `None` to send it on its own.
pub(super) type KeyFn = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// Which requests [`DedupExecutor`](super::DedupExecutor) shares, and by what key.
///
/// By default the key is the method, the URL, every header (names case-insensitive, order
/// ignored) and a 128-bit hash of the body; only the safe methods `GET`, `HEAD` and `OPTIONS`
/// are shared. Narrow the headers with [`key_headers`](Self::key_headers), widen the methods
/// with [`unsafe_methods`](Self::unsafe_methods), or name the key yourself with
/// [`key_fn`](Self::key_fn).
///
/// ```
/// use httpbatch::{DedupConfig, Request};
/// let config = DedupConfig::new()
///     .key_headers(["accept"]) // other headers do not split a key…
///     .unsafe_methods(false);
/// // …but credentials always do: `Authorization`, `Cookie`, `Proxy-Authorization` and headers
/// // marked sensitive are part of every default key.
/// assert_eq!(config.key_header_names(), Some(&["accept".to_string()][..]));
/// assert!(!config.shares_unsafe_methods());
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct DedupConfig {
    headers: Option<Vec<String>>,
    unsafe_methods: bool,
    key_fn: Option<KeyFn>,
}

impl fmt::Debug for DedupConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedupConfig")
            .field("key_headers", &self.headers)
            .field("unsafe_methods", &self.unsafe_methods)
            .field("key_fn", &self.key_fn.is_some())
            .finish()
    }
}

impl DedupConfig {
    /// The defaults: every header in the key, safe methods only, no key function.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts only these headers (case-insensitive) into the default key, besides the credential
    /// headers, which are always in it. Defaults to every header.
    pub fn key_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.headers = Some(
            names
                .into_iter()
                .map(|n| n.into().to_ascii_lowercase())
                .collect(),
        );
        self
    }

    /// The headers of the default key, or `None` for all. Defaults to `None`.
    pub fn key_header_names(&self) -> Option<&[String]> {
        self.headers.as_deref()
    }

    /// Shares requests of every method, not only `GET`, `HEAD` and `OPTIONS`: two identical
    /// `POST`s in flight at once then reach the server once. Defaults to `false`.
    pub fn unsafe_methods(mut self, yes: bool) -> Self {
        self.unsafe_methods = yes;
        self
    }

    /// Whether requests of unsafe methods are shared. Defaults to `false`.
    pub fn shares_unsafe_methods(&self) -> bool {
        self.unsafe_methods
    }

    /// Names each request's key with `f`: requests with equal keys in flight at once share one
    /// wire request, and `None` sends the request on its own. Replaces the default key and the
    /// method rule. Defaults to none (the default key).
    pub fn key_fn(
        mut self,
        f: impl Fn(&Request) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.key_fn = Some(Arc::new(f));
        self
    }

    /// The key of `req`, or `None` if it is not shared.
    pub(super) fn key(&self, req: &Request) -> Option<Box<[u8]>> {
        if let Some(f) = &self.key_fn {
            let mut k = f(req)?.into_bytes();
            k.insert(0, b'u');
            return Some(k.into_boxed_slice());
        }
        let safe = matches!(req.method(), Method::Get | Method::Head | Method::Options);
        if !safe && !self.unsafe_methods {
            return None;
        }
        let mut k = Vec::with_capacity(req.url().as_str().len() + 48);
        k.push(b'd');
        k.extend_from_slice(req.method().as_str().as_bytes());
        k.push(0);
        k.extend_from_slice(req.url().as_str().as_bytes());
        k.push(0);
        let mut headers: Vec<(String, &str)> = req
            .headers()
            .filter(|(n, _)| match &self.headers {
                None => true,
                Some(names) => {
                    req.is_sensitive_header(n) || names.iter().any(|c| n.eq_ignore_ascii_case(c))
                }
            })
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        headers.sort_unstable();
        for (n, v) in headers {
            k.extend_from_slice(n.as_bytes());
            k.push(b':');
            k.extend_from_slice(v.as_bytes());
            k.push(0);
        }
        if !req.body().is_empty() {
            k.extend_from_slice(&body_hash(req.body()));
        }
        Some(k.into_boxed_slice())
    }
}

/// 128 bits of two differently seeded SipHashes, and the length: a collision between two bodies
/// of one URL in flight at once is not a practical concern.
fn body_hash(body: &[u8]) -> [u8; 24] {
    let h = |seed: u8| {
        #[allow(deprecated)] // SipHasher is the stable, keyed-by-us SipHash-2-4 in std.
        let mut s = std::hash::SipHasher::new_with_keys(
            0x6874_7470_6261_7463 ^ seed as u64,
            0x0064_6564_7570,
        );
        body.hash(&mut s);
        s.finish()
    };
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&h(1).to_le_bytes());
    out[8..16].copy_from_slice(&h(2).to_le_bytes());
    out[16..].copy_from_slice(&(body.len() as u64).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder(Method::Get, url);
        for (n, v) in headers {
            b = b.header(n, v);
        }
        b.build().unwrap()
    }

    #[test]
    fn default_key_covers_method_url_headers_and_body() {
        let c = DedupConfig::new();
        let a = c
            .key(&get("http://h/x", &[("A", "1"), ("b", "2")]))
            .unwrap();
        assert_eq!(
            a,
            c.key(&get("http://h/x", &[("b", "2"), ("a", "1")]))
                .unwrap()
        );
        assert_ne!(a, c.key(&get("http://h/x", &[("a", "1")])).unwrap());
        assert_ne!(
            a,
            c.key(&get("http://h/y", &[("a", "1"), ("b", "2")]))
                .unwrap()
        );
        let head = Request::builder(Method::Head, "http://h/x")
            .build()
            .unwrap();
        assert_ne!(
            c.key(&head).unwrap(),
            c.key(&get("http://h/x", &[])).unwrap()
        );
        // Unsafe methods only on request, and then the body counts.
        let post = |b: &str| Request::post("http://h/x", b.as_bytes().to_vec()).unwrap();
        assert!(c.key(&post("1")).is_none());
        let c = c.unsafe_methods(true);
        assert_eq!(c.key(&post("1")), c.key(&post("1")));
        assert_ne!(c.key(&post("1")), c.key(&post("2")));
    }

    #[test]
    fn chosen_headers_keep_credentials_in_the_key() {
        let c = DedupConfig::new().key_headers(["Accept"]);
        let k = |h: &[(&str, &str)]| c.key(&get("http://h/x", h)).unwrap();
        assert_eq!(k(&[("x-trace", "1")]), k(&[("x-trace", "2")]));
        assert_ne!(k(&[("accept", "a")]), k(&[("accept", "b")]));
        assert_ne!(k(&[("authorization", "a")]), k(&[("authorization", "b")]));
        assert_ne!(k(&[("cookie", "a")]), k(&[]));
        let c = DedupConfig::new()
            .key_fn(|r| r.url().as_str().strip_prefix("http://h/").map(String::from));
        assert_eq!(
            c.key(&Request::post("http://h/x", b"1".to_vec()).unwrap()),
            c.key(&get("http://h/x", &[("a", "b")]))
        );
        assert!(c.key(&get("http://other/x", &[])).is_none());
    }
}
