//! [`WorkList`]: requests in a Redis stream, read by workers through one consumer group, with one
//! recorded outcome per request id.
//!
//! Keys, all under the list's name `N`:
//! - `N:stream` — one entry per submitted request (fields `id`, `seq`, `payload`), read through
//!   the consumer group `workers`; an entry stays pending (owned by its reader) until acknowledged.
//! - `N:ids` — request ids in submission order (what `collect` in input order walks).
//! - `N:results` — id → outcome; written with HSETNX, so the first outcome recorded for an id is
//!   the only one, however many times the entry was delivered.
//! - `N:done` — ids in the order their outcome was first recorded; `N:dead` — dead-lettered ids.
//! - `N:ok`, `N:failed` — per-worker counts of the outcomes it recorded first.
//!
//! Invariants:
//! - Recording is one script (`RECORD`): HSETNX of the outcome, then (only if it was new) the
//!   completion list and the worker's count, then XACK — atomically, so an entry is acknowledged
//!   exactly when its id has an outcome, and a crash between the two cannot happen.
//! - Delivery is at least once: an entry read by a worker that dies stays pending and is claimed
//!   by another after the visibility timeout (XCLAIM with a minimum idle time, so only one
//!   claimer wins); one delivered `max_deliveries` times without an outcome is recorded as
//!   dead-lettered instead of being run again.

use std::time::Duration;

use redis::Value;

use super::conn::{self, Redis, Script};
use crate::error::{Error, ErrorKind};

pub(super) const GROUP: &str = "workers";

const RECORD: &str = r#"
local new = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if new == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  if ARGV[4] == '1' then
    redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
  else
    redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
  end
  if ARGV[7] == '1' then redis.call('RPUSH', KEYS[6], ARGV[1]) end
end
redis.call('XACK', KEYS[5], ARGV[5], ARGV[6])
return new
"#;

/// One delivered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stream entry's id (what is acknowledged).
    pub entry_id: String,
    /// The request id given at submission (what outcomes are keyed by).
    pub id: String,
    /// Position in submission order (0-based).
    pub seq: u64,
    /// The request as submitted (for the CLI: one input line, a URL or a JSON spec).
    pub payload: String,
    /// Times the entry was delivered, this delivery included.
    pub deliveries: u64,
}

/// One recorded outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The request id.
    pub id: String,
    /// The outcome as recorded (for the CLI: one JSON line).
    pub outcome: String,
}

/// A list of requests in Redis shared by any number of worker processes.
///
/// ```no_run
/// use httpbatch::distributed::WorkList;
/// let list = WorkList::open("redis://127.0.0.1:6379/0", "crawl")?;
/// list.submit([("a".to_string(), "http://127.0.0.1:8080/a".to_string())])?;
/// let entries = list.read("worker-1", 16, std::time::Duration::from_millis(100))?;
/// for e in &entries {
///     list.record("worker-1", e, "{\"status\":200}", false)?;
/// }
/// assert!(list.status()?.is_complete());
/// # Ok::<(), httpbatch::Error>(())
/// ```
pub struct WorkList {
    pub(super) redis: Redis,
    name: String,
    record: Script,
}

impl std::fmt::Debug for WorkList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkList")
            .field("name", &self.name)
            .finish()
    }
}

pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

pub(super) fn int(v: &Value) -> u64 {
    match v {
        Value::Int(i) => u64::try_from(*i).unwrap_or(0),
        other => text(other).and_then(|s| s.parse().ok()).unwrap_or(0),
    }
}

/// Entries of an XREADGROUP / XCLAIM reply (`[[id, [field, value, ...]], ...]`); deleted
/// entries (nil) are skipped.
fn entries(v: &Value, deliveries: impl Fn(&str) -> u64) -> Vec<Entry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Array(pair) = item else { continue };
        let (Some(entry_id), Some(Value::Array(fields))) =
            (pair.first().and_then(text), pair.get(1))
        else {
            continue;
        };
        let mut e = Entry {
            deliveries: deliveries(&entry_id),
            entry_id,
            id: String::new(),
            seq: 0,
            payload: String::new(),
        };
        for kv in fields.chunks(2) {
            match (kv.first().and_then(text).as_deref(), kv.get(1)) {
                (Some("id"), Some(v)) => e.id = text(v).unwrap_or_default(),
                (Some("seq"), Some(v)) => e.seq = int(v),
                (Some("payload"), Some(v)) => e.payload = text(v).unwrap_or_default(),
                _ => {}
            }
        }
        out.push(e);
    }
    out
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

