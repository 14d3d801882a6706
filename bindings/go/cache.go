package httpbatch

/*
#include <stdlib.h>
#include "httpbatch.h"
*/
import "C"

import "unsafe"

// CacheMode is how requests use the response cache (a request may still choose its own with
// the "x-httpbatch-cache" header: default, refresh, only-if-cached, bypass).
type CacheMode uint32

const (
	// CacheDefault follows HTTP's rules: fresh entries answer, stale ones are revalidated.
	CacheDefault CacheMode = C.HTTPBATCH_CACHE_MODE_DEFAULT
	// CacheRefresh asks the server every time, revalidating what is stored.
	CacheRefresh CacheMode = C.HTTPBATCH_CACHE_MODE_REFRESH
	// CacheOnlyIfCached answers only from fresh entries; otherwise a 504, nothing on the wire.
	CacheOnlyIfCached CacheMode = C.HTTPBATCH_CACHE_MODE_ONLY_IF_CACHED
	// CacheBypass does not use the cache.
	CacheBypass CacheMode = C.HTTPBATCH_CACHE_MODE_BYPASS
)

// CacheConfig configures an Executor's response cache (HTTP caching rules: Cache-Control,
// Expires, Vary, ETag/Last-Modified revalidation), above the rate limiter: a hit costs no token
// and no connection. Set MemoryBytes, Dir, or both (memory in front).
type CacheConfig struct {
	MemoryBytes   uint64 // memory cache size in bytes (0: none)
	MemoryEntries int    // most entries in memory (default 100000)
	Dir           string // disk cache directory, kept across runs, shareable by processes ("": none)
	DirBytes      uint64 // disk cache bound in bytes (default 1 GiB)
	Mode          CacheMode
}

// CacheStats are the response cache's counters.
type CacheStats struct {
	Hits, Misses, Revalidations, NotModified, Bypassed, Stored, Evictions, Entries, BytesStored uint64
}

// applyCache sets the cache and body compression of cfg on a builder.
func applyCache(b *C.httpbatch_executor_builder, cfg Config, set func(C.httpbatch_result) error) error {
	if c := cfg.Cache; c != nil {
		if c.MemoryBytes > 0 {
			n := c.MemoryEntries
			if n <= 0 {
				n = 100000
			}
			if err := set(C.httpbatch_executor_builder_set_cache_memory(b, C.uint64_t(c.MemoryBytes), C.size_t(n))); err != nil {
				return err
			}
		}
		if c.Dir != "" {
			max := c.DirBytes
			if max == 0 {
				max = 1 << 30
			}
			p, n := cstr(c.Dir)
			if err := set(C.httpbatch_executor_builder_set_cache_dir(b, p, n, C.uint64_t(max))); err != nil {
				return err
			}
		}
		if err := set(C.httpbatch_executor_builder_set_cache_mode(b, C.uint32_t(c.Mode))); err != nil {
			return err
		}
	}
	if cfg.CompressBody > 0 {
		if err := set(C.httpbatch_executor_builder_set_compress_body(b, C.size_t(cfg.CompressBody))); err != nil {
			return err
		}
	}
	return nil
}

// CacheStats reads the executor's cache counters (an error if it has no cache).
func (e *Executor) CacheStats() (CacheStats, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return CacheStats{}, ErrClosed
	}
	var s C.httpbatch_cache_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	if err := check(C.httpbatch_executor_cache_stats(e.ptr, &s), nil); err != nil {
		return CacheStats{}, err
	}
	return CacheStats{Hits: uint64(s.hits), Misses: uint64(s.misses),
		Revalidations: uint64(s.revalidations), NotModified: uint64(s.not_modified),
		Bypassed: uint64(s.bypassed), Stored: uint64(s.stored), Evictions: uint64(s.evictions),
		Entries: uint64(s.entries), BytesStored: uint64(s.bytes_stored)}, nil
}
