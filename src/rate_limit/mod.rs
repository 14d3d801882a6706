//! Rate limiting: [`Rate`], the [`RateLimiter`] bucket and the [`RateLimitedExecutor`] layer.
//!
//! The limiter is GCRA (the generic cell rate algorithm): a continuous-refill token bucket whose
//! whole state is one atomic timestamp, so the uncontended path is a clock read and one CAS.
//! Rate and burst are set separately; over any stretch of time `d` it admits at most
//! `burst + rate × d` requests, with no fixed windows.
//!
//! **One admission gate.** A [`RateLimitedExecutor`] takes nothing as a request passes it: it
//! registers its buckets on the [`Context`] it hands down as an [`Admission`]. The leaf (the
//! [`HttpClient`], the only code that writes requests to sockets) calls [`Context::admit`]
//! immediately before each request it writes — first attempts, retries and redirect hops alike —
//! and that takes the token. **Every request on the wire passes the limiter exactly once,
//! whatever the order of the layers**: a retry layer above re-enters the limiter, which registers
//! afresh on a context that only lives for that attempt; a retry loop below hands the same
//! context to each attempt, and the leaf pays for each write.
//!
//! [`Context`]: crate::Context
//! [`Admission`]: crate::Admission
//! [`Context::admit`]: crate::Context::admit
//! [`HttpClient`]: crate::HttpClient

mod adaptive;
mod executor;
mod limiter;
mod rate;

pub use adaptive::{AdaptiveHostStats, AdaptiveLimits, AdaptiveLimitsBuilder};
pub use executor::{RateLimitedExecutor, TryExecuteError};
pub use limiter::{RateLimitStats, RateLimiter};
pub use rate::Rate;
