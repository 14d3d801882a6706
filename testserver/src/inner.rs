//! The state shared by the `Server` handle, the accept thread and the handlers, and the accept
//! loop. The invariants are stated at the top of `lib.rs`.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::{Arrival, Mode, conn};

/// Per-path count shards; a power of two well above the core count.
pub(crate) const PATH_SHARDS: usize = 16;

/// One shard of the per-path request counts, keyed by path without query.
type PathCounts = Mutex<HashMap<Box<str>, u64>>;

/// State shared by the `Server` handle, the accept thread and the handlers.
pub(crate) struct Inner {
    pub(crate) record_arrivals: bool,
    pub(crate) stopping: AtomicBool,
    pub(crate) mode: AtomicU8,
    pub(crate) wake_lock: Mutex<()>,
    pub(crate) wake: Condvar,
    pub(crate) next_conn: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) open: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) max_in_flight: AtomicU64,
    pub(crate) paths: Box<[PathCounts]>,
    pub(crate) arrivals: Mutex<Vec<Arrival>>,
    /// `/seq`, `/flaky`, `/limited` counters, keyed `"seq/KEY"` etc. Off the hot path.
    pub(crate) sequences: Mutex<HashMap<String, u64>>,
    pub(crate) conns: Mutex<HashMap<u64, Arc<TcpStream>>>,
    pub(crate) handlers: Mutex<Vec<JoinHandle<()>>>,
    /// Handlers that panicked (a bug: client input must never panic one). Read by tests.
    pub(crate) handler_panics: AtomicU64,
}

/// What a handler may do next, decided by [`Inner::settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Handle the request by its route.
    Proceed,
    /// Answer 503.
    Unavailable,
    /// Close the connection without answering (Mode::Reset or stopping).
    Close,
}

