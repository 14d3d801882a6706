//! [`RateLimitedExecutor`]: the layer that makes every attempt pass a [`RateLimiter`].
//!
//! Invariants:
//! - The layer takes no token as a request passes it: `Shared` is the admission it registers on
//!   the context handed down, and the leaf passes it before each write (first attempt, retry,
//!   redirect hop). The one exception is `try_execute`, which takes the first write's token
//!   itself (it must hand the request back when none is free) and registers `Shared` as
//!   prepaid, so the leaf's first admission skips it once and later writes pay as usual.
//! - Per-host limiters are created lazily, once per origin (double-checked under the write
//!   lock), on the global limiter's clock, and live as long as the layer.
//! - Order within one admission: wait (without taking) until the host bucket has a token, take
//!   a global token, then take the host token. A long per-host wait therefore never holds a
//!   global token that would then go on the wire late, bunched with others.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::adaptive::{Adaptive, AdaptiveHostStats, AdaptiveLimits};
use super::limiter::{RateLimitStats, RateLimiter};
use super::rate::Rate;
use crate::error::Error;
use crate::execute::{Admission, Answer, Context, Execute};
use crate::request::Request;
use crate::response::Response;

struct PerHost {
    rate: Rate,
    burst: u32,
    limiters: RwLock<HashMap<String, RateLimiter>>,
}

struct Shared {
    global: RateLimiter,
    per_host: Option<PerHost>,
    /// Adaptive limits (only with per-host buckets): holds and rates from the answers.
    adaptive: Option<Adaptive>,
}

impl Shared {
    fn host(&self, request: &Request) -> Option<RateLimiter> {
        let ph = self.per_host.as_ref()?;
        let origin = request.url().origin();
        if let Some(l) = ph.limiters.read().get(origin) {
            return Some(l.clone());
        }
        let mut map = ph.limiters.write();
        let l = map.entry(origin.to_owned()).or_insert_with(|| {
            RateLimiter::with_parts(ph.rate, ph.burst, self.global.clock().clone())
                .expect("the per-host configuration was validated by per_host")
        });
        Some(l.clone())
    }

    /// Blocks until `request` may go on the wire; returns the time waited.
    fn acquire(&self, request: &Request, ctx: &Context) -> Result<Duration, Error> {
        let Some(host) = self.host(request) else {
            return self.global.acquire(ctx);
        };
        let held = match &self.adaptive {
            Some(a) => a.wait(request.url().origin(), &**host.clock(), ctx)?,
            None => Duration::ZERO,
        };
        let ready = held + host.wait_ready(ctx)?;
        let global = self.global.acquire(ctx)?;
        // Normally instant: the host bucket had a token before the global wait, and only
        // another request to the same origin can have taken it since.
        let last = host.acquire(ctx)?;
        host.note_wait(ready, !last.is_zero());
        Ok(ready + global + last)
    }

    fn try_acquire(&self, request: &Request) -> Result<(), Duration> {
        let host = self.host(request);
        if let Some(h) = &host {
            if let Some(a) = &self.adaptive {
                if let Some(wait) = a.held_for(request.url().origin(), &**h.clock()) {
                    return Err(wait);
                }
            }
            h.peek()?;
        }
        self.global.try_acquire()?;
        match host {
            Some(h) => h.try_acquire(),
            None => Ok(()),
        }
    }
}

impl Admission for Shared {
    fn admit(&self, request: &Request, ctx: &Context) -> Result<(), Error> {
        self.acquire(request, ctx).map(drop)
    }

    /// The wait on the limiter's own clock (virtual under a fake clock).
    fn admit_timed(&self, request: &Request, ctx: &Context) -> Result<Duration, Error> {
        let waited = self.acquire(request, ctx)?;
        if !waited.is_zero() {
            log::debug!(target: "httpbatch::rate_limit", "throttled {} {} for {waited:?}", request.method().as_str(), request.url());
        }
        Ok(waited)
    }

    /// Adaptive limits follow the answer (nothing happens when they are off).
    fn observe(&self, request: &Request, answer: &Answer<'_>) {
        let (Some(adaptive), Some(ph)) = (&self.adaptive, &self.per_host) else {
            return;
        };
        if let Some(host) = self.host(request) {
            adaptive.observe(request.url().origin(), answer, &host, ph.rate);
        }
    }
}

