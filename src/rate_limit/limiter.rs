//! The bucket engine: GCRA over one atomic word.
//!
//! State and invariants:
//! - `tat` is the *theoretical arrival time* of GCRA, in nanoseconds since `base` (the clock's
//!   instant when the limiter was made). A request arriving at `now` conforms when
//!   `max(tat, now) - now <= tau`, with `tau = (burst - 1) * t` and `t` the interval per token;
//!   admitting it stores `max(tat, now) + t`. So `tat <= now` means a full bucket, and
//!   `(tat - now) / t` is the number of tokens missing from it. Only successful CAS loops move
//!   `tat`: a waiter reserves nothing, so a waiter that gives up (cancel, deadline, stop) has
//!   consumed no capacity and nothing has to be handed back.
//! - Admissions only happen when `max(tat, now) - now <= tau`, hence `tat <= now + tau + t`
//!   always (the bucket is never "more than empty"); the setters preserve this.
//! - `t` and `burst` are separate atomics next to `tat`. Acquirers load `tat` first, then the
//!   configuration. Setters are serialised by `setter` and change the configuration and `tat`
//!   in whichever order makes the short window between the two stores err on the strict side
//!   (see `set_rate` / `set_burst`); since every setter also moves `tat`, an acquirer that read
//!   the old `tat` fails its CAS and re-reads everything.
//! - Waiters never sleep on a schedule they cannot leave: each wait registers a private cancel
//!   token in `sleepers` *before* reading the state; `set_rate`, `set_burst` and `stop` change
//!   the state first and then cancel every registered token. So a waiter either sees the new
//!   state or is woken to re-read it. A waiter then sleeps through `Clock::sleep_until` until
//!   the exact instant its token would conform (no polling), and re-checks: with a fake clock the
//!   sleep is instant virtual time, with the system clock it is a timed condvar wait.
//! - `stopped` only goes from false to true.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::rate::Rate;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::execute::{Admission, CancelToken, Context};
use crate::request::Request;

/// Keeps a hot atomic on its own cache line, so that contended CAS traffic on `tat` does not
/// also invalidate the statistics counters (and the other way round).
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[derive(Default)]
struct Counters {
    admitted: AtomicU64,
    throttled: AtomicU64,
    rejected: AtomicU64,
    total_wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
    waiters: AtomicU64,
}

struct Setter {
    rate: Rate,
}

struct Inner {
    tat: Padded<AtomicU64>,
    t_ns: AtomicU64,
    burst: AtomicU32,
    stopped: AtomicBool,
    /// `f64` bits of the rate per second, for statistics only.
    rate_per_sec: AtomicU64,
    counters: Padded<Counters>,
    base: Instant,
    clock: Arc<dyn Clock>,
    setter: Mutex<Setter>,
    sleepers: Mutex<HashMap<u64, CancelToken>>,
    next_sleeper: AtomicU64,
}

/// A continuous-refill rate limiter (GCRA) with a rate and a burst set separately.
///
/// The limiter admits up to `burst` requests at once, then one per [`Rate::interval`]: over any
/// stretch of time `d`, it admits at most `burst + rate × d`. There are no fixed windows: at
/// 10/s with burst 1, twenty requests take 1.9 s.
///
/// A `RateLimiter` is a handle: clones share one bucket and enforce one limit together, so a
/// clone can be handed to each worker, or to a retry loop further down the stack.
///
/// - [`acquire`](Self::acquire) blocks until a token conforms, honouring the [`Context`]'s
///   cancel token and deadline, and fails at once with [`ErrorKind::DeadlineExceeded`] when the
///   deadline falls before the earliest possible admission.
/// - [`try_acquire`](Self::try_acquire) never blocks; it says how long to wait instead.
/// - [`set_rate`](Self::set_rate) and [`set_burst`](Self::set_burst) apply at once, also to
///   threads already waiting, without granting a fresh burst.
/// - [`stop`](Self::stop) wakes every waiter with [`ErrorKind::Stopped`].
///
/// It implements [`Admission`], so a layer can push it onto a [`Context`] and retries below pay
/// a token each.
///
/// ```
/// use httpbatch::{Clock, Context, FakeClock, Rate, RateLimiter};
/// use std::{sync::Arc, time::Duration};
///
/// // A fake clock makes the example instant: waits advance virtual time.
/// let clock = FakeClock::new();
/// let limiter = RateLimiter::new(Rate::parse("10/s").unwrap(), 2)
///     .unwrap()
///     .with_clock(Arc::new(clock.clone()));
///
/// let ctx = Context::new();
/// assert_eq!(limiter.acquire(&ctx).unwrap(), Duration::ZERO); // the burst of 2...
/// assert_eq!(limiter.acquire(&ctx).unwrap(), Duration::ZERO);
/// assert_eq!(limiter.try_acquire(), Err(Duration::from_millis(100))); // ...then 1 per 100 ms
/// assert_eq!(limiter.acquire(&ctx).unwrap(), Duration::from_millis(100));
///
/// let stats = limiter.stats();
/// assert_eq!((stats.admitted, stats.throttled), (3, 1));
/// assert_eq!(clock.elapsed(), Duration::from_millis(100));
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
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

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("rate", &self.rate())
            .field("burst", &self.burst())
            .field("stopped", &self.is_stopped())
            .field("clock", &self.inner.clock)
            .finish()
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Removes a sleeper's token from the registry when its wait ends, however it ends.
struct Sleeper<'a> {
    inner: &'a Inner,
    id: u64,
    token: CancelToken,
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        self.inner.sleepers.lock().remove(&self.id);
    }
}

