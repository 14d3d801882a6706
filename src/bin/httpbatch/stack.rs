//! The layers under the batch, built from the options, and their statistics.
//!
//! Order, top to bottom: `BatchExecutor` → `RetryExecutor` → `RateLimitedExecutor` →
//! `HttpClient`. Retry sits above the limiter, so every attempt (retries included) pays a token.

use std::sync::Arc;
use std::time::Duration;

use httpbatch::{
    BatchExecutor, ConnectionStats, Error, Execute, HttpClient, HttpClientConfig, Rate,
    RateLimitStats, RateLimitedExecutor, RateLimiter, RetryExecutor, RetryPolicy, RetryStats,
};

/// What the layers are built from.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Worker threads = requests in flight at once.
    pub concurrency: usize,
    /// Global rate limit and its burst.
    pub rate: Option<(Rate, u32)>,
    /// Retries after the first attempt (0 = no retry layer).
    pub retries: u32,
    /// Delay before the first retry.
    pub retry_backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub retry_after_cap: Duration,
    /// Retry POST and PATCH.
    pub retry_post: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Response body limit.
    pub max_body: u64,
}

type Top = Arc<dyn Execute>;

/// The built stack, with handles to every layer that has statistics.
pub struct Stack {
    /// The batch executor on top.
    pub executor: BatchExecutor<Top>,
    client: HttpClient,
    limiter: Option<RateLimiter>,
    retry: Option<Arc<RetryExecutor<Top>>>,
}

/// Every layer's statistics after a run.
#[derive(Debug, Clone, Copy)]
pub struct LayerStats {
    /// Errors by kind, and the executor's view.
    pub batch: httpbatch::BatchStats,
    /// The retry layer, when on.
    pub retry: Option<RetryStats>,
    /// The rate limiter, when on.
    pub limiter: Option<RateLimitStats>,
    /// Connections, counted at the socket.
    pub connections: ConnectionStats,
}

impl Stack {
    /// Builds the layers; fails on an invalid setting (reported as a usage error).
    pub fn build(config: &StackConfig) -> Result<Stack, Error> {
        let client = HttpClient::with_config(
            HttpClientConfig::default()
                .timeout(config.timeout)
                .connect_timeout(config.connect_timeout)
                .max_body_size(config.max_body)
                // Keep at least one idle connection per worker, or they churn.
                .max_idle_per_origin(config.concurrency.max(16)),
        );
        let mut top: Top = Arc::new(client.clone());
        let limiter = match config.rate {
            Some((rate, burst)) => {
                let limiter = RateLimiter::new(rate, burst)?;
                top = Arc::new(RateLimitedExecutor::new(top, limiter.clone()));
                Some(limiter)
            }
            None => None,
        };
        let retry = if config.retries > 0 {
            let policy = RetryPolicy::builder()
                .max_attempts(config.retries.saturating_add(1))
                .base_delay(config.retry_backoff)
                .max_delay(config.retry_backoff.max(Duration::from_secs(10)))
                .retry_after_cap(config.retry_after_cap)
                .retry_non_idempotent(config.retry_post)
                .build()?;
            let retry = Arc::new(RetryExecutor::new(top, policy)?);
            top = retry.clone();
            Some(retry)
        } else {
            None
        };
        let executor = BatchExecutor::builder()
            .workers(config.concurrency)
            .build(top)?;
        Ok(Stack {
            executor,
            client,
            limiter,
            retry,
        })
    }

    /// Every layer's statistics now.
    pub fn stats(&self) -> LayerStats {
        LayerStats {
            batch: self.executor.stats(),
            retry: self.retry.as_ref().map(|r| r.stats()),
            limiter: self.limiter.as_ref().map(RateLimiter::stats),
            connections: self.client.connection_stats(),
        }
    }
}
