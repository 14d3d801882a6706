//! The connection pool layer. The public documentation is on [`ConnectionPool`] (this module
//! is private); what follows are the engine's invariants.
//!
//! # Engine notes (invariants)
//!
//! - `PoolInner` is shared by every handle and by no thread of its own; the health thread holds
//!   only the health state and a clone of the client, so the pool (and with it the health
//!   thread, which its `Drop` stops and joins) goes away with the last handle.
//! - Per-origin entries (`HostEntry`: slots and counters) are created on first use under the
//!   write lock and never removed, so an `Arc<HostEntry>` held by a request stays the origin's.
//! - Counters are relaxed atomics: they are statistics, not synchronisation. `requests` counts
//!   at entry, `succeeded`/`failed` at exit, so `succeeded + failed <= requests` up to a reset.
//! - Connection figures are never counted here: they are read from the leaf's counters, minus a
//!   baseline taken by [`ConnectionPool::reset_stats`]; `live` is a level and never rebased.
//! - Extremes: `max_in_flight_per_host(usize::MAX)` means no cap (the slots never block), and
//!   warmup runs on at most `warmup::MAX_THREADS` threads per host whatever `n` is.
//!
//! Files: `builder.rs` (configuration and validation), `stats.rs` (snapshots and counters),
//! `slots.rs` (the in-flight cap), `warmup.rs`, `health.rs`.

mod builder;
mod health;
mod slots;
mod stats;
mod warmup;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::agent::{ConnectionStats, HttpClient};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::request::Request;
use crate::response::Response;
use crate::retry::{self, RetryPolicy, RetryState, RetryStats};

pub use builder::ConnectionPoolBuilder;
pub use health::{HealthCheckConfig, HealthState, HostHealth};
pub use stats::{HostStats, PoolStats};
pub use warmup::{HostWarmup, WarmupReport};

use self::health::Health;
use self::slots::{Permit, Slots};
use self::stats::{Counters, InFlight};

/// A duration that stands for "no limit" where one is added to an `Instant` (a century).
const NO_LIMIT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

struct HostEntry {
    slots: Arc<Slots>,
    counters: Counters,
}

struct PoolInner {
    client: HttpClient,
    cap: usize,
    retry: RwLock<Arc<RetryPolicy>>,
    retry_state: RetryState,
    health: Health,
    health_config: HealthCheckConfig,
    clock: Arc<dyn Clock>,
    warmup_path: String,
    warmup_timeout: Duration,
    hosts: RwLock<HashMap<String, Arc<HostEntry>>>,
    counters: Counters,
    /// Connection counters per origin at the last reset.
    baseline: Mutex<HashMap<String, ConnectionStats>>,
}

/// Per-origin HTTP agents with an in-flight cap, retries, warmup, health checks and exact
/// connection statistics: the layer just above the wire.
///
/// The pool owns an [`HttpClient`] (one `ureq::Agent` per origin, exact connection
/// counters, a caching resolver) and adds what ureq does not do:
///
/// - a cap on requests **in flight** per origin (ureq only caps idle connections), whose waits
///   honour the request's cancel token and deadline;
/// - retries, with a [`RetryPolicy`], around each of its own attempts;
/// - [`warmup`](Self::warmup): really opening n connections per host at once;
/// - health checks: one background thread probes each host and opens a host's circuit when it
///   stops answering, so its requests fail fast with [`ErrorKind::CircuitOpen`];
/// - statistics per pool and per host, with connection figures counted at the socket.
///
/// # Where it sits
///
/// ```text
/// BatchExecutor ── RateLimitedExecutor ── ConnectionPool ── HttpClient ── socket
///                  (token per attempt)    cap, retries,      per-origin agents
///                                         circuit, health
/// ```
///
/// A request passes the layers above the pool first. The pool then checks the host's circuit,
/// waits for an in-flight slot of the origin, and sends; on a retryable outcome it waits out the
/// backoff and tries again.
///
/// **Every attempt passes any rate limiter above the pool exactly once.** The limiter registers
/// itself on the [`Context`]; the leaf under the pool passes it ([`Context::admit`]) immediately
/// before each request it writes. So a request that took three attempts spent three tokens,
/// whatever order the layers are chained in. Warmup pays too when run under such a context
/// ([`warmup_with`](Self::warmup_with)); health probes never pay (see
/// [`enable_health_check`](Self::enable_health_check)).
///
/// # Example
///
/// ```
/// use httpbatch_testserver::Server;
/// use httpbatch::{ConnectionPool, Context, Execute, Request, RetryPolicy};
///
/// let server = Server::start()?;
/// let pool = ConnectionPool::builder()
///     .max_in_flight_per_host(4)
///     .retry_policy(RetryPolicy::default())
///     .build()?;
///
/// // Open 4 connections up front.
/// let report = pool.warmup(&[&server.url("/")], 4);
/// assert_eq!(report.opened(), 4);
///
/// // 503, 503, then 200: the pool retries and reports the attempts.
/// let res = pool.execute(Request::get(&server.url("/seq/doc?s=503,503,200"))?, &Context::new())?;
/// assert_eq!((res.status(), res.attempts()), (200, 3));
///
/// let stats = pool.stats();
/// assert_eq!(stats.connections_opened, 4); // the retries reused warm connections
/// assert_eq!(stats.attempts, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
///
/// # Handles
///
/// Cloning gives another handle to the same pool (agents, slots, health state, statistics).
/// The health-check thread, if any, is stopped and joined when the last handle is dropped.
///
/// # The in-flight cap under a batch
///
/// ```
/// use httpbatch_testserver::Server;
/// use httpbatch::{BatchExecutor, BatchOptions, ConnectionPool, Request};
///
/// let server = Server::start()?;
/// let pool = ConnectionPool::builder().max_in_flight_per_host(2).build()?;
/// let batch = BatchExecutor::new(pool.clone(), 8)?;
/// let requests = (0..8).map(|_| Request::get(&server.url("/delay/10")));
/// let result = batch.execute_batch(requests, BatchOptions::new());
/// assert!(result.outcomes.iter().all(|o| o.status() == Some(200)));
/// assert!(server.max_in_flight() <= 2); // 8 workers, at most 2 on the wire
/// assert!(pool.stats().connections_opened <= 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ConnectionPool {
    inner: Arc<PoolInner>,
}

