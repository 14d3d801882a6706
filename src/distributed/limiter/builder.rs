//! Building a [`RedisRateLimiter`]: its options and what it does while Redis is unreachable.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use parking_lot::Mutex;

use super::super::conn::{Redis, Script};
use super::super::script;
use super::{Counters, Down, Inner, RedisRateLimiter};
use crate::error::Error;
use crate::rate_limit::{Rate, RateLimiter};

/// What a [`RedisRateLimiter`] does while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum OnUnreachable {
    /// Fail closed: admissions wait, retrying Redis with exponential backoff (10 ms doubling up
    /// to 1 s), for as long as the request's deadline allows. Nothing goes on the wire
    /// unaccounted for. The default.
    WaitAndRetry,
    /// Fail open: admissions go through a local limiter at this share (0 to 1] of the rate and
    /// burst — give each of `n` processes `1/n` to keep the total — and Redis is tried again
    /// after a backoff; the first success switches back.
    LocalShare(f64),
}

/// Builds a [`RedisRateLimiter`].
#[derive(Debug, Clone)]
pub struct RedisRateLimiterBuilder {
    pub(super) url: String,
    pub(super) key: String,
    pub(super) rate: Rate,
    pub(super) burst: u32,
    pub(super) per_host: Option<(Rate, u32)>,
    pub(super) lease: u32,
    pub(super) lease_ttl: Duration,
    pub(super) on_unreachable: OnUnreachable,
}

impl RedisRateLimiterBuilder {
    /// The key prefix of the buckets in Redis: processes that share a limit share a key.
    /// Defaults to `httpbatch:rate`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Adds one shared bucket per origin (`scheme://host:port`), each with `rate` and `burst`,
    /// taken in the same script call as the global one. Defaults to none.
    pub fn per_host(mut self, rate: Rate, burst: u32) -> Self {
        self.per_host = Some((rate, burst));
        self
    }

    /// Token leasing: take `k` tokens per round trip and hand them out locally, each at the
    /// time the server assigned it. Defaults to `1` (no leasing).
    ///
    /// **Accuracy cost.** The server assigns the `k` tokens consecutive slots, so the pacing on
    /// the wire stays exact while this process has requests to use them. A process holds at
    /// most one lease at a time (a thread that finds another's lease fetch under way waits for
    /// its slots), so at most `k - 1` slots wait unused per process. A slot used
    /// late (up to [`lease_ttl`](Self::lease_ttl) after its time) goes out bunched with later
    /// ones: a window may then see up to `P(k - 1)` requests beyond `burst + rate × window`
    /// (`P` processes). A slot left unused past the TTL is capacity lost (the total falls
    /// short, never over). Round trips fall to about `1/k` per admitted request.
    pub fn lease(mut self, k: u32) -> Self {
        self.lease = k.max(1);
        self
    }

    /// How long a leased slot stays usable after its time: longer wastes fewer tokens, shorter
    /// bunches fewer late ones. Defaults to `100 ms`.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// What to do while Redis is unreachable. Defaults to [`OnUnreachable::WaitAndRetry`].
    pub fn on_unreachable(mut self, mode: OnUnreachable) -> Self {
        self.on_unreachable = mode;
        self
    }

    /// Builds the limiter. Connects lazily: an unreachable server is not an error here, only an
    /// invalid URL, a zero burst or a share outside (0, 1].
    pub fn build(self) -> Result<RedisRateLimiter, Error> {
        let redis = Redis::open(&self.url)?;
        RateLimiter::new(self.rate, self.burst)?;
        if let Some((rate, burst)) = self.per_host {
            RateLimiter::new(rate, burst)?;
        }
        let fallback = match self.on_unreachable {
            OnUnreachable::WaitAndRetry => None,
            OnUnreachable::LocalShare(share) => {
                Some(fallback_limiter(self.rate, self.burst, share)?)
            }
        };
        Ok(RedisRateLimiter {
            inner: Arc::new(Inner {
                redis,
                admit: Script::new(script::ADMIT),
                set_rate: Script::new(script::SET_RATE),
                set_burst: Script::new(script::SET_BURST),
                config: Mutex::new((self.rate, self.burst)),
                fallback,
                leases: Mutex::new(HashMap::new()),
                fetch: Mutex::new(()),
                degraded: AtomicBool::new(false),
                down: Mutex::new(Down::default()),
                c: Counters::default(),
                b: self,
            }),
        })
    }
}

fn fallback_limiter(rate: Rate, burst: u32, share: f64) -> Result<RateLimiter, Error> {
    if !(share > 0.0 && share <= 1.0) {
        return Err(Error::new(
            crate::ErrorKind::InvalidConfig,
            format!("the fail-open share must be above 0 and at most 1, got {share}"),
        ));
    }
    let local = Rate::new(rate.count() * share, rate.per())?;
    RateLimiter::new(local, ((f64::from(burst) * share).floor() as u32).max(1))
}

impl RedisRateLimiter {
    /// A builder for a limiter on the Redis at `url` (`redis://HOST:PORT/DB`) admitting `rate`
    /// with bursts of `burst`.
    pub fn builder(url: impl Into<String>, rate: Rate, burst: u32) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder {
            url: url.into(),
            key: "httpbatch:rate".into(),
            rate,
            burst,
            per_host: None,
            lease: 1,
            lease_ttl: Duration::from_millis(100),
            on_unreachable: OnUnreachable::WaitAndRetry,
        }
    }
}
