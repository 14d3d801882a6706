package httpbatch

/*
#include <stdlib.h>
#include "httpbatch.h"
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Config configures an Executor. Zero fields keep the library's defaults.
type Config struct {
	Workers          int           // worker threads: the most requests in flight (default 32)
	Timeout          time.Duration // whole-exchange timeout per request (default 30s)
	ConnectTimeout   time.Duration // default 10s
	MaxBodySize      int64         // response body limit in bytes (default 10 MiB)
	MaxResponseHead  int64         // response head limit in bytes, 1 KiB to 4 MiB (default 64 KiB)
	MaxIdlePerOrigin int           // idle connections kept per origin (default 128)
	MaxRedirects     int           // -1: follow none; 0: the default (5)
	UserAgent        string        // default "httpbatch/VERSION"
	// Pool, if set, is the layer requests go through (retries, per-host caps, health); the
	// client settings above then belong to the pool and must be left zero.
	Pool *Pool
	// Limiter, if set, rate-limits every attempt (retries included): pool -> limiter -> executor.
	Limiter *Limiter
	// SharedLimiter, if set, rate-limits every attempt with a limit shared by other processes
	// (a *RedisLimiter, with -tags httpbatch_redis), after Limiter's token.
	SharedLimiter SharedLimiter
	// Net, if set, configures TLS and proxies (a client setting: with Pool, set PoolConfig.Net).
	Net *Net
	// Cache, if set, answers requests from a response cache (cache.go).
	Cache *CacheConfig
	// CompressBody, if above 0, gzips request bodies of at least this many bytes.
	CompressBody int
	// Dedup, if set, shares identical requests in flight (features.go).
	Dedup *DedupConfig
	// Coalesce, if set, combines requests into batch HTTP requests (features.go).
	Coalesce *CoalesceConfig
	// Adaptive makes each host's rate follow its server's Retry-After (429/503), RateLimit and
	// X-RateLimit-* headers, never above the Limiter's rate (without one, only the headers limit).
	Adaptive bool
}

// Executor runs batches on a pool of worker threads. Safe for concurrent use.
type Executor struct {
	mu  sync.RWMutex
	ptr *C.httpbatch_executor
}

// NewExecutor starts an executor's worker threads. Close it when done.
func NewExecutor(cfg Config) (*Executor, error) {
	var b *C.httpbatch_executor_builder
	if err := check(C.httpbatch_executor_builder_new(&b), nil); err != nil {
		return nil, err
	}
	last := func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_executor_builder_last_error(b, buf, n, out)
	}
	set := func(rc C.httpbatch_result) error { return check(rc, last) }
	err := func() error {
		if cfg.Workers != 0 {
			if err := set(C.httpbatch_executor_builder_set_workers(b, C.size_t(cfg.Workers))); err != nil {
				return err
			}
		}
		if cfg.Timeout != 0 {
			if err := set(C.httpbatch_executor_builder_set_timeout_ms(b, millis(cfg.Timeout))); err != nil {
				return err
			}
		}
		if cfg.ConnectTimeout != 0 {
			if err := set(C.httpbatch_executor_builder_set_connect_timeout_ms(b, millis(cfg.ConnectTimeout))); err != nil {
				return err
			}
		}
		if cfg.MaxBodySize != 0 {
			if err := set(C.httpbatch_executor_builder_set_max_body_size(b, C.uint64_t(cfg.MaxBodySize))); err != nil {
				return err
			}
		}
		if cfg.MaxResponseHead != 0 {
			if err := set(C.httpbatch_executor_builder_set_max_response_head(b, C.uint64_t(cfg.MaxResponseHead))); err != nil {
				return err
			}
		}
		if cfg.MaxIdlePerOrigin != 0 {
			if err := set(C.httpbatch_executor_builder_set_max_idle_per_origin(b, C.size_t(cfg.MaxIdlePerOrigin))); err != nil {
				return err
			}
		}
		if cfg.MaxRedirects != 0 {
			n := cfg.MaxRedirects
			if n < 0 {
				n = 0
			}
			if err := set(C.httpbatch_executor_builder_set_max_redirects(b, C.uint32_t(n))); err != nil {
				return err
			}
		}
		if cfg.UserAgent != "" {
			p, n := cstr(cfg.UserAgent)
			if err := set(C.httpbatch_executor_builder_set_user_agent(b, p, n)); err != nil {
				return err
			}
		}
		if cfg.Net != nil {
			o, err := cfg.Net.build()
			if err != nil {
				return err
			}
			defer C.httpbatch_net_options_free(o)
			if err := set(C.httpbatch_executor_builder_set_net_options(b, o)); err != nil {
				return err
			}
		}
		if cfg.Pool != nil {
			cfg.Pool.mu.RLock()
			defer cfg.Pool.mu.RUnlock()
			if cfg.Pool.ptr == nil {
				return ErrClosed
			}
			if err := set(C.httpbatch_executor_builder_set_pool(b, cfg.Pool.ptr)); err != nil {
				return err
			}
		}
		if cfg.Limiter != nil {
			cfg.Limiter.mu.RLock()
			defer cfg.Limiter.mu.RUnlock()
			if cfg.Limiter.ptr == nil {
				return ErrClosed
			}
			if err := set(C.httpbatch_executor_builder_set_limiter(b, cfg.Limiter.ptr)); err != nil {
				return err
			}
		}
		if cfg.SharedLimiter != nil {
			if err := cfg.SharedLimiter.attach(b, set); err != nil {
				return err
			}
		}
		if err := applyCache(b, cfg, set); err != nil {
			return err
		}
		if err := applyFeatures(b, cfg, set); err != nil {
			return err
		}
		return nil
	}()
	if err != nil {
		C.httpbatch_executor_builder_free(b)
		return nil, err
	}
	e := &Executor{}
	// _build consumes the builder whatever it returns.
	if err := check(C.httpbatch_executor_builder_build(b, &e.ptr), nil); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(e, (*Executor).Close)
	return e, nil
}

func millis(d time.Duration) C.uint64_t {
	ms := d.Milliseconds()
	if ms <= 0 && d > 0 {
		ms = 1
	}
	return C.uint64_t(ms)
}

// Close shuts the worker threads down and frees the executor. Idempotent. It waits for batches
// running on other goroutines to return.
func (e *Executor) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ptr != nil {
		C.httpbatch_executor_free(e.ptr)
		e.ptr = nil
		runtime.SetFinalizer(e, nil)
	}
	return nil
}

// Stats are executor-wide statistics since creation or ResetStats.
type Stats struct {
	Batches, Requests, Completed, InFlight uint64
	StatusClasses                          [5]uint64
	Errors                                 map[Code]uint64 // by kind; only non-zero entries
	ErrorsTotal, Cancelled, NotRun         uint64
	Latency                                Latency
	Throughput                             float64
	Elapsed                                time.Duration
}

// Stats reads the executor's statistics; safe while batches run.
func (e *Executor) Stats() (Stats, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return Stats{}, ErrClosed
	}
	var s C.httpbatch_executor_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	if err := check(C.httpbatch_executor_stats_get(e.ptr, &s), nil); err != nil {
		return Stats{}, err
	}
	out := Stats{
		Batches: uint64(s.batches), Requests: uint64(s.requests), Completed: uint64(s.completed),
		InFlight: uint64(s.in_flight), ErrorsTotal: uint64(s.errors_total), Cancelled: uint64(s.cancelled),
		NotRun: uint64(s.not_run), Latency: latencyFrom(s.latency), Throughput: float64(s.throughput),
		Elapsed: time.Duration(s.elapsed_us) * time.Microsecond, Errors: map[Code]uint64{},
	}
	for i := range out.StatusClasses {
		out.StatusClasses[i] = uint64(s.status_classes[i])
	}
	for code, n := range s.errors {
		if n != 0 {
			out.Errors[Code(code)] = uint64(n)
		}
	}
	return out, nil
}

// ResetStats zeroes the executor's statistics.
func (e *Executor) ResetStats() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return ErrClosed
	}
	return check(C.httpbatch_executor_reset_stats(e.ptr), nil)
}

// ConnectionStats are connection figures counted at the socket.
type ConnectionStats struct {
	Opened, Closed, Live, Requests, Reused uint64
}

// ConnectionStats reads the connection figures of the executor's HTTP client.
func (e *Executor) ConnectionStats() (ConnectionStats, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return ConnectionStats{}, ErrClosed
	}
	var s C.httpbatch_connection_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	if err := check(C.httpbatch_executor_connection_stats(e.ptr, &s), nil); err != nil {
		return ConnectionStats{}, err
	}
	return ConnectionStats{Opened: uint64(s.opened), Closed: uint64(s.closed), Live: uint64(s.live),
		Requests: uint64(s.requests), Reused: uint64(s.reused)}, nil
}
