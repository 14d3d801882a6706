//! The crate's error type.
//!
//! [`Error`] is one pointer wide (so `Result<Response, Error>` and batch outcomes stay small when a
//! batch holds 100,000 of them) and carries an [`ErrorKind`]: the `#[non_exhaustive]` enum with one
//! variant for each failure users must tell apart. The kind is `Copy`, which is what statistics
//! (errors by kind) and the C ABI (a stable numbered code per kind) need.
//!
//! Adding a kind: add a row at the end of `src/error/table.rs` (the next number) and run
//! `scripts/gen-codes.sh`, which regenerates the C codes (`src/ffi/codes.rs`, then
//! `include/httpbatch.h`) and the Go constants (`ffi-tests/go/codes.go`). Until then the build
//! fails: nothing maps a new kind silently. It is not a breaking change: `ErrorKind` is
//! `#[non_exhaustive]` and [`ErrorKind::all`] is a slice.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Makes [`ErrorKind`] and its tables from the rows of `src/error/table.rs`: the one place a
/// kind is written down. `build.rs` reads the same rows to generate the C codes and Go constants.
macro_rules! error_kinds {
    ($( $(#[doc = $doc:literal])* $name:ident = $code:literal, $snake:literal, $describe:literal; )*) => {
        /// What went wrong, without the details.
        ///
        /// Every [`Error`] has exactly one kind. Each kind has a stable number
        /// ([`code`](ErrorKind::code)), which is also the code the C ABI reports; new kinds get
        /// new numbers, old numbers are never reused. The enum is `#[non_exhaustive]`: match it
        /// with a wildcard arm, and iterate the kinds with [`ErrorKind::all`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u32)]
        pub enum ErrorKind {
            $( $(#[doc = $doc])* $name = $code, )*
        }

        impl ErrorKind {
            const TABLE: &'static [ErrorKind] = &[$(ErrorKind::$name),*];

            /// A short, stable, snake_case name (used in JSON output and statistics).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( ErrorKind::$name => $snake, )*
                }
            }

            /// A short human description, such as "connection refused" (also what
            /// `httpbatch_result_str` gives C programs).
            pub const fn description(self) -> &'static str {
                match self {
                    $( ErrorKind::$name => $describe, )*
                }
            }
        }
    };
}

include!("error/table.rs");

#[cfg(test)]
pub(crate) mod extremes;

// `index` relies on this: the table numbers its kinds 1, 2, 3, … in order.
const _: () = {
    let mut i = 0;
    while i < ErrorKind::TABLE.len() {
        assert!(ErrorKind::TABLE[i] as usize == i + 1);
        i += 1;
    }
};

impl ErrorKind {
    /// Every kind, in code order.
    ///
    /// ```
    /// use httpbatch::ErrorKind;
    ///
    /// let kinds = ErrorKind::all();
    /// assert_eq!(kinds[0], ErrorKind::InvalidUrl);
    /// assert!(kinds.contains(&ErrorKind::Timeout));
    /// ```
    pub const fn all() -> &'static [ErrorKind] {
        ErrorKind::TABLE
    }

    /// Number of kinds; `kind.index() < ErrorKind::COUNT`. Crate-internal: a public count would
    /// make every new kind a breaking change.
    pub(crate) const COUNT: usize = Self::TABLE.len();

    /// A dense index (`0..COUNT`) for tables indexed by kind.
    pub(crate) const fn index(self) -> usize {
        self as usize - 1
    }

    /// The kind's stable number: the `httpbatch_result` code of the C ABI and the Go `Code`.
    ///
    /// ```
    /// use httpbatch::ErrorKind;
    ///
    /// assert_eq!(ErrorKind::Timeout.code(), 7);
    /// assert_eq!(ErrorKind::from_code(7), Some(ErrorKind::Timeout));
    /// ```
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The kind with stable number `code`, if there is one.
    pub fn from_code(code: u32) -> Option<ErrorKind> {
        let i = usize::try_from(code).ok()?.checked_sub(1)?;
        Self::TABLE.get(i).copied()
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

/// Says each thing once: the message (which names the failure, for instance "connection refused
/// by http://127.0.0.1:1"), or the kind's description when the message is empty, then the number
/// of attempts when there was more than one. The kind's name is not repeated: read it with
/// [`Error::kind`] (the C ABI reports it as the code, Go as `Code`).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner.message.is_empty() {
            f.write_str(self.inner.kind.description())?;
        } else {
            f.write_str(&self.inner.message)?;
        }
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
    /// An error of `kind` whose message is the kind's [description](ErrorKind::description).
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind, kind.description())
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
        for (i, k) in ErrorKind::all().iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(k.code() as usize, i + 1);
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
        }
        assert_eq!(ErrorKind::all().len(), ErrorKind::COUNT);
        assert_eq!(ErrorKind::from_code(0), None);
        assert_eq!(ErrorKind::from_code(ErrorKind::COUNT as u32 + 1), None);
        assert_eq!(ErrorKind::from_code(u32::MAX), None);
        let mut names: Vec<_> = ErrorKind::all().iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::COUNT);
        assert!(names.iter().all(|n| {
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
    }

    #[test]
    fn display_says_each_thing_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::with_source(
            ErrorKind::ConnectRefused,
            "connection refused by http://127.0.0.1:1",
            io,
        )
        .with_attempts(3);
        assert_eq!(
            e.to_string(),
            "connection refused by http://127.0.0.1:1 (after 3 attempts)"
        );
        assert!(e.source().is_some());
        assert!(e.is_retryable());

        // The constructors' messages already name the failure: nothing is said twice.
        assert_eq!(
            Error::deadline_exceeded().to_string(),
            "batch deadline exceeded"
        );
        assert_eq!(Error::cancelled().to_string(), "request cancelled");
        assert_eq!(Error::stopped("pool").to_string(), "pool is stopped");
        assert_eq!(
            Error::deadline_exceeded().with_attempts(1).to_string(),
            "batch deadline exceeded"
        );
        // A bare kind reads as its description; an empty message falls back to it too.
        assert_eq!(
            Error::from(ErrorKind::CircuitOpen).to_string(),
            "circuit open: host unhealthy"
        );
        assert_eq!(
            Error::new(ErrorKind::Timeout, "")
                .with_attempts(2)
                .to_string(),
            "timeout (after 2 attempts)"
        );
        for k in ErrorKind::all() {
            let text = Error::from(*k).to_string();
            assert_eq!(text.matches(k.description()).count(), 1, "{text}");
        }
    }
}
