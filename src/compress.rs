//! Compressed request bodies: `Content-Encoding: gzip`, opt-in, encoded once.
//!
//! [`CompressBody`] is a layer: it gzips a request's body when the body is at least a size
//! (or when the request asks with [`COMPRESS_HEADER`]), sets `Content-Encoding: gzip`, and
//! passes the request on. The compressed bytes replace the body on the request itself, so a
//! retry below the layer (the pool's or a [`RetryExecutor`](crate::RetryExecutor)'s) replays
//! exactly those bytes and nothing is compressed twice. Put it anywhere above the retries.
//!
//! Only do this for servers that accept compressed request bodies: HTTP has no way to ask.
//!
//! ```
//! use httpbatch::{BodyCompression, CompressBody, Context, Execute, HttpClient, Request};
//! use httpbatch_testserver::Server;
//!
//! let server = Server::start()?;
//! let e = CompressBody::new(HttpClient::new(), BodyCompression::gzip().min_size(1024));
//! let body = "row,of,text\n".repeat(1000);
//! let res = e.execute(Request::post(&server.url("/gunzip-echo"), body.clone())?, &Context::new())?;
//! assert_eq!(res.header("x-content-encoding"), Some("gzip"));
//! assert_eq!(res.body(), body.as_bytes()); // the server decoded it byte for byte
//! assert!(e.stats().bytes_out < e.stats().bytes_in / 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::request::Request;
use crate::response::Response;

/// The request header that overrides [`CompressBody`]'s size rule for one request: `gzip`
/// compresses any non-empty body, `off` sends it as it is. The layer removes the header.
pub const COMPRESS_HEADER: &str = "x-httpbatch-compress";

/// When and how hard [`CompressBody`] compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyCompression {
    min_size: usize,
    level: u32,
}

impl BodyCompression {
    /// Gzip bodies of at least 1 KiB at level 6.
    pub fn gzip() -> BodyCompression {
        BodyCompression {
            min_size: 1024,
            level: 6,
        }
    }

    /// Compresses bodies of at least `bytes` (smaller ones gain nothing). Defaults to `1024`.
    pub fn min_size(mut self, bytes: usize) -> Self {
        self.min_size = bytes;
        self
    }

    /// The smallest body compressed. Defaults to `1024`.
    pub fn get_min_size(&self) -> usize {
        self.min_size
    }

    /// The gzip level, `0` (store) to `9` (smallest); above 9 counts as 9. Defaults to `6`.
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9);
        self
    }

    /// The gzip level. Defaults to `6`.
    pub fn get_level(&self) -> u32 {
        self.level
    }
}

/// Gzips `req`'s body in place and sets `Content-Encoding: gzip`; returns whether it did
/// (not for an empty body, nor one that already has a `Content-Encoding`). For one request
/// without the [`CompressBody`] layer.
///
/// ```
/// use httpbatch::{Request, gzip_request_body};
/// let mut req = Request::post("http://127.0.0.1/up", vec![b'a'; 10_000])?;
/// assert!(gzip_request_body(&mut req, 6)?);
/// assert!(req.body().len() < 100);
/// assert!(!gzip_request_body(&mut req, 6)?, "never twice");
/// # Ok::<(), httpbatch::Error>(())
/// ```
pub fn gzip_request_body(req: &mut Request, level: u32) -> Result<bool, Error> {
    if req.body().is_empty()
        || req
            .headers()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
    {
        return Ok(false);
    }
    let mut enc = GzEncoder::new(
        Vec::with_capacity(req.body().len() / 4 + 64),
        Compression::new(level.min(9)),
    );
    let gz = enc
        .write_all(req.body())
        .and_then(|()| enc.finish())
        .map_err(|e| Error::new(ErrorKind::Io, format!("gzip of the request body: {e}")))?;
    req.set_body(gz);
    req.add_header("content-encoding", "gzip")?;
    Ok(true)
}

/// A snapshot of [`CompressBody`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompressStats {
    /// Requests whose body was compressed.
    pub compressed: u64,
    /// Their bodies' bytes before compression.
    pub bytes_in: u64,
    /// And after.
    pub bytes_out: u64,
}

#[derive(Default)]
struct Counters {
    compressed: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

/// Gzips request bodies on their way down; see the [module docs](crate::CompressBody) and
/// [`BodyCompression`]. It sees a request before every layer it wraps.
#[derive(Clone)]
pub struct CompressBody<E> {
    inner: E,
    options: BodyCompression,
    counters: Arc<Counters>,
}

impl<E> std::fmt::Debug for CompressBody<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressBody")
            .field("options", &self.options)
            .finish()
    }
}

impl<E: Execute> CompressBody<E> {
    /// Wraps `inner`.
    pub fn new(inner: E, options: BodyCompression) -> CompressBody<E> {
        CompressBody {
            inner,
            options,
            counters: Arc::default(),
        }
    }

    /// The counters now.
    pub fn stats(&self) -> CompressStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CompressStats {
            compressed: get(&self.counters.compressed),
            bytes_in: get(&self.counters.bytes_in),
            bytes_out: get(&self.counters.bytes_out),
        }
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
}

impl<E: Execute> Execute for CompressBody<E> {
    fn execute(&self, mut req: Request, ctx: &Context) -> Result<Response, Error> {
        let wanted = match req.remove_header(COMPRESS_HEADER).as_deref().map(str::trim) {
            None => req.body().len() >= self.options.min_size,
            Some(v) if v.eq_ignore_ascii_case("gzip") => true,
            Some(v) if v.eq_ignore_ascii_case("off") => false,
            Some(v) => {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!("{COMPRESS_HEADER}: {v:?} is neither gzip nor off"),
                ));
            }
        };
        let before = req.body().len() as u64;
        if wanted && gzip_request_body(&mut req, self.options.level)? {
            let c = &self.counters;
            c.compressed.fetch_add(1, Ordering::Relaxed);
            c.bytes_in.fetch_add(before, Ordering::Relaxed);
            c.bytes_out
                .fetch_add(req.body().len() as u64, Ordering::Relaxed);
        }
        self.inner.execute(req, ctx)
    }
}
