//! JSON bodies (feature `json`) and [`ResponseError`]: a failed status or an undecodable body,
//! with the status and an excerpt of the body kept.
//!
//! ```
//! # #[cfg(feature = "json")] {
//! use httpbatch::{Context, Execute, HttpClient, Method, Request};
//! use httpbatch_testserver::Server;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Order { id: u32, items: Vec<String> }
//!
//! let server = Server::start()?;
//! let order = Order { id: 7, items: vec!["tea".into()] };
//! // `/echo` answers with the body it was sent.
//! let req = Request::builder(Method::Post, &server.url("/echo")).json(&order).build()?;
//! let res = HttpClient::new().execute(req, &Context::new())?;
//! assert_eq!(res.header("x-echo-h-content-type"), Some("application/json"));
//! let back: Order = res.error_for_status()?.json()?;
//! assert_eq!(back, order);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use crate::response::Response;

/// How many bytes of the body a [`ResponseError`] keeps.
const EXCERPT: usize = 256;

/// What went wrong with a response: a status of 400 or more where success was required
/// ([`Response::error_for_status`]), or a body that does not decode (`Response::json`, feature
/// `json`). Keeps the status, the URL and the first 256 bytes of the body (as lossy UTF-8), so
/// the message says what the server answered.
///
/// ```
/// use httpbatch::Response;
/// let res = Response::new(503, "upstream down: retry later");
/// let err = res.error_for_status().unwrap_err();
/// assert!(err.is_status());
/// assert_eq!(err.status(), 503);
/// assert_eq!(err.excerpt(), "upstream down: retry later");
/// assert!(err.to_string().contains("503"));
/// ```
#[derive(Debug)]
pub struct ResponseError {
    status: u16,
    url: String,
    excerpt: String,
    #[cfg(feature = "json")]
    decode: Option<serde_json::Error>,
}

impl ResponseError {
    fn new(res: &Response) -> ResponseError {
        let body = res.body();
        let mut cut = body.len().min(EXCERPT);
        // Do not split a UTF-8 sequence: back up while the first byte left out continues one.
        while cut > 0 && cut < body.len() && (body[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        let mut excerpt = String::from_utf8_lossy(&body[..cut]).into_owned();
        if cut < body.len() {
            excerpt.push('…');
        }
        ResponseError {
            status: res.status(),
            url: res.url().to_owned(),
            excerpt,
            #[cfg(feature = "json")]
            decode: None,
        }
    }

    /// The response's status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The URL that answered (empty for a hand-made response).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The start of the body: at most 256 bytes, lossy UTF-8, `…` when cut.
    pub fn excerpt(&self) -> &str {
        &self.excerpt
    }

    /// Whether the status was the problem ([`Response::error_for_status`]).
    pub fn is_status(&self) -> bool {
        !self.is_decode()
    }

    /// Whether the body did not decode (feature `json`).
    pub fn is_decode(&self) -> bool {
        #[cfg(feature = "json")]
        return self.decode.is_some();
        #[cfg(not(feature = "json"))]
        false
    }
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.url.is_empty() {
            String::new()
        } else {
            format!(" from {}", self.url)
        };
        #[cfg(feature = "json")]
        if let Some(e) = &self.decode {
            return write!(
                f,
                "response{at} (status {}) is not the expected JSON: {e}; body starts {:?}",
                self.status, self.excerpt
            );
        }
        write!(
            f,
            "status {}{at}; body starts {:?}",
            self.status, self.excerpt
        )
    }
}

impl std::error::Error for ResponseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        #[cfg(feature = "json")]
        if let Some(e) = &self.decode {
            return Some(e);
        }
        None
    }
}

impl Response {
    /// The response if its status is below 400 ([`is_success`](Self::is_success)), else a
    /// [`ResponseError`] with the status and a body excerpt.
    pub fn error_for_status(self) -> Result<Response, ResponseError> {
        self.error_for_status_ref()?;
        Ok(self)
    }

    /// Like [`error_for_status`](Self::error_for_status), by reference.
    pub fn error_for_status_ref(&self) -> Result<&Response, ResponseError> {
        match self.is_success() {
            true => Ok(self),
            false => Err(ResponseError::new(self)),
        }
    }
}

#[cfg(feature = "json")]
mod serde_impls {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::ResponseError;
    use crate::error::{Error, ErrorKind};
    use crate::request::{Method, Request, RequestBuilder};
    use crate::response::Response;

    impl Response {
        /// Decodes the body as JSON into `T` (whatever the status: check it first with
        /// [`error_for_status`](Self::error_for_status)). A body that does not decode is a
        /// [`ResponseError`] that keeps the status, a body excerpt and serde's error (its
        /// `source()`, with line and column).
        pub fn json<T: DeserializeOwned>(&self) -> Result<T, ResponseError> {
            serde_json::from_slice(self.body()).map_err(|e| {
                let mut err = ResponseError::new(self);
                err.decode = Some(e);
                err
            })
        }
    }

    impl RequestBuilder {
        /// Sets the body to `value` as JSON and adds `Content-Type: application/json`. A value
        /// that does not serialise (a map with non-string keys, a failing `Serialize`) makes
        /// [`build`](Self::build) fail with [`ErrorKind::InvalidRequest`].
        pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
            match serde_json::to_vec(value) {
                Ok(body) => self.header("content-type", "application/json").body(body),
                Err(e) => self.fail(Error::with_source(
                    ErrorKind::InvalidRequest,
                    format!("the JSON body does not serialise: {e}"),
                    e,
                )),
            }
        }
    }

    impl Request {
        /// A `method` request to `url` with `value` as its JSON body (see
        /// [`RequestBuilder::json`]).
        pub fn json<T: Serialize + ?Sized>(
            method: Method,
            url: &str,
            value: &T,
        ) -> Result<Request, Error> {
            Request::builder(method, url).json(value).build()
        }
    }
}
