//! Time, injectable: the rate limiter and retry backoff read time and sleep through [`Clock`], so
//! tests drive them with a [`FakeClock`] and never sleep.
//!
//! Every type that reads time takes its clock one way: `.with_clock(Arc<dyn Clock>)`, which
//! consumes the value (or its builder) and returns it on that clock, and reports it with
//! `clock()`. That covers [`RateLimiter`](crate::RateLimiter),
//! [`RetryExecutor`](crate::RetryExecutor), [`RetryBudget`](crate::RetryBudget),
//! [`ConnectionPoolBuilder`](crate::ConnectionPoolBuilder) and
//! [`HttpCacheBuilder`](crate::HttpCacheBuilder). Each defaults to [`SystemClock`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::execute::Context;

/// A source of time that can also wait.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;

    /// Blocks until `until`, or returns an error as soon as `ctx` is cancelled or its deadline
    /// cannot be met.
    fn sleep_until(&self, until: Instant, ctx: &Context) -> Result<(), Error>;

    /// Like [`sleep_until`](Clock::sleep_until), but returns as close after `until` as the clock
    /// can manage, spending CPU to get there if it must. The rate limiter's head waiter sleeps
    /// this way: every microsecond it wakes late is a microsecond of rate lost for good.
    ///
    /// Defaults to [`sleep_until`](Clock::sleep_until), which is exact for virtual clocks such
    /// as [`FakeClock`]; [`SystemClock`] overrides it with a sleep followed by a short spin.
    fn sleep_until_precise(&self, until: Instant, ctx: &Context) -> Result<(), Error> {
        self.sleep_until(until, ctx)
    }
}

/// How long before the target [`SystemClock::sleep_until_precise`] stops sleeping and starts
/// spinning. A timed sleep overshoots by timer slack plus scheduling latency (measured
/// 60–120 µs on an idle Linux box); the margin covers that with room to spare.
const SPIN_MARGIN: Duration = Duration::from_micros(250);

/// The real clock: [`Instant::now`] and a cancel-aware sleep.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, until: Instant, ctx: &Context) -> Result<(), Error> {
        ctx.wait_until(until)
    }

    /// Sleeps (cancel-aware) until 250 µs before `until`, then spins with
    /// [`yield_now`](std::thread::yield_now), re-checking `ctx`, until `until` has passed.
    /// Fails at once if `ctx`'s deadline falls before `until`.
    fn sleep_until_precise(&self, until: Instant, ctx: &Context) -> Result<(), Error> {
        if ctx.deadline().is_some_and(|d| until > d) {
            return Err(Error::deadline_exceeded());
        }
        if let Some(early) = until.checked_sub(SPIN_MARGIN) {
            if early > Instant::now() {
                ctx.wait_until(early)?;
            }
        }
        loop {
            ctx.check()?;
            if Instant::now() >= until {
                return Ok(());
            }
            std::thread::yield_now();
        }
    }
}

/// A clock for tests: time stands still until [`advance`](FakeClock::advance)d, and
/// `sleep_until` advances it to the wake-up time at once (virtual time). Clones share one time.
///
/// ```
/// use httpbatch::{Clock, Context, FakeClock};
/// use std::time::Duration;
///
/// let clock = FakeClock::new();
/// let t0 = clock.now();
/// clock.sleep_until(t0 + Duration::from_secs(3600), &Context::new()).unwrap();
/// assert_eq!(clock.now() - t0, Duration::from_secs(3600));
/// ```
#[derive(Clone)]
pub struct FakeClock {
    base: Instant,
    offset_ns: Arc<AtomicU64>,
}

impl fmt::Debug for FakeClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

impl FakeClock {
    /// A fake clock starting now.
    pub fn new() -> FakeClock {
        FakeClock {
            base: Instant::now(),
            offset_ns: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves time forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.offset_ns
            .fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Virtual time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }

    fn sleep_until(&self, until: Instant, ctx: &Context) -> Result<(), Error> {
        ctx.check()?;
        if let Some(d) = ctx.deadline() {
            if until > d {
                return Err(Error::deadline_exceeded());
            }
        }
        let target = until.saturating_duration_since(self.base).as_nanos() as u64;
        self.offset_ns.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }
}
