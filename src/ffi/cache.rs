//! The response cache and request-body compression on an executor builder, and the cache's
//! statistics: `httpbatch_executor_builder_set_cache_*`, `_set_compress_body`,
//! `httpbatch_executor_cache_stats`.

use std::ffi::c_char;
use std::path::PathBuf;

use crate::cache::{CacheMode, CacheStats, HttpCache};
use crate::compress::BodyCompression;
use crate::error::{Error, ErrorKind};
use crate::stack::StackBuilder;

use super::base::{StructSize, guard_on, guard_on_mut, try_str, write_sized};
use super::executor::{httpbatch_executor, httpbatch_executor_builder};
use super::httpbatch_result;

/// `httpbatch_executor_builder_set_cache_mode`: HTTP's rules (fresh entries answer, stale ones
/// are revalidated).
pub const HTTPBATCH_CACHE_MODE_DEFAULT: u32 = 0;
/// Ask the server every time, revalidating what is stored.
pub const HTTPBATCH_CACHE_MODE_REFRESH: u32 = 1;
/// Answer only from fresh entries; otherwise a 504 made by the cache, nothing on the wire.
pub const HTTPBATCH_CACHE_MODE_ONLY_IF_CACHED: u32 = 2;
/// Do not use the cache.
pub const HTTPBATCH_CACHE_MODE_BYPASS: u32 = 3;

/// What a builder's cache and compression settings are, applied at `_build`.
#[derive(Debug, Default, Clone)]
pub(crate) struct CacheSpec {
    memory: Option<(u64, usize)>,
    disk: Option<(PathBuf, u64)>,
    mode: CacheMode,
    compress: Option<BodyCompression>,
}

impl CacheSpec {
    /// Puts the cache and compression, if set, in `builder`.
    pub(crate) fn apply(&self, mut builder: StackBuilder) -> Result<StackBuilder, Error> {
        if self.memory.is_some() || self.disk.is_some() {
            let mut c = HttpCache::builder().mode(self.mode);
            if let Some((bytes, entries)) = self.memory {
                c = c.memory(bytes, entries);
            }
            if let Some((dir, bytes)) = &self.disk {
                c = c.disk(dir, *bytes);
            }
            builder = builder.cache(c.build()?);
        } else if self.mode != CacheMode::Default {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "a cache mode needs a cache: set a memory size or a directory",
            ));
        }
        if let Some(c) = self.compress {
            builder = builder.compress_body(c);
        }
        Ok(builder)
    }
}

/// Caches responses in memory, at most `max_bytes` and `max_entries` (least recently used out
/// first), by HTTP's caching rules, above the rate limiter: a hit costs no token and no
/// connection. `max_bytes == 0` removes the memory cache. Defaults to none.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_cache_memory(
    builder: *mut httpbatch_executor_builder,
    max_bytes: u64,
    max_entries: usize,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.cache.memory = (max_bytes > 0).then_some((max_bytes, max_entries));
        Ok(())
    })
}

/// Caches responses on disk in the directory `dir` (`dir_len` bytes of UTF-8, copied; created
/// at `_build`), at most about `max_bytes`. Kept across runs; several processes may share the
/// directory; a damaged entry is a miss. `dir_len == 0` removes the disk cache. With a memory
/// cache too, memory is in front. Defaults to none.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_cache_dir(
    builder: *mut httpbatch_executor_builder,
    dir: *const c_char,
    dir_len: usize,
    max_bytes: u64,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        // SAFETY: valid for `dir_len` bytes, per the header.
        let dir = unsafe { try_str(dir, dir_len, "dir") }?;
        b.cache.disk = (!dir.is_empty()).then(|| (PathBuf::from(dir), max_bytes));
        Ok(())
    })
}

/// Sets the cache mode of every request (`HTTPBATCH_CACHE_MODE_*`); a request may still choose
/// its own with the `x-httpbatch-cache` header (`default`, `refresh`, `only-if-cached`,
/// `bypass`). An unknown mode fails with `HTTPBATCH_RESULT_INVALID_CONFIG`. Defaults to
/// `HTTPBATCH_CACHE_MODE_DEFAULT`.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_cache_mode(
    builder: *mut httpbatch_executor_builder,
    mode: u32,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.cache.mode = match mode {
            HTTPBATCH_CACHE_MODE_DEFAULT => CacheMode::Default,
            HTTPBATCH_CACHE_MODE_REFRESH => CacheMode::Refresh,
            HTTPBATCH_CACHE_MODE_ONLY_IF_CACHED => CacheMode::OnlyIfCached,
            HTTPBATCH_CACHE_MODE_BYPASS => CacheMode::Bypass,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!("unknown cache mode {mode}"),
                )
                .into());
            }
        };
        Ok(())
    })
}

