//! The [`Codec`] trait and the per-item error type, [`ItemError`].

use std::fmt;

use crate::error::{Error, ErrorKind};
use crate::request::{Method, Request};
use crate::response::Response;

/// Combines requests into one HTTP request and splits its answer back, for a
/// [`CoalescingExecutor`](crate::coalesce::CoalescingExecutor).
///
/// Two are built in (feature `coalesce-json`, on by default):
/// [`JsonRpcCodec`](crate::coalesce::JsonRpcCodec) and
/// [`JsonArrayCodec`](crate::coalesce::JsonArrayCodec). Implement it for any other batch API:
///
/// ```
/// use httpbatch::coalesce::{Codec, default_batch_key, split_failed};
/// use httpbatch::{Error, Request, Response};
///
/// /// Joins plain-text bodies with newlines; the server answers one line per body.
/// struct Lines;
///
/// impl Codec for Lines {
///     fn batch_key(&self, request: &Request) -> Result<Option<String>, Error> {
///         Ok(Some(default_batch_key(request)))
///     }
///     fn encode(&self, requests: &[Request]) -> Result<Request, Error> {
///         let body: Vec<&[u8]> = requests.iter().map(|r| r.body()).collect();
///         Request::post(requests[0].url().as_str(), body.join(&b'\n'))
///     }
///     fn decode(&self, requests: &[Request], response: Response) -> Vec<Result<Response, Error>> {
///         if !response.is_success() {
///             return split_failed(&response, requests);
///         }
///         let text = response.text().into_owned();
///         let mut lines = text.lines();
///         requests
///             .iter()
///             .map(|r| match lines.next() {
///                 Some(line) => Ok(Response::new(200, line).with_tag(r.tag())),
///                 None => Err(Error::new(httpbatch::ErrorKind::Protocol, "no line")),
///             })
///             .collect()
///     }
/// }
///
/// let reqs = [Request::post("http://127.0.0.1/lines", "a")?, Request::post("http://127.0.0.1/lines", "b")?];
/// let combined = Lines.encode(&reqs)?;
/// assert_eq!(combined.body(), b"a\nb");
/// let parts = Lines.decode(&reqs, Response::new(200, "A\nB"));
/// assert_eq!(parts[1].as_ref().unwrap().text(), "B");
/// # Ok::<(), Error>(())
/// ```
pub trait Codec: Send + Sync {
    /// Which batch `request` joins: requests with equal keys are combined. `Ok(None)` sends it
    /// on alone, uncombined; `Err` fails it at once (this codec cannot carry it), in its own
    /// slot.
    fn batch_key(&self, request: &Request) -> Result<Option<String>, Error>;

    /// The one HTTP request that carries `requests` (at least one, all with the same key). It
    /// goes through the rest of the stack (limiter, retries, pool) like any request.
    fn encode(&self, requests: &[Request]) -> Result<Request, Error>;

    /// Splits the combined answer: exactly one outcome per request of `requests`, in order.
    /// A missing outcome is filled with a [`ItemError::MissingReply`] error.
    fn decode(&self, requests: &[Request], response: Response) -> Vec<Result<Response, Error>>;
}

impl<C: Codec + ?Sized> Codec for Box<C> {
    fn batch_key(&self, request: &Request) -> Result<Option<String>, Error> {
        (**self).batch_key(request)
    }
    fn encode(&self, requests: &[Request]) -> Result<Request, Error> {
        (**self).encode(requests)
    }
    fn decode(&self, requests: &[Request], response: Response) -> Vec<Result<Response, Error>> {
        (**self).decode(requests, response)
    }
}

/// The usual batch key: method, URL and headers, so requests combine only when the combined
/// request could stand for each of them.
pub fn default_batch_key(request: &Request) -> String {
    let mut key = format!("{} {}", request.method(), request.url());
    for (name, value) in request.headers() {
        key.push('\n');
        key.push_str(name);
        key.push(':');
        key.push_str(value);
    }
    key
}

/// A failed combined answer (a status that is not 2xx) handed to every member: each gets a copy
/// of the response with its own tag, so the status reaches every caller.
pub fn split_failed(response: &Response, requests: &[Request]) -> Vec<Result<Response, Error>> {
    requests
        .iter()
        .map(|r| Ok(response.clone().with_tag(r.tag())))
        .collect()
}

