//! A response cache that follows HTTP's caching rules (RFC 9111), in memory and on disk.
//!
//! [`CachedExecutor`] is a layer like the others: it wraps an inner [`Execute`](crate::Execute)
//! and answers what it can from an [`HttpCache`]. Put it **above the rate limiter** (and above
//! in-flight dedup), so a hit costs no token, no pool slot and no connection:
//!
//! ```text
//! BatchExecutor ─ CachedExecutor ─ [Dedup] ─ RateLimitedExecutor ─ ConnectionPool ─ socket
//! ```
//!
//! With dedup below the cache, concurrent misses for one URL become one wire request (dedup
//! shares it), and each caller's copy is stored — the same response, so the last store wins
//! with the same bytes. Dedup above the cache would work too, but would share hits needlessly.
//!
//! What is stored and for how long is decided by the `http-cache-semantics` crate:
//! `Cache-Control` (`max-age`, `s-maxage`, `no-store`, `no-cache`, `private`,
//! `must-revalidate`, …), `Expires`, `Vary`; heuristic freshness (from `Last-Modified`) is off
//! by default. Only `GET` and `HEAD` are answered from the cache; a successful `POST`, `PUT`,
//! `PATCH` or `DELETE` invalidates what is stored for its URL. A stale entry with a validator
//! is revalidated (`If-None-Match` / `If-Modified-Since`), and a `304` becomes the stored
//! response with its headers updated ([`CacheStatus::Revalidated`]).
//!
//! Each request can choose a [`CacheMode`] with the [`CACHE_MODE_HEADER`] header, which the
//! layer removes before anything is sent. Every response that passed through says how it was
//! answered: [`Response::cache_status`](crate::Response::cache_status).
//!
//! ```
//! use httpbatch::{CacheMode, CacheStatus, CachedExecutor, Execute, Context, HttpCache, HttpClient, Request};
//! use httpbatch_testserver::Server;
//!
//! let server = Server::start()?;
//! let cache = HttpCache::builder().memory(8 << 20, 10_000).build()?;
//! let client = HttpClient::new();
//! let cached = CachedExecutor::new(client.clone(), cache.clone());
//! let url = server.url("/cacheable/doc?cc=max-age%3D60");
//!
//! let first = cached.execute(Request::get(&url)?, &Context::new())?;
//! let second = cached.execute(Request::get(&url)?, &Context::new())?;
//! assert_eq!(first.cache_status(), Some(CacheStatus::Miss));
//! assert_eq!(second.cache_status(), Some(CacheStatus::Hit));
//! assert_eq!(second.body(), first.body());
//! assert_eq!(server.requests(), 1); // the hit never reached the server
//!
//! // A forced refresh goes to the server.
//! let req = Request::builder(httpbatch::Method::Get, &url)
//!     .header(httpbatch::CACHE_MODE_HEADER, CacheMode::Refresh.as_str())
//!     .build()?;
//! assert_eq!(cached.execute(req, &Context::new())?.cache_status(), Some(CacheStatus::Miss));
//! assert_eq!(cache.stats().hits, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod disk;
mod entry;
mod executor;
mod memory;
mod policy;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};

pub use executor::CachedExecutor;

use disk::DiskStore;
use entry::Entry;
use memory::MemoryStore;

/// The request header that carries a per-request [`CacheMode`]; the cache layer removes it, so
/// it never reaches the wire. Its value is [`CacheMode::as_str`].
pub const CACHE_MODE_HEADER: &str = "x-httpbatch-cache";

/// How one request (or, as [`HttpCacheBuilder::mode`], every request) uses the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CacheMode {
    /// HTTP's rules: a fresh entry answers, a stale one is revalidated, a miss goes to the
    /// server and is stored if allowed.
    #[default]
    Default,
    /// Go to the server even when fresh (revalidating with the stored validators, so an
    /// unchanged resource still costs no body), and store the answer.
    Refresh,
    /// Answer only from a fresh entry; otherwise a `504` made by the cache, nothing on the wire
    /// (RFC 9111 `only-if-cached`).
    OnlyIfCached,
    /// Neither read nor write the cache.
    Bypass,
}

impl CacheMode {
    /// The mode's name: `default`, `refresh`, `only-if-cached`, `bypass`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::Default => "default",
            CacheMode::Refresh => "refresh",
            CacheMode::OnlyIfCached => "only-if-cached",
            CacheMode::Bypass => "bypass",
        }
    }

    /// Parses a mode name (as [`as_str`](Self::as_str) gives it; `only-cached` too); anything
    /// else is [`ErrorKind::InvalidConfig`].
    pub fn parse(name: &str) -> Result<CacheMode, Error> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "default" => CacheMode::Default,
            "refresh" => CacheMode::Refresh,
            "only-if-cached" | "only-cached" => CacheMode::OnlyIfCached,
            "bypass" => CacheMode::Bypass,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "unknown cache mode {name:?}: want default, refresh, only-if-cached or bypass"
                    ),
                ));
            }
        })
    }
}

