//! The end-of-run report: a table on stderr for people, and a JSON object for programs.

use std::fmt::Write as _;

use httpbatch::{BatchSummary, ErrorKind, HostStats, LatencySummary, WarmupReport};
use serde_json::{Value, json};

use crate::stack::LayerStats;
use crate::units::{human_duration, millis};

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// The batch's own summary.
    pub summary: BatchSummary,
    /// Every layer's statistics.
    pub stats: LayerStats,
    /// Whether Ctrl-C stopped the run.
    pub interrupted: bool,
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Report {
    /// The table for stderr.
    pub fn table(&self) -> String {
        let s = &self.summary;
        let mut t = String::new();
        let _ = writeln!(t, "── httpbatch summary {}", "─".repeat(44));
        if self.interrupted {
            let _ = writeln!(
                t,
                "{:<12} Ctrl-C: requests in flight were cancelled, the rest never started",
                "interrupted"
            );
        }
        let _ = writeln!(
            t,
            "{:<12} {} in {} ({:.1}/s)",
            "requests",
            s.total,
            human_duration(s.duration),
            s.throughput
        );
        let _ = writeln!(
            t,
            "{:<12} {} ok, {} failed (responses {}, errors {}, cancelled {}, not run {})",
            "outcomes",
            s.succeeded,
            s.failed(),
            s.responses,
            s.errors,
            s.cancelled,
            s.not_run
        );
        let _ = writeln!(t, "{:<12} {}", "status", self.status_line());
        let _ = writeln!(t, "{:<12} {}", "errors", self.errors_line());
        let _ = writeln!(t, "{:<12} {}", "latency", latency_line(&s.latency));
        if let Some(r) = &self.stats.retry {
            let _ = writeln!(
                t,
                "{:<12} {} retries ({} attempts for {} requests), {} gave up, {} Retry-After waits ({} capped), backoff {}",
                "retries",
                r.retries,
                r.attempts,
                r.requests,
                r.gave_up,
                r.retry_after_waits,
                r.retry_after_capped,
                human_duration(r.backoff_time)
            );
        }
        if let Some(l) = &self.stats.limiter {
            let _ = writeln!(
                t,
                "{:<12} {} of {} admissions waited, {} in total (max {}) at {:.3}/s, burst {}",
                "throttled",
                l.throttled,
                l.admitted,
                human_duration(l.total_wait),
                human_duration(l.max_wait),
                l.rate_per_sec,
                l.burst
            );
        }
        let p = &self.stats.pool;
        let _ = writeln!(
            t,
            "{:<12} {} opened, {} reused, {} closed, {} live; {} attempts on the wire{}",
            "connections",
            p.connections_opened,
            p.connections_reused,
            p.connections_closed,
            p.connections_live,
            p.attempts,
            if p.circuit_open > 0 {
                format!(", {} failed fast (circuit open)", p.circuit_open)
            } else {
                String::new()
            }
        );
        self.hosts_table(&mut t);
        t
    }

    /// One line per host, the worst first, at most `MAX_HOSTS`.
    fn hosts_table(&self, t: &mut String) {
        const MAX_HOSTS: usize = 8;
        let mut hosts: Vec<&HostStats> = self.stats.hosts.iter().collect();
        hosts.sort_by(|a, b| {
            (b.failures, b.requests)
                .cmp(&(a.failures, a.requests))
                .then_with(|| a.origin.cmp(&b.origin))
        });
        for (i, h) in hosts.iter().take(MAX_HOSTS).enumerate() {
            let label = if i == 0 { "hosts" } else { "" };
            let _ = writeln!(t, "{label:<12} {}", self.host_line(h));
        }
        if hosts.len() > MAX_HOSTS {
            let _ = writeln!(t, "{:<12} … and {} more", "", hosts.len() - MAX_HOSTS);
        }
    }

    fn host_line(&self, h: &HostStats) -> String {
        let mut line = format!(
            "{}  {} requests, {} attempts, {:.0}% answered below 500, {} opened / {} reused",
            h.origin,
            h.requests,
            h.attempts,
            h.success_rate() * 100.0,
            h.connections.opened,
            h.connections.reused
        );
        if let Some((_, health)) = self.stats.health.iter().find(|(o, _)| *o == h.origin) {
            let _ = write!(line, ", {}", health.state);
            if health.failed_checks > 0 {
                let _ = write!(
                    line,
                    " ({} of {} probes failed",
                    health.failed_checks, health.checks
                );
                if let Some(e) = &health.last_error {
                    let _ = write!(line, "; last: {e}");
                }
                line.push(')');
            }
        }
        line
    }

    fn status_line(&self) -> String {
        let parts: Vec<String> = CLASSES
            .iter()
            .zip(self.summary.status_classes)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        if parts.is_empty() {
            "—".into()
        } else {
            parts.join(" · ")
        }
    }

    fn errors_line(&self) -> String {
        let parts: Vec<String> = self
            .error_counts()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        if parts.is_empty() {
            "—".into()
        } else {
            parts.join(" · ")
        }
    }

    fn error_counts(&self) -> impl Iterator<Item = (ErrorKind, u64)> + '_ {
        ErrorKind::all()
            .iter()
            .map(|&k| (k, self.stats.batch.errors_of(k)))
            .filter(|(_, n)| *n > 0)
    }

    /// The JSON form (`{"summary": {...}}`), for `--summary-json`.
    pub fn json(&self) -> Value {
        let s = &self.summary;
        let classes: serde_json::Map<String, Value> = CLASSES
            .iter()
            .zip(s.status_classes)
            .map(|(c, n)| ((*c).to_owned(), json!(n)))
            .collect();
        let errors: serde_json::Map<String, Value> = self
            .error_counts()
            .map(|(k, n)| (k.as_str().to_owned(), json!(n)))
            .collect();
        let l = &s.latency;
        json!({ "summary": {
            "total": s.total,
            "succeeded": s.succeeded,
            "failed": s.failed(),
            "responses": s.responses,
            "errors": s.errors,
            "cancelled": s.cancelled,
            "not_run": s.not_run,
            "interrupted": self.interrupted,
            "status_classes": classes,
            "error_kinds": errors,
            "duration_ms": millis(s.duration),
            "throughput_per_sec": s.throughput,
            "latency_ms": {
                "count": l.count, "mean": millis(l.mean), "p50": millis(l.p50),
                "p90": millis(l.p90), "p99": millis(l.p99), "max": millis(l.max),
            },
            "retries": self.stats.retry.map(|r| json!({
                "requests": r.requests, "attempts": r.attempts, "retries": r.retries,
                "gave_up": r.gave_up, "budget_exhausted": r.budget_exhausted,
                "retry_after_waits": r.retry_after_waits,
                "retry_after_capped": r.retry_after_capped,
                "backoff_ms": millis(r.backoff_time),
            })),
            "rate_limit": self.stats.limiter.map(|l| json!({
                "admitted": l.admitted, "throttled": l.throttled, "rejected": l.rejected,
                "total_wait_ms": millis(l.total_wait), "max_wait_ms": millis(l.max_wait),
                "rate_per_sec": l.rate_per_sec, "burst": l.burst,
            })),
            "connections": {
                "opened": self.stats.pool.connections_opened,
                "reused": self.stats.pool.connections_reused,
                "closed": self.stats.pool.connections_closed,
                "live": self.stats.pool.connections_live,
            },
            "attempts": self.stats.pool.attempts,
            "circuit_open": self.stats.pool.circuit_open,
            "hosts": self.stats.hosts.iter().map(|h| self.host_json(h)).collect::<Vec<_>>(),
        }})
    }

    fn host_json(&self, h: &HostStats) -> Value {
        let health = self
            .stats
            .health
            .iter()
            .find(|(o, _)| *o == h.origin)
            .map(|(_, s)| {
                json!({
                    "state": s.state.as_str(), "checks": s.checks, "failed_checks": s.failed_checks,
                    "consecutive_failures": s.consecutive_failures, "last_error": s.last_error,
                })
            });
        json!({
            "origin": h.origin, "requests": h.requests, "attempts": h.attempts,
            "succeeded": h.succeeded, "failures": h.failures, "circuit_open": h.circuit_open,
            "connections_opened": h.connections.opened, "connections_reused": h.connections.reused,
            "health": health,
        })
    }
}

