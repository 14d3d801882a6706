//! [`RedisRateLimiter`]: the GCRA limiter with its buckets in Redis, shared by every process
//! that names the same key.
//!
//! Invariants:
//! - Each admission that reaches Redis is ONE script call (`script::ADMIT`, EVALSHA with EVAL on
//!   NOSCRIPT) timed by the server's clock. It *reserves*: the token's time is fixed by the
//!   server and the caller waits for it locally (`Context::wait_until`), so admissions never
//!   poll and cost one round trip each, or `1/k` with leasing.
//! - A reserved slot a caller gives up (cancel, deadline) goes back to this process's lease
//!   store, where the next admission uses it; a slot is never used twice, and one left unused
//!   past `lease_ttl` is dropped (capacity lost: the strict side).
//! - `degraded` says Redis was unreachable at the last try; it changes only in `note_down` and
//!   `note_up`, which count the switch and the recovery once each.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::conn::{self, Redis, Script};
use crate::error::Error;
use crate::execute::{Admission, Context};
use crate::rate_limit::{Rate, RateLimitStats, RateLimiter};
use crate::request::Request;

mod builder;

pub use builder::{OnUnreachable, RedisRateLimiterBuilder};

/// Extra lifetime of a bucket key after its last token is due: an idle bucket disappears from
/// Redis a day after its last use (it would be full again by then anyway, unless the rate is
/// slower than one a day).
const KEY_TTL_MS: u64 = 24 * 3600 * 1000;

/// Statistics of one process's [`RedisRateLimiter`] handle.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RedisLimitStats {
    /// Admission counts and waits, as for the local limiter (fallback admissions included).
    pub limiter: RateLimitStats,
    /// Commands sent to Redis (a NOSCRIPT reply and its EVAL count two).
    pub round_trips: u64,
    /// Admissions served from a lease (no round trip).
    pub from_lease: u64,
    /// Leased slots dropped unused after the lease TTL.
    pub lease_expired: u64,
    /// Calls to Redis that failed because it could not be reached.
    pub redis_errors: u64,
    /// Times Redis became unreachable (the switch to waiting, or to the local limiter).
    pub switches: u64,
    /// Times Redis came back after being unreachable.
    pub recoveries: u64,
    /// Admissions granted by the local fallback limiter.
    pub fallback_admitted: u64,
    /// Whether Redis was unreachable at the last try.
    pub degraded: bool,
}

#[derive(Default)]
struct Counters {
    admitted: AtomicU64,
    throttled: AtomicU64,
    rejected: AtomicU64,
    wait_ns: AtomicU64,
    max_wait_ns: AtomicU64,
    from_lease: AtomicU64,
    lease_expired: AtomicU64,
    redis_errors: AtomicU64,
    switches: AtomicU64,
    recoveries: AtomicU64,
    fallback_admitted: AtomicU64,
}

#[derive(Default)]
struct Down {
    backoff: Duration,
    next_try: Option<Instant>,
}

struct Inner {
    b: RedisRateLimiterBuilder,
    redis: Redis,
    admit: Script,
    set_rate: Script,
    set_burst: Script,
    config: Mutex<(Rate, u32)>,
    fallback: Option<RateLimiter>,
    /// Leased slots per bucket set ("" = global only), earliest first.
    leases: Mutex<HashMap<String, VecDeque<Slot>>>,
    /// Held while a lease is fetched: the other threads of the process wait for its slots
    /// instead of fetching leases of their own.
    fetch: Mutex<()>,
    degraded: AtomicBool,
    down: Mutex<Down>,
    c: Counters,
}

/// A rate limiter whose buckets live in Redis: every process (on any machine) that builds one
/// with the same URL and key shares one limit.
///
/// The semantics are the local [`RateLimiter`]'s — GCRA, rate and burst apart, any interval,
/// optional per-origin buckets, [`set_rate`](Self::set_rate) at run time without a free burst —
/// with the state in Redis and every admission one atomic script call timed by the Redis
/// server's clock, so the clocks of the machines never matter. The configuration stored in Redis
/// wins: the first process creates the bucket with its rate and burst, and `set_rate` from any
/// process changes it for all.
///
/// It implements [`Admission`]: push it on a [`Context`] (or wrap a layer in
/// [`RedisRateLimitedExecutor`](super::RedisRateLimitedExecutor)) and the leaf admits every request it writes through it.
/// Waits honour the context's cancel token and deadline; a token the deadline cannot reach is
/// refused at once without being taken.
///
/// ```no_run
/// use httpbatch::distributed::{OnUnreachable, RedisRateLimiter};
/// use httpbatch::{Context, Rate, Request};
///
/// let limiter = RedisRateLimiter::builder("redis://127.0.0.1:6379/0", Rate::parse("200/s")?, 10)
///     .key("my-api")
///     .lease(8)
///     .on_unreachable(OnUnreachable::LocalShare(0.25))
///     .build()?;
/// let req = Request::get("http://127.0.0.1:8080/")?;
/// limiter.acquire(&req, &Context::new())?; // waits for this process's turn among all
/// # Ok::<(), httpbatch::Error>(())
/// ```
#[derive(Clone)]
pub struct RedisRateLimiter {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("key", &self.inner.b.key)
            .field("config", &*self.inner.config.lock())
            .field("lease", &self.inner.b.lease)
            .field("on_unreachable", &self.inner.b.on_unreachable)
            .finish()
    }
}

fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

/// A slot taken: when it is due here, and on the Redis server's clock (µs since the epoch).
#[derive(Clone, Copy)]
struct Slot {
    at: Instant,
    server_us: u64,
}

enum Reply {
    /// The server's clock at the call (µs) and the offsets from it of the slots taken.
    Slots(u64, Vec<Duration>),
    /// The first slot would come after the caller's deadline: this long from now.
    TooLate(Duration),
}

impl RedisRateLimiter {
    /// The rate this handle last set or was built with (the stored one may have been changed
    /// by another process: see [`stored_config`](Self::stored_config)).
    pub fn rate(&self) -> Rate {
        self.inner.config.lock().0
    }

    /// The rate interval and burst stored in Redis for the global bucket, if it exists.
    pub fn stored_config(&self) -> Result<Option<(Duration, u32)>, Error> {
        let (t, burst): (Option<f64>, Option<u32>) = self
            .inner
            .redis
            .query(
                redis::cmd("HMGET")
                    .arg(&self.inner.b.key)
                    .arg("t")
                    .arg("burst"),
            )
            .map_err(|e| conn::error("reading the bucket", e))?;
        Ok(t.zip(burst)
            .map(|(t, b)| (Duration::from_nanos((t * 1000.0).round() as u64), b)))
    }

    /// Changes the shared rate for every process, at once. Tokens missing from the bucket stay
    /// missing (no free burst); slots already handed out keep their time.
    pub fn set_rate(&self, rate: Rate) -> Result<(), Error> {
        let i = &*self.inner;
        let t = format!("{:.3}", rate.interval_nanos() as f64 / 1000.0);
        let burst = i.config.lock().1;
        i.redis
            .eval(
                &i.set_rate,
                &[&i.b.key],
                &[t, burst.to_string(), KEY_TTL_MS.to_string()],
            )
            .map_err(|e| conn::error("set_rate", e))?;
        i.config.lock().0 = rate;
        if let (Some(f), OnUnreachable::LocalShare(share)) = (&i.fallback, i.b.on_unreachable) {
            f.set_rate(Rate::new(rate.count() * share, rate.per())?);
        }
        Ok(())
    }

    /// Changes the shared burst for every process; the tokens available are kept (clamped).
    pub fn set_burst(&self, burst: u32) -> Result<(), Error> {
        let i = &*self.inner;
        RateLimiter::new(self.rate(), burst)?;
        let t = format!("{:.3}", self.rate().interval_nanos() as f64 / 1000.0);
        i.redis
            .eval(
                &i.set_burst,
                &[&i.b.key],
                &[burst.to_string(), t, KEY_TTL_MS.to_string()],
            )
            .map_err(|e| conn::error("set_burst", e))?;
        i.config.lock().1 = burst;
        Ok(())
    }

    /// This handle's statistics.
    pub fn stats(&self) -> RedisLimitStats {
        let c = &self.inner.c;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (rate, burst) = *self.inner.config.lock();
        RedisLimitStats {
            limiter: RateLimitStats {
                admitted: get(&c.admitted),
                throttled: get(&c.throttled),
                rejected: get(&c.rejected),
                total_wait: Duration::from_nanos(get(&c.wait_ns)),
                max_wait: Duration::from_nanos(get(&c.max_wait_ns)),
                current_waiters: 0,
                rate_per_sec: rate.as_per_second(),
                burst,
            },
            round_trips: self.inner.redis.round_trips(),
            from_lease: get(&c.from_lease),
            lease_expired: get(&c.lease_expired),
            redis_errors: get(&c.redis_errors),
            switches: get(&c.switches),
            recoveries: get(&c.recoveries),
            fallback_admitted: get(&c.fallback_admitted),
            degraded: self.inner.degraded.load(Ordering::Relaxed),
        }
    }