/// One item's answer out of a combined response: `status` and `body`, the combined answer's
/// URL, attempts and timings, and the member's tag.
pub fn item_response(
    combined: &Response,
    member: &Request,
    status: u16,
    body: Vec<u8>,
) -> Response {
    let mut res = Response::new(status, body).with_tag(member.tag());
    if let Some(ct) = combined.header("content-type") {
        res = res.with_header("content-type", ct);
    }
    res.url = combined.url.clone();
    res.attempts = combined.attempts;
    res.timings = combined.timings;
    res
}

/// The combined request for `requests` with `body`: the first member's method and URL and
/// headers (the default batch key makes them all equal), `content-type: application/json`
/// unless set, retried even if not idempotent only when every member allows it.
pub fn combined_request(requests: &[Request], body: Vec<u8>) -> Result<Request, Error> {
    let first = requests
        .first()
        .ok_or_else(|| Error::new(ErrorKind::InvalidRequest, "an empty batch"))?;
    let method = if first.method() == Method::Get {
        Method::Post
    } else {
        first.method()
    };
    let mut b = Request::builder(method, first.url().as_str());
    let mut typed = false;
    for (name, value) in first.headers() {
        typed |= name.eq_ignore_ascii_case("content-type");
        b = if first.is_sensitive_header(name) {
            b.sensitive_header(name, value)
        } else {
            b.header(name, value)
        };
    }
    if !typed {
        b = b.header("content-type", "application/json");
    }
    if let Some(t) = first.timeout() {
        b = b.timeout(t);
    }
    b.retry_non_idempotent(requests.iter().all(Request::is_retryable))
        .body(body)
        .build()
}

/// Why one item of a combined request failed, while the combined request itself went through.
/// It is the [`source`](std::error::Error::source) of the item's [`Error`]: get it back with
/// [`ItemError::of`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ItemError {
    /// The server answered this item with an error object (JSON-RPC `error`). The item's error
    /// kind is [`ErrorKind::Remote`].
    Remote {
        /// The error code (`-32601` for "Method not found", …).
        code: i64,
        /// The error message.
        message: String,
        /// The `data` member, as JSON text, if any.
        data: Option<String>,
    },
    /// The combined answer had no reply for this item. Kind [`ErrorKind::Protocol`].
    MissingReply,
    /// The combined answer had more than one reply for this item. Kind
    /// [`ErrorKind::Protocol`].
    DuplicateReply,
    /// The combined answer could not be decoded at all. Kind [`ErrorKind::Protocol`].
    Undecodable(String),
    /// The item cannot be carried by this codec (its body is not what the codec needs). Kind
    /// [`ErrorKind::InvalidRequest`].
    Invalid(String),
    /// The queue of held requests was full: the item was not sent. Kind
    /// [`ErrorKind::QueueFull`].
    QueueFull {
        /// The configured bound.
        max_queued: usize,
    },
}

impl ItemError {
    /// The item error behind `err`, if it is one.
    pub fn of(err: &Error) -> Option<&ItemError> {
        std::error::Error::source(err)?.downcast_ref::<ItemError>()
    }

    /// This item error as an [`Error`] of the kind documented on its variant.
    pub fn into_error(self) -> Error {
        let kind = match self {
            ItemError::Invalid(_) => ErrorKind::InvalidRequest,
            ItemError::QueueFull { .. } => ErrorKind::QueueFull,
            ItemError::Remote { .. } => ErrorKind::Remote,
            _ => ErrorKind::Protocol,
        };
        Error::with_source(kind, self.to_string(), self)
    }
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemError::Remote { code, message, .. } => {
                write!(
                    f,
                    "the server answered the item with error {code}: {message}"
                )
            }
            ItemError::MissingReply => f.write_str("no reply for this item in the combined answer"),
            ItemError::DuplicateReply => {
                f.write_str("more than one reply for this item in the combined answer")
            }
            ItemError::Undecodable(why) => write!(f, "combined answer not decodable: {why}"),
            ItemError::Invalid(why) => write!(f, "cannot be combined: {why}"),
            ItemError::QueueFull { max_queued } => {
                write!(f, "coalescing queue full ({max_queued} requests held)")
            }
        }
    }
}

impl std::error::Error for ItemError {}

/// A copy of `e` for each member of a failed combined request (an [`Error`] is not `Clone`: the
/// copy keeps kind, message, attempts and wait hint, not the source).
pub(crate) fn copy_error(e: &Error) -> Error {
    let mut c = Error::new(e.kind(), e.message()).with_attempts(e.attempts());
    if let Some(w) = e.retry_after() {
        c = c.with_retry_after(w);
    }
    c
}