/// A layer that makes every request written to the wire below it pass a [`RateLimiter`] (and
/// optionally one bucket per origin).
///
/// **One admission gate.** This layer takes no token as a request passes it: it registers its
/// buckets on the [`Context`] it hands down ([`Context::with_admission`]), and the leaf
/// ([`HttpClient`](crate::HttpClient), or your own leaf) calls [`Context::admit`] immediately
/// before each request it writes. **Each request on the wire pays exactly once, whatever the
/// chain order and whatever sent it**: a retry layer above calls `execute` again per attempt; a
/// retry loop below (the connection pool's) reuses the context, and each write pays at the
/// leaf; each redirect hop the leaf follows pays too. A leaf that never calls
/// [`Context::admit`] (a fake that ignores it) is not limited.
///
/// The leaf adds the time spent waiting for each token to
/// [`Timings::waited`](crate::Timings::waited) of the response.
///
/// ```
/// use httpbatch::{
///     Context, Error, Execute, FakeClock, Rate, RateLimitedExecutor, RateLimiter, Request,
///     Response,
/// };
/// use std::{sync::Arc, time::Duration};
///
/// /// A fake leaf: passes the admission gate, then "sends".
/// struct Ok200;
/// impl Execute for Ok200 {
///     fn execute(&self, req: Request, ctx: &Context) -> Result<Response, Error> {
///         let waited = ctx.admit(&req)?;
///         let mut res = Response::new(200, Vec::new()).with_tag(req.tag());
///         res.timings_mut().waited += waited;
///         Ok(res)
///     }
/// }
///
/// let clock = FakeClock::new();
/// let limiter = RateLimiter::new(Rate::parse("2/s").unwrap(), 1)
///     .unwrap()
///     .with_clock(Arc::new(clock.clone()));
/// let exec = RateLimitedExecutor::new(Ok200, limiter);
///
/// let ctx = Context::new();
/// let first = exec.execute(Request::get("http://127.0.0.1/").unwrap(), &ctx).unwrap();
/// let second = exec.execute(Request::get("http://127.0.0.1/").unwrap(), &ctx).unwrap();
/// assert_eq!(first.timings().waited, Duration::ZERO);
/// assert_eq!(second.timings().waited, Duration::from_millis(500));
/// assert_eq!(exec.stats().admitted, 2);
/// ```
pub struct RateLimitedExecutor<E> {
    inner: E,
    shared: Arc<Shared>,
}

impl<E: fmt::Debug> fmt::Debug for RateLimitedExecutor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitedExecutor")
            .field("inner", &self.inner)
            .field("limiter", &self.shared.global)
            .field(
                "per_host",
                &self.shared.per_host.as_ref().map(|p| (p.rate, p.burst)),
            )
            .finish()
    }
}

impl<E: Execute> RateLimitedExecutor<E> {
    /// Wraps `inner` so every attempt takes a token from `limiter` (a handle: keep a clone to
    /// change the rate or stop it later).
    pub fn new(inner: E, limiter: RateLimiter) -> RateLimitedExecutor<E> {
        RateLimitedExecutor {
            inner,
            shared: Arc::new(Shared {
                global: limiter,
                per_host: None,
                adaptive: None,
            }),
        }
    }

    /// Adds one bucket per origin (`scheme://host:port`) with `rate` and `burst`, in addition to
    /// the global limiter. Buckets are created on first use, on the global limiter's clock.
    /// Fails with [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) if `burst` is
    /// zero. Defaults to no per-host buckets.
    ///
    /// ```
    /// use httpbatch::{Context, Execute, Rate, RateLimitedExecutor, RateLimiter, Request};
    /// # use httpbatch::{Error, Response};
    /// # struct Ok200;
    /// # impl Execute for Ok200 {
    /// #     fn execute(&self, r: Request, ctx: &Context) -> Result<Response, Error> {
    /// #         ctx.admit(&r)?;
    /// #         Ok(Response::new(200, Vec::new()))
    /// #     }
    /// # }
    /// let global = RateLimiter::new(Rate::parse("1000/s").unwrap(), 100).unwrap();
    /// let exec = RateLimitedExecutor::new(Ok200, global)
    ///     .per_host(Rate::parse("10/s").unwrap(), 2)
    ///     .unwrap();
    /// let req = Request::get("http://127.0.0.1:8080/").unwrap();
    /// exec.execute(req, &Context::new()).unwrap();
    /// assert_eq!(exec.host_stats("http://127.0.0.1:8080").unwrap().admitted, 1);
    /// ```
    pub fn per_host(mut self, rate: Rate, burst: u32) -> Result<RateLimitedExecutor<E>, Error> {
        // Validates the burst the same way a limiter does.
        RateLimiter::new(rate, burst)?;
        let shared = Shared {
            global: self.shared.global.clone(),
            per_host: Some(PerHost {
                rate,
                burst,
                limiters: RwLock::new(HashMap::new()),
            }),
            adaptive: self
                .shared
                .adaptive
                .as_ref()
                .map(|a| Adaptive::new(a.limits)),
        };
        self.shared = Arc::new(shared);
        Ok(self)
    }

