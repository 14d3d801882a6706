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

mod health;
mod slots;
mod warmup;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::agent::{ConnectionStats, HttpClient, HttpClientConfig};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::execute::{Context, Execute};
use crate::request::Request;
use crate::response::Response;
use crate::retry::{self, RetryPolicy, RetryState, RetryStats};

pub use health::{HealthCheckConfig, HealthState, HostHealth};
pub use warmup::{HostWarmup, WarmupReport};

use self::health::{Health, HealthCallback};
use self::slots::{Permit, Slots};

/// A snapshot of a pool's statistics. Cheap to take; `Copy`.
///
/// Connection figures are counted at the socket by the leaf, never estimated. Everything but
/// `connections_live`, `hosts` and `in_flight` (levels) counts from the last
/// [`reset_stats`](ConnectionPool::reset_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Sockets opened.
    pub connections_opened: u64,
    /// Sockets closed (by either side, or evicted from the idle pool).
    pub connections_closed: u64,
    /// Sockets open now (a level: goes down when connections close).
    pub connections_live: u64,
    /// Requests sent on an already open socket.
    pub connections_reused: u64,
    /// Requests the pool was asked to execute.
    pub requests: u64,
    /// Attempts that went to the wire (first attempts and retries).
    pub attempts: u64,
    /// Attempts after a request's first.
    pub retries: u64,
    /// Requests that ended in a response below 500.
    pub succeeded: u64,
    /// Requests that ended in an error (cancellations and open circuits included) or a 5xx.
    pub failures: u64,
    /// Requests and retries rejected because their host's circuit was open.
    pub circuit_open: u64,
    /// Origins the pool has sent to.
    pub hosts: usize,
    /// Requests in flight now (a level).
    pub in_flight: u64,
}

impl PoolStats {
    /// `succeeded / (succeeded + failures)`, in `[0, 1]`. With no finished request it is `1.0`
    /// (nothing has failed), never NaN.
    ///
    /// ```
    /// assert_eq!(httpbatch::PoolStats::default().success_rate(), 1.0);
    /// ```
    pub fn success_rate(&self) -> f64 {
        success_rate(self.succeeded, self.failures)
    }
}

fn success_rate(ok: u64, failed: u64) -> f64 {
    let done = ok.saturating_add(failed);
    if done == 0 {
        1.0
    } else {
        (ok as f64 / done as f64).clamp(0.0, 1.0)
    }
}

/// Statistics of one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostStats {
    /// `scheme://host:port`.
    pub origin: String,
    /// Connection figures since the last reset (`live` is a level).
    pub connections: ConnectionStats,
    /// Requests the pool was asked to send to this origin.
    pub requests: u64,
    /// Attempts that went to the wire.
    pub attempts: u64,
    /// Requests that ended in a response below 500.
    pub succeeded: u64,
    /// Requests that ended in an error or a 5xx.
    pub failures: u64,
    /// Requests and retries rejected by the open circuit.
    pub circuit_open: u64,
    /// Requests in flight now.
    pub in_flight: u64,
    /// The health state, if the origin is health-checked.
    pub health: Option<HealthState>,
}

impl HostStats {
    /// `succeeded / (succeeded + failures)`, `1.0` with none finished.
    pub fn success_rate(&self) -> f64 {
        success_rate(self.succeeded, self.failures)
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    attempts: AtomicU64,
    retries: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    circuit_open: AtomicU64,
    in_flight: AtomicU64,
}

impl Counters {
    /// Zeroes the counters; `in_flight` is a level and stays.
    fn reset(&self) {
        for c in [
            &self.requests,
            &self.attempts,
            &self.retries,
            &self.succeeded,
            &self.failed,
            &self.circuit_open,
        ] {
            c.store(0, Relaxed);
        }
    }
}

struct HostEntry {
    slots: Arc<Slots>,
    counters: Counters,
}

/// Decrements the in-flight gauges when a request leaves the pool, however it leaves.
struct InFlight<'a>(&'a AtomicU64, &'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(pool: &'a AtomicU64, host: &'a AtomicU64) -> Self {
        pool.fetch_add(1, Relaxed);
        host.fetch_add(1, Relaxed);
        InFlight(pool, host)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
        self.1.fetch_sub(1, Relaxed);
    }
}

