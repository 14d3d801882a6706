//! Retries: [`RetryPolicy`] (what and when), [`RetryBudget`] (how many, across requests) and
//! [`RetryExecutor`] (the policy as a layer).
//!
//! # Where it sits, and the rate limiter
//!
//! Every request that goes on the wire passes the rate limiter once, retries included. That
//! holds in either order:
//!
//! - **Retry above the limiter** (`RetryExecutor<RateLimitedExecutor<Pool>>`): the retry layer
//!   sees the request first and calls the limiter once per attempt, so each attempt waits for
//!   its own token.
//! - **Retry below the limiter** (`RateLimitedExecutor<RetryExecutor<Pool>>`, or the pool's own
//!   retry loop): the limiter registers itself on the [`Context`]
//!   ([`Context::with_admission`]) and the leaf passes it before every request it writes
//!   ([`Context::admit`]), so each attempt pays its token at the leaf. The retry loop itself
//!   never admits anything.
//!
//! The order changes where the waits land, not how many tokens are spent: the leaf reports each
//! attempt's token wait in its response's [`Timings::waited`](crate::Timings), and the retry
//! loop adds its backoff and the waits of the attempts it discarded.
//!
//! # Waits, deadlines, cancellation
//!
//! Backoff and `Retry-After` waits go through the [`Clock`](crate::Clock), under the request's
//! [`Context`]: cancelling the token ends the wait at once with
//! [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled). A wait that would end after the
//! deadline is not started; the last outcome (the 503, the connection error) is returned as it
//! is, because it says more than `DeadlineExceeded` would.
//!
//! # `Retry-After`
//!
//! On a retried status, a `Retry-After` (seconds or HTTP-date, see [`parse_retry_after`])
//! replaces the backoff, exactly, when [`RetryPolicy::respect_retry_after`] is on. If it asks
//! for more than [`RetryPolicy::retry_after_cap`], the response is returned as final without a
//! retry: retrying sooner than the server asked is impolite, and waiting longer than the cap
//! would park a worker for longer than the user allowed.
//!
//! [`Context`]: crate::Context
//! [`Context::with_admission`]: crate::Context::with_admission
//! [`Context::admit`]: crate::Context::admit

mod budget;
mod engine;
mod executor;
mod policy;
mod retry_after;

pub use budget::RetryBudget;
pub use engine::RetryStats;
pub(crate) use engine::{RetryState, run};
pub use executor::RetryExecutor;
pub use policy::{Jitter, RetryPolicy, RetryPolicyBuilder};
pub use retry_after::parse_retry_after;