    /// Blocks until `request` may go on the wire under the shared limit; returns the time
    /// waited. Fails with [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled) or
    /// [`ErrorKind::DeadlineExceeded`](crate::ErrorKind::DeadlineExceeded) (at once when the
    /// token would come after the deadline), or with the Redis error when the server answers
    /// something unexpected.
    pub fn acquire(&self, request: &Request, ctx: &Context) -> Result<Duration, Error> {
        let start = Instant::now();
        let out = self.acquire_inner(request, ctx);
        let c = &self.inner.c;
        match &out {
            Ok(()) => {
                let waited = start.elapsed();
                c.admitted.fetch_add(1, Ordering::Relaxed);
                if waited > Duration::from_micros(100) {
                    c.throttled.fetch_add(1, Ordering::Relaxed);
                    let n = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
                    c.wait_ns.fetch_add(n, Ordering::Relaxed);
                    c.max_wait_ns.fetch_max(n, Ordering::Relaxed);
                }
            }
            Err(_) => {
                c.rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
        out.map(|()| start.elapsed())
    }

    fn acquire_inner(&self, request: &Request, ctx: &Context) -> Result<(), Error> {
        let i = &*self.inner;
        ctx.check()?;
        let origin = i.b.per_host.map(|_| request.url().origin());
        let set = origin.unwrap_or_default();
        loop {
            if let Some(slot) = self.take_leased(set, ctx)? {
                i.c.from_lease.fetch_add(1, Ordering::Relaxed);
                return self.wait_slot(set, slot, ctx);
            }
            if let Some(f) = self.fallback_now() {
                f.acquire(ctx)?;
                i.c.fallback_admitted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            // One lease fetch at a time per process; the cancel-aware wait for it is at most one
            // round trip. Whoever gets the lock second finds the slots the first fetched.
            let fetch = if i.b.lease > 1 {
                let guard = loop {
                    ctx.check()?;
                    if let Some(g) = i.fetch.try_lock_for(Duration::from_millis(1)) {
                        break g;
                    }
                };
                if let Some(slot) = self.take_leased(set, ctx)? {
                    drop(guard);
                    i.c.from_lease.fetch_add(1, Ordering::Relaxed);
                    return self.wait_slot(set, slot, ctx);
                }
                Some(guard)
            } else {
                None
            };
            let reply = self.call(origin, ctx);
            let now = Instant::now();
            let slot = |server: u64, d: Duration| Slot {
                at: now + d,
                server_us: server + d.as_micros() as u64,
            };
            if let Ok(Reply::Slots(server, offsets)) = &reply {
                let rest: Vec<Slot> = offsets.iter().skip(1).map(|d| slot(*server, *d)).collect();
                if !rest.is_empty() {
                    i.leases
                        .lock()
                        .entry(set.to_owned())
                        .or_default()
                        .extend(rest);
                }
            }
            drop(fetch);
            match reply {
                Ok(Reply::Slots(server, offsets)) => {
                    self.note_up();
                    return self.wait_slot(set, slot(server, offsets[0]), ctx);
                }
                Ok(Reply::TooLate(wait)) => {
                    return Err(Error::new(
                        crate::ErrorKind::DeadlineExceeded,
                        format!("the next shared token comes in {wait:?}, after the deadline"),
                    ));
                }
                Err(e) if conn::is_unreachable(&e) => {
                    let backoff = self.note_down(&e);
                    if let Some(f) = &i.fallback {
                        f.acquire(ctx)?;
                        i.c.fallback_admitted.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    ctx.wait_until(Instant::now() + backoff)?;
                }
                Err(e) => return Err(conn::error("admission", e)),
            }
        }
    }

    /// The fallback limiter, while Redis is down and not yet due for another try.
    fn fallback_now(&self) -> Option<&RateLimiter> {
        let i = &*self.inner;
        let f = i.fallback.as_ref()?;
        if !i.degraded.load(Ordering::Relaxed) {
            return None;
        }
        let mut down = i.down.lock();
        match down.next_try {
            Some(t) if Instant::now() < t => Some(f),
            _ => {
                // This caller probes; the others keep using the fallback meanwhile.
                down.next_try = Some(Instant::now() + down.backoff);
                None
            }
        }
    }

    /// Records a failed call; returns the backoff before the next try.
    fn note_down(&self, e: &redis::RedisError) -> Duration {
        let i = &*self.inner;
        i.c.redis_errors.fetch_add(1, Ordering::Relaxed);
        let mut down = i.down.lock();
        if !i.degraded.swap(true, Ordering::Relaxed) {
            i.c.switches.fetch_add(1, Ordering::Relaxed);
            down.backoff = Duration::ZERO;
            match i.b.on_unreachable {
                OnUnreachable::LocalShare(share) => {
                    log::warn!(target: "httpbatch::redis", "shared limiter {}: Redis unreachable ({e}); admitting through the local fallback at {share} of the rate until it answers", i.b.key)
                }
                OnUnreachable::WaitAndRetry => {
                    log::warn!(target: "httpbatch::redis", "shared limiter {}: Redis unreachable ({e}); admissions wait and retry until it answers", i.b.key)
                }
            }
        }
        down.backoff = (down.backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        down.next_try = Some(Instant::now() + down.backoff);
        down.backoff
    }

    fn note_up(&self) {
        let i = &*self.inner;
        if i.degraded.swap(false, Ordering::Relaxed) {
            i.c.recoveries.fetch_add(1, Ordering::Relaxed);
            log::info!(target: "httpbatch::redis", "shared limiter {}: Redis answers again; admissions are shared again", i.b.key);
            *i.down.lock() = Down::default();
        }
    }

    /// The earliest leased slot of `set` still usable, if the deadline allows it.
    fn take_leased(&self, set: &str, ctx: &Context) -> Result<Option<Slot>, Error> {
        let i = &*self.inner;
        let mut leases = i.leases.lock();
        let Some(q) = leases.get_mut(set) else {
            return Ok(None);
        };
        let now = Instant::now();
        while q.front().is_some_and(|s| s.at + i.b.lease_ttl < now) {
            q.pop_front();
            i.c.lease_expired.fetch_add(1, Ordering::Relaxed);
        }
        match (q.front(), ctx.deadline()) {
            (Some(s), Some(d)) if s.at > d => Err(Error::deadline_exceeded()),
            (Some(_), _) => Ok(q.pop_front()),
            (None, _) => Ok(None),
        }
    }

    /// Waits until `slot`; on cancel or deadline the slot goes back to the lease store.
    fn wait_slot(&self, set: &str, slot: Slot, ctx: &Context) -> Result<(), Error> {
        let out = ctx.wait_until(slot.at);
        if out.is_err() {
            let mut leases = self.inner.leases.lock();
            let q = leases.entry(set.to_owned()).or_default();
            let at = q.partition_point(|s| s.at <= slot.at);
            q.insert(at, slot);
        } else {
            // The schedule the server decided, free of this process's scheduling delays.
            log::trace!(target: "httpbatch::redis::slot", "admitted in the slot at {} us on the Redis server's clock", slot.server_us);
        }
        out
    }

    /// One script call: takes `lease` slots from the global bucket (and `origin`'s).
    fn call(&self, origin: Option<&str>, ctx: &Context) -> redis::RedisResult<Reply> {
        let i = &*self.inner;
        let (rate, burst) = *i.config.lock();
        let host_key = origin.map(|o| format!("{}:host:{o}", i.b.key));
        let mut keys = vec![i.b.key.as_str()];
        let max_wait = ctx.remaining().map_or(-1.0, |d| us(d).floor());
        let mut args = vec![
            i.b.lease.to_string(),
            format!("{max_wait:.0}"),
            KEY_TTL_MS.to_string(),
            format!("{:.3}", rate.interval_nanos() as f64 / 1000.0),
            burst.to_string(),
        ];
        if let (Some(k), Some((hr, hb))) = (&host_key, i.b.per_host) {
            keys.push(k);
            args.push(format!("{:.3}", hr.interval_nanos() as f64 / 1000.0));
            args.push(hb.to_string());
        }
        let reply: Vec<i64> = redis::from_redis_value(i.redis.eval(&i.admit, &keys, &args)?)?;
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        match reply.split_first() {
            Some((1, [server, slots @ ..])) if !slots.is_empty() => Ok(Reply::Slots(
                u64::try_from(*server).unwrap_or(0),
                slots.iter().map(|v| micros(*v)).collect(),
            )),
            Some((0, [wait])) => Ok(Reply::TooLate(micros(*wait))),
            _ => Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "unexpected reply from the admission script",
            ))),
        }
    }
}

impl Admission for RedisRateLimiter {
    fn admit(&self, request: &Request, ctx: &Context) -> Result<(), Error> {
        self.acquire(request, ctx).map(drop)
    }

    fn admit_timed(&self, request: &Request, ctx: &Context) -> Result<Duration, Error> {
        self.acquire(request, ctx)
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<RedisRateLimiter>();
}