/// Gzips request bodies of at least `min_size` bytes (`Content-Encoding: gzip`), once, so
/// retries replay the compressed bytes; a request may force it (`x-httpbatch-compress: gzip`)
/// or refuse it (`off`). `min_size == SIZE_MAX` turns it off. Only for servers that accept
/// compressed request bodies. Defaults to off.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_builder_set_compress_body(
    builder: *mut httpbatch_executor_builder,
    min_size: usize,
) -> httpbatch_result {
    guard_on_mut(builder, "builder", |b| {
        b.cache.compress =
            (min_size != usize::MAX).then(|| BodyCompression::gzip().min_size(min_size));
        Ok(())
    })
}

/// The response cache's counters. Set `struct_size` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct httpbatch_cache_stats {
    /// Set by the caller to `sizeof(httpbatch_cache_stats)`.
    pub struct_size: usize,
    /// Answered from a fresh entry, nothing on the wire.
    pub hits: u64,
    /// Went to the server without a usable entry.
    pub misses: u64,
    /// Stale entries sent to the server with validators.
    pub revalidations: u64,
    /// Revalidations answered `304 Not Modified`.
    pub not_modified: u64,
    /// Requests that did not use the cache.
    pub bypassed: u64,
    /// Responses written to the store.
    pub stored: u64,
    /// Entries removed to stay within the bounds.
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now.
    pub bytes_stored: u64,
}

// SAFETY: `#[repr(C)]`, first field `struct_size: usize`.
unsafe impl StructSize for httpbatch_cache_stats {
    const KNOWN_SIZES: &'static [usize] = &[std::mem::size_of::<httpbatch_cache_stats>()];
}

impl From<CacheStats> for httpbatch_cache_stats {
    fn from(s: CacheStats) -> Self {
        httpbatch_cache_stats {
            struct_size: std::mem::size_of::<Self>(),
            hits: s.hits,
            misses: s.misses,
            revalidations: s.revalidations,
            not_modified: s.not_modified,
            bypassed: s.bypassed,
            stored: s.stored,
            evictions: s.evictions,
            entries: s.entries,
            bytes_stored: s.bytes_stored,
        }
    }
}

/// Writes the executor's cache counters into `*stats_out` (`struct_size` set by the caller).
/// Fails with `HTTPBATCH_RESULT_INVALID_CONFIG` when the executor has no cache.
#[unsafe(no_mangle)]
pub extern "C" fn httpbatch_executor_cache_stats(
    executor: *const httpbatch_executor,
    stats_out: *mut httpbatch_cache_stats,
) -> httpbatch_result {
    guard_on(executor, "executor", |exec| {
        let s = exec
            .stack
            .stats()
            .cache
            .ok_or_else(|| Error::new(ErrorKind::InvalidConfig, "the executor has no cache"))?;
        // SAFETY: `stats_out` is NULL or valid for its `struct_size`, per the header.
        unsafe { write_sized(stats_out, httpbatch_cache_stats::from(s), "stats_out") }
    })
}

#[cfg(test)]
mod tests {
    use super::super::executor::*;
    use super::*;
    use httpbatch_testserver::Server;
    use std::ptr::null_mut;

    #[test]
    fn an_executor_with_a_cache_answers_the_second_batch_from_it() {
        let server = Server::start().unwrap();
        let mut b = null_mut();
        assert_eq!(httpbatch_executor_builder_new(&mut b), httpbatch_result::Ok);
        assert_eq!(
            httpbatch_executor_builder_set_cache_memory(b, 1 << 20, 100),
            httpbatch_result::Ok
        );
        assert_eq!(
            httpbatch_executor_builder_set_cache_mode(b, 9),
            httpbatch_result::InvalidConfig
        );
        assert_eq!(
            httpbatch_executor_builder_set_compress_body(b, 1024),
            httpbatch_result::Ok
        );
        let mut e = null_mut();
        assert_eq!(
            httpbatch_executor_builder_build(b, &mut e),
            httpbatch_result::Ok
        );
        let exec = unsafe { &*e };
        let url = server.url("/cacheable/ffi?cc=max-age%3D60");
        for _ in 0..2 {
            let reqs = (0..3).map(|_| crate::Request::get(&url));
            let r = exec
                .stack
                .execute_batch(reqs, crate::BatchOptions::new().concurrency(1));
            assert_eq!(r.summary.succeeded, 3);
        }
        let mut s = httpbatch_cache_stats {
            struct_size: std::mem::size_of::<httpbatch_cache_stats>(),
            ..Default::default()
        };
        assert_eq!(
            httpbatch_executor_cache_stats(e, &mut s),
            httpbatch_result::Ok
        );
        assert_eq!((s.misses, s.hits, s.entries), (1, 5, 1));
        assert_eq!(server.requests(), 1);
        httpbatch_executor_free(e);
    }
}
