//! `--coalesce`, `--max-batch`, `--max-delay` and `--adaptive`: request coalescing and adaptive
//! limits on the CLI's stack.

use std::time::Duration;

use clap::{Args, ValueEnum};
use httpbatch::coalesce::{JsonArrayCodec, JsonRpcCodec};
use httpbatch::{AdaptiveLimits, Rate, RateLimiter, StackBuilder};

use crate::units::parse_duration;

/// The built-in codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CodecName {
    /// JSON-RPC 2.0 batches: each body is one call object, answers matched by id.
    Jsonrpc,
    /// JSON arrays: the bodies collected into one array, results split from the answer's array.
    JsonArray,
}

/// Coalescing and adaptive-limit options.
#[derive(Debug, Args, Clone, Default)]
pub struct CoalesceArgs {
    /// Combine requests to the same URL (same method and headers) into one HTTP request:
    /// `jsonrpc` (bodies are JSON-RPC calls) or `json-array` (bodies are JSON values). A call the
    /// server answers with a JSON-RPC error object ends on its own line with error kind `remote`.
    #[arg(long, value_enum, value_name = "CODEC", help_heading = "Coalescing")]
    pub coalesce: Option<CodecName>,

    /// Most requests combined into one HTTP request, with --coalesce (at most the concurrency
    /// fills one) [default: 50].
    #[arg(
        long,
        value_name = "N",
        requires = "coalesce",
        help_heading = "Coalescing"
    )]
    pub max_batch: Option<usize>,

    /// Longest a request waits for others to combine with, with --coalesce [default: 5ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "coalesce", help_heading = "Coalescing")]
    pub max_delay: Option<Duration>,

    /// Follow each host's rate-limit headers: pause on 429/503 with Retry-After, lower the rate
    /// to the quota a server advertises (RateLimit, RateLimit-Policy, X-RateLimit-*), hold when
    /// it is spent until its reset. Never above --rate.
    #[arg(long, help_heading = "Speed")]
    pub adaptive: bool,
}

impl CoalesceArgs {
    /// Adds the layers these options ask for to `stack`. `--adaptive` without `--rate` puts in
    /// a limiter no host reaches, so only the servers' headers limit.
    pub fn apply(
        &self,
        mut stack: StackBuilder,
        rate: Option<(Rate, u32)>,
        concurrency: usize,
    ) -> Result<StackBuilder, httpbatch::Error> {
        if self.adaptive {
            if rate.is_none() {
                let burst = u32::try_from(concurrency).unwrap_or(u32::MAX).max(1);
                stack = stack.rate_limiter(RateLimiter::new(Rate::per_second(1e6)?, burst)?);
            }
            stack = stack.adaptive(AdaptiveLimits::new());
        }
        let max_batch = self.max_batch.unwrap_or(50);
        let max_delay = self.max_delay.unwrap_or(Duration::from_millis(5));
        Ok(match self.coalesce {
            None => stack,
            Some(CodecName::Jsonrpc) => stack.coalesce(JsonRpcCodec::new(), max_batch, max_delay),
            Some(CodecName::JsonArray) => {
                stack.coalesce(JsonArrayCodec::new(), max_batch, max_delay)
            }
        })
    }
}