impl fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPool")
            .field("client", &self.inner.client)
            .field("max_in_flight_per_host", &self.inner.cap)
            .field("health", &self.inner.health)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for ConnectionPool {
    fn default() -> Self {
        ConnectionPool::new()
    }
}

impl ConnectionPool {
    /// A pool with the default configuration (see [`ConnectionPoolBuilder`]'s getters).
    pub fn new() -> ConnectionPool {
        ConnectionPool::builder()
            .build()
            .expect("the default configuration is valid")
    }

    /// A builder starting from the defaults.
    pub fn builder() -> ConnectionPoolBuilder {
        ConnectionPoolBuilder::default()
    }

    /// The underlying client (per-origin agents and their raw connection counters).
    pub fn get_ref(&self) -> &HttpClient {
        &self.inner.client
    }

    /// The in-flight cap per origin (`usize::MAX`: none). Set with
    /// [`ConnectionPoolBuilder::max_in_flight_per_host`].
    pub fn max_in_flight_per_host(&self) -> usize {
        self.inner.cap
    }

    /// How health probes are judged. Set with [`ConnectionPoolBuilder::health_check`].
    pub fn health_check(&self) -> HealthCheckConfig {
        self.inner.health_config
    }

    /// The clock of the retry backoff. Set with [`ConnectionPoolBuilder::with_clock`].
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The path warmup requests fetch. Set with [`ConnectionPoolBuilder::warmup_path`].
    ///
    /// ```
    /// let pool = httpbatch::ConnectionPool::builder().warmup_path("ready").build().unwrap();
    /// assert_eq!(pool.warmup_path(), "/ready");
    /// ```
    pub fn warmup_path(&self) -> &str {
        &self.inner.warmup_path
    }

    /// The time limit of one host's warmup. Set with [`ConnectionPoolBuilder::warmup_timeout`].
    pub fn warmup_timeout(&self) -> Duration {
        self.inner.warmup_timeout
    }

