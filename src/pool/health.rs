//! Health checks and the circuit breaker: one background thread probes each host periodically and
//! keeps its state; requests to a host whose circuit is open fail fast.
//!
//! Invariants (which thread touches what):
//! - At most one loop thread per pool runs a given generation of work. `Control` (the join handle
//!   and the loop's stop token) is only touched by `enable`/`disable` under the control mutex, so
//!   two `enable` calls can never both see "no thread" and spawn two loops.
//! - Each loop thread owns its own stop token; `disable` cancels it, then notifies the condvar
//!   while holding the `targets` mutex. The loop checks the token under that mutex before every
//!   wait, so a stop is never missed, and the cancel also shuts the socket of a probe in flight
//!   (the probe runs under that token). A later `enable` makes a fresh token, so an old thread
//!   that is still winding down can never be revived by it.
//! - `hosts` (the state table) is written only by the loop thread (probe results) and by
//!   `enable`/`disable` (adding/removing hosts); request threads only read it, under a read
//!   lock, to decide whether a circuit is open.
//! - The state-change callback runs on the loop thread, outside every lock, with panics caught:
//!   a faulty callback cannot stop health checking or poison a lock.

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex, RwLock};

use crate::agent::HttpClient;
use crate::error::{Error, ErrorKind};
use crate::execute::{CancelToken, Context, Execute};
use crate::request::{Method, Request, Url};

/// The name of the health-check thread.
pub(crate) const THREAD_NAME: &str = "httpbatch-health";

/// Where a host stands with the health checker.
///
/// ```text
///            unhealthy_threshold consecutive failed probes
///   Healthy ────────────────────────────────────────────────▶ Unhealthy  (circuit open)
///      ▲                                                       │    ▲
///      │ healthy_threshold consecutive good probes             │    │ one failed probe
///      └──────────────────────────── HalfOpen ◀────────────────┘    │
///                                        └─────────────────────────┘
///                         (a good probe, below healthy_threshold)
/// ```
///
/// With the default `healthy_threshold` of 1 a host goes from `Unhealthy` straight back to
/// `Healthy` on its first good probe and is never `HalfOpen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// Answering probes: requests go through (circuit closed).
    Healthy,
    /// Failed `unhealthy_threshold` probes in a row: requests fail fast with
    /// [`ErrorKind::CircuitOpen`] (circuit open) and open no socket.
    Unhealthy,
    /// Recovering: answered some probes but fewer than `healthy_threshold` in a row. Requests
    /// still fail fast; only probes test the host, and one failed probe makes it `Unhealthy`
    /// again.
    HalfOpen,
}

