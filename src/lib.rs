//! httpbatch: a synchronous, thread-based HTTP batch client.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod error;
mod execute;
mod rate_limit;
mod request;
mod response;

pub use clock::{Clock, FakeClock, SystemClock};
pub use error::{Error, ErrorKind};
pub use execute::{Admission, CancelToken, Context, Execute};
pub use rate_limit::{Rate, RateLimitStats, RateLimitedExecutor, RateLimiter, TryExecuteError};
pub use request::{Method, Request, RequestBuilder, Scheme, Url};
pub use response::{Response, Timings};
