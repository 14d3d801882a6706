//! Responses: any HTTP status, owned body bytes, attempts and timings.

use std::time::Duration;

mod headers;

pub use headers::{Headers, Iter as HeadersIter};

/// Where a request's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// From submission to the batch until a worker started it.
    pub queued: Duration,
    /// Waiting for rate-limiter tokens and retry backoff.
    pub waited: Duration,
    /// On the wire: connect (if any), send, and read of the whole body, summed over attempts.
    pub wire: Duration,
    /// From submission until the outcome was settled.
    pub total: Duration,
}

/// An HTTP response. Any status is a response: a 404 or a 503 is not an error at this layer.
//
// A batch keeps its responses by the hundred thousand, so the struct stays small (136 bytes):
// the body and URL are exact-sized boxes, the headers one exact-sized block (see `Headers`),
// and the rare redirect chain is one word when absent.
#[derive(Debug, Clone)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Headers,
    pub(crate) body: Box<[u8]>,
    pub(crate) url: Box<str>,
    /// The URLs that answered with a redirect, in order; `None` when there was none.
    #[allow(clippy::box_collection)] // one word for the common case, not three
    pub(crate) redirects: Option<Box<Vec<String>>>,
    pub(crate) tag: u64,
    pub(crate) attempts: u32,
    pub(crate) timings: Timings,
    pub(crate) cache: Option<CacheStatus>,
}

/// How a response cache ([`CachedExecutor`](crate::CachedExecutor)) answered a request; see
/// [`Response::cache_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheStatus {
    /// From the cache, fresh: nothing went on the wire.
    Hit,
    /// From the cache after the server confirmed it with a `304 Not Modified` (the body was not
    /// sent again; the headers are the stored ones updated by the `304`'s).
    Revalidated,
    /// Not in the cache (or stale and changed, or not usable for this request): from the wire.
    /// An `only-if-cached` request that misses is answered `504` by the cache itself.
    Miss,
    /// The request asked the cache to stand aside ([`CacheMode::Bypass`](crate::CacheMode)),
    /// carried its own validators, or its method is not cacheable: from the wire, not stored.
    Bypass,
}

impl Response {
    /// A response built by hand (for executors that do not talk to a network, and for tests).
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Headers::new(),
            body: body.into().into_boxed_slice(),
            url: Box::default(),
            redirects: None,
            tag: 0,
            attempts: 1,
            timings: Timings::default(),
            cache: None,
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is below 400: not a client or server error. This is what "succeeded"
    /// means in every summary, progress report and statistic of httpbatch (and in every
    /// interface), so a final 1xx–3xx response succeeds and a 404 does not.
    pub fn is_success(&self) -> bool {
        self.status < 400
    }

    /// The response headers, in the order received (names lower-case); `for (name, value) in
    /// res.headers()` yields `(&str, &str)`.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.first(name)
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body out, leaving it empty.
    pub fn take_body(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.body).into_vec()
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The URL that answered (after redirects).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URLs that answered with a redirect the client followed, in order (the request's own
    /// URL first); empty when there was none. [`url`](Self::url) is where the chain ended.
    pub fn redirects(&self) -> &[String] {
        self.redirects.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The request's tag.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// How many attempts it took (1 without retries).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Where the time went.
    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// How a response cache answered, when the request went through one
    /// ([`CachedExecutor`](crate::CachedExecutor)); `None` without a cache.
    pub fn cache_status(&self) -> Option<CacheStatus> {
        self.cache
    }

    /// Adds a header at the end (builder style, for hand-made responses); the name is
    /// lower-cased. Each call rebuilds the one block ([`Headers`]); to set many at once, collect
    /// them and use [`with_headers`](Self::with_headers).
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers = self.headers.with(name, value);
        self
    }

    /// Replaces the headers (builder style, for hand-made responses).
    ///
    /// ```
    /// use httpbatch::{Headers, Response};
    ///
    /// let headers: Headers = [("Content-Type", "text/plain"), ("x-a", "1")].into_iter().collect();
    /// let res = Response::new(200, "hi").with_headers(headers);
    /// assert_eq!(res.header("content-type"), Some("text/plain"));
    /// ```
    pub fn with_headers(mut self, headers: Headers) -> Response {
        self.headers = headers;
        self
    }

    /// Sets the tag (builder style).
    pub fn with_tag(mut self, tag: u64) -> Response {
        self.tag = tag;
        self
    }

    /// Records the number of attempts.
    pub fn set_attempts(&mut self, attempts: u32) {
        self.attempts = attempts;
    }

    /// Mutable access to the timings, for layers that add waits.
    pub fn timings_mut(&mut self) -> &mut Timings {
        &mut self.timings
    }
}
