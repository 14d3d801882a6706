//! [`ConnectionPoolBuilder`]: the pool's configuration, validated by `build`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use super::health::{Health, HealthCallback, HealthCheckConfig, HealthState};
use super::stats::Counters;
use super::{ConnectionPool, PoolInner};
use crate::agent::{HttpClient, HttpClientConfig};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::retry::{RetryPolicy, RetryState};

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

/// The setters share the names of the built pool's getters ([`ConnectionPool::warmup_path`],
/// …); each says its default in its last line.
impl ConnectionPoolBuilder {
    /// The configuration of the underlying [`HttpClient`] (read it back with
    /// `pool.get_ref().config()`); its idle cap per origin is raised to at least
    /// [`max_in_flight_per_host`](Self::max_in_flight_per_host) when built. Defaults to
    /// [`HttpClientConfig::default`].
    pub fn client_config(mut self, config: HttpClientConfig) -> Self {
        self.client_config = config;
        self
    }

    /// Most requests in flight to one origin at once; more wait for a slot (honouring their
    /// cancel token and deadline). `usize::MAX` means no cap; `0` is rejected by
    /// [`build`](Self::build). Defaults to `32`.
    pub fn max_in_flight_per_host(mut self, n: usize) -> Self {
        self.max_in_flight_per_host = n;
        self
    }

    /// How the pool retries its attempts; [`RetryPolicy::none`] turns retries off (do that when
    /// a [`RetryExecutor`](crate::RetryExecutor) sits above the pool). Defaults to
    /// [`RetryPolicy::default`] (3 attempts, idempotent requests only).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Probe timeout and thresholds used once
    /// [`enable_health_check`](ConnectionPool::enable_health_check) is called. Defaults to
    /// [`HealthCheckConfig::default`].
    pub fn health_check(mut self, config: HealthCheckConfig) -> Self {
        self.health = config;
        self
    }

    /// Sets a callback run on every health state change, with the origin and the old and new
    /// states. It runs on the health-check thread: keep it short, and do not call
    /// [`enable_health_check`](ConnectionPool::enable_health_check) from it. A panic in it is
    /// caught and ignored. It must not own a handle to the pool it watches: the pool keeps the
    /// callback, so such a cycle would keep the pool and its health thread alive forever.
    /// Defaults to none.
    pub fn on_health_change(
        mut self,
        f: impl Fn(&str, HealthState, HealthState) + Send + Sync + 'static,
    ) -> Self {
        self.on_health_change = Some(Arc::new(f));
        self
    }

    /// The clock the retry backoff reads and sleeps on (tests use a
    /// [`FakeClock`](crate::FakeClock)). Health checks and I/O timeouts use real time.
    /// Defaults to [`SystemClock`].
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The path [`warmup`](ConnectionPool::warmup) requests (`GET`); a leading `/` is added
    /// when missing. Defaults to `/`.
    pub fn warmup_path(mut self, path: impl Into<String>) -> Self {
        self.warmup_path = path.into();
        self
    }

    /// How long the warmup of one host may take, connections and barrier included.
    /// `Duration::MAX` means no limit; zero is rejected by [`build`](Self::build). Defaults to
    /// `10 s`.
    pub fn warmup_timeout(mut self, timeout: Duration) -> Self {
        self.warmup_timeout = timeout;
        self
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
                health_config: self.health,
                clock: self.clock.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::extremes::{count32, duration, float, ok_or_invalid_config, size};
    use proptest::prelude::*;

    /// A loopback port nobody listens on: connections are refused at once.
    fn closed_port() -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        format!("http://127.0.0.1:{port}")
    }

    #[test]
    fn the_pool_reads_back_what_the_builder_set_under_the_same_names() {
        let health = HealthCheckConfig::default().unhealthy_threshold(5);
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::FakeClock::new());
        let pool = ConnectionPool::builder()
            .max_in_flight_per_host(usize::MAX)
            .retry_policy(RetryPolicy::none())
            .health_check(health)
            .with_clock(clock.clone())
            .warmup_path("ready")
            .warmup_timeout(Duration::MAX)
            .build()
            .unwrap();
        assert_eq!(pool.max_in_flight_per_host(), usize::MAX);
        assert_eq!(pool.retry_policy().max_attempts(), 1);
        assert_eq!(pool.health_check(), health);
        assert!(Arc::ptr_eq(pool.clock(), &clock));
        assert_eq!(pool.warmup_path(), "/ready");
        assert_eq!(pool.warmup_timeout(), Duration::MAX);
        // No in-flight cap raises the idle cap to "none" as well.
        assert_eq!(
            pool.get_ref().config().get_max_idle_per_origin(),
            usize::MAX
        );
        let e = ConnectionPool::builder()
            .warmup_timeout(Duration::ZERO)
            .build();
        assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidConfig);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any option values: `build` is `Ok` or `InvalidConfig`; a built pool takes any
        /// warmup count and health-check interval without a panic, on at most 64 warmup threads.
        #[test]
        fn any_options_build_or_fail_with_invalid_config(
            in_flight in size(),
            warmup_timeout in duration(),
            base in duration(),
            max in duration(),
            multiplier in float(),
            attempts in count32(),
            probe_timeout in duration(),
            unhealthy in count32(),
            healthy in count32(),
            warmup_n in size(),
            interval in duration(),
        ) {
            let policy = RetryPolicy::builder()
                .max_attempts(attempts)
                .base_delay(base)
                .max_delay(max)
                .multiplier(multiplier)
                .build();
            ok_or_invalid_config(&policy)?;
            let built = ConnectionPool::builder()
                .max_in_flight_per_host(in_flight)
                .warmup_timeout(warmup_timeout)
                .retry_policy(policy.unwrap_or_default())
                .health_check(
                    HealthCheckConfig::default()
                        .probe_timeout(probe_timeout)
                        .unhealthy_threshold(unhealthy)
                        .healthy_threshold(healthy),
                )
                .build();
            ok_or_invalid_config(&built)?;
            let Ok(pool) = built else {
                return Ok(());
            };
            prop_assert_eq!(pool.max_in_flight_per_host(), in_flight);
            let host = closed_port();
            let report = pool.warmup(&[&host], warmup_n);
            let h = &report.hosts[0];
            prop_assert!(h.attempted <= 64 * 64 && h.attempted <= warmup_n);
            prop_assert_eq!(h.ok + h.failed, h.attempted);
            ok_or_invalid_config(&pool.enable_health_check(&[&host], interval, "/"))?;
            pool.disable_health_check();
        }
    }
}
