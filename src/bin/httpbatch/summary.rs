//! The end-of-run report: a table on stderr for people, and a JSON object for programs.

use std::fmt::Write as _;

use httpbatch::{BatchSummary, ErrorKind, LatencySummary};
use serde_json::{Value, json};

use crate::stack::LayerStats;
use crate::units::{human_duration, millis};

/// Everything the report shows.
#[derive(Debug, Clone, Copy)]
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
        let c = &self.stats.connections;
        let _ = writeln!(
            t,
            "{:<12} {} opened, {} reused, {} closed, {} live",
            "connections", c.opened, c.reused, c.closed, c.live
        );
        t
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
        ErrorKind::ALL
            .into_iter()
            .map(|k| (k, self.stats.batch.errors_of(k)))
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
                "opened": self.stats.connections.opened,
                "reused": self.stats.connections.reused,
                "closed": self.stats.connections.closed,
                "live": self.stats.connections.live,
                "requests": self.stats.connections.requests,
            },
        }})
    }
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