impl HealthState {
    /// `"healthy"`, `"unhealthy"` or `"half_open"`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
            HealthState::HalfOpen => "half_open",
        }
    }

    /// Whether requests to a host in this state fail fast (everything but `Healthy`).
    pub fn is_circuit_open(self) -> bool {
        self != HealthState::Healthy
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of one host, as its probes left it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostHealth {
    /// The current state.
    pub state: HealthState,
    /// When the host last went from `Healthy` to `Unhealthy`; `None` while it is `Healthy`.
    pub unhealthy_since: Option<SystemTime>,
    /// Failed probes in a row (0 after a good one).
    pub consecutive_failures: u32,
    /// Good probes in a row (0 after a failed one).
    pub consecutive_successes: u32,
    /// What the last failed probe reported (kept after the host recovers, as history).
    pub last_error: Option<String>,
    /// How long the last probe took, good or failed.
    pub last_latency: Option<Duration>,
    /// When the last probe finished; `None` before the first.
    pub last_checked: Option<SystemTime>,
    /// Probes made since the host was added.
    pub checks: u64,
    /// Probes that failed since the host was added.
    pub failed_checks: u64,
}

impl Default for HostHealth {
    fn default() -> Self {
        HostHealth {
            state: HealthState::Healthy,
            unhealthy_since: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_error: None,
            last_latency: None,
            last_checked: None,
            checks: 0,
            failed_checks: 0,
        }
    }
}

impl HostHealth {
    /// Applies one probe result; returns the transition if the state changed.
    fn record(
        &mut self,
        outcome: Result<(), String>,
        latency: Duration,
        config: &HealthCheckConfig,
    ) -> Option<(HealthState, HealthState)> {
        let old = self.state;
        self.checks += 1;
        self.last_latency = Some(latency);
        self.last_checked = Some(SystemTime::now());
        match outcome {
            Ok(()) => {
                self.consecutive_failures = 0;
                self.consecutive_successes = self.consecutive_successes.saturating_add(1);
                if old != HealthState::Healthy {
                    self.state = if self.consecutive_successes >= config.healthy_threshold {
                        HealthState::Healthy
                    } else {
                        HealthState::HalfOpen
                    };
                }
                if self.state == HealthState::Healthy {
                    self.unhealthy_since = None;
                }
            }
            Err(msg) => {
                self.failed_checks += 1;
                self.consecutive_successes = 0;
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last_error = Some(msg);
                match old {
                    HealthState::Healthy
                        if self.consecutive_failures >= config.unhealthy_threshold =>
                    {
                        self.state = HealthState::Unhealthy;
                        self.unhealthy_since = self.last_checked;
                    }
                    // One failure while recovering re-opens the circuit; `unhealthy_since`
                    // keeps the start of the outage.
                    HealthState::HalfOpen => self.state = HealthState::Unhealthy,
                    _ => {}
                }
            }
        }
        (self.state != old).then_some((old, self.state))
    }
}

/// How health probes are judged. Set with
/// [`ConnectionPoolBuilder::health_check`](crate::ConnectionPoolBuilder::health_check).
///
/// A probe is a `GET` of the health path on the host. It **succeeds** when the host answers with
/// any status below 500 (a 404 still proves the host is up), and **fails** on a 5xx, a transport
/// error (refused, reset, timeout) or no answer within the probe timeout.
///
/// ```
/// use httpbatch::HealthCheckConfig;
/// use std::time::Duration;
/// let config = HealthCheckConfig::default()
///     .probe_timeout(Duration::from_millis(500))
///     .unhealthy_threshold(3)
///     .healthy_threshold(2);
/// assert_eq!(config.get_unhealthy_threshold(), 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheckConfig {
    probe_timeout: Option<Duration>,
    unhealthy_threshold: u32,
    healthy_threshold: u32,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            probe_timeout: None,
            unhealthy_threshold: 2,
            healthy_threshold: 1,
        }
    }
}

impl HealthCheckConfig {
    /// Sets the probe timeout.
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = Some(timeout);
        self
    }
    /// How long a probe may take before it counts as failed. It is always capped at the check
    /// interval, so a hung host is detected within `unhealthy_threshold` intervals. Defaults to
    /// the interval.
    pub fn get_probe_timeout(&self) -> Option<Duration> {
        self.probe_timeout
    }
    /// Sets the failures that open the circuit (at least 1).
    pub fn unhealthy_threshold(mut self, n: u32) -> Self {
        self.unhealthy_threshold = n.max(1);
        self
    }
    /// Consecutive failed probes that mark a healthy host `Unhealthy`. Defaults to `2`.
    pub fn get_unhealthy_threshold(&self) -> u32 {
        self.unhealthy_threshold
    }
    /// Sets the good probes that close the circuit again (at least 1).
    pub fn healthy_threshold(mut self, n: u32) -> Self {
        self.healthy_threshold = n.max(1);
        self
    }
    /// Consecutive good probes that bring an unhealthy host back to `Healthy`. Defaults to `1`.
    pub fn get_healthy_threshold(&self) -> u32 {
        self.healthy_threshold
    }
}

/// The state-change callback: `(origin, old, new)`.
pub(crate) type HealthCallback = Arc<dyn Fn(&str, HealthState, HealthState) + Send + Sync>;

/// What the loop probes, and how often. Guarded by `Shared::targets`.
struct Targets {
    /// (origin, probe URL).
    hosts: Vec<(String, String)>,
    interval: Duration,
    /// Bumped on every `enable`, so the loop starts a fresh round with the new list.
    generation: u64,
}

struct Shared {
    config: HealthCheckConfig,
    callback: Option<HealthCallback>,
    client: HttpClient,
    targets: Mutex<Targets>,
    wake: Condvar,
    hosts: RwLock<HashMap<String, HostHealth>>,
}

struct Control {
    handle: Option<JoinHandle<()>>,
    stop: CancelToken,
}

/// The health checker of one pool.
pub(crate) struct Health {
    shared: Arc<Shared>,
    control: Mutex<Control>,
}