/// A snapshot of a cache's counters, from [`HttpCache::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Answered from a fresh entry, nothing on the wire.
    pub hits: u64,
    /// Went to the server without a usable entry (`only-if-cached` misses included).
    pub misses: u64,
    /// Stale entries sent to the server with validators.
    pub revalidations: u64,
    /// Revalidations the server answered `304 Not Modified` (the stored body was used).
    pub not_modified: u64,
    /// Requests that did not use the cache (bypass, own validators, unsafe methods).
    pub bypassed: u64,
    /// Responses written to the store (new or updated).
    pub stored: u64,
    /// Entries removed to stay within the bounds.
    pub evictions: u64,
    /// Entries held now (the memory store's, else the disk store's as this process knows it).
    pub entries: u64,
    /// Bytes held now (same store as `entries`).
    pub bytes_stored: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) revalidations: AtomicU64,
    pub(crate) not_modified: AtomicU64,
    pub(crate) bypassed: AtomicU64,
    pub(crate) stored: AtomicU64,
    pub(crate) evictions: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) struct Inner {
    pub(crate) memory: Option<MemoryStore>,
    pub(crate) disk: Option<DiskStore>,
    pub(crate) mode: CacheMode,
    pub(crate) opts: http_cache_semantics::CacheOptions,
    pub(crate) max_entry_size: u64,
    pub(crate) counters: Counters,
    clock: Arc<dyn Clock>,
    anchor: (Instant, SystemTime),
}

/// A response cache: a memory store, a disk store, or both (memory in front). A shared handle:
/// clones use the same stores and counters. Put it in a stack with [`CachedExecutor`].
///
/// ```
/// use httpbatch::HttpCache;
/// let dir = std::env::temp_dir().join(format!("httpbatch-doc-cache-{}", std::process::id()));
/// let cache = HttpCache::builder().memory(64 << 20, 100_000).disk(&dir, 1 << 30).build()?;
/// assert_eq!(cache.stats().hits, 0);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), httpbatch::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpCache {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for HttpCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCache")
            .field("memory", &self.inner.memory.is_some())
            .field("disk", &self.inner.disk.is_some())
            .field("mode", &self.inner.mode)
            .finish()
    }
}

impl HttpCache {
    /// A builder; see [`HttpCacheBuilder`].
    pub fn builder() -> HttpCacheBuilder {
        HttpCacheBuilder::default()
    }

