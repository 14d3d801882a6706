//! Shared statistics helpers: an HDR latency histogram and its `Copy` summary.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latency percentiles from an HDR histogram (microsecond resolution, 3 significant digits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Mean.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

/// A latency recorder. Not synchronised: callers keep it behind a lock or on one thread.
#[derive(Debug, Clone)]
pub(crate) struct Latency {
    hist: Histogram<u64>,
    /// The exact sum of the samples in microseconds, so the mean needs no pass over the
    /// histogram's buckets (that pass grows with the range of the samples).
    sum: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            // Auto-resizing, so it starts small and grows only to the largest sample's range.
            hist: Histogram::new(3).expect("3 significant digits is a valid precision"),
            sum: 0,
        }
    }
}

impl Latency {
    pub(crate) fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.sum = self.sum.saturating_add(us);
        // `record` grows the auto-resizing histogram; `saturating_record` would clamp instead.
        if self.hist.record(us).is_err() {
            self.hist.saturating_record(us);
        }
    }

    pub(crate) fn reset(&mut self) {
        self.hist.reset();
        self.sum = 0;
    }

    /// Adds `other`'s samples.
    pub(crate) fn merge(&mut self, other: &Latency) {
        self.sum = self.sum.saturating_add(other.sum);
        // Both histograms auto-resize with the same precision, so `add` cannot fail on range;
        // should it ever, the samples are recorded one by one with saturation instead.
        if self.hist.add(&other.hist).is_err() {
            for v in other.hist.iter_recorded() {
                for _ in 0..v.count_at_value() {
                    self.hist.saturating_record(v.value_iterated_to());
                }
            }
        }
    }

    pub(crate) fn summary(&self) -> LatencySummary {
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        let q = |p: f64| Duration::from_micros(self.hist.value_at_quantile(p));
        LatencySummary {
            count: self.hist.len(),
            // Exact, where the histogram's own mean is within its precision.
            mean: Duration::from_micros(self.sum / self.hist.len()),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max: Duration::from_micros(self.hist.max()),
        }
    }
}

/// `count / secs`, never NaN, infinite or negative.
pub(crate) fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_filled() {
        let mut l = Latency::default();
        assert_eq!(l.summary(), LatencySummary::default());
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.mean, Duration::from_micros(50_500), "the mean is exact");
        assert!(s.p50 >= Duration::from_millis(49) && s.p50 <= Duration::from_millis(51));
        assert!(s.p99 >= Duration::from_millis(98));
        assert!(s.max >= Duration::from_millis(99) && s.max <= Duration::from_millis(101));
        let mut both = Latency::default();
        both.record(Duration::from_micros(10));
        both.merge(&l);
        assert_eq!(both.summary().count, 101);
        assert_eq!(both.summary().mean, Duration::from_micros(5_050_010 / 101));
        both.reset();
        both.record(Duration::from_micros(3));
        assert_eq!(both.summary().mean, Duration::from_micros(3));
        assert_eq!(rate(10, Duration::ZERO), 0.0);
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
    }
}
