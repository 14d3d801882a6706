//! How the leaf types its failures: connectors and decoders wrap an already-typed failure in a
//! [`LeafFailure`] that travels through ureq inside an I/O error, and [`map_error`] turns every
//! `ureq::Error` into the crate's [`Error`], unpacking those first.

use std::fmt;

use super::HttpClientConfig;
use crate::error::{Error, ErrorKind};
use crate::request::{Request, Url};

/// A failure a connector of the leaf has already typed (a TLS or proxy failure, a bad TLS
/// configuration), carried through ureq inside an I/O error and unpacked by the leaf's error
/// mapping.
#[derive(Debug)]
pub(crate) struct LeafFailure {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl LeafFailure {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> LeafFailure {
        LeafFailure {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for LeafFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LeafFailure {}

impl From<LeafFailure> for ureq::Error {
    fn from(f: LeafFailure) -> ureq::Error {
        ureq::Error::Io(std::io::Error::other(f))
    }
}

/// The kind and message of a failure typed by the leaf's connectors or by rustls, which ureq
/// would otherwise report as a bare I/O error.
pub(crate) fn typed_failure(e: &ureq::Error, url: &Url) -> Option<(ErrorKind, String)> {
    let inner = match e {
        ureq::Error::Rustls(r) => {
            return Some((ErrorKind::Tls, format!("TLS failure with {url}: {r}")));
        }
        ureq::Error::TlsRequired => return Some((ErrorKind::Tls, format!("{e} for {url}"))),
        ureq::Error::ConnectProxyFailed(m) => {
            return Some((
                ErrorKind::Io,
                format!("proxy refused to connect to {url}: {m}"),
            ));
        }
        ureq::Error::Io(io) => io.get_ref()?,
        _ => return None,
    };
    if let Some(f) = inner.downcast_ref::<LeafFailure>() {
        return Some((f.kind, f.message.clone()));
    }
    let r = inner.downcast_ref::<rustls::Error>()?;
    Some((ErrorKind::Tls, format!("TLS failure with {url}: {r}")))
}

pub(super) fn map_error(e: ureq::Error, req: &Request, config: &HttpClientConfig) -> Error {
    let limit = config.max_body_size;
    use std::io::ErrorKind as Io;
    let url = req.url();
    if let Some((kind, msg)) = typed_failure(&e, url) {
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
        // The request head does not fit the output buffer.
        ureq::Error::Protocol(ureq_proto::Error::OutputOverflow) => (
            ErrorKind::Protocol,
            format!(
                "request head for {url} longer than the {} byte output buffer \
                 (raise HttpClientConfig::buffer_size to send it)",
                config.buffer_size
            ),
        ),
        ureq::Error::Protocol(p) => (ErrorKind::Protocol, format!("{p} from {url}")),
        ureq::Error::LargeResponseHeader(_, limit) => (
            ErrorKind::Protocol,
            format!(
                "response head from {url} larger than {limit} bytes \
                 (raise HttpClientConfig::max_response_head to accept it)"
            ),
        ),
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