    /// The counters now.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        let (entries, bytes_stored) = match (&self.inner.memory, &self.inner.disk) {
            (Some(m), _) => m.usage(),
            (None, Some(d)) => d.usage(),
            (None, None) => (0, 0),
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CacheStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            revalidations: get(&c.revalidations),
            not_modified: get(&c.not_modified),
            bypassed: get(&c.bypassed),
            stored: get(&c.stored),
            evictions: get(&c.evictions),
            entries,
            bytes_stored,
        }
    }

    /// Zeroes the counters (not the stored entries).
    pub fn reset_stats(&self) {
        let c = &self.inner.counters;
        for a in [
            &c.hits,
            &c.misses,
            &c.revalidations,
            &c.not_modified,
            &c.bypassed,
            &c.stored,
            &c.evictions,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// Empties the memory store (the disk store is left as it is: other processes may use it).
    pub fn clear_memory(&self) {
        if let Some(m) = &self.inner.memory {
            m.clear();
        }
    }

    /// The mode of requests that do not choose one.
    pub fn mode(&self) -> CacheMode {
        self.inner.mode
    }

    pub(crate) fn now(&self) -> SystemTime {
        let (at, sys) = self.inner.anchor;
        sys + self.inner.clock.now().saturating_duration_since(at)
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<Entry>> {
        if let Some(e) = self.inner.memory.as_ref().and_then(|m| m.get(key)) {
            return Some(e);
        }
        let e = self.inner.disk.as_ref()?.get(key)?;
        if let Some(m) = &self.inner.memory {
            self.count_evictions(m.put(e.clone()));
        }
        Some(e)
    }

    pub(crate) fn put(&self, entry: Entry) {
        if entry.body.len() as u64 > self.inner.max_entry_size {
            self.remove(&entry.key);
            return;
        }
        if let Some(d) = &self.inner.disk {
            // A disk that refuses a write costs the next run a miss, not this request an error.
            if let Ok(n) = d.put(&entry) {
                self.count_evictions(n);
            }
        }
        if let Some(m) = &self.inner.memory {
            self.count_evictions(m.put(Arc::new(entry)));
        }
        bump(&self.inner.counters.stored);
    }

    pub(crate) fn remove(&self, key: &str) {
        if let Some(m) = &self.inner.memory {
            m.remove(key);
        }
        if let Some(d) = &self.inner.disk {
            d.remove(key);
        }
    }

    fn count_evictions(&self, n: u64) {
        self.inner
            .counters
            .evictions
            .fetch_add(n, Ordering::Relaxed);
    }

    /// The file that holds the disk entry for `GET url`, when there is a disk store: for tools
    /// and tests that inspect or damage it. The file may not exist.
    pub fn disk_path(&self, url: &str) -> Option<PathBuf> {
        Some(self.inner.disk.as_ref()?.path_of(&format!("GET {url}")))
    }
}

/// Builds an [`HttpCache`].
#[must_use]
#[derive(Debug)]
pub struct HttpCacheBuilder {
    memory: Option<(u64, usize)>,
    disk: Option<(PathBuf, u64)>,
    mode: CacheMode,
    shared: bool,
    heuristic: f32,
    max_entry_size: u64,
    clock: Option<Arc<dyn Clock>>,
}

impl Default for HttpCacheBuilder {
    fn default() -> Self {
        HttpCacheBuilder {
            memory: None,
            disk: None,
            mode: CacheMode::Default,
            shared: true,
            heuristic: 0.0,
            max_entry_size: 10 * 1024 * 1024,
            clock: None,
        }
    }
}

impl HttpCacheBuilder {
    /// Keeps entries in memory, at most `max_bytes` and `max_entries` of them, least recently
    /// used evicted first. Defaults to no memory store.
    pub fn memory(mut self, max_bytes: u64, max_entries: usize) -> Self {
        self.memory = Some((max_bytes, max_entries));
        self
    }

    /// Keeps entries on disk in `dir` (created if needed), at most about `max_bytes`. The
    /// directory survives restarts and may be shared by several processes: each entry is written
    /// to a temporary file and renamed into place, and carries its key and a CRC-32, so a
    /// damaged or half-written file is a miss. Defaults to no disk store.
    pub fn disk(mut self, dir: impl AsRef<Path>, max_bytes: u64) -> Self {
        self.disk = Some((dir.as_ref().to_owned(), max_bytes));
        self
    }

    /// The mode of requests that do not carry [`CACHE_MODE_HEADER`]. Defaults to
    /// [`CacheMode::Default`].
    pub fn mode(mut self, mode: CacheMode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether the cache follows the rules of a shared cache: `private` responses and
    /// responses to requests with `Authorization` (unless marked public) are not stored, and
    /// `s-maxage` counts. Set `false` for a cache used by one user only. Defaults to `true`
    /// (the cautious choice for a disk directory several jobs may share).
    pub fn shared(mut self, shared: bool) -> Self {
        self.shared = shared;
        self
    }

    /// Heuristic freshness: responses without an explicit lifetime but with `Last-Modified`
    /// stay fresh for this fraction of their age (RFC 9111 §4.2.2; browsers use `0.1`).
    /// Defaults to `0` (off: only explicit lifetimes count).
    pub fn heuristic_fraction(mut self, fraction: f32) -> Self {
        self.heuristic = fraction;
        self
    }

    /// The largest body stored; a larger response is passed on but not stored. The client's
    /// body limit bounds what can arrive at all. Defaults to `10 MiB`.
    pub fn max_entry_size(mut self, bytes: u64) -> Self {
        self.max_entry_size = bytes;
        self
    }

    /// The clock that ages entries (a [`FakeClock`](crate::FakeClock) in tests). Defaults to
    /// the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the cache. Fails with [`ErrorKind::InvalidConfig`] without a store or for a
    /// heuristic fraction outside `0..=1`, and with [`ErrorKind::Io`] if the disk directory
    /// cannot be created or read.
    pub fn build(self) -> Result<HttpCache, Error> {
        if self.memory.is_none() && self.disk.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "a cache needs a store: set memory(), disk() or both",
            ));
        }
        if !(0.0..=1.0).contains(&self.heuristic) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the heuristic freshness fraction is between 0 and 1",
            ));
        }
        let disk = match self.disk {
            Some((dir, max)) => Some(DiskStore::open(&dir, max).map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot open the cache directory {}: {e}", dir.display()),
                )
            })?),
            None => None,
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let anchor = (clock.now(), SystemTime::now());
        Ok(HttpCache {
            inner: Arc::new(Inner {
                memory: self.memory.map(|(b, n)| MemoryStore::new(b, n)),
                disk,
                mode: self.mode,
                opts: policy::options(self.shared, self.heuristic),
                max_entry_size: self.max_entry_size,
                counters: Counters::default(),
                clock,
                anchor,
            }),
        })
    }
}

fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<HttpCache>();
    is::<CachedExecutor<crate::HttpClient>>();
}