    /// Turns on adaptive limits: each origin's bucket follows what its server says.
    ///
    /// - A `429` or `503` with `Retry-After` holds that origin until then.
    /// - `RateLimit` / `RateLimit-Policy` (the IETF draft: `RateLimit: limit=100,
    ///   remaining=50, reset=30`, `RateLimit-Policy: 100;w=60`, and the newer `q=`/`r=`/`t=`
    ///   spelling) and `X-RateLimit-Limit` / `-Remaining` / `-Reset` set the origin's rate to
    ///   the advertised quota (limit per window; without a named window,
    ///   [`AdaptiveLimits::window`]), never above the configured per-host rate; a higher quota
    ///   advertised later raises it again, up to that ceiling.
    /// - A remainder of `0` holds the origin until the reset.
    ///
    /// The leaf reports every answer it reads (retries and redirect hops too) through
    /// [`Admission::observe`]. Adaptive limits need per-host buckets: without
    /// [`per_host`](Self::per_host) they are turned on with the global limiter's rate and burst.
    /// See [`adaptive_stats`](Self::adaptive_stats) for each host's effective rate. Off by
    /// default.
    ///
    /// ```
    /// use httpbatch::{AdaptiveLimits, Context, Execute, Rate, RateLimitedExecutor, RateLimiter, Request};
    /// # use httpbatch::{Answer, Error, Response};
    /// /// A fake leaf whose server advertises 5 requests per second.
    /// struct Quota5;
    /// impl Execute for Quota5 {
    ///     fn execute(&self, r: Request, ctx: &Context) -> Result<Response, Error> {
    ///         ctx.admit(&r)?;
    ///         let res = Response::new(200, "").with_header("RateLimit-Policy", "5;w=1");
    ///         ctx.observe(&r, &Answer::from_response(&res));
    ///         Ok(res)
    ///     }
    /// }
    /// let limiter = RateLimiter::new(Rate::parse("1000/s").unwrap(), 10).unwrap();
    /// let exec = RateLimitedExecutor::new(Quota5, limiter).adaptive(AdaptiveLimits::new());
    /// exec.execute(Request::get("http://127.0.0.1:8080/").unwrap(), &Context::new()).unwrap();
    /// let host = exec.adaptive_stats("http://127.0.0.1:8080").unwrap();
    /// assert_eq!(host.effective_rate_per_sec, 5.0);
    /// ```
    pub fn adaptive(mut self, limits: AdaptiveLimits) -> RateLimitedExecutor<E> {
        if self.shared.per_host.is_none() {
            let (rate, burst) = (self.shared.global.rate(), self.shared.global.burst());
            self = self
                .per_host(rate, burst)
                .expect("the global limiter's configuration is valid");
        }
        let shared = Shared {
            global: self.shared.global.clone(),
            per_host: self.shared.per_host.as_ref().map(|p| PerHost {
                rate: p.rate,
                burst: p.burst,
                limiters: RwLock::new(HashMap::new()),
            }),
            adaptive: Some(Adaptive::new(limits)),
        };
        self.shared = Arc::new(shared);
        self
    }

    /// What adaptive limits know about `origin` (its effective rate, the advertised quota, its
    /// holds), if they are on and its server sent something to follow.
    pub fn adaptive_stats(&self, origin: &str) -> Option<AdaptiveHostStats> {
        let adaptive = self.shared.adaptive.as_ref()?;
        adaptive.stats(origin, &self.host_limiter(origin)?)
    }

    /// The origins adaptive limits follow (those whose server sent something to follow).
    pub fn adaptive_hosts(&self) -> Vec<String> {
        self.shared
            .adaptive
            .as_ref()
            .map(Adaptive::hosts)
            .unwrap_or_default()
    }

    /// The inner executor.
    pub fn get_ref(&self) -> &E {
        &self.inner
    }

    /// The inner executor, mutably.
    pub fn get_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// Unwraps the inner executor.
    pub fn into_inner(self) -> E {
        self.inner
    }

    /// The global limiter (a handle sharing this layer's bucket).
    pub fn limiter(&self) -> &RateLimiter {
        &self.shared.global
    }

    /// The bucket of `origin` (as [`Url::origin`](crate::Url::origin) spells it), if per-host
    /// buckets are on and a request to it was seen.
    pub fn host_limiter(&self, origin: &str) -> Option<RateLimiter> {
        self.shared
            .per_host
            .as_ref()?
            .limiters
            .read()
            .get(origin)
            .cloned()
    }

    /// Statistics of the global limiter.
    pub fn stats(&self) -> RateLimitStats {
        self.shared.global.stats()
    }

    /// Statistics of `origin`'s bucket, if it exists (see [`host_limiter`](Self::host_limiter)).
    pub fn host_stats(&self, origin: &str) -> Option<RateLimitStats> {
        self.host_limiter(origin).map(|l| l.stats())
    }

