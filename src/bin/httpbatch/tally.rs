//! What the summary reports, counted from the outcomes as they are printed: one count per
//! output line, and for responses, time on the wire apart from time waiting.
//!
//! Times come from each response's [`Timings`](httpbatch::Timings): `wire` (connect, send,
//! receive, summed over attempts and redirect hops), `waited` (rate-limiter admission and retry
//! backoff) and `queued` (from the start of the run until a worker took the request: the queue,
//! pauses, and for a streamed input the time until the line was read).

use std::time::Duration;

use hdrhistogram::Histogram;
use httpbatch::Outcome;

/// Upper bounds of the histogram's buckets (the last is open-ended).
pub const BUCKETS: [Duration; 6] = [
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(10),
];

/// Percentiles of one kind of time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    /// Samples.
    pub count: u64,
    /// Sum of the samples.
    pub sum: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

/// A recorder of durations (microseconds, 3 significant digits).
#[derive(Debug, Clone)]
struct Times {
    hist: Histogram<u64>,
    sum: Duration,
}

impl Default for Times {
    fn default() -> Self {
        Times {
            hist: Histogram::new(3).expect("3 significant digits is valid"),
            sum: Duration::ZERO,
        }
    }
}

impl Times {
    fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        // `record` grows the auto-resizing histogram; `saturating_record` alone would clamp.
        if self.hist.record(us).is_err() {
            self.hist.saturating_record(us);
        }
        self.sum = self.sum.saturating_add(d);
    }

    fn spread(&self) -> Spread {
        let q = |q: f64| Duration::from_micros(self.hist.value_at_quantile(q));
        if self.hist.is_empty() {
            return Spread::default();
        }
        Spread {
            count: self.hist.len(),
            sum: self.sum,
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: Duration::from_micros(self.hist.max()),
        }
    }
}

/// Counts and times of the outcomes printed.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Outcomes (one per output line).
    pub total: usize,
    /// Items that started on a worker: responses, errors met on the way, cancelled in flight.
    pub ran: usize,
    /// Responses with a status below 400.
    pub succeeded: usize,
    /// Responses, any status.
    pub responses: usize,
    /// Responses by class, 1xx to 5xx.
    pub status_classes: [usize; 5],
    /// Errors (an input that could not become a request included).
    pub errors: usize,
    /// Cancelled while in flight.
    pub cancelled: usize,
    /// Never started.
    pub not_run: usize,
    /// Responses per histogram bucket of wire time (the last: above the last bound).
    pub wire_buckets: [u64; BUCKETS.len() + 1],
    wire: Times,
    waited: Times,
    queued: Times,
}

impl Tally {
    /// Counts `outcome`; `ran` says whether its item started on a worker.
    pub fn record(&mut self, outcome: &Outcome, ran: bool) {
        self.total += 1;
        self.ran += usize::from(ran);
        match outcome {
            Outcome::Response(r) => {
                self.responses += 1;
                self.succeeded += usize::from(r.is_success());
                if let Some(c) = (r.status() / 100).checked_sub(1) {
                    if let Some(n) = self.status_classes.get_mut(usize::from(c)) {
                        *n += 1;
                    }
                }
                let t = r.timings();
                self.wire.record(t.wire);
                self.waited.record(t.waited);
                self.queued.record(t.queued);
                let bucket = BUCKETS.iter().position(|b| t.wire < *b);
                self.wire_buckets[bucket.unwrap_or(BUCKETS.len())] += 1;
            }
            Outcome::Error(_) => self.errors += 1,
            Outcome::Cancelled => self.cancelled += 1,
            Outcome::NotRun => self.not_run += 1,
        }
    }

    /// Outcomes without a successful response.
    pub fn failed(&self) -> usize {
        self.total - self.succeeded
    }

    /// Time on the wire, per response.
    pub fn wire(&self) -> Spread {
        self.wire.spread()
    }

    /// Time waiting for the rate limiter and retry backoff, per response.
    pub fn waited(&self) -> Spread {
        self.waited.spread()
    }

    /// Time from the start of the run until a worker took the request, per response.
    pub fn queued(&self) -> Spread {
        self.queued.spread()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use httpbatch::Response;

    fn response(status: u16, wire_ms: u64, waited_ms: u64) -> Outcome {
        let mut r = Response::new(status, Vec::new());
        let t = r.timings_mut();
        t.wire = Duration::from_millis(wire_ms);
        t.waited = Duration::from_millis(waited_ms);
        Outcome::Response(Box::new(r))
    }

    #[test]
    fn wire_and_waiting_apart_and_only_started_items_ran() {
        let mut t = Tally::default();
        for _ in 0..9 {
            t.record(&response(200, 0, 30), true);
        }
        t.record(&response(503, 2000, 0), true);
        t.record(&Outcome::Cancelled, true);
        t.record(&Outcome::NotRun, false);
        assert_eq!((t.total, t.ran, t.succeeded, t.responses), (12, 11, 9, 10));
        assert_eq!((t.cancelled, t.not_run, t.status_classes[4]), (1, 1, 1));
        let wire = t.wire();
        assert!(wire.p50 < Duration::from_millis(1), "{wire:?}");
        assert!(wire.max >= Duration::from_millis(1990), "{wire:?}");
        let waited = t.waited();
        assert!(waited.p50 >= Duration::from_millis(29), "{waited:?}");
        assert_eq!(t.wire_buckets, [9, 0, 0, 0, 0, 1, 0]);
        assert_eq!(Tally::default().wire(), Spread::default());
    }
}
