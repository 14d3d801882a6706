//! httpbatch: a synchronous, thread-based HTTP batch client.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod error;
mod execute;
mod request;
mod response;

pub use clock::{Clock, FakeClock, SystemClock};
pub use error::{Error, ErrorKind};
pub use execute::{Admission, CancelToken, Context, Execute};
pub use request::{Method, Request, RequestBuilder, Scheme, Url};
pub use response::{Response, Timings};
mod agent;
pub use agent::{ConnectionStats, HttpClient, HttpClientConfig};
mod batch;
mod stats;
pub use batch::{
    BatchEvent, BatchExecutor, BatchExecutorBuilder, BatchOptions, BatchResult, BatchStats,
    BatchSummary, IntoBatchItem, Outcome, ProgressSnapshot,
};
pub use stats::LatencySummary;
pub mod par;
pub mod prelude;
pub use par::{
    IntoParCall, ParCall, ParClient, ParCollected, ParError, ParExecutor, ParExecutorBuilder,
    ParMap, ParOptions, ParStats, Pipeline,
};