    /// Stops the global limiter and every per-host one: waiters wake with
    /// [`ErrorKind::Stopped`](crate::ErrorKind::Stopped), and so do later requests.
    pub fn stop(&self) {
        self.shared.global.stop();
        if let Some(ph) = &self.shared.per_host {
            for l in ph.limiters.read().values() {
                l.stop();
            }
        }
    }

    /// This layer's admission (its global bucket, and the per-host ones if on): register it on a
    /// [`Context`] ([`Context::with_admission`]) to make traffic you send below this layer pay
    /// the same buckets — a pool's [`warmup_with`](crate::ConnectionPool::warmup_with), say.
    pub fn admission(&self) -> Arc<dyn Admission> {
        self.shared.clone()
    }

    /// Runs `request` only if a token is available now; otherwise hands the request back with
    /// the time to wait, without blocking. The inner executor still runs synchronously.
    ///
    /// The token taken here pays for the first request the leaf writes (the admission is
    /// registered as prepaid, [`Context::with_prepaid_admission`]); a retry or redirect hop below
    /// pays a further token as usual, blocking for it.
    ///
    /// ```
    /// use httpbatch::{Context, Execute, Rate, RateLimitedExecutor, RateLimiter, Request};
    /// use httpbatch::TryExecuteError;
    /// # use httpbatch::{Error, Response};
    /// # struct Ok200;
    /// # impl Execute for Ok200 {
    /// #     fn execute(&self, r: Request, ctx: &Context) -> Result<Response, Error> {
    /// #         ctx.admit(&r)?;
    /// #         Ok(Response::new(200, Vec::new()))
    /// #     }
    /// # }
    /// let exec = RateLimitedExecutor::new(
    ///     Ok200,
    ///     RateLimiter::new(Rate::parse("1/min").unwrap(), 1).unwrap(),
    /// );
    /// let ctx = Context::new();
    /// assert!(exec.try_execute(Request::get("http://127.0.0.1/a").unwrap(), &ctx).is_ok());
    /// match exec.try_execute(Request::get("http://127.0.0.1/b").unwrap(), &ctx) {
    ///     Err(TryExecuteError::WouldBlock { request, wait }) => {
    ///         assert_eq!(request.url().as_str(), "http://127.0.0.1/b");
    ///         assert!(wait > std::time::Duration::from_secs(59));
    ///     }
    ///     other => panic!("expected WouldBlock, got {other:?}"),
    /// }
    /// ```
    pub fn try_execute(
        &self,
        request: Request,
        ctx: &Context,
    ) -> Result<Response, TryExecuteError> {
        if self.shared.global.is_stopped() {
            return Err(TryExecuteError::Failed(Error::stopped("rate limiter")));
        }
        ctx.check().map_err(TryExecuteError::Failed)?;
        match self.shared.try_acquire(&request) {
            Ok(()) => self
                .inner
                .execute(request, &ctx.with_prepaid_admission(self.shared.clone()))
                .map_err(TryExecuteError::Failed),
            Err(wait) => Err(TryExecuteError::WouldBlock { request, wait }),
        }
    }
}

impl<E: Execute> Execute for RateLimitedExecutor<E> {
    /// Runs `request` on the inner executor with this layer's admission registered on `ctx`:
    /// the leaf takes a token (global, and the origin's when per-host buckets are on) before
    /// each request it writes.
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        self.inner
            .execute(request, &ctx.with_admission(self.shared.clone()))
    }
}

/// Why [`RateLimitedExecutor::try_execute`] did not return a response.
#[derive(Debug)]
#[non_exhaustive]
pub enum TryExecuteError {
    /// No token is available now: the request is handed back untouched, with the time until a
    /// token should be available ([`Duration::MAX`] if the limiter is stopped).
    WouldBlock {
        /// The request, unchanged, to retry later.
        request: Request,
        /// How long until a token should be available (another caller may take it first).
        wait: Duration,
    },
    /// A token was taken (or the call was refused) and the request failed.
    Failed(Error),
}

impl TryExecuteError {
    /// The request, if it was handed back.
    pub fn into_request(self) -> Option<Request> {
        match self {
            TryExecuteError::WouldBlock { request, .. } => Some(request),
            TryExecuteError::Failed(_) => None,
        }
    }
}

impl fmt::Display for TryExecuteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryExecuteError::WouldBlock { request, wait } => write!(
                f,
                "rate limited: {} {} would wait {wait:?}",
                request.method(),
                request.url()
            ),
            TryExecuteError::Failed(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TryExecuteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TryExecuteError::WouldBlock { .. } => None,
            TryExecuteError::Failed(e) => Some(e),
        }
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<RateLimitedExecutor<Box<dyn Execute>>>();
    is::<TryExecuteError>();
}
