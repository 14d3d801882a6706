//! What a batch did: its summary, the executor-wide statistics, and the counting behind both.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::error::ErrorKind;
use crate::stats::{Latency, LatencySummary, rate};

use super::Outcome;

/// What a batch did, without the outcomes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchSummary {
    /// Inputs.
    pub total: usize,
    /// Responses with a status below 400 (see [`Response::is_success`](crate::Response::is_success)).
    pub succeeded: usize,
    /// Responses, any status.
    pub responses: usize,
    /// Responses by status class: index 0 is 1xx, … 4 is 5xx.
    pub status_classes: [usize; 5],
    /// Errors (not counting cancelled and not run).
    pub errors: usize,
    /// Cancelled.
    pub cancelled: usize,
    /// Not run.
    pub not_run: usize,
    /// Wall time of the batch.
    pub duration: Duration,
    /// Outcomes per second.
    pub throughput: f64,
    /// Latency of the requests that ran (start to outcome).
    pub latency: LatencySummary,
}

impl BatchSummary {
    /// Inputs without a successful response.
    pub fn failed(&self) -> usize {
        self.total - self.succeeded
    }
}

/// Executor-wide statistics since creation or the last
/// [`BatchExecutor::reset_stats`](crate::BatchExecutor::reset_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchStats {
    /// Batches run.
    pub batches: u64,
    /// Requests submitted.
    pub requests: u64,
    /// Outcomes settled.
    pub completed: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Responses by status class: index 0 is 1xx, … 4 is 5xx.
    pub status_classes: [u64; 5],
    /// Errors by kind: read with [`errors_of`](Self::errors_of) (private, so a new kind is not a
    /// breaking change).
    errors: [u64; ErrorKind::COUNT],
    /// Cancelled outcomes.
    pub cancelled: u64,
    /// Not-run outcomes.
    pub not_run: u64,
    /// Latency of the requests that ran.
    pub latency: LatencySummary,
    /// Outcomes per second since creation or reset.
    pub throughput: f64,
    /// Time since creation or reset.
    pub elapsed: Duration,
}

impl BatchStats {
    /// Errors of `kind`.
    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    /// All errors.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().sum()
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) batches: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) in_flight: CachePadded<AtomicU64>,
    classes: [AtomicU64; 5],
    errors: [AtomicU64; ErrorKind::COUNT],
    cancelled: AtomicU64,
    not_run: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self, latency: LatencySummary, elapsed: Duration) -> BatchStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let completed = load(&self.completed);
        BatchStats {
            batches: load(&self.batches),
            requests: load(&self.requests),
            completed,
            in_flight: load(&self.in_flight),
            status_classes: std::array::from_fn(|i| load(&self.classes[i])),
            errors: std::array::from_fn(|i| load(&self.errors[i])),
            cancelled: load(&self.cancelled),
            not_run: load(&self.not_run),
            latency,
            throughput: rate(completed, elapsed),
            elapsed,
        }
    }

    /// Zeroes the counts (the in-flight gauge is a level, not a count).
    pub(crate) fn reset(&self) {
        for a in [
            &self.batches,
            &self.requests,
            &self.completed,
            &self.cancelled,
            &self.not_run,
        ]
        .into_iter()
        .chain(&self.classes)
        .chain(&self.errors)
        {
            a.store(0, Ordering::Relaxed);
        }
    }
}

/// Counting on the caller's thread.
pub(crate) struct Settle {
    pub(crate) start: Instant,
    pub(crate) total: usize,
    completed: usize,
    succeeded: usize,
    responses: usize,
    classes: [usize; 5],
    errors: usize,
    cancelled: usize,
    not_run: usize,
    pub(crate) latency: Latency,
}

impl Settle {
    pub(crate) fn new(start: Instant) -> Settle {
        Settle {
            start,
            total: 0,
            completed: 0,
            succeeded: 0,
            responses: 0,
            classes: [0; 5],
            errors: 0,
            cancelled: 0,
            not_run: 0,
            latency: Latency::default(),
        }
    }

    #[inline]
    pub(crate) fn count(&mut self, o: &Outcome, c: &Counters) {
        self.completed += 1;
        c.completed.fetch_add(1, Ordering::Relaxed);
        match o {
            Outcome::Response(r) => {
                self.responses += 1;
                if r.is_success() {
                    self.succeeded += 1;
                }
                let class = (usize::from(r.status() / 100)).clamp(1, 5) - 1;
                self.classes[class] += 1;
                c.classes[class].fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Error(e) => {
                self.errors += 1;
                c.errors[e.kind().index()].fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Cancelled => {
                self.cancelled += 1;
                c.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::NotRun => {
                self.not_run += 1;
                c.not_run.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn summary(&self, now: Instant) -> BatchSummary {
        let duration = now.duration_since(self.start);
        BatchSummary {
            total: self.total,
            succeeded: self.succeeded,
            responses: self.responses,
            status_classes: self.classes,
            errors: self.errors,
            cancelled: self.cancelled,
            not_run: self.not_run,
            duration,
            throughput: rate(self.completed as u64, duration),
            latency: self.latency.summary(),
        }
    }
}
