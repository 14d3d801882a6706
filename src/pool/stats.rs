//! The pool's statistics: the snapshot types, the relaxed counters behind them, and the methods
//! that read and reset them.
//!
//! Invariants: counters are relaxed atomics (statistics, not synchronisation); `requests` counts
//! at entry and `succeeded`/`failed` at exit, so `succeeded + failed <= requests` up to a reset.
//! Connection figures are never counted here: they come from the leaf's exact counters, minus
//! the baseline [`ConnectionPool::reset_stats`] takes; `live` is a level and never rebased.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{ConnectionPool, HealthState, HostEntry};
use crate::agent::ConnectionStats;

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
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) attempts: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) succeeded: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) circuit_open: AtomicU64,
    pub(super) in_flight: AtomicU64,
}

impl Counters {
    /// Zeroes the counters; `in_flight` is a level and stays.
    pub(super) fn reset(&self) {
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

/// Decrements the in-flight gauges when a request leaves the pool, however it leaves.
pub(super) struct InFlight<'a>(&'a AtomicU64, &'a AtomicU64);

impl<'a> InFlight<'a> {
    pub(super) fn enter(pool: &'a AtomicU64, host: &'a AtomicU64) -> Self {
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

impl ConnectionPool {
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