impl Health {
    pub(crate) fn new(
        client: HttpClient,
        config: HealthCheckConfig,
        callback: Option<HealthCallback>,
    ) -> Health {
        Health {
            shared: Arc::new(Shared {
                config,
                callback,
                client,
                targets: Mutex::new(Targets {
                    hosts: Vec::new(),
                    interval: Duration::from_secs(1),
                    generation: 0,
                }),
                wake: Condvar::new(),
                hosts: RwLock::new(HashMap::new()),
            }),
            control: Mutex::new(Control {
                handle: None,
                stop: CancelToken::new(),
            }),
        }
    }

    /// Whether requests to `origin` must fail fast.
    pub(crate) fn is_open(&self, origin: &str) -> bool {
        let hosts = self.shared.hosts.read();
        !hosts.is_empty() && hosts.get(origin).is_some_and(|h| h.state.is_circuit_open())
    }

    pub(crate) fn host(&self, origin: &str) -> Option<HostHealth> {
        self.shared.hosts.read().get(origin).cloned()
    }

    pub(crate) fn all(&self) -> Vec<(String, HostHealth)> {
        let mut v: Vec<_> = self
            .shared
            .hosts
            .read()
            .iter()
            .map(|(k, h)| (k.clone(), h.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub(crate) fn is_running(&self) -> bool {
        self.control.lock().handle.is_some()
    }

    pub(crate) fn enable(
        &self,
        hosts: &[&str],
        interval: Duration,
        path: &str,
    ) -> Result<(), Error> {
        if interval.is_zero() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "health check interval must be greater than zero",
            ));
        }
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let mut targets = Vec::with_capacity(hosts.len());
        for h in hosts {
            let origin = Url::parse(h)?.origin().to_owned();
            let url = format!("{origin}{path}");
            // Validate the probe URL now rather than fail every probe later.
            Request::get(&url)?;
            if !targets.iter().any(|(o, _)| *o == origin) {
                targets.push((origin, url));
            }
        }

        let mut control = self.control.lock();
        {
            let mut table = self.shared.hosts.write();
            table.retain(|origin, _| targets.iter().any(|(o, _)| o == origin));
            for (origin, _) in &targets {
                table.entry(origin.clone()).or_default();
            }
        }
        {
            let mut t = self.shared.targets.lock();
            t.hosts = targets;
            t.interval = interval;
            t.generation += 1;
        }
        self.shared.wake.notify_all();
        if control.handle.is_none() {
            let stop = CancelToken::new();
            let shared = self.shared.clone();
            let token = stop.clone();
            // Wait for the thread to start, so that once `enable` returns the loop is visible
            // under its name (std names the OS thread before running the closure).
            let (started, wait_started) = std::sync::mpsc::sync_channel(1);
            let handle = std::thread::Builder::new()
                .name(THREAD_NAME.into())
                .spawn(move || {
                    let _ = started.send(());
                    run(shared, token)
                })
                .map_err(|e| {
                    Error::with_source(ErrorKind::Io, "cannot spawn the health-check thread", e)
                })?;
            let _ = wait_started.recv();
            control.stop = stop;
            control.handle = Some(handle);
        }
        Ok(())
    }

    pub(crate) fn disable(&self) {
        let handle = {
            let mut control = self.control.lock();
            control.stop.cancel();
            {
                let _t = self.shared.targets.lock();
                self.shared.wake.notify_all();
            }
            let handle = control.handle.take();
            // Every circuit closes: with no probe left, an open one could never recover.
            self.shared.hosts.write().clear();
            self.shared.targets.lock().hosts.clear();
            handle
        };
        if let Some(h) = handle {
            // A callback that disables health checks runs on the loop thread: it cannot join
            // itself, and the loop ends on its own once the callback returns.
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn thread_id(&self) -> Option<std::thread::ThreadId> {
        self.control.lock().handle.as_ref().map(|h| h.thread().id())
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        self.disable();
    }
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("config", &self.shared.config)
            .field("running", &self.is_running())
            .field("hosts", &self.shared.hosts.read().len())
            .finish()
    }
}

/// The loop: a round of probes every `interval` (measured from the start of a round), until
/// `stop` is cancelled. A new target list (a new generation) starts a round at once.
fn run(shared: Arc<Shared>, stop: CancelToken) {
    let ctx = Context::new().with_cancel(stop.clone());
    let mut targets = shared.targets.lock();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let hosts = targets.hosts.clone();
        let interval = targets.interval;
        let generation = targets.generation;
        drop(targets);

        let round = Instant::now();
        let timeout = shared
            .config
            .probe_timeout
            .map_or(interval, |t| t.min(interval))
            .max(Duration::from_millis(1));
        for (origin, url) in &hosts {
            if stop.is_cancelled() {
                return;
            }
            let (outcome, latency) = probe(&shared.client, url, timeout, &ctx);
            if stop.is_cancelled() {
                // The probe was cut short by the stop, not by the host.
                return;
            }
            let change = match shared.hosts.write().get_mut(origin) {
                Some(h) => h.record(outcome, latency, &shared.config),
                None => None, // removed by an `enable` meanwhile
            };
            if let Some((old, new)) = change {
                log::info!(target: "httpbatch::health", "{origin}: {old} -> {new} (circuit {})", if new == HealthState::Unhealthy { "open: requests fail fast" } else { "closing" });
            }
            if let (Some((old, new)), Some(cb)) = (change, &shared.callback) {
                let _ = catch_unwind(AssertUnwindSafe(|| cb(origin, old, new)));
            }
        }

        targets = shared.targets.lock();
        let next = round + interval;
        while !stop.is_cancelled() && targets.generation == generation && Instant::now() < next {
            shared.wake.wait_until(&mut targets, next);
        }
    }
}

