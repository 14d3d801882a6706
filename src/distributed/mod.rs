//! Beyond one machine: one rate limit and one work list shared through Redis (feature `redis`).
//!
//! - [`RedisRateLimiter`]: the GCRA limiter with its buckets in Redis. Every admission is one
//!   atomic script call timed by the Redis server's clock; it plugs into the same admission
//!   gate as the local limiter ([`Admission`](crate::Admission)), honours cancel and deadline,
//!   leases `k` tokens per round trip on request, and fails closed (waits) or open (a local
//!   limiter at a share of the rate) while Redis is unreachable.
//! - [`WorkList`]: requests in a Redis stream read by any number of workers through one consumer
//!   group; at-least-once delivery, one recorded outcome per request id, reclaiming of a dead
//!   worker's entries after a visibility timeout, and a dead-letter list.
//!
//! Everything goes through the `redis` crate's synchronous client: no server or protocol of our
//! own, and no async runtime.

mod conn;
mod executor;
mod limiter;
mod payload;
mod script;
mod status;
mod worker;
mod worklist;

pub use executor::RedisRateLimitedExecutor;
pub use limiter::{OnUnreachable, RedisLimitStats, RedisRateLimiter, RedisRateLimiterBuilder};
pub use payload::{outcome_line, request_from_payload};
pub use status::{WorkListStatus, WorkerStatus};
pub use worker::{Worker, WorkerSummary};
pub use worklist::{Entry, Record, WorkList};
