//! Run-time changes of rate and burst. Each moves `tat` so that the bucket keeps its fill level
//! in tokens, stores in the order that errs on the strict side, and wakes the head of the queue
//! (see the invariants at the top of `limiter.rs`).

use std::sync::atomic::Ordering;

use super::{RateLimiter, check_burst, effective_burst, tau};
use crate::error::Error;
use crate::rate_limit::Rate;

impl RateLimiter {
    /// Moves `tat` with `f(tat, now)`. Always stores a value (even an equal one goes through
    /// the CAS) so concurrent acquirers that read the old `tat` re-read the configuration.
    fn update_tat(&self, f: impl Fn(u64, u64) -> u64) {
        let now = self.now_ns();
        let _ = self
            .inner
            .hot
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| Some(f(tat, now)));
    }

    /// Changes the rate, at once, also for threads already waiting.
    ///
    /// The bucket keeps its fill level in tokens: tokens missing at the old rate are still
    /// missing, and refill at the new rate. So lowering the rate never grants a fresh burst
    /// (an empty bucket stays empty and the next token comes one *new* interval later), and
    /// raising it releases waiters promptly (a thread parked for 10 s at 0.1/s proceeds within
    /// 10 ms once the rate is 100/s). The head of the queue is woken to recompute its wake-up
    /// time.
    ///
    /// ```
    /// use httpbatch::{Context, FakeClock, Rate, RateLimiter};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = FakeClock::new();
    /// let limiter = RateLimiter::new(Rate::parse("100/s").unwrap(), 5)
    ///     .unwrap()
    ///     .with_clock(Arc::new(clock.clone()));
    /// for _ in 0..5 {
    ///     limiter.try_acquire().unwrap(); // empty the bucket
    /// }
    /// limiter.set_rate(Rate::parse("1/s").unwrap());
    /// // Still empty: no fresh burst of 5, the next token is one new interval away.
    /// assert_eq!(limiter.try_acquire(), Err(Duration::from_secs(1)));
    /// ```
    pub fn set_rate(&self, rate: Rate) {
        let mut setter = self.inner.setter.lock();
        let old_t = self.inner.t_ns.load(Ordering::Acquire);
        let new_t = rate.interval_nanos();
        let burst = u64::from(self.inner.burst.load(Ordering::Acquire));
        // An empty bucket at the new rate: no more than this many nanoseconds of debt (only
        // reached when the century cap shrinks the effective burst, see `MAX_TAU`).
        let empty = tau(new_t, burst).saturating_add(new_t);
        let rescale = move |tat: u64, now: u64| {
            if tat <= now {
                return now;
            }
            // Missing tokens are kept: (tat - now) / old_t == (tat' - now) / new_t, rounded up
            // so that the rescale never hands out a fraction of a token.
            let missing = u128::from(tat - now) * u128::from(new_t);
            let scaled = missing.div_ceil(u128::from(old_t));
            now.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX).min(empty))
        };
        // Store order: the store that makes the limiter stricter goes first, so a concurrent
        // acquire that sees one new value and one old value errs on the strict side.
        if new_t > old_t {
            self.update_tat(rescale);
            self.inner.t_ns.store(new_t, Ordering::Release);
        } else {
            self.inner.t_ns.store(new_t, Ordering::Release);
            self.update_tat(rescale);
        }
        self.inner
            .rate_per_sec
            .store(rate.as_per_second().to_bits(), Ordering::Relaxed);
        setter.rate = rate;
        drop(setter);
        self.wake_head();
    }

    /// Changes the burst, at once, also for threads already waiting. Fails with
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) if `burst` is zero.
    ///
    /// The tokens available now are kept (clamped to the new burst): raising the burst makes
    /// room that refills at the rate, it does not hand out the difference at once; lowering it
    /// never grants anything, and forgives debt beyond one bucket so that no one waits longer
    /// than the new burst implies.
    pub fn set_burst(&self, burst: u32) -> Result<(), Error> {
        check_burst(burst)?;
        let setter = self.inner.setter.lock();
        let old = self.inner.burst.load(Ordering::Acquire);
        let t = self.inner.t_ns.load(Ordering::Acquire);
        // In the bursts the bucket really has (the century cap, see `MAX_TAU`).
        let (old_e, new_e) = (
            effective_burst(t, u64::from(old)),
            effective_burst(t, u64::from(burst)),
        );
        // available = burst - missing, kept (and clamped to [0, new burst]) across the change.
        let adjust = move |tat: u64, now: u64| {
            let start = tat.max(now);
            if new_e >= old_e {
                start.saturating_add(t.saturating_mul(new_e - old_e))
            } else {
                start
                    .saturating_sub(t.saturating_mul(old_e - new_e))
                    .max(now)
            }
        };
        if burst > old {
            self.update_tat(adjust);
            self.inner.burst.store(burst, Ordering::Release);
        } else {
            self.inner.burst.store(burst, Ordering::Release);
            self.update_tat(adjust);
        }
        drop(setter);
        self.wake_head();
        Ok(())
    }
}