/// One probe: `Ok` if the host answered below 500 within `timeout`.
fn probe(
    client: &HttpClient,
    url: &str,
    timeout: Duration,
    ctx: &Context,
) -> (Result<(), String>, Duration) {
    let start = Instant::now();
    let outcome = Request::builder(Method::Get, url)
        .timeout(timeout)
        .build()
        .and_then(|req| client.execute(req, ctx));
    let latency = start.elapsed();
    let outcome = match outcome {
        Ok(res) if res.status() < 500 => Ok(()),
        Ok(res) => Err(format!("probe of {url} answered {}", res.status())),
        Err(e) => Err(e.to_string()),
    };
    (outcome, latency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine() {
        let config = HealthCheckConfig::default().healthy_threshold(2);
        let mut h = HostHealth::default();
        let ms = Duration::from_millis(1);
        assert_eq!(h.record(Err("x".into()), ms, &config), None);
        assert_eq!(
            h.record(Err("y".into()), ms, &config),
            Some((HealthState::Healthy, HealthState::Unhealthy))
        );
        let since = h.unhealthy_since;
        assert!(since.is_some());
        assert_eq!(
            h.record(Ok(()), ms, &config),
            Some((HealthState::Unhealthy, HealthState::HalfOpen))
        );
        assert_eq!(
            h.record(Err("z".into()), ms, &config),
            Some((HealthState::HalfOpen, HealthState::Unhealthy))
        );
        assert_eq!(h.unhealthy_since, since, "an outage keeps its start");
        assert_eq!(
            h.record(Ok(()), ms, &config).map(|c| c.1),
            Some(HealthState::HalfOpen)
        );
        assert_eq!(
            h.record(Ok(()), ms, &config),
            Some((HealthState::HalfOpen, HealthState::Healthy))
        );
        assert_eq!(h.unhealthy_since, None);
        assert_eq!(h.last_error.as_deref(), Some("z"));
        assert_eq!((h.checks, h.failed_checks), (6, 3));
        assert_eq!((h.consecutive_successes, h.consecutive_failures), (2, 0));
    }

    #[test]
    fn zero_interval_and_bad_hosts_are_rejected_without_a_thread() {
        let health = Health::new(HttpClient::new(), HealthCheckConfig::default(), None);
        let e = health
            .enable(&["http://127.0.0.1:1"], Duration::ZERO, "/")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        let e = health
            .enable(&["ftp://x"], Duration::from_secs(1), "/")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidUrl);
        assert!(!health.is_running());
    }

    #[test]
    fn enable_twice_keeps_one_thread_and_disable_joins_promptly() {
        let health = Health::new(HttpClient::new(), HealthCheckConfig::default(), None);
        health
            .enable(&["http://127.0.0.1:1"], Duration::from_secs(3600), "/h")
            .unwrap();
        let first = health.thread_id();
        health
            .enable(&["http://127.0.0.1:2"], Duration::from_secs(3600), "/h")
            .unwrap();
        assert_eq!(health.thread_id(), first);
        assert!(health.host("http://127.0.0.1:1").is_none(), "dropped host");
        let start = Instant::now();
        health.disable();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(!health.is_running());
        assert!(health.all().is_empty());
    }
}
