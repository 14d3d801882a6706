//! The bucket engine: GCRA over one atomic word, with a FIFO queue of waiters.
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
//! - `tau` is capped at [`MAX_TAU`] (a century): a burst whose tokens would take longer to refill
//!   acts as the largest burst that fits (`effective_burst`). Without the cap, `t × (burst - 1)`
//!   saturates at `u64::MAX` for a slow rate and a huge burst, and then every request conforms.
//! - `t` and `burst` are separate atomics next to `tat`. Acquirers load `tat` first, then the
//!   configuration. Setters are serialised by `setter` and change the configuration and `tat`
//!   in whichever order makes the short window between the two stores err on the strict side
//!   (see `set_rate` / `set_burst`); since every setter also moves `tat`, an acquirer that read
//!   the old `tat` fails its CAS and re-reads everything.
//! - Threads that must wait join `queue` in arrival order and leave it when they return, however
//!   they return. `queued` mirrors its length (written under the queue lock, read lock-free).
//!   Only the queue's **head** reads the bucket and sleeps until its token conforms, through
//!   `Clock::sleep_until_precise` (a sleep, then a short spin on the system clock) where that
//!   matters (see `precise`), so it takes the token within microseconds of the instant it exists. The others park until they become head. Leaving as
//!   head (admitted, cancelled, deadline) wakes the next head, so exactly one waiter is awake.
//! - Arrivals do not jump the queue: the lock-free path (and `try_acquire`) only takes a token
//!   when the bucket holds more tokens than there are queued threads ahead of it. The count is
//!   read without the lock, so an arrival racing a thread that is joining the queue can still
//!   pass first; that costs the waiter one interval of order, never the GCRA bound.
//! - Wake-ups: each waiter sleeps on a private cancel token, replaced *under the queue lock*
//!   before the waiter reads its position and the bucket. Whoever changes what a waiter would
//!   read (a leaving head promoting the next, `set_rate` / `set_burst` for the head, `stop` for
//!   all) changes it first and then cancels the token it finds under the lock. So a waiter
//!   either sees the change or is woken to re-read it. A caller's own cancel token is relayed
//!   to the private one.
//! - `stopped` only goes from false to true.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::rate::Rate;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::execute::{Admission, Context};
use crate::request::Request;

mod queue;
mod setters;
mod stats;
#[cfg(test)]
mod tests;

pub use stats::RateLimitStats;

use queue::Waiter;
use stats::Counters;

/// What the lock-free path reads: the GCRA state and the number of queued waiters, on one
/// cache line. `queued` is only written on the slow path.
#[derive(Default)]
struct Hot {
    tat: AtomicU64,
    queued: AtomicU64,
}

struct Setter {
    rate: Rate,
}

struct Inner {
    /// On its own cache line, so that contended CAS traffic on `tat` does not also invalidate
    /// the statistics counters (and the other way round).
    hot: CachePadded<Hot>,
    t_ns: AtomicU64,
    burst: AtomicU32,
    stopped: AtomicBool,
    /// `f64` bits of the rate per second, for statistics only.
    rate_per_sec: AtomicU64,
    counters: CachePadded<Counters>,
    base: Instant,
    clock: Arc<dyn Clock>,
    setter: Mutex<Setter>,
    queue: Mutex<VecDeque<Arc<Waiter>>>,
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
/// Extremes: any [`Rate`] and any burst from 1 to `u32::MAX` are accepted (a zero burst is
/// [`ErrorKind::InvalidConfig`]). A bucket holds at most a century's worth of tokens, so a huge
/// burst at a slow rate (say 1 per day with a burst of a million) acts as the largest burst
/// that fits (36,500 at 1 per day).
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

/// The most time a full bucket may stand for: a century, in nanoseconds (well inside `u64`, so
/// `now + tau + t` cannot saturate for the next four centuries of a limiter's life).
const MAX_TAU: u64 = 100 * 365 * 24 * 3600 * 1_000_000_000;

/// GCRA's `tau` for interval `t` and `burst`, capped at [`MAX_TAU`].
fn tau(t: u64, burst: u64) -> u64 {
    t.saturating_mul(burst.saturating_sub(1)).min(MAX_TAU)
}

/// The burst the bucket really has: `burst`, or the largest whose `tau` fits [`MAX_TAU`].
fn effective_burst(t: u64, burst: u64) -> u64 {
    burst.min(MAX_TAU / t.max(1) + 1)
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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
                hot: CachePadded::new(Hot::default()),
                t_ns: AtomicU64::new(rate.interval_nanos()),
                burst: AtomicU32::new(burst),
                stopped: AtomicBool::new(false),
                rate_per_sec: AtomicU64::new(rate.as_per_second().to_bits()),
                counters: CachePadded::new(Counters::default()),
                base: clock.now(),
                clock,
                setter: Mutex::new(Setter { rate }),
                queue: Mutex::new(VecDeque::new()),
            }),
        })
    }

    /// The same configuration on `clock` (a [`FakeClock`](crate::FakeClock) in tests), as a new,
    /// full bucket with fresh statistics. Call it while building, before cloning the handle:
    /// existing clones keep the old bucket. Defaults to [`SystemClock`](crate::SystemClock).
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

    /// One GCRA step at `now`, leaving `behind` tokens for threads queued ahead of the
    /// caller: `Ok` if a token conforms after those (taking it when `take`), otherwise
    /// `Err(nanoseconds until one would)`.
    #[inline]
    fn conform(&self, now: u64, take: bool, behind: u64) -> Result<(), u64> {
        let inner = &*self.inner;
        let mut tat = inner.hot.tat.load(Ordering::Acquire);
        loop {
            // Configuration after `tat`: see the file comment for why this order is safe.
            let t = inner.t_ns.load(Ordering::Acquire);
            let burst = u64::from(inner.burst.load(Ordering::Acquire));
            let tau = tau(t, burst);
            let start = tat.max(now);
            let ahead = (start - now).saturating_add(t.saturating_mul(behind));
            if ahead > tau {
                return Err(ahead - tau);
            }
            if !take {
                return Ok(());
            }
            match inner.hot.tat.compare_exchange_weak(
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
    /// Threads blocked in [`acquire`](Self::acquire) come first: while some are queued, a token
    /// is only taken if the bucket holds more than one per queued thread, and the wait returned
    /// counts one interval per queued thread.
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
        match self.conform(self.now_ns(), true, self.queued()) {
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
        self.conform(self.now_ns(), false, self.queued())
            .map_err(Duration::from_nanos)
    }

    fn queued(&self) -> u64 {
        self.inner.hot.queued.load(Ordering::Relaxed)
    }

    /// Blocks until a token is available and takes it; returns how long it waited.
    ///
    /// Blocked threads are served first come, first served: they queue, and only the one at
    /// the head of the queue waits for the bucket (on the system clock it sleeps until just
    /// before its token conforms and spins the last 250 µs, so admissions keep the rate to a
    /// few microseconds); the others sleep until their turn.
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
        match self.conform(start, take, self.queued()) {
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
        self.wake_all();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Relaxed)
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
