//! One outcome per input: what a batch hands back for each request.

use crate::error::{Error, ErrorKind};
use crate::request::Request;
use crate::response::Response;

/// The outcome of one request of a batch. Every input gets exactly one, in input order.
#[derive(Debug)]
pub enum Outcome {
    /// The server answered (any status: a 404 is a response, not an error). Boxed so that an
    /// outcome is two words: a batch moves and stores outcomes by the hundred thousand.
    Response(Box<Response>),
    /// The request failed; [`Error::kind`] says how.
    Error(Error),
    /// The batch was cancelled (or the executor shut down) before or while this request ran.
    Cancelled,
    /// Never started: fail-fast tripped or the batch deadline passed first.
    NotRun,
}

impl Outcome {
    /// A response with a status below 400: see [`Response::is_success`].
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Response(r) if r.is_success())
    }

    /// The response, if any.
    pub fn response(&self) -> Option<&Response> {
        match self {
            Outcome::Response(r) => Some(r),
            _ => None,
        }
    }

    /// The error, if any.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Error(e) => Some(e),
            _ => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        self.response().map(Response::status)
    }

    /// `"response"`, `"error"`, `"cancelled"` or `"not_run"`.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Outcome::Response(_) => "response",
            Outcome::Error(_) => "error",
            Outcome::Cancelled => "cancelled",
            Outcome::NotRun => "not_run",
        }
    }

    /// Converts to a `Result`, with `Cancelled`/`NotRun` as errors of those kinds.
    pub fn into_result(self) -> Result<Response, Error> {
        match self {
            Outcome::Response(r) => Ok(*r),
            Outcome::Error(e) => Err(e),
            Outcome::Cancelled => Err(Error::cancelled()),
            Outcome::NotRun => Err(Error::new(ErrorKind::NotRun, "not run")),
        }
    }

    #[inline]
    pub(crate) fn from_result(r: Result<Response, Error>) -> Outcome {
        match r {
            Ok(r) => Outcome::Response(Box::new(r)),
            Err(e) => match e.kind() {
                ErrorKind::Cancelled => Outcome::Cancelled,
                ErrorKind::NotRun => Outcome::NotRun,
                _ => Outcome::Error(e),
            },
        }
    }
}

/// An input of a batch: a request, or the error that building it produced. Errors end as
/// [`Outcome::Error`] in their own slot, without stopping the rest.
pub trait IntoBatchItem {
    /// The request, or why there is none.
    fn into_batch_item(self) -> Result<Request, Error>;
}

impl IntoBatchItem for Request {
    fn into_batch_item(self) -> Result<Request, Error> {
        Ok(self)
    }
}

impl IntoBatchItem for Result<Request, Error> {
    fn into_batch_item(self) -> Result<Request, Error> {
        self
    }
}