impl WorkList {
    /// The work list `name` on the Redis at `url` (`redis://HOST:PORT/DB`). Connects lazily.
    pub fn open(url: &str, name: &str) -> Result<WorkList, Error> {
        if name.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "a work list needs a name",
            ));
        }
        Ok(WorkList {
            redis: Redis::open(url)?,
            name: name.to_owned(),
            record: Script::new(RECORD),
        })
    }

    pub(super) fn key(&self, part: &str) -> String {
        format!("{}:{part}", self.name)
    }

    /// Commands sent to Redis by this handle.
    pub fn round_trips(&self) -> u64 {
        self.redis.round_trips()
    }

    pub(super) fn ensure_group(&self) -> Result<(), Error> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(self.key("stream"))
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        match self.redis.query::<()>(&cmd) {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map_err(|e| conn::error("creating the consumer group", e)),
        }
    }

    /// Appends requests as `(id, payload)` pairs, in order; returns how many. Ids should be
    /// unique within the list: outcomes are keyed by id, so a repeated id gets one outcome.
    pub fn submit<I>(&self, items: I) -> Result<u64, Error>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        self.ensure_group()?;
        let stream = self.key("stream");
        let ids = self.key("ids");
        let mut seq: u64 = self
            .redis
            .query(redis::cmd("LLEN").arg(&ids))
            .map_err(|e| conn::error("submit", e))?;
        let start = seq;
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let mut pipe = redis::pipe();
            for (id, payload) in items.by_ref().take(500) {
                pipe.cmd("XADD")
                    .arg(&stream)
                    .arg("*")
                    .arg("id")
                    .arg(&id)
                    .arg("seq")
                    .arg(seq)
                    .arg("payload")
                    .arg(payload)
                    .ignore();
                pipe.cmd("RPUSH").arg(&ids).arg(&id).ignore();
                seq += 1;
            }
            self.redis
                .with(|c, n| {
                    n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    pipe.query::<()>(c)
                })
                .map_err(|e| conn::error("submit", e))?;
        }
        Ok(seq - start)
    }

    /// Reads up to `count` new entries for `consumer`, waiting up to `block` for some.
    pub fn read(&self, consumer: &str, count: usize, block: Duration) -> Result<Vec<Entry>, Error> {
        self.ensure_group()?;
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(count.max(1))
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(self.key("stream"))
            .arg(">");
        let v: Value = self
            .redis
            .query(&cmd)
            .map_err(|e| conn::error("reading the stream", e))?;
        let Value::Array(streams) = v else {
            return Ok(Vec::new());
        };
        Ok(streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(kv) => kv.get(1).map(|v| entries(v, |_| 1)),
                _ => None,
            })
            .flatten()
            .collect())
    }

    /// Claims for `consumer` up to `count` entries other workers have held for at least
    /// `visibility` without acknowledging them (a dead or stuck worker). An entry already
    /// delivered `max_deliveries` times is recorded as dead-lettered instead (by `consumer`) and
    /// not returned. Returns the claimed entries and how many were dead-lettered.
    ///
    /// A live worker's entry is claimed too once it has been in flight longer than
    /// `visibility`: choose a visibility timeout above the longest request (retries included).
    pub fn reclaim(
        &self,
        consumer: &str,
        visibility: Duration,
        max_deliveries: u64,
        count: usize,
    ) -> Result<(Vec<Entry>, u64), Error> {
        self.reclaim_except(consumer, visibility, max_deliveries, count, &|_| true)
    }

    /// [`reclaim`](Self::reclaim), also taking back `consumer`'s own entries that `held` says
    /// it no longer holds (released, or lost to an error), while it keeps the ones in flight.
    pub(crate) fn reclaim_except(
        &self,
        consumer: &str,
        visibility: Duration,
        max_deliveries: u64,
        count: usize,
        held: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<Entry>, u64), Error> {
        let idle = visibility.as_millis().max(1) as u64;
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(self.key("stream"))
            .arg(GROUP)
            .arg("IDLE")
            .arg(idle)
            .arg("-")
            .arg("+")
            .arg(count.max(1));
        // Never our own entries in flight here.
        self.claim(consumer, &cmd, idle, max_deliveries, |owner, id| {
            owner != consumer || !held(id)
        })
    }

    /// Claims again the entries left pending under `consumer`'s own name by an earlier life of
    /// it (a worker restarted with the same name), whatever their idle time; dead-letters those
    /// delivered `max_deliveries` times. Call it once when a worker starts.
    pub fn recover(
        &self,
        consumer: &str,
        max_deliveries: u64,
        count: usize,
    ) -> Result<(Vec<Entry>, u64), Error> {
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(self.key("stream"))
            .arg(GROUP)
            .arg("-")
            .arg("+")
            .arg(count.max(1))
            .arg(consumer);
        self.claim(consumer, &cmd, 0, max_deliveries, |_, _| true)
    }

    fn claim(
        &self,
        consumer: &str,
        pending: &redis::Cmd,
        idle: u64,
        max_deliveries: u64,
        take: impl Fn(&str, &str) -> bool,
    ) -> Result<(Vec<Entry>, u64), Error> {
        self.ensure_group()?;
        let stream = self.key("stream");
        let v: Value = self
            .redis
            .query(pending)
            .map_err(|e| conn::error("reading pending entries", e))?;
        let Value::Array(rows) = v else {
            return Ok((Vec::new(), 0));
        };
        let mut claim = Vec::new();
        let mut dead = Vec::new();
        for row in &rows {
            let Value::Array(f) = row else { continue };
            let (Some(id), Some(owner), Some(n)) = (
                f.first().and_then(text),
                f.get(1).and_then(text),
                f.get(3).map(int),
            ) else {
                continue;
            };
            if !take(&owner, &id) {
                continue;
            }
            if n >= max_deliveries {
                dead.push((id, n));
            } else {
                claim.push((id, n));
            }
        }
        let xclaim = |ids: &[(String, u64)]| -> Result<Value, Error> {
            let mut cmd = redis::cmd("XCLAIM");
            cmd.arg(&stream).arg(GROUP).arg(consumer).arg(idle);
            for (id, _) in ids {
                cmd.arg(id);
            }
            self.redis
                .query(&cmd)
                .map_err(|e| conn::error("claiming entries", e))
        };
        let mut dead_count = 0;
        if !dead.is_empty() {
            let v = xclaim(&dead)?;
            for e in entries(&v, |id| dead.iter().find(|d| d.0 == id).map_or(0, |d| d.1)) {
                let line = format!(
                    "{{\"id\":\"{}\",\"index\":{},\"outcome\":\"error\",\"error\":{{\"kind\":\"dead_letter\",\"message\":\"delivered {} times without an outcome\"}}}}",
                    json_escape(&e.id),
                    e.seq,
                    e.deliveries
                );
                self.record_as(consumer, &e, &line, true, true)?;
                dead_count += 1;
            }
        }
        if claim.is_empty() {
            return Ok((Vec::new(), dead_count));
        }
        let v = xclaim(&claim)?;
        let got = entries(&v, |id| {
            claim.iter().find(|c| c.0 == id).map_or(1, |c| c.1 + 1)
        });
        Ok((got, dead_count))
    }

    /// Whether `id` already has an outcome.
    pub fn is_recorded(&self, id: &str) -> Result<bool, Error> {
        self.redis
            .query(redis::cmd("HEXISTS").arg(self.key("results")).arg(id))
            .map_err(|e| conn::error("reading results", e))
    }

    /// The outcome recorded for `id`, if it has one.
    pub fn outcome(&self, id: &str) -> Result<Option<String>, Error> {
        self.redis
            .query(redis::cmd("HGET").arg(self.key("results")).arg(id))
            .map_err(|e| conn::error("reading results", e))
    }

    /// Acknowledges `entry` without recording anything (its id already has an outcome).
    pub fn ack(&self, entry: &Entry) -> Result<(), Error> {
        self.redis
            .query(
                redis::cmd("XACK")
                    .arg(self.key("stream"))
                    .arg(GROUP)
                    .arg(&entry.entry_id),
            )
            .map_err(|e| conn::error("acknowledging", e))
    }

    /// Records `outcome` for `entry`'s id unless one is recorded already, and acknowledges the
    /// entry, atomically. Returns whether this outcome was the one recorded.
    pub fn record(
        &self,
        consumer: &str,
        entry: &Entry,
        outcome: &str,
        failed: bool,
    ) -> Result<bool, Error> {
        self.record_as(consumer, entry, outcome, failed, false)
    }

    /// [`record`](Self::record) for many outcomes in one round trip: `(entry, outcome, failed)`.
    /// Returns, for each, whether its outcome was the one recorded.
    pub fn record_many(
        &self,
        consumer: &str,
        outcomes: &[(Entry, String, bool)],
    ) -> Result<Vec<bool>, Error> {
        let calls: Vec<(Vec<String>, Vec<String>)> = outcomes
            .iter()
            .map(|(e, o, failed)| self.record_call(consumer, e, o, *failed, false))
            .collect();
        let v = self
            .redis
            .eval_many(&self.record, &calls)
            .map_err(|e| conn::error("recording outcomes", e))?;
        Ok(v.iter().map(|v| int(v) == 1).collect())
    }

    fn record_call(
        &self,
        consumer: &str,
        entry: &Entry,
        outcome: &str,
        failed: bool,
        dead: bool,
    ) -> (Vec<String>, Vec<String>) {
        let keys = ["results", "done", "ok", "failed", "stream", "dead"]
            .iter()
            .map(|k| self.key(k))
            .collect();
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        let args = vec![
            entry.id.clone(),
            outcome.to_owned(),
            consumer.to_owned(),
            flag(failed),
            GROUP.to_owned(),
            entry.entry_id.clone(),
            flag(dead),
        ];
        (keys, args)
    }

    fn record_as(
        &self,
        consumer: &str,
        entry: &Entry,
        outcome: &str,
        failed: bool,
        dead: bool,
    ) -> Result<bool, Error> {
        let (keys, args) = self.record_call(consumer, entry, outcome, failed, dead);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let v = self
            .redis
            .eval(&self.record, &keys, &args)
            .map_err(|e| conn::error("recording an outcome", e))?;
        Ok(int(&v) == 1)
    }

    /// Outcomes in submission order from position `from`, up to `count`: `None` where the
    /// request has no outcome yet.
    pub fn in_order(&self, from: u64, count: u64) -> Result<Vec<(String, Option<String>)>, Error> {
        let ids: Vec<String> = self
            .redis
            .query(
                redis::cmd("LRANGE")
                    .arg(self.key("ids"))
                    .arg(from)
                    .arg(from + count.max(1) - 1),
            )
            .map_err(|e| conn::error("reading ids", e))?;
        self.outcomes(ids)
    }

    /// Outcomes in the order they were recorded, from position `from`, up to `count`.
    pub fn completed(&self, from: u64, count: u64) -> Result<Vec<Record>, Error> {
        let ids: Vec<String> = self
            .redis
            .query(
                redis::cmd("LRANGE")
                    .arg(self.key("done"))
                    .arg(from)
                    .arg(from + count.max(1) - 1),
            )
            .map_err(|e| conn::error("reading outcomes", e))?;
        Ok(self
            .outcomes(ids)?
            .into_iter()
            .map(|(id, o)| Record {
                id,
                outcome: o.unwrap_or_default(),
            })
            .collect())
    }

    fn outcomes(&self, ids: Vec<String>) -> Result<Vec<(String, Option<String>)>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<String>> = self
            .redis
            .query(redis::cmd("HMGET").arg(self.key("results")).arg(&ids))
            .map_err(|e| conn::error("reading outcomes", e))?;
        Ok(ids.into_iter().zip(values).collect())
    }

    /// Deletes every key of the list (stream, results, counts).
    pub fn clear(&self) -> Result<(), Error> {
        let mut cmd = redis::cmd("DEL");
        for part in ["stream", "ids", "results", "done", "dead", "ok", "failed"] {
            cmd.arg(self.key(part));
        }
        self.redis
            .query::<()>(&cmd)
            .map_err(|e| conn::error("clear", e))
    }
}
