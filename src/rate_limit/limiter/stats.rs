//! The limiter's statistics: relaxed counters on their own cache line, and the snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{RateLimiter, ns};

#[derive(Default)]
pub(super) struct Counters {
    pub(super) admitted: AtomicU64,
    pub(super) throttled: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) total_wait_ns: AtomicU64,
    pub(super) max_wait_ns: AtomicU64,
}

/// A snapshot of a [`RateLimiter`]'s statistics. Every field is a plain number, never NaN.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RateLimitStats {
    /// Requests admitted (each attempt counts once).
    pub admitted: u64,
    /// Admitted requests that had to wait first.
    pub throttled: u64,
    /// Calls that got no token: a `try_acquire` that would have had to wait, or an `acquire`
    /// that failed (cancelled, deadline, stopped).
    pub rejected: u64,
    /// Total time admitted requests spent waiting.
    pub total_wait: Duration,
    /// The longest single wait of an admitted request.
    pub max_wait: Duration,
    /// Threads blocked in `acquire` right now.
    pub current_waiters: u64,
    /// The configured rate, in requests per second.
    pub rate_per_sec: f64,
    /// The configured burst.
    pub burst: u32,
}

impl RateLimitStats {
    /// Mean wait of the requests that had to wait; zero when none did.
    pub fn mean_wait(&self) -> Duration {
        if self.throttled == 0 {
            Duration::ZERO
        } else {
            self.total_wait / self.throttled.min(u32::MAX.into()) as u32
        }
    }
}

impl RateLimiter {
    /// Records `extra` time an admitted request waited on this bucket outside `acquire` (the
    /// executor's wait-without-taking for a host bucket); `counted` says whether the final
    /// `acquire` already counted the request as throttled.
    pub(crate) fn note_wait(&self, extra: Duration, counted: bool) {
        if extra.is_zero() {
            return;
        }
        let c = &self.inner.counters;
        if !counted {
            c.throttled.fetch_add(1, Ordering::Relaxed);
        }
        let extra = ns(extra);
        c.total_wait_ns.fetch_add(extra, Ordering::Relaxed);
        c.max_wait_ns.fetch_max(extra, Ordering::Relaxed);
    }

    /// A snapshot of the statistics.
    pub fn stats(&self) -> RateLimitStats {
        let c = &self.inner.counters;
        RateLimitStats {
            admitted: c.admitted.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            total_wait: Duration::from_nanos(c.total_wait_ns.load(Ordering::Relaxed)),
            max_wait: Duration::from_nanos(c.max_wait_ns.load(Ordering::Relaxed)),
            current_waiters: self.queued(),
            rate_per_sec: f64::from_bits(self.inner.rate_per_sec.load(Ordering::Relaxed)),
            burst: self.burst(),
        }
    }

    /// Zeroes the counters (not `current_waiters`, which counts threads that are still waiting).
    pub fn reset_stats(&self) {
        let c = &self.inner.counters;
        for a in [
            &c.admitted,
            &c.throttled,
            &c.rejected,
            &c.total_wait_ns,
            &c.max_wait_ns,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}
