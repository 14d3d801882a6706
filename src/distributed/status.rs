//! [`WorkList::status`]: where a work list stands, in total and per worker.

use redis::Value;

use super::conn;
use super::worklist::{GROUP, WorkList, int, text};
use crate::error::Error;

/// One worker's share, from [`WorkList::status`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkerStatus {
    /// The consumer name.
    pub name: String,
    /// Entries it has read and not acknowledged.
    pub pending: u64,
    /// Outcomes it recorded first that were successes.
    pub done: u64,
    /// Outcomes it recorded first that were failures.
    pub failed: u64,
}

/// Where a work list stands, from [`WorkList::status`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkListStatus {
    /// Requests submitted.
    pub total: u64,
    /// Not yet read by any worker.
    pub queued: u64,
    /// Read and not yet acknowledged (in flight, or held by a dead worker until reclaimed).
    pub pending: u64,
    /// Requests with a recorded outcome (dead-lettered ones included).
    pub recorded: u64,
    /// Recorded as failures (dead-lettered ones included).
    pub failed: u64,
    /// Dead-lettered: delivered too often without an outcome.
    pub dead: u64,
    /// Per worker, by name.
    pub workers: Vec<WorkerStatus>,
}

impl WorkListStatus {
    /// Every submitted request has an outcome.
    pub fn is_complete(&self) -> bool {
        self.recorded >= self.total
    }
}

impl WorkList {
    /// Queued, pending, recorded, failed and dead-lettered counts, in total and per worker.
    pub fn status(&self) -> Result<WorkListStatus, Error> {
        self.ensure_group()?;
        let mut pipe = redis::pipe();
        pipe.cmd("LLEN").arg(self.key("ids"));
        pipe.cmd("HLEN").arg(self.key("results"));
        pipe.cmd("LLEN").arg(self.key("dead"));
        pipe.cmd("XPENDING").arg(self.key("stream")).arg(GROUP);
        pipe.cmd("HGETALL").arg(self.key("ok"));
        pipe.cmd("HGETALL").arg(self.key("failed"));
        let v: Vec<Value> = self
            .redis
            .with(|c, n| {
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                pipe.query(c)
            })
            .map_err(|e| conn::error("status", e))?;
        let mut s = WorkListStatus {
            total: int(&v[0]),
            recorded: int(&v[1]),
            dead: int(&v[2]),
            ..WorkListStatus::default()
        };
        let mut workers: std::collections::BTreeMap<String, WorkerStatus> = Default::default();
        if let Value::Array(p) = &v[3] {
            s.pending = p.first().map_or(0, int);
            if let Some(Value::Array(per)) = p.get(3) {
                for row in per {
                    if let Value::Array(kv) = row {
                        if let Some(name) = kv.first().and_then(text) {
                            let w = workers.entry(name.clone()).or_default();
                            w.name = name;
                            w.pending = kv.get(1).map_or(0, int);
                        }
                    }
                }
            }
        }
        for (i, failed) in [(4, false), (5, true)] {
            let pairs = match &v[i] {
                Value::Array(a) => a
                    .chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect(),
                Value::Map(m) => m.clone(),
                _ => Vec::new(),
            };
            for (k, n) in pairs {
                let Some(name) = text(&k) else { continue };
                let w = workers.entry(name.clone()).or_default();
                w.name = name;
                if failed {
                    w.failed = int(&n);
                    s.failed += int(&n);
                } else {
                    w.done = int(&n);
                }
            }
        }
        s.queued = s.total.saturating_sub(s.recorded + s.pending);
        s.workers = workers.into_values().collect();
        Ok(s)
    }
}