struct PoolInner {
    client: HttpClient,
    cap: usize,
    retry: RwLock<Arc<RetryPolicy>>,
    retry_state: RetryState,
    health: Health,
    warmup_path: String,
    warmup_timeout: Duration,
    hosts: RwLock<HashMap<String, Arc<HostEntry>>>,
    counters: Counters,
    /// Connection counters per origin at the last reset.
    baseline: Mutex<HashMap<String, ConnectionStats>>,
}

/// Builds a [`ConnectionPool`].
///
/// ```
/// use httpbatch::{ConnectionPool, HealthCheckConfig, HttpClientConfig, RetryPolicy};
/// use std::time::Duration;
///
/// let pool = ConnectionPool::builder()
///     .client_config(HttpClientConfig::default().timeout(Duration::from_secs(5)))
///     .max_in_flight_per_host(16)
///     .retry_policy(RetryPolicy::none())
///     .health_check(HealthCheckConfig::default().unhealthy_threshold(3))
///     .on_health_change(|origin, old, new| eprintln!("{origin}: {old} -> {new}"))
///     .build()
///     .unwrap();
/// // The idle cap was raised to the in-flight cap, so connections do not churn.
/// assert!(pool.get_ref().config().get_max_idle_per_origin() >= 16);
/// ```
#[must_use]
pub struct ConnectionPoolBuilder {
    client_config: HttpClientConfig,
    max_in_flight_per_host: usize,
    retry_policy: RetryPolicy,
    health: HealthCheckConfig,
    on_health_change: Option<HealthCallback>,
    clock: Arc<dyn Clock>,
    warmup_path: String,
    warmup_timeout: Duration,
}

impl fmt::Debug for ConnectionPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPoolBuilder")
            .field("client_config", &self.client_config)
            .field("max_in_flight_per_host", &self.max_in_flight_per_host)
            .field("retry_policy", &self.retry_policy)
            .field("health", &self.health)
            .field("on_health_change", &self.on_health_change.is_some())
            .field("clock", &self.clock)
            .field("warmup_path", &self.warmup_path)
            .field("warmup_timeout", &self.warmup_timeout)
            .finish()
    }
}

impl Default for ConnectionPoolBuilder {
    fn default() -> Self {
        ConnectionPoolBuilder {
            client_config: HttpClientConfig::default(),
            max_in_flight_per_host: 32,
            retry_policy: RetryPolicy::default(),
            health: HealthCheckConfig::default(),
            on_health_change: None,
            clock: Arc::new(SystemClock),
            warmup_path: "/".into(),
            warmup_timeout: Duration::from_secs(10),
        }
    }
}

impl ConnectionPoolBuilder {
    /// Sets the configuration of the underlying [`HttpClient`].
    pub fn client_config(mut self, config: HttpClientConfig) -> Self {
        self.client_config = config;
        self
    }
    /// The configuration of the underlying [`HttpClient`]; its idle cap per origin is raised to
    /// at least [`max_in_flight_per_host`](Self::get_max_in_flight_per_host) when built.
    /// Defaults to [`HttpClientConfig::default`].
    pub fn get_client_config(&self) -> &HttpClientConfig {
        &self.client_config
    }

    /// Sets the in-flight cap per origin (at least 1).
    pub fn max_in_flight_per_host(mut self, n: usize) -> Self {
        self.max_in_flight_per_host = n;
        self
    }
    /// Most requests in flight to one origin at once; more wait for a slot (honouring their
    /// cancel token and deadline). `0` is rejected by [`build`](Self::build). Defaults to `32`.
    pub fn get_max_in_flight_per_host(&self) -> usize {
        self.max_in_flight_per_host
    }

