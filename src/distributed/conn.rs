//! Connections to one Redis server, shared by the threads of one process, and script calls.
//!
//! Invariants:
//! - A connection is used by one thread at a time: it is taken out of `idle`, used, and put back
//!   only after a call that succeeded. A connection that failed is dropped (a half-read reply
//!   would poison the next call), so a restarted server is reached through a fresh one.
//! - `round_trips` counts every command sent to the server (a NOSCRIPT answer and the EVAL that
//!   follows it are two), so the figure users see is counted where it happens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::{Client, Connection, Value};

use crate::error::{Error, ErrorKind};

/// How long connecting and each reply may take before the server counts as unreachable.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// A script run with EVALSHA, and with EVAL when the server does not know it (NOSCRIPT: a fresh
/// or restarted server, a `SCRIPT FLUSH`).
pub(crate) struct Script {
    code: &'static str,
    sha: String,
}

impl Script {
    pub(crate) fn new(code: &'static str) -> Script {
        Script {
            code,
            sha: redis::Script::new(code).get_hash().to_owned(),
        }
    }
}

pub(crate) struct Redis {
    client: Client,
    idle: Mutex<Vec<Connection>>,
    round_trips: AtomicU64,
}

/// Whether `e` means the server could not be reached or answered nothing (as opposed to a reply
/// that says the call was wrong).
pub(crate) fn is_unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
        )
}

/// Our error for a Redis failure: [`ErrorKind::Io`] when the server is unreachable,
/// [`ErrorKind::Protocol`] for a reply we did not expect; the Redis error is the source.
pub(crate) fn error(what: &str, e: redis::RedisError) -> Error {
    let kind = if is_unreachable(&e) {
        ErrorKind::Io
    } else {
        ErrorKind::Protocol
    };
    Error::with_source(kind, format!("redis: {what}: {e}"), e)
}

impl Redis {
    /// Parses `url` (`redis://[user:pass@]host:port/db`); connects lazily.
    pub(crate) fn open(url: &str) -> Result<Redis, Error> {
        let client = Client::open(url).map_err(|e| {
            Error::with_source(
                ErrorKind::InvalidConfig,
                format!("invalid Redis URL {url:?}: {e}"),
                e,
            )
        })?;
        Ok(Redis {
            client,
            idle: Mutex::new(Vec::new()),
            round_trips: AtomicU64::new(0),
        })
    }

    pub(crate) fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn connect(&self) -> redis::RedisResult<Connection> {
        let c = self.client.get_connection_with_timeout(IO_TIMEOUT)?;
        c.set_read_timeout(Some(IO_TIMEOUT))?;
        c.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(c)
    }

    /// Runs `f` on a connection of the pool; `f` counts the commands it sends.
    ///
    /// An idle connection may have been closed by the server meanwhile (a restart, a timeout,
    /// `CLIENT KILL`): if one fails that way, `f` runs once more on a fresh connection. Every
    /// caller's commands tolerate that (XADD of a request twice is deduplicated by id, the
    /// recording script is idempotent, an admission taken twice only wastes a token).
    pub(crate) fn with<T>(
        &self,
        mut f: impl FnMut(&mut Connection, &AtomicU64) -> redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        let pooled = self.idle.lock().pop();
        let (c, out) = match pooled {
            Some(mut c) => match f(&mut c, &self.round_trips) {
                Err(e) if is_unreachable(&e) && !e.is_timeout() => {
                    let mut fresh = self.connect()?;
                    let out = f(&mut fresh, &self.round_trips);
                    (fresh, out)
                }
                out => (c, out),
            },
            None => {
                let mut c = self.connect()?;
                let out = f(&mut c, &self.round_trips);
                (c, out)
            }
        };
        let out = out?;
        self.idle.lock().push(c);
        Ok(out)
    }

    /// One command.
    pub(crate) fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> redis::RedisResult<T> {
        self.with(|c, n| {
            n.fetch_add(1, Ordering::Relaxed);
            cmd.query(c)
        })
    }

    /// Runs `script` once per `(keys, args)` in one pipeline (one round trip); on NOSCRIPT it
    /// loads the script and sends the pipeline again (each call must tolerate running twice).
    pub(crate) fn eval_many(
        &self,
        script: &Script,
        calls: &[(Vec<String>, Vec<String>)],
    ) -> redis::RedisResult<Vec<Value>> {
        let mut pipe = redis::pipe();
        for (keys, args) in calls {
            pipe.cmd("EVALSHA")
                .arg(&script.sha)
                .arg(keys.len())
                .arg(keys)
                .arg(args);
        }
        self.with(|c, n| {
            n.fetch_add(1, Ordering::Relaxed);
            match pipe.query(c) {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    n.fetch_add(2, Ordering::Relaxed);
                    redis::cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(script.code)
                        .query::<()>(c)?;
                    pipe.query(c)
                }
                other => other,
            }
        })
    }

    /// Runs `script` with `keys` and `args`: EVALSHA, then EVAL if the server answers NOSCRIPT.
    pub(crate) fn eval(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[String],
    ) -> redis::RedisResult<Value> {
        self.with(|c, n| {
            let call = |name: &str, body: &str| {
                let mut cmd = redis::cmd(name);
                cmd.arg(body).arg(keys.len()).arg(keys).arg(args);
                cmd
            };
            n.fetch_add(1, Ordering::Relaxed);
            match call("EVALSHA", &script.sha).query(c) {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    n.fetch_add(1, Ordering::Relaxed);
                    call("EVAL", script.code).query(c)
                }
                other => other,
            }
        })
    }
}