/// The warmup report for stderr: one line, plus one per host that did not warm up fully.
pub fn warmup(report: &WarmupReport) -> String {
    let mut t = format!(
        "httpbatch: warmup opened {} connections to {} hosts in {} ({} requests ok, {} failed)\n",
        report.opened(),
        report.hosts.len(),
        human_duration(report.elapsed),
        report.ok(),
        report.failed()
    );
    for h in report.hosts.iter().filter(|h| !h.all_ok()) {
        let statuses: Vec<String> = h.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        let _ = write!(
            t,
            "httpbatch: warmup of {}: {} of {} ok, {} opened",
            h.origin, h.ok, h.attempted, h.opened
        );
        if !statuses.is_empty() {
            let _ = write!(t, ", statuses {}", statuses.join(" "));
        }
        if let Some(e) = h.errors.first() {
            let _ = write!(t, ", e.g. {e}");
        }
        t.push('\n');
    }
    t
}

fn latency_line(l: &LatencySummary) -> String {
    if l.count == 0 {
        return "—".into();
    }
    format!(
        "p50 {} · p90 {} · p99 {} · max {} (mean {})",
        human_duration(l.p50),
        human_duration(l.p90),
        human_duration(l.p99),
        human_duration(l.max),
        human_duration(l.mean)
    )
}