    /// The current retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        (**self.inner.retry.read()).clone()
    }

    /// Replaces the retry policy. Requests already running keep the policy they started with.
    pub fn set_retry_policy(&self, policy: RetryPolicy) {
        *self.inner.retry.write() = Arc::new(policy);
    }

    /// The retry engine's own counters (backoff time, `Retry-After` waits, budget stops...).
    /// Reset by [`reset_stats`](Self::reset_stats).
    pub fn retry_stats(&self) -> RetryStats {
        self.inner.retry_state.stats()
    }

    fn host(&self, origin: &str) -> Arc<HostEntry> {
        if let Some(h) = self.inner.hosts.read().get(origin) {
            return h.clone();
        }
        self.inner
            .hosts
            .write()
            .entry(origin.to_owned())
            .or_insert_with(|| {
                Arc::new(HostEntry {
                    slots: Arc::new(Slots::new(self.inner.cap)),
                    counters: Counters::default(),
                })
            })
            .clone()
    }

    fn circuit_open(&self, origin: &str, host: &HostEntry) -> Option<Error> {
        if !self.inner.health.is_open(origin) {
            return None;
        }
        self.inner.counters.circuit_open.fetch_add(1, Relaxed);
        host.counters.circuit_open.fetch_add(1, Relaxed);
        Some(Error::new(
            ErrorKind::CircuitOpen,
            format!("{origin} is unhealthy: its circuit is open"),
        ))
    }

    /// Waits for an in-flight slot of `host`.
    fn slot(host: &HostEntry, ctx: &Context) -> Result<(Permit, Duration), Error> {
        let start = Instant::now();
        let permit = slots::acquire(&host.slots, ctx)?;
        Ok((permit, start.elapsed()))
    }

    /// One attempt: circuit, in-flight slot (unless the caller brings one), wire.
    fn attempt(
        &self,
        host: &HostEntry,
        slot: Option<(Permit, Duration)>,
        request: Request,
        ctx: &Context,
    ) -> Result<Response, Error> {
        let origin = request.url().origin();
        let (_permit, waited) = match slot {
            Some(slot) => slot,
            None => {
                if let Some(e) = self.circuit_open(origin, host) {
                    return Err(e);
                }
                Self::slot(host, ctx)?
            }
        };
        // The circuit may have opened while this attempt waited for its slot.
        if let Some(e) = self.circuit_open(origin, host) {
            return Err(e);
        }
        self.inner.counters.attempts.fetch_add(1, Relaxed);
        host.counters.attempts.fetch_add(1, Relaxed);
        let mut res = self.inner.client.execute(request, ctx)?;
        res.timings_mut().waited += waited;
        Ok(res)
    }

    /// Opens `n` connections to each host at once and reports what happened, per host.
    ///
    /// `hosts` are base URLs or origins (`http://127.0.0.1:8080`, `https://example.com/`); only
    /// their origin is used. For each host, in turn, `n` requests `GET {origin}{path}` (the
    /// [warmup path](ConnectionPoolBuilder::warmup_path)) are sent and each response is held,
    /// with its connection checked out, until all `n` have arrived; then the bodies are read
    /// and the `n` connections go to the idle pool, ready for the next requests. (Requests sent
    /// one after another would all reuse one socket.)
    ///
    /// At most 64 threads per host do this, whatever `n` is: each holds its share of the
    /// connections at once (up to 64), so one call opens at most 4096 connections per host.
    /// `n` is also capped at the idle-connection cap per origin; `usize::MAX` means "as many as
    /// allowed". Each host's warmup is bounded by the
    /// [warmup timeout](ConnectionPoolBuilder::warmup_timeout). Warmup bypasses the in-flight
    /// cap and the circuit, and is not counted in [`stats`](Self::stats)' requests (its sockets
    /// are: they are real).
    ///
    /// The report counts a request as `ok` only for a 2xx or 3xx status and lists every status:
    /// a warmup path that answers 404 shows up as `statuses == [(404, n)]`, `ok == 0`.
    ///
    /// Warmup runs under an empty [`Context`]; to make it pay a rate limiter, use
    /// [`warmup_with`](Self::warmup_with).
    pub fn warmup(&self, hosts: &[&str], n: usize) -> WarmupReport {
        self.warmup_with(hosts, n, &Context::new())
    }

    /// [`warmup`](Self::warmup) under `ctx`: warmup requests are real traffic to the host, so
    /// the leaf passes every admission registered on `ctx` before each of them (one rate-limit
    /// token per warmup request), and `ctx`'s cancel token and deadline bound the warmup.
    ///
    /// ```
    /// use httpbatch_testserver::Server;
    /// use httpbatch::{ConnectionPool, Context, Rate, RateLimitedExecutor, RateLimiter};
    ///
    /// let server = Server::start()?;
    /// let pool = ConnectionPool::new();
    /// let limited = RateLimitedExecutor::new(pool.clone(), RateLimiter::new(Rate::parse("100/s")?, 10)?);
    /// let ctx = Context::new().with_admission(limited.admission());
    /// pool.warmup_with(&[&server.url("/")], 4, &ctx);
    /// assert_eq!(limited.stats().admitted, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn warmup_with(&self, hosts: &[&str], n: usize, ctx: &Context) -> WarmupReport {
        let start = Instant::now();
        let hosts = hosts
            .iter()
            .map(|h| {
                warmup::warm_host(
                    &self.inner.client,
                    h,
                    n,
                    &self.inner.warmup_path,
                    self.inner.warmup_timeout,
                    ctx,
                )
            })
            .collect();
        WarmupReport {
            hosts,
            elapsed: start.elapsed(),
        }
    }

    /// Starts health checks of `hosts` (base URLs or origins): every `interval`, the health
    /// thread sends `GET {origin}{path}` to each host in turn.
    ///
    /// - One thread (named `httpbatch-health`) however often this is called: a later call
    ///   replaces the host list, interval and path of the running loop and starts a round at
    ///   once. Hosts dropped from the list lose their state (and their circuit closes).
    /// - A probe succeeds on any status below 500 within the probe timeout (capped at
    ///   `interval`). After `unhealthy_threshold` failures in a row (default 2) the host is
    ///   [`Unhealthy`](HealthState::Unhealthy): within about two intervals of it going down,
    ///   its requests fail fast with [`ErrorKind::CircuitOpen`] and open no socket.
    /// - Only probes bring a host back (they are the half-open test; no live request is let
    ///   through an open circuit): after `healthy_threshold` good probes (default 1) it is
    ///   `Healthy` again.
    /// - Live requests do not change a host's health; only probes do.
    /// - Probes do not pay rate-limit tokens: they run on the health thread with no admission
    ///   registered, so a saturated or stopped limiter cannot starve them and mark a healthy host
    ///   down (they are one small request per host per interval).
    /// - Hosts are probed one after another on the one thread, so a round over many hung
    ///   hosts can take longer than `interval` (each probe is capped at it); the next round
    ///   then starts at once.
    ///
    /// An `interval` of `Duration::MAX` means no limit: a round of probes now, and none after
    /// it until the next call (any interval beyond a century counts as that).
    ///
    /// Fails with [`ErrorKind::InvalidConfig`] for a zero interval and
    /// [`ErrorKind::InvalidUrl`] for a host or path that does not make a URL; nothing changes
    /// then.
    pub fn enable_health_check(
        &self,
        hosts: &[&str],
        interval: Duration,
        path: &str,
    ) -> Result<(), Error> {
        // The health loop adds the interval to an `Instant`: keep that sum representable.
        self.inner
            .health
            .enable(hosts, interval.min(NO_LIMIT), path)
    }

    /// Stops health checks: wakes the health thread (and shuts the socket of a probe in
    /// flight), joins it, and forgets every host's state, so every circuit closes. Returns
    /// promptly; does nothing if health checks are off.
    pub fn disable_health_check(&self) {
        self.inner.health.disable();
    }

    /// Whether the health-check thread is running.
    pub fn is_health_check_enabled(&self) -> bool {
        self.inner.health.is_running()
    }

    /// The health of `host` (a base URL or an origin), if it is health-checked.
    pub fn host_health(&self, host: &str) -> Option<HostHealth> {
        let url = crate::request::Url::parse(host).ok()?;
        self.inner.health.host(url.origin())
    }

    /// The health of every health-checked origin, sorted by origin.
    pub fn health(&self) -> Vec<(String, HostHealth)> {
        self.inner.health.all()
    }
}