/// Decrements the waiter count when a blocking acquire returns, however it returns.
struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl RateLimiter {
    /// A limiter admitting `rate`, with bursts of up to `burst` requests, on the system clock.
    /// It starts full: the first `burst` requests pass at once.
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] if `burst` is zero.
    pub fn new(rate: Rate, burst: u32) -> Result<RateLimiter, Error> {
        RateLimiter::with_parts(rate, burst, Arc::new(SystemClock))
    }

    pub(crate) fn with_parts(
        rate: Rate,
        burst: u32,
        clock: Arc<dyn Clock>,
    ) -> Result<RateLimiter, Error> {
        check_burst(burst)?;
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                tat: Padded(AtomicU64::new(0)),
                t_ns: AtomicU64::new(rate.interval_nanos()),
                burst: AtomicU32::new(burst),
                stopped: AtomicBool::new(false),
                rate_per_sec: AtomicU64::new(rate.as_per_second().to_bits()),
                counters: Padded(Counters::default()),
                base: clock.now(),
                clock,
                setter: Mutex::new(Setter { rate }),
                sleepers: Mutex::new(HashMap::new()),
                next_sleeper: AtomicU64::new(0),
            }),
        })
    }

    /// The same configuration on `clock` (a [`FakeClock`](crate::FakeClock) in tests), as a new,
    /// full bucket with fresh statistics. Call it while building, before cloning the handle:
    /// existing clones keep the old bucket.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> RateLimiter {
        RateLimiter::with_parts(self.rate(), self.burst(), clock)
            .expect("the configuration was validated when the limiter was made")
    }

    /// The clock this limiter reads time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The current rate.
    pub fn rate(&self) -> Rate {
        self.inner.setter.lock().rate
    }

    /// The current burst.
    pub fn burst(&self) -> u32 {
        self.inner.burst.load(Ordering::Relaxed)
    }

    fn now_ns(&self) -> u64 {
        ns(self
            .inner
            .clock
            .now()
            .saturating_duration_since(self.inner.base))
    }

    /// One GCRA step at `now`: `Ok` if a token conforms (taking it when `take`), otherwise
    /// `Err(nanoseconds until one would)`.
    #[inline]
    fn conform(&self, now: u64, take: bool) -> Result<(), u64> {
        let inner = &*self.inner;
        let mut tat = inner.tat.load(Ordering::Acquire);
        loop {
            // Configuration after `tat`: see the file comment for why this order is safe.
            let t = inner.t_ns.load(Ordering::Acquire);
            let burst = u64::from(inner.burst.load(Ordering::Acquire));
            let tau = t.saturating_mul(burst - 1);
            let start = tat.max(now);
            let ahead = start - now;
            if ahead > tau {
                return Err(ahead - tau);
            }
            if !take {
                return Ok(());
            }
            match inner.tat.compare_exchange_weak(
                tat,
                start.saturating_add(t),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    /// Takes a token if one is available now, without blocking. Otherwise returns how long
    /// until one would be (another thread may take it first), or [`Duration::MAX`] once the
    /// limiter is stopped.
    ///
    /// ```
    /// use httpbatch::{Rate, RateLimiter};
    /// let limiter = RateLimiter::new(Rate::parse("1/h").unwrap(), 1).unwrap();
    /// assert!(limiter.try_acquire().is_ok());
    /// let wait = limiter.try_acquire().unwrap_err();
    /// assert!(wait > std::time::Duration::from_secs(3590));
    /// ```
    pub fn try_acquire(&self) -> Result<(), Duration> {
        if self.is_stopped() {
            self.inner.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(Duration::MAX);
        }
        match self.conform(self.now_ns(), true) {
            Ok(()) => {
                self.inner.counters.admitted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(wait) => {
                self.inner.counters.rejected.fetch_add(1, Ordering::Relaxed);
                Err(Duration::from_nanos(wait))
            }
        }
    }

    /// Whether a token is available now, without taking it; `Err` says how long until one is.
    pub(crate) fn peek(&self) -> Result<(), Duration> {
        if self.is_stopped() {
            return Err(Duration::MAX);
        }
        self.conform(self.now_ns(), false)
            .map_err(Duration::from_nanos)
    }

    /// Blocks until a token is available and takes it; returns how long it waited.
    ///
    /// Fails with [`ErrorKind::Cancelled`] when `ctx` is cancelled (waking at once), with
    /// [`ErrorKind::DeadlineExceeded`] *at once, without sleeping* when `ctx`'s deadline falls
    /// before the earliest instant a token could be available, and with
    /// [`ErrorKind::Stopped`] once [`stop`](Self::stop) is called. A failed call takes nothing.
    ///
    /// ```
    /// use httpbatch::{Clock, Context, ErrorKind, FakeClock, Rate, RateLimiter};
    /// use std::{sync::Arc, time::Duration};
    ///
    /// let clock = FakeClock::new();
    /// let limiter = RateLimiter::new(Rate::parse("1/s").unwrap(), 1)
    ///     .unwrap()
    ///     .with_clock(Arc::new(clock.clone()));
    /// limiter.acquire(&Context::new()).unwrap();
    ///
    /// // The next token is 1 s away: a 200 ms deadline cannot be met, so it fails at once.
    /// let ctx = Context::new().with_deadline(clock.now() + Duration::from_millis(200));
    /// let err = limiter.acquire(&ctx).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    /// assert_eq!(clock.elapsed(), Duration::ZERO);
    /// ```
    pub fn acquire(&self, ctx: &Context) -> Result<Duration, Error> {
        self.acquire_inner(ctx, true)
    }

    /// Blocks until a token is available, without taking it (see [`acquire`](Self::acquire)).
    pub(crate) fn wait_ready(&self, ctx: &Context) -> Result<Duration, Error> {
        self.acquire_inner(ctx, false)
    }

    #[inline]
    fn acquire_inner(&self, ctx: &Context, take: bool) -> Result<Duration, Error> {
        if self.is_stopped() {
            return Err(self.reject(Error::stopped("rate limiter")));
        }
        if let Err(e) = ctx.check() {
            return Err(self.reject(e));
        }
        let start = self.now_ns();
        match self.conform(start, take) {
            Ok(()) => {
                if take {
                    self.inner.counters.admitted.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Duration::ZERO)
            }
            Err(_) => self.wait(ctx, start, take),
        }
    }

    fn reject(&self, e: Error) -> Error {
        self.inner.counters.rejected.fetch_add(1, Ordering::Relaxed);
        e
    }

    /// The slow path: sleep until the exact conformance instant, re-check, repeat.
    #[cold]
    fn wait(&self, ctx: &Context, start: u64, take: bool) -> Result<Duration, Error> {
        let c = &self.inner.counters;
        c.waiters.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&c.waiters);
        loop {
            // Register before reading the state, so a concurrent set_rate/stop either is seen
            // below or cancels this token (file comment).
            let sleeper = self.register_sleeper();
            if self.is_stopped() {
                return Err(self.reject(Error::stopped("rate limiter")));
            }
            let now = self.now_ns();
            let wait = match self.conform(now, take) {
                Ok(()) => break,
                Err(wait) => wait,
            };
            let wake = self.inner.base + Duration::from_nanos(now.saturating_add(wait));
            if ctx.deadline().is_some_and(|d| wake > d) {
                return Err(self.reject(
                    Error::new(
                        ErrorKind::DeadlineExceeded,
                        "rate limiter: the deadline falls before the next token",
                    )
                    .with_retry_after(Duration::from_nanos(wait)),
                ));
            }
            // The clock only wakes for its context's token: give it a private one that both
            // the caller's token (through a listener) and the limiter's setters can cancel.
            let private = sleeper.token.clone();
            let _relay = ctx.on_cancel(Arc::new(move || private.cancel()));
            let sleep_ctx = ctx.clone().with_cancel(sleeper.token.clone());
            if let Err(e) = self.inner.clock.sleep_until(wake, &sleep_ctx) {
                if self.is_stopped() {
                    return Err(self.reject(Error::stopped("rate limiter")));
                }
                if let Err(e) = ctx.check() {
                    return Err(self.reject(e));
                }
                if e.kind() != ErrorKind::Cancelled {
                    return Err(self.reject(e));
                }
                // Woken by set_rate/set_burst: re-read the state.
            }
        }
        let waited = ns(self
            .inner
            .clock
            .now()
            .saturating_duration_since(self.inner.base))
        .saturating_sub(start);
        if take {
            c.admitted.fetch_add(1, Ordering::Relaxed);
            c.throttled.fetch_add(1, Ordering::Relaxed);
            c.total_wait_ns.fetch_add(waited, Ordering::Relaxed);
            c.max_wait_ns.fetch_max(waited, Ordering::Relaxed);
        }
        Ok(Duration::from_nanos(waited))
    }

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

    fn register_sleeper(&self) -> Sleeper<'_> {
        let id = self.inner.next_sleeper.fetch_add(1, Ordering::Relaxed);
        let token = CancelToken::new();
        self.inner.sleepers.lock().insert(id, token.clone());
        Sleeper {
            inner: &self.inner,
            id,
            token,
        }
    }

    /// Wakes every sleeping waiter so it re-reads the state.
    fn wake_sleepers(&self) {
        // Cancel outside the lock: a woken waiter unregisters itself, taking the lock.
        let tokens: Vec<CancelToken> = self.inner.sleepers.lock().values().cloned().collect();
        for t in tokens {
            t.cancel();
        }
    }

    /// Moves `tat` with `f(tat, now)`. Always stores a value (even an equal one goes through
    /// the CAS) so concurrent acquirers that read the old `tat` re-read the configuration.
    fn update_tat(&self, f: impl Fn(u64, u64) -> u64) {
        let now = self.now_ns();
        let _ = self
            .inner
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| Some(f(tat, now)));
    }

    /// Changes the rate, at once, also for threads already waiting.
    ///
    /// The bucket keeps its fill level in tokens: tokens missing at the old rate are still
    /// missing, and refill at the new rate. So lowering the rate never grants a fresh burst
    /// (an empty bucket stays empty and the next token comes one *new* interval later), and
    /// raising it releases waiters promptly (a thread parked for 10 s at 0.1/s proceeds within
    /// 10 ms once the rate is 100/s). Waiters are woken to recompute their wake-up time.
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
        let rescale = |tat: u64, now: u64| {
            if tat <= now {
                return now;
            }
            // Missing tokens are kept: (tat - now) / old_t == (tat' - now) / new_t, rounded up
            // so that the rescale never hands out a fraction of a token.
            let missing = u128::from(tat - now) * u128::from(new_t);
            let scaled = missing.div_ceil(u128::from(old_t));
            now.saturating_add(u64::try_from(scaled).unwrap_or(u64::MAX))
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
        self.wake_sleepers();
    }

    /// Changes the burst, at once, also for threads already waiting. Fails with
    /// [`ErrorKind::InvalidConfig`] if `burst` is zero.
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
        // available = burst - missing, kept (and clamped to [0, new burst]) across the change.
        let adjust = move |tat: u64, now: u64| {
            let start = tat.max(now);
            if burst >= old {
                start.saturating_add(t.saturating_mul(u64::from(burst - old)))
            } else {
                start
                    .saturating_sub(t.saturating_mul(u64::from(old - burst)))
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
        self.wake_sleepers();
        Ok(())
    }

    /// Stops the limiter: every thread waiting in [`acquire`](Self::acquire) wakes at once with
    /// [`ErrorKind::Stopped`], and every later call fails the same way. Idempotent; affects all
    /// clones.
    ///
    /// ```
    /// use httpbatch::{Context, ErrorKind, Rate, RateLimiter};
    /// let limiter = RateLimiter::new(Rate::parse("1/s").unwrap(), 1).unwrap();
    /// limiter.stop();
    /// assert_eq!(limiter.acquire(&Context::new()).unwrap_err().kind(), ErrorKind::Stopped);
    /// ```
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.wake_sleepers();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Relaxed)
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
            current_waiters: c.waiters.load(Ordering::Relaxed),
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

fn check_burst(burst: u32) -> Result<(), Error> {
    if burst == 0 {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            "rate limiter burst must be at least 1",
        ));
    }
    Ok(())
}

impl Admission for RateLimiter {
    /// Takes a token, blocking like [`RateLimiter::acquire`].
    fn admit(&self, _request: &Request, ctx: &Context) -> Result<(), Error> {
        self.acquire(ctx).map(drop)
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<RateLimiter>();
    is::<RateLimitStats>();
}
