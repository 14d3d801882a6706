//! Coalescing statistics: relaxed counters and their `Copy` snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(super) struct Counters {
    pub(super) logical: AtomicU64,
    pub(super) http_requests: AtomicU64,
    pub(super) batched: AtomicU64,
    pub(super) failed_requests: AtomicU64,
    pub(super) item_errors: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) abandoned: AtomicU64,
    pub(super) passed_through: AtomicU64,
}

impl Counters {
    pub(super) fn snapshot(&self) -> CoalesceStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CoalesceStats {
            logical: get(&self.logical),
            http_requests: get(&self.http_requests),
            batched: get(&self.batched),
            failed_requests: get(&self.failed_requests),
            item_errors: get(&self.item_errors),
            rejected: get(&self.rejected),
            abandoned: get(&self.abandoned),
            passed_through: get(&self.passed_through),
        }
    }

    pub(super) fn reset(&self) {
        for c in [
            &self.logical,
            &self.http_requests,
            &self.batched,
            &self.failed_requests,
            &self.item_errors,
            &self.rejected,
            &self.abandoned,
            &self.passed_through,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// A snapshot of a [`CoalescingExecutor`](super::CoalescingExecutor)'s statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CoalesceStats {
    /// Logical requests that joined a batch (not those refused or passed through).
    pub logical: u64,
    /// Combined HTTP requests sent (handed to the inner executor; its retries are its own).
    pub http_requests: u64,
    /// Logical requests sent inside combined requests (the members of the batches flushed).
    pub batched: u64,
    /// Combined requests that failed as a whole (transport error, codec error).
    pub failed_requests: u64,
    /// Logical requests that ended with an error (their own, or their batch's).
    pub item_errors: u64,
    /// Requests refused because the queue was full.
    pub rejected: u64,
    /// Callers that left before their outcome (cancel, deadline).
    pub abandoned: u64,
    /// Requests the codec gave no key, sent on alone.
    pub passed_through: u64,
}

impl CoalesceStats {
    /// Mean logical requests per combined HTTP request; zero before the first.
    pub fn mean_batch_size(&self) -> f64 {
        if self.http_requests == 0 {
            0.0
        } else {
            self.batched as f64 / self.http_requests as f64
        }
    }

    /// HTTP requests saved: logical requests sent minus combined requests that carried them.
    pub fn saved(&self) -> u64 {
        self.batched.saturating_sub(self.http_requests)
    }
}
