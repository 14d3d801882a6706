//! The response cache and request-body compression options (`--cache`, `--cache-mem`,
//! `--cache-mode`, `--compress-body`), what they build, and their summary lines.

use std::path::PathBuf;

use clap::Args;
use httpbatch::{BodyCompression, CacheMode, CacheStats, Error, HttpCache};
use serde_json::{Value, json};

use crate::units::parse_size;

/// The disk cache's bound: least recently used entries go past it.
const DISK_MAX: u64 = 1 << 30;
/// Entries the memory cache holds at most (its byte size is `--cache-mem`).
const MEM_ENTRIES: usize = 1_000_000;

/// Cache and compression options.
#[derive(Debug, Args, Clone)]
pub struct CacheArgs {
    /// Cache responses on disk in DIR, by HTTP's caching rules (Cache-Control, Expires, Vary,
    /// ETag/Last-Modified revalidation); kept across runs (at most 1 GiB) and safe to share
    /// between processes.
    #[arg(long, value_name = "DIR", help_heading = "Cache")]
    pub cache: Option<PathBuf>,

    /// Cache responses in memory, at most SIZE (e.g. 64MiB); in front of --cache when both.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = "Cache")]
    pub cache_mem: Option<u64>,

    /// default: HTTP's rules; refresh: ask the server every time (revalidating what is stored);
    /// only-cached: answer only from fresh entries, 504 otherwise, nothing on the wire;
    /// bypass: do not use the cache.
    #[arg(long, value_name = "MODE", default_value = "default", value_parser = CacheMode::parse, help_heading = "Cache")]
    pub cache_mode: CacheMode,

    /// Gzip request bodies of at least SIZE (default 1KiB) with Content-Encoding: gzip. Only for
    /// servers that accept compressed request bodies.
    #[arg(long, value_name = "SIZE", num_args = 0..=1, default_missing_value = "1KiB", value_parser = parse_size, help_heading = "Cache")]
    pub compress_body: Option<u64>,
}

impl Default for CacheArgs {
    fn default() -> Self {
        CacheArgs {
            cache: None,
            cache_mem: None,
            cache_mode: CacheMode::Default,
            compress_body: None,
        }
    }
}

impl CacheArgs {
    /// The cache the options ask for, if any, storing bodies up to `max_body` (the run's body
    /// limit); a mode other than `default` without a store is a usage error.
    pub fn build(&self, max_body: u64) -> Result<Option<HttpCache>, Error> {
        if self.cache.is_none() && self.cache_mem.is_none() {
            if self.cache_mode != CacheMode::Default {
                return Err(Error::new(
                    httpbatch::ErrorKind::InvalidConfig,
                    "--cache-mode needs a cache: add --cache DIR or --cache-mem SIZE",
                ));
            }
            return Ok(None);
        }
        let mut b = HttpCache::builder()
            .mode(self.cache_mode)
            .max_entry_size(max_body);
        if let Some(bytes) = self.cache_mem {
            b = b.memory(bytes, MEM_ENTRIES);
        }
        if let Some(dir) = &self.cache {
            b = b.disk(dir, DISK_MAX);
        }
        b.build().map(Some)
    }

    /// The request-body compression the options ask for, if any.
    pub fn compression(&self) -> Option<BodyCompression> {
        self.compress_body
            .map(|min| BodyCompression::gzip().min_size(usize::try_from(min).unwrap_or(usize::MAX)))
    }
}

/// The summary table's cache line.
pub fn summary_line(s: &CacheStats) -> String {
    format!(
        "{} hits, {} revalidated ({} not modified), {} misses, {} bypassed; {} stored, {} evicted, {} entries ({} bytes)",
        s.hits,
        s.revalidations,
        s.not_modified,
        s.misses,
        s.bypassed,
        s.stored,
        s.evictions,
        s.entries,
        s.bytes_stored
    )
}

/// The summary JSON's `cache` object.
pub fn summary_json(s: &CacheStats) -> Value {
    json!({
        "hits": s.hits, "misses": s.misses, "revalidations": s.revalidations,
        "not_modified": s.not_modified, "bypassed": s.bypassed, "stored": s.stored,
        "evictions": s.evictions, "entries": s.entries, "bytes_stored": s.bytes_stored,
    })
}
