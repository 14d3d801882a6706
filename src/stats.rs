//! Shared statistics helpers: an HDR-layout latency histogram and its `Copy` summary.

use std::time::Duration;

/// Latency percentiles from an HDR histogram (microsecond resolution, 3 significant digits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Mean, exact (over the samples in whole microseconds).
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

/// A latency recorder: HDR-style log-linear buckets over microseconds with 3 significant digits
/// (the layout of `hdrhistogram::Histogram::new(3)`, whose answers it gives), kept as a plain
/// counts array grown to the largest sample's range, so that recording one sample is a few
/// instructions inlined into the caller. Not synchronised: callers keep it behind a lock or on
/// one thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latency {
    /// Samples per bucket; see [`index_of`].
    counts: Vec<u64>,
    count: u64,
    /// The exact sum of the samples, so the mean needs no pass over the buckets.
    sum: u64,
    /// The largest sample, exact.
    max: u64,
}

/// Sub-buckets per bucket: the smallest power of two covering 2 × 10³ (3 significant digits).
const SUB_BUCKETS: u64 = 2048;
/// log2 of half of [`SUB_BUCKETS`]: the sub-buckets a bucket after the first adds.
const HALF_MAGNITUDE: u32 = 10;

/// The counts index of `v`: the first 2,048 values have a bucket each; from there each power of
/// two is split into 1,024 equal ranges.
#[inline]
fn index_of(v: u64) -> usize {
    // Which power-of-two range `v` is in, above the first (exact) one.
    let bucket = 53 - (v | (SUB_BUCKETS - 1)).leading_zeros();
    let sub = v >> bucket;
    (((bucket as u64 + 1) << HALF_MAGNITUDE) + sub - (SUB_BUCKETS / 2)) as usize
}

/// The highest value counted at counts index `i` (what the histogram reports for it).
fn highest_at(i: usize) -> u64 {
    let i = i as u64;
    let half = SUB_BUCKETS / 2;
    let (bucket, sub) = match (i >> HALF_MAGNITUDE).checked_sub(1) {
        Some(b) => (b, (i & (half - 1)) + half),
        None => (0, i),
    };
    // The top bucket's top is `u64::MAX` (the shift drops the carry).
    ((sub + 1) << bucket).wrapping_sub(1)
}

impl Latency {
    #[inline]
    pub(crate) fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let i = index_of(us);
        match self.counts.get_mut(i) {
            Some(c) => *c += 1,
            None => self.grow(i),
        }
        self.count += 1;
        self.sum = self.sum.saturating_add(us);
        self.max = self.max.max(us);
    }

    /// Grows the counts to hold index `i` and counts one sample there.
    #[cold]
    fn grow(&mut self, i: usize) {
        // Whole buckets at a time, as the range of the samples grows.
        let len = (i | ((1 << HALF_MAGNITUDE) - 1)) + 1;
        self.counts.resize(len.max(SUB_BUCKETS as usize), 0);
        self.counts[i] += 1;
    }

    pub(crate) fn reset(&mut self) {
        *self = Latency::default();
    }

    /// Adds `other`'s samples.
    pub(crate) fn merge(&mut self, other: &Latency) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c += o;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// The highest value counted at the `q` quantile (as `hdrhistogram`'s `value_at_quantile`).
    fn at_quantile(&self, q: f64) -> u64 {
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return highest_at(i);
            }
        }
        0
    }

    pub(crate) fn summary(&self) -> LatencySummary {
        if self.count == 0 {
            return LatencySummary::default();
        }
        let q = |p: f64| Duration::from_micros(self.at_quantile(p));
        LatencySummary {
            count: self.count,
            // Exact, where an HDR histogram's own mean is within its precision.
            mean: Duration::from_micros(self.sum / self.count),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            // The histogram's answer for the largest sample (the top of its bucket).
            max: Duration::from_micros(highest_at(index_of(self.max))),
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

    /// What `hdrhistogram` (3 significant digits) answers for the same samples.
    fn hdr_summary(samples: &[u64]) -> LatencySummary {
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        for &v in samples {
            h.record(v).unwrap();
        }
        let q = |p: f64| Duration::from_micros(h.value_at_quantile(p));
        LatencySummary {
            count: h.len(),
            mean: Duration::from_micros(samples.iter().sum::<u64>() / samples.len() as u64),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max: Duration::from_micros(h.max()),
        }
    }

    #[test]
    fn answers_as_an_hdr_histogram_of_three_digits_does() {
        // Samples over every bucket size: exact values, the first split buckets, far out.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let n = 1 + (next() % 300) as usize;
            let top = 1u64 << (1 + round % 40);
            let samples: Vec<u64> = (0..n).map(|_| 1 + next() % top).collect();
            let mut l = Latency::default();
            let mut merged = Latency::default();
            for (k, &v) in samples.iter().enumerate() {
                l.record(Duration::from_micros(v));
                // Half in another recorder, merged in: the same answers.
                if k % 2 == 0 {
                    merged.record(Duration::from_micros(v));
                }
            }
            let mut rest = Latency::default();
            for &v in samples.iter().skip(1).step_by(2) {
                rest.record(Duration::from_micros(v));
            }
            merged.merge(&rest);
            let want = hdr_summary(&samples);
            assert_eq!(l.summary(), want, "round {round}: {samples:?}");
            assert_eq!(merged.summary(), want, "round {round}, merged");
        }
    }

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
        let mut far = Latency::default();
        far.record(Duration::MAX);
        far.record(Duration::ZERO);
        let s = far.summary();
        assert_eq!((s.count, s.max), (2, Duration::from_micros(u64::MAX)));
        assert_eq!(
            s.p50,
            Duration::from_micros(1),
            "a zero sample counts as 1 µs"
        );
        assert_eq!(rate(10, Duration::ZERO), 0.0);
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
    }
}
