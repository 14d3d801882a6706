//! httpbatch: a synchronous, thread-based HTTP batch client.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod agent;
mod batch;
mod clock;
mod error;
mod execute;
mod httpdate;
pub mod loopback;
pub mod par;
mod pool;
pub mod prelude;
mod rate_limit;
mod request;
mod response;
mod retry;
mod stats;

pub use agent::{ConnectionStats, HttpClient, HttpClientConfig};
pub use batch::{
    BatchEvent, BatchExecutor, BatchExecutorBuilder, BatchOptions, BatchResult, BatchStats,
    BatchSummary, IntoBatchItem, Outcome, ProgressSnapshot,
};
pub use clock::{Clock, FakeClock, SystemClock};
pub use error::{Error, ErrorKind};
pub use execute::{Admission, CancelToken, Context, Execute};
pub use par::{
    IntoParCall, ParCall, ParClient, ParCollected, ParError, ParExecutor, ParExecutorBuilder,
    ParMap, ParOptions, ParStats, Pipeline,
};
pub use pool::{
    ConnectionPool, ConnectionPoolBuilder, HealthCheckConfig, HealthState, HostHealth, HostStats,
    HostWarmup, PoolStats, WarmupReport,
};
pub use rate_limit::{Rate, RateLimitStats, RateLimitedExecutor, RateLimiter, TryExecuteError};
pub use request::{Method, Request, RequestBuilder, Scheme, Url};
pub use response::{Response, Timings};
pub use retry::{
    Jitter, RetryBudget, RetryExecutor, RetryPolicy, RetryPolicyBuilder, RetryStats,
    parse_retry_after,
};
pub use stats::LatencySummary;
