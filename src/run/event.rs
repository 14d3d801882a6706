//! What a run reports while it goes: progress snapshots and per-item events.

use std::time::{Duration, Instant};

use crate::batch::{BatchSummary, Outcome};
use crate::response::Response;
use crate::stats::rate;

use super::options::ProgressFn;
use super::sink::{Hooks, Ran};

/// Progress of a running batch or `par` call.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ProgressSnapshot {
    /// Items settled so far (of any kind).
    pub completed: usize,
    /// Items in the run: exact when the input's length is known up front (a `Vec`, a range, an
    /// exact-size iterator) or once it has been read to its end; until then, the items read so
    /// far (see [`total_known`](Self::total_known)).
    pub total: usize,
    /// Whether `total` is final.
    pub total_known: bool,
    /// Items that succeeded: responses with a status below 400 (for the `try_` and pipeline
    /// forms, an `Ok` from the closure).
    pub succeeded: usize,
    /// Everything else settled: error statuses, errors, cancelled, not run.
    pub failed: usize,
    /// `completed / total` in percent (100 for an empty run, 0 before an input of unknown
    /// length has been read).
    pub percent: f64,
    /// Time since the run started, paused time included.
    pub elapsed: Duration,
    /// Items settled per second so far.
    pub throughput: f64,
    /// Estimated time remaining at the current throughput, once it can be estimated (never while
    /// the total is unknown).
    pub eta: Option<Duration>,
    /// Whether dispatch is paused now (see [`BatchControl`](crate::BatchControl)).
    pub paused: bool,
    /// Time spent paused so far.
    pub paused_for: Duration,
}

impl ProgressSnapshot {
    pub(crate) fn compute(start: Instant, now: Instant, c: &Counts) -> ProgressSnapshot {
        let elapsed = now.saturating_duration_since(start);
        let throughput = rate(c.completed as u64, elapsed);
        let left = c.total.saturating_sub(c.completed);
        ProgressSnapshot {
            completed: c.completed,
            total: c.total,
            total_known: c.total_known,
            succeeded: c.succeeded,
            failed: c.completed - c.succeeded,
            percent: if c.total == 0 {
                // An empty run is done; an input not read yet is not.
                if c.total_known { 100.0 } else { 0.0 }
            } else {
                c.completed as f64 * 100.0 / c.total as f64
            },
            elapsed,
            throughput,
            eta: if !c.total_known {
                None
            } else if left == 0 {
                Some(Duration::ZERO)
            } else if throughput > 0.0 {
                Duration::try_from_secs_f64(left as f64 / throughput).ok()
            } else {
                None
            },
            paused: c.paused_since.is_some(),
            paused_for: c.paused_total
                + c.paused_since
                    .map_or(Duration::ZERO, |p| now.saturating_duration_since(p)),
        }
    }
}

/// The counts behind a [`ProgressSnapshot`], kept on the run's calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub(crate) total: usize,
    pub(crate) total_known: bool,
    pub(crate) completed: usize,
    pub(crate) succeeded: usize,
    pub(crate) paused_since: Option<Instant>,
    pub(crate) paused_total: Duration,
}

/// A per-item or run event, delivered on the calling thread.
///
/// `par` calls deliver `Started`, `Paused` and `Resumed`; batches and streaming runs deliver
/// every kind.
#[derive(Debug)]
#[non_exhaustive]
pub enum BatchEvent<'a> {
    /// A worker started item `index`.
    Started {
        /// Input index.
        index: usize,
    },
    /// Request `index` got a response with a status below 400.
    Completed {
        /// Input index.
        index: usize,
        /// The response.
        response: &'a Response,
    },
    /// Request `index` settled without a successful response.
    Failed {
        /// Input index.
        index: usize,
        /// Its outcome.
        outcome: &'a Outcome,
    },
    /// Dispatch paused: requests in flight finish, nothing new starts.
    Paused,
    /// Dispatch resumed.
    Resumed {
        /// How long this pause lasted.
        paused_for: Duration,
    },
    /// Every request has settled; no callback follows.
    Drained {
        /// The batch's summary.
        summary: &'a BatchSummary,
    },
}

/// A progress call, if one is due (or `force`d). Inline: it runs on every turn of the caller's
/// loop, and most runs have no progress callback.
#[inline]
pub(super) fn report(
    progress: &mut Option<&mut (Duration, ProgressFn<'_>)>,
    hooks: &mut Hooks<'_, '_>,
    last: &mut Instant,
    start: Instant,
    counts: &Counts,
    force: bool,
) {
    if let Some((every, f)) = progress.as_mut() {
        let now = Instant::now();
        if hooks.panic.is_none() && (force || now.saturating_duration_since(*last) >= *every) {
            *last = now;
            let snap = ProgressSnapshot::compute(start, now, counts);
            hooks.guard(|| f(&snap));
        }
    }
}

/// The last progress call (100 %).
pub(super) fn finish(
    start: Instant,
    counts: &Counts,
    progress: &mut Option<&mut (Duration, ProgressFn<'_>)>,
    mut hooks: Hooks<'_, '_>,
) -> Ran {
    if let Some((_, f)) = progress.as_mut() {
        if hooks.panic.is_none() {
            let snap = ProgressSnapshot::compute(start, Instant::now(), counts);
            hooks.guard(|| f(&snap));
        }
    }
    Ran {
        start,
        total: counts.total,
        panic: hooks.panic,
    }
}
