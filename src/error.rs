//! The crate's error type.
//!
//! [`Error`] is one pointer wide (so `Result<Response, Error>` and batch outcomes stay small when a
//! batch holds 100,000 of them) and carries an [`ErrorKind`]: the `#[non_exhaustive]` enum with one
//! variant for each failure users must tell apart. The kind is `Copy`, which is what statistics
//! (errors by kind) and the C ABI (a stable numbered code per kind) need.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// What went wrong, without the details.
///
/// Every [`Error`] has exactly one kind. The numeric value of each kind (`kind as u32`) is stable
/// and is the code the C ABI reports; new kinds get new numbers, old numbers are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u32)]
pub enum ErrorKind {
    /// The URL could not be parsed, or its scheme is not `http` or `https`.
    InvalidUrl = 1,
    /// A header name or value is malformed (for instance it contains CR or LF).
    InvalidHeader = 2,
    /// Some other part of the request is invalid (for instance a method name).
    InvalidRequest = 3,
    /// The host name could not be resolved.
    Dns = 4,
    /// The server refused the connection.
    ConnectRefused = 5,
    /// The connection was reset or closed before the response was complete.
    ConnectionReset = 6,
    /// A timeout expired (connect, or the whole request).
    Timeout = 7,
    /// The response body is larger than the configured limit.
    BodyTooLarge = 8,
    /// The TLS handshake or a TLS record failed.
    Tls = 9,
    /// The server spoke something that is not valid HTTP/1.1.
    Protocol = 10,
    /// Another I/O error.
    Io = 11,
    /// The request was cancelled through a [`CancelToken`](crate::CancelToken) or by shutdown.
    Cancelled = 12,
    /// The request was never started (fail-fast tripped, or a deadline passed first).
    NotRun = 13,
    /// The batch deadline passed while the request was waiting or in flight.
    DeadlineExceeded = 14,
    /// User code (an executor or a callback) panicked while handling this request.
    Panicked = 15,
    /// The host is marked unhealthy and its circuit is open: the request failed fast.
    CircuitOpen = 16,
    /// The component was stopped or shut down; it accepts no more work.
    Stopped = 17,
    /// Too many redirects, or a redirect that could not be followed.
    Redirect = 18,
    /// An invalid configuration value (for instance a zero rate).
    InvalidConfig = 19,
    /// The retry budget is exhausted: the request was not retried to protect a failing host.
    RetryBudgetExhausted = 20,
}

impl ErrorKind {
    /// Every kind, in code order. Useful for tables indexed by kind.
    pub const ALL: [ErrorKind; 20] = [
        ErrorKind::InvalidUrl,
        ErrorKind::InvalidHeader,
        ErrorKind::InvalidRequest,
        ErrorKind::Dns,
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectionReset,
        ErrorKind::Timeout,
        ErrorKind::BodyTooLarge,
        ErrorKind::Tls,
        ErrorKind::Protocol,
        ErrorKind::Io,
        ErrorKind::Cancelled,
        ErrorKind::NotRun,
        ErrorKind::DeadlineExceeded,
        ErrorKind::Panicked,
        ErrorKind::CircuitOpen,
        ErrorKind::Stopped,
        ErrorKind::Redirect,
        ErrorKind::InvalidConfig,
        ErrorKind::RetryBudgetExhausted,
    ];

    /// Number of kinds; `kind.index() < ErrorKind::COUNT`.
    pub const COUNT: usize = Self::ALL.len();

    /// A dense index (`0..COUNT`) for tables indexed by kind.
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// A short, stable, snake_case name (used in JSON output and statistics).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::InvalidHeader => "invalid_header",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Dns => "dns",
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectionReset => "connection_reset",
            ErrorKind::Timeout => "timeout",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Tls => "tls",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Io => "io",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::NotRun => "not_run",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::Panicked => "panicked",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::Stopped => "stopped",
            ErrorKind::Redirect => "redirect",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::RetryBudgetExhausted => "retry_budget_exhausted",
        }
    }

    /// Whether a failure of this kind is transient at the transport level and worth retrying
    /// (refused or reset connections, timeouts).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::ConnectRefused | ErrorKind::ConnectionReset | ErrorKind::Timeout
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// An error from httpbatch: a kind, a message, how many attempts were made, and optionally the
/// underlying cause.
///
/// The cause (reachable through [`std::error::Error::source`]) may be a `ureq` or `std::io`
/// error; its type is not part of httpbatch's API and may change in any release.
///
/// ```
/// use httpbatch::{Error, ErrorKind, Request};
///
/// let err: Error = Request::get("ftp://example.invalid/").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidUrl);
/// assert!(!err.is_retryable());
/// assert!(err.to_string().contains("scheme"));
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    attempts: u32,
    retry_after: Option<Duration>,
    source: Option<Source>,
}

impl Error {
    /// An error of `kind` with a human-readable message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                attempts: 0,
                retry_after: None,
                source: None,
            }),
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<Source>,
    ) -> Error {
        let mut e = Error::new(kind, message);
        e.inner.source = Some(source.into());
        e
    }

    /// The request was cancelled.
    pub fn cancelled() -> Error {
        Error::new(ErrorKind::Cancelled, "request cancelled")
    }

    /// The batch deadline passed.
    pub fn deadline_exceeded() -> Error {
        Error::new(ErrorKind::DeadlineExceeded, "batch deadline exceeded")
    }

    /// The component was stopped.
    pub fn stopped(what: &str) -> Error {
        Error::new(ErrorKind::Stopped, format!("{what} is stopped"))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// How many attempts went on the wire before this error (0 when none did, for instance for an
    /// invalid request or one cancelled while queued).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// Records the number of attempts (set by the layers that send or retry).
    pub fn set_attempts(&mut self, attempts: u32) {
        self.inner.attempts = attempts;
    }

    /// The same error with `attempts` recorded.
    pub fn with_attempts(mut self, attempts: u32) -> Error {
        self.set_attempts(attempts);
        self
    }

    /// For errors that carry a wait hint (a rate limiter that would have to wait, a
    /// `Retry-After`), how long.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The same error with a wait hint.
    pub fn with_retry_after(mut self, wait: Duration) -> Error {
        self.inner.retry_after = Some(wait);
        self
    }

    /// A timeout (connect or request).
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// The request was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// The request was rejected before it was sent because it is malformed.
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::InvalidUrl | ErrorKind::InvalidHeader | ErrorKind::InvalidRequest
        )
    }

    /// A transient transport failure that a retry policy may retry (refused, reset, timeout).
    pub fn is_retryable(&self) -> bool {
        self.kind().is_transient()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if self.inner.attempts > 0 {
            d.field("attempts", &self.inner.attempts);
        }
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.inner.kind, self.inner.message)?;
        if self.inner.attempts > 1 {
            write!(f, " (after {} attempts)", self.inner.attempts)?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn StdError + 'static))
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind, kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn kinds_are_dense_and_named_uniquely() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::COUNT);
    }

    #[test]
    fn display_and_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::with_source(ErrorKind::ConnectRefused, "connect to 127.0.0.1:1", io)
            .with_attempts(3);
        assert_eq!(
            e.to_string(),
            "connect_refused: connect to 127.0.0.1:1 (after 3 attempts)"
        );
        assert!(e.source().is_some());
        assert!(e.is_retryable());
    }
}
