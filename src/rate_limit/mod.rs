//! Rate limiting: [`Rate`], the [`RateLimiter`] bucket and the [`RateLimitedExecutor`] layer.
//!
//! The limiter is GCRA (the generic cell rate algorithm): a continuous-refill token bucket whose
//! whole state is one atomic timestamp, so the uncontended path is a clock read and one CAS.
//! Rate and burst are set separately; over any stretch of time `d` it admits at most
//! `burst + rate × d` requests, with no fixed windows.
//!
//! **Which layer sees the request first.** A [`RateLimitedExecutor`] sees a request before its
//! inner executor: it takes a token, then calls the inner layer. **Every attempt that goes on
//! the wire passes the limiter exactly once, whatever the order of the layers**:
//!
//! - A retry layer *above* the limiter re-enters [`RateLimitedExecutor::execute`] for every
//!   attempt, and each entry takes a token.
//! - A retry layer *below* it (the connection pool's retry loop) gets a [`Context`] carrying the
//!   limiter as an [`Admission`]; before each attempt after the first it calls
//!   [`Context::admit_retry`], which takes a token from the same buckets again. The admission is
//!   only on the context handed *down*, so a retry layer above never pays it twice.
//!
//! [`Context`]: crate::Context
//! [`Admission`]: crate::Admission
//! [`Context::admit_retry`]: crate::Context::admit_retry

mod executor;
mod limiter;
mod rate;

pub use executor::{RateLimitedExecutor, TryExecuteError};
pub use limiter::{RateLimitStats, RateLimiter};
pub use rate::Rate;