    /// Sets the retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }
    /// How the pool retries its attempts; [`RetryPolicy::none`] turns retries off (do that when
    /// a [`RetryExecutor`](crate::RetryExecutor) sits above the pool). Defaults to
    /// [`RetryPolicy::default`] (3 attempts, idempotent requests only).
    pub fn get_retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }

    /// Sets how health probes are judged.
    pub fn health_check(mut self, config: HealthCheckConfig) -> Self {
        self.health = config;
        self
    }
    /// Probe timeout and thresholds used once
    /// [`enable_health_check`](ConnectionPool::enable_health_check) is called. Defaults to
    /// [`HealthCheckConfig::default`].
    pub fn get_health_check(&self) -> &HealthCheckConfig {
        &self.health
    }

    /// Sets a callback run on every health state change, with the origin and the old and new
    /// states. It runs on the health-check thread: keep it short, and do not call
    /// [`enable_health_check`](ConnectionPool::enable_health_check) from it. A panic in it is
    /// caught and ignored. It must not own a handle to the pool it watches: the pool keeps the
    /// callback, so such a cycle would keep the pool and its health thread alive forever.
    pub fn on_health_change(
        mut self,
        f: impl Fn(&str, HealthState, HealthState) + Send + Sync + 'static,
    ) -> Self {
        self.on_health_change = Some(Arc::new(f));
        self
    }

    /// Sets the clock of the retry backoff.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// The clock the retry backoff reads and sleeps on (tests use a
    /// [`FakeClock`](crate::FakeClock)). Health checks and I/O timeouts use real time.
    /// Defaults to [`SystemClock`].
    pub fn get_clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Sets the path warmup requests ask for.
    pub fn warmup_path(mut self, path: impl Into<String>) -> Self {
        self.warmup_path = path.into();
        self
    }
    /// The path [`warmup`](ConnectionPool::warmup) requests (`GET`). Defaults to `/`.
    pub fn get_warmup_path(&self) -> &str {
        &self.warmup_path
    }

    /// Sets the warmup time limit per host.
    pub fn warmup_timeout(mut self, timeout: Duration) -> Self {
        self.warmup_timeout = timeout;
        self
    }
    /// How long the warmup of one host may take, connections and barrier included. Defaults
    /// to `10 s`.
    pub fn get_warmup_timeout(&self) -> Duration {
        self.warmup_timeout
    }

    /// Builds the pool. Fails with [`ErrorKind::InvalidConfig`] on a zero in-flight cap, a
    /// zero warmup timeout or an invalid retry policy.
    pub fn build(self) -> Result<ConnectionPool, Error> {
        if self.max_in_flight_per_host == 0 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "max_in_flight_per_host must be at least 1",
            ));
        }
        if self.warmup_timeout.is_zero() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "warmup_timeout must be greater than zero",
            ));
        }
        self.retry_policy.validate()?;
        let idle = self
            .client_config
            .get_max_idle_per_origin()
            .max(self.max_in_flight_per_host);
        let client = HttpClient::with_config(self.client_config.max_idle_per_origin(idle));
        let warmup_path = if self.warmup_path.starts_with('/') {
            self.warmup_path
        } else {
            format!("/{}", self.warmup_path)
        };
        Ok(ConnectionPool {
            inner: Arc::new(PoolInner {
                health: Health::new(client.clone(), self.health, self.on_health_change),
                client,
                cap: self.max_in_flight_per_host,
                retry: RwLock::new(Arc::new(self.retry_policy)),
                retry_state: RetryState::new(self.clock),
                warmup_path,
                warmup_timeout: self.warmup_timeout,
                hosts: RwLock::new(HashMap::new()),
                counters: Counters::default(),
                baseline: Mutex::new(HashMap::new()),
            }),
        })
    }
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

    /// The in-flight cap per origin.
    pub fn max_in_flight_per_host(&self) -> usize {
        self.inner.cap
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
        origin: &str,
        host: &HostEntry,
        slot: Option<(Permit, Duration)>,
        request: Request,
        ctx: &Context,
    ) -> Result<Response, Error> {
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
    /// their origin is used. For each host, in turn, `n` threads each send `GET {origin}{path}`
    /// (the [warmup path](ConnectionPoolBuilder::warmup_path)) and hold their response, with
    /// its connection checked out, until all `n` have arrived; then they read the bodies and
    /// the `n` connections go to the idle pool, ready for the next requests. (Requests sent one
    /// after another would all reuse one socket.)
    ///
    /// Each host's warmup is bounded by the [warmup timeout](ConnectionPoolBuilder::warmup_timeout).
    /// `n` is capped at the idle-connection cap per origin. Warmup bypasses the in-flight cap and
    /// the circuit, and is not counted in [`stats`](Self::stats)' requests (its sockets are:
    /// they are real).
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
    /// Fails with [`ErrorKind::InvalidConfig`] for a zero interval and
    /// [`ErrorKind::InvalidUrl`] for a host or path that does not make a URL; nothing changes
    /// then.
    pub fn enable_health_check(
        &self,
        hosts: &[&str],
        interval: Duration,
        path: &str,
    ) -> Result<(), Error> {
        self.inner.health.enable(hosts, interval, path)
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
        let origin = crate::request::Url::parse(host).ok()?.origin();
        self.inner.health.host(&origin)
    }

    /// The health of every health-checked origin, sorted by origin.
    pub fn health(&self) -> Vec<(String, HostHealth)> {
        self.inner.health.all()
    }

    fn connection_deltas(&self) -> BTreeMap<String, ConnectionStats> {
        let baseline = self.inner.baseline.lock();
        self.inner
            .client
            .origin_stats()
            .into_iter()
            .map(|(origin, now)| {
                let base = baseline.get(&origin).copied().unwrap_or_default();
                let delta = ConnectionStats {
                    opened: now.opened.saturating_sub(base.opened),
                    closed: now.closed.saturating_sub(base.closed),
                    live: now.live,
                    requests: now.requests.saturating_sub(base.requests),
                    reused: now.reused.saturating_sub(base.reused),
                };
                (origin, delta)
            })
            .collect()
    }

    /// A snapshot of the pool's statistics.
    pub fn stats(&self) -> PoolStats {
        let c = &self.inner.counters;
        let mut s = PoolStats {
            requests: c.requests.load(Relaxed),
            attempts: c.attempts.load(Relaxed),
            retries: c.retries.load(Relaxed),
            succeeded: c.succeeded.load(Relaxed),
            failures: c.failed.load(Relaxed),
            circuit_open: c.circuit_open.load(Relaxed),
            hosts: self.inner.hosts.read().len(),
            in_flight: c.in_flight.load(Relaxed),
            ..PoolStats::default()
        };
        for conn in self.connection_deltas().values() {
            s.connections_opened += conn.opened;
            s.connections_closed += conn.closed;
            s.connections_live += conn.live;
            s.connections_reused += conn.reused;
        }
        s
    }

    /// Statistics per origin (every origin the pool sent to, warmed or probed), sorted by
    /// origin.
    pub fn host_stats(&self) -> Vec<HostStats> {
        let mut conns = self.connection_deltas();
        let hosts: Vec<(String, Arc<HostEntry>)> = self
            .inner
            .hosts
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (origin, _) in &hosts {
            conns.entry(origin.clone()).or_default();
        }
        let entries: HashMap<_, _> = hosts.into_iter().collect();
        conns
            .into_iter()
            .map(|(origin, connections)| {
                let load = |f: fn(&Counters) -> &AtomicU64| {
                    entries
                        .get(&origin)
                        .map_or(0, |h| f(&h.counters).load(Relaxed))
                };
                HostStats {
                    connections,
                    requests: load(|c| &c.requests),
                    attempts: load(|c| &c.attempts),
                    succeeded: load(|c| &c.succeeded),
                    failures: load(|c| &c.failed),
                    circuit_open: load(|c| &c.circuit_open),
                    in_flight: load(|c| &c.in_flight),
                    health: self.inner.health.host(&origin).map(|h| h.state),
                    origin,
                }
            })
            .collect()
    }

    /// Starts the statistics afresh: zeroes the counters (the retry engine's too) and takes
    /// the current connection counters as the new baseline. Levels (`connections_live`,
    /// `in_flight`, `hosts`) are not reset.
    pub fn reset_stats(&self) {
        let mut baseline = self.inner.baseline.lock();
        *baseline = self.inner.client.origin_stats().into_iter().collect();
        self.inner.counters.reset();
        for h in self.inner.hosts.read().values() {
            h.counters.reset();
        }
        self.inner.retry_state.reset_stats();
    }
}

impl Execute for ConnectionPool {
    fn execute(&self, request: Request, ctx: &Context) -> Result<Response, Error> {
        let origin = request.url().origin();
        let host = self.host(&origin);
        let pool = &self.inner.counters;
        pool.requests.fetch_add(1, Relaxed);
        host.counters.requests.fetch_add(1, Relaxed);
        let _in_flight = InFlight::enter(&pool.in_flight, &host.counters.in_flight);

        // The circuit and the first slot are settled before the retry loop, so a request that
        // fails fast or is cancelled while it waits for a slot reports 0 attempts.
        let first_slot = match self.circuit_open(&origin, &host) {
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
                        self.attempt(&origin, &host, first.take(), req, ctx)
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