impl Inner {
    pub(crate) fn new(record_arrivals: bool) -> Inner {
        Inner {
            record_arrivals,
            stopping: AtomicBool::new(false),
            mode: AtomicU8::new(Mode::Normal.as_u8()),
            wake_lock: Mutex::new(()),
            wake: Condvar::new(),
            next_conn: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            paths: (0..PATH_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            arrivals: Mutex::new(Vec::new()),
            sequences: Mutex::new(HashMap::new()),
            conns: Mutex::new(HashMap::new()),
            handlers: Mutex::new(Vec::new()),
            handler_panics: AtomicU64::new(0),
        }
    }

    pub(crate) fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::SeqCst))
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn reset_max_in_flight(&self) {
        let now = self.in_flight.load(Ordering::Relaxed);
        self.max_in_flight.store(now, Ordering::Relaxed);
    }

    pub(crate) fn requests_for(&self, path_prefix: &str) -> u64 {
        self.paths
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .iter()
                    .filter(|(path, _)| path.starts_with(path_prefix))
                    .map(|(_, n)| *n)
                    .sum::<u64>()
            })
            .sum()
    }

    pub(crate) fn reset_counters(&self) {
        self.accepted.store(0, Ordering::Relaxed);
        self.requests.store(0, Ordering::Relaxed);
        self.reset_max_in_flight();
        for shard in self.paths.iter() {
            shard.lock().clear();
        }
        self.arrivals.lock().clear();
        self.sequences.lock().clear();
    }

    /// Takes a connection out of `accepted` and `open_connections`: its first request was a
    /// control request (`/__stats`, `/__reset`), so a test reading the counters over HTTP does
    /// not count its own reading.
    pub(crate) fn uncount_connection(&self) {
        // Saturating: a reset between the accept and now may have zeroed `accepted` already.
        let _ = self
            .accepted
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
        self.end_connection();
    }

    /// The counters as one JSON object (the `/__stats` answer); with a `path_prefix`, also
    /// `requests_for` that prefix.
    pub(crate) fn stats_json(&self, path_prefix: Option<&str>) -> String {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let mut json = format!(
            "{{\"accepted\":{},\"open_connections\":{},\"requests\":{},\"in_flight\":{},\
             \"max_in_flight\":{}",
            load(&self.accepted),
            load(&self.open),
            load(&self.requests),
            load(&self.in_flight),
            load(&self.max_in_flight),
        );
        if let Some(prefix) = path_prefix {
            json.push_str(&format!(",\"requests_for\":{}", self.requests_for(prefix)));
        }
        json.push('}');
        json
    }

    /// Blocks while the server mode says so (Hang) or until `until` (a `/delay`), and says what
    /// to do then. Wakes at once on a mode change or stop.
    pub(crate) fn settle(&self, until: Option<Instant>) -> Settle {
        // Hot path: no lock when there is nothing to wait for. A concurrent mode change may be
        // missed by this one request, which is indistinguishable from it arriving just before.
        if until.is_none() && !self.stopping() && self.mode() == Mode::Normal {
            return Settle::Proceed;
        }
        let mut g = self.wake_lock.lock();
        loop {
            if self.stopping() {
                return Settle::Close;
            }
            match self.mode() {
                Mode::Reset => return Settle::Close,
                Mode::Unavailable => return Settle::Unavailable,
                Mode::Hang => self.wake.wait(&mut g),
                Mode::Normal => match until {
                    Some(t) if Instant::now() < t => {
                        self.wake.wait_until(&mut g, t);
                    }
                    _ => return Settle::Proceed,
                },
            }
        }
    }

    /// Counts a request whose head is complete. `path` is without the query.
    pub(crate) fn count_request(&self, shard: usize, method: &str, target: &str, path: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);
        {
            let mut paths = self.paths[shard % PATH_SHARDS].lock();
            match paths.get_mut(path) {
                Some(n) => *n += 1,
                None => {
                    paths.insert(path.into(), 1);
                }
            }
        }
        if self.record_arrivals {
            let arrival = Arrival {
                at: Instant::now(),
                method: method.to_owned(),
                path: target.to_owned(),
            };
            self.arrivals.lock().push(arrival);
        }
    }

    pub(crate) fn end_request(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn end_connection(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Returns the 0-based index of this request to `key` and advances it.
    /// Runs `f` on the value of sequence `key` (0 when new) under the sequences lock.
    pub(crate) fn with_sequence<R>(&self, key: &str, f: impl FnOnce(&mut u64) -> R) -> R {
        let mut seqs = self.sequences.lock();
        match seqs.get_mut(key) {
            Some(v) => f(v),
            None => f(seqs.entry(key.to_owned()).or_insert(0)),
        }
    }

    pub(crate) fn next_in_sequence(&self, key: &str) -> u64 {
        let mut seqs = self.sequences.lock();
        match seqs.get_mut(key) {
            Some(n) => {
                *n += 1;
                *n - 1
            }
            None => {
                seqs.insert(key.to_owned(), 1);
                0
            }
        }
    }
}

pub(crate) fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let mut prune_at = 64;
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) if inner.stopping() => return,
            Err(_) => {
                // Out of descriptors or similar: back off briefly instead of spinning, waking
                // early on stop.
                let mut g = inner.wake_lock.lock();
                if !inner.stopping() {
                    inner.wake.wait_for(&mut g, Duration::from_millis(10));
                }
                continue;
            }
        };
        let id = inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let stream = Arc::new(stream);
        {
            let mut conns = inner.conns.lock();
            if inner.stopping() {
                return;
            }
            conns.insert(id, stream.clone());
            inner.accepted.fetch_add(1, Ordering::Relaxed);
            inner.open.fetch_add(1, Ordering::Relaxed);
        }
        let conn_inner = inner.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("httpbatch-loopback-conn-{id}"))
            .stack_size(256 * 1024)
            .spawn(move || conn::serve(conn_inner, stream, id));
        match spawned {
            Ok(handle) => {
                let mut handlers = inner.handlers.lock();
                handlers.push(handle);
                // Finished handlers need no join; drop them now and then so a long-running
                // server with connection churn keeps a bounded list.
                if handlers.len() >= prune_at {
                    handlers.retain(|h| !h.is_finished());
                    prune_at = (handlers.len() * 2).max(64);
                }
            }
            Err(_) => {
                if inner.conns.lock().remove(&id).is_some() {
                    inner.end_connection();
                }
            }
        }
    }
}