impl Execute for ConnectionPool {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        let host = self.host(request.url().origin());
        let pool = &self.inner.counters;
        pool.requests.fetch_add(1, Relaxed);
        host.counters.requests.fetch_add(1, Relaxed);
        let _in_flight = InFlight::enter(&pool.in_flight, &host.counters.in_flight);

        // The circuit and the first slot are settled before the retry loop, so a request that
        // fails fast or is cancelled while it waits for a slot reports 0 attempts.
        let first_slot = match self.circuit_open(request.url().origin(), &host) {
            Some(e) => Err(e),
            None => Self::slot(&host, ctx),
        };
        let outcome = match first_slot {
            Err(e) => Err(e),
            Ok(slot) => {
                let policy = self.inner.retry.read().clone();
                let mut first = Some(slot);
                let mut calls = 0u32;
                retry::run(
                    &policy,
                    &self.inner.retry_state,
                    request,
                    ctx,
                    |req, ctx| {
                        calls += 1;
                        if calls > 1 {
                            pool.retries.fetch_add(1, Relaxed);
                        }
                        self.attempt(&host, first.take(), req, ctx)
                    },
                )
            }
        };
        let ok = matches!(&outcome, Ok(r) if r.status() < 500);
        for c in [pool, &host.counters] {
            if ok { &c.succeeded } else { &c.failed }.fetch_add(1, Relaxed);
        }
        outcome
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ConnectionPool>();
    is::<ConnectionPoolBuilder>();
    is::<PoolStats>();
    is::<HostHealth>();
}
