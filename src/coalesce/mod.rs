//! Request coalescing: many logical requests with the same batch key combined into one HTTP
//! request by a [`Codec`], the answer split back into one outcome per request.
//!
//! [`CoalescingExecutor`] is a layer: put it above retries, rate limits and the pool, so the
//! combined request is retried, limited and pooled as one request. Codecs built in (feature
//! `coalesce-json`, on by default): [`JsonRpcCodec`] (JSON-RPC 2.0 batches) and
//! [`JsonArrayCodec`] (bodies collected into one JSON array).

mod codec;
mod executor;
#[cfg(feature = "coalesce-json")]
mod json_array;
#[cfg(feature = "coalesce-json")]
mod jsonrpc;
mod stats;

pub use codec::{
    Codec, ItemError, combined_request, default_batch_key, item_response, split_failed,
};
pub use executor::{CoalescingExecutor, CoalescingExecutorBuilder};
#[cfg(feature = "coalesce-json")]
pub use json_array::JsonArrayCodec;
#[cfg(feature = "coalesce-json")]
pub use jsonrpc::JsonRpcCodec;
pub use stats::CoalesceStats;
