//go:build httpbatch_redis

package httpbatch

// The Redis feature (build with -tags httpbatch_redis, against a library built with the redis
// feature: HTTPBATCH_FEATURES=redis scripts/install-c.sh PREFIX): a rate limiter shared by
// every process that names the same Redis URL and key, and a work list in Redis Streams run by
// worker loops on any number of machines.

/*
#cgo CFLAGS: -DHTTPBATCH_REDIS
#include <stdlib.h>
#include "httpbatch.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// RedisLimiterConfig are a RedisLimiter's options. Zero fields keep the defaults.
type RedisLimiterConfig struct {
	// Key names the shared limit: processes with the same key share it. Default "httpbatch:rate".
	Key string
	// Lease takes this many slots per Redis round trip (default 1: none; see the README for the
	// accuracy cost).
	Lease int
	// FailOpenShare, above 0 (at most 1), admits through a local limiter at this share of the
	// rate while Redis is unreachable; 0 waits and retries (fail closed).
	FailOpenShare float64
}

// RedisLimiter is a rate limiter whose buckets live in Redis: count requests per interval with
// bursts of burst, shared by every process on any machine that names the same URL and key.
// Set it as Config.SharedLimiter, or call Acquire. Safe for concurrent use; executors keep
// their own reference.
type RedisLimiter struct {
	mu  sync.RWMutex
	ptr *C.httpbatch_redis_limiter
}

// NewRedisLimiter makes a limiter on the Redis at url (redis://HOST:PORT/DB). It connects
// lazily: an unreachable server is not an error here.
func NewRedisLimiter(url string, count float64, per time.Duration, burst int, cfg RedisLimiterConfig) (*RedisLimiter, error) {
	l := &RedisLimiter{}
	u, un := cstr(url)
	k, kn := cstr(cfg.Key)
	rc := C.httpbatch_redis_limiter_new(u, un, k, kn, C.double(count), ms(per), C.uint32_t(burst),
		C.uint32_t(cfg.Lease), C.double(cfg.FailOpenShare), &l.ptr)
	if err := check(rc, nil); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(l, (*RedisLimiter).Close)
	return l, nil
}

func (l *RedisLimiter) do(f func(*C.httpbatch_redis_limiter) C.httpbatch_result) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.ptr == nil {
		return ErrClosed
	}
	return check(f(l.ptr), func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_redis_limiter_last_error(l.ptr, buf, n, out)
	})
}

func (l *RedisLimiter) attach(b *C.httpbatch_executor_builder, set func(C.httpbatch_result) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.ptr == nil {
		return ErrClosed
	}
	return set(C.httpbatch_executor_builder_set_redis_limiter(b, l.ptr))
}

// Acquire waits for one slot of the shared limit and returns the time waited. The context's
// deadline refuses at once a slot that would come after it (an error matching
// context.DeadlineExceeded, nothing taken); cancelling the context ends the wait (matching
// context.Canceled).
func (l *RedisLimiter) Acquire(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var timeout C.uint64_t
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if left <= 0 {
			return 0, context.DeadlineExceeded
		}
		timeout = millis(left)
	}
	var token *C.httpbatch_cancel_token
	if err := check(C.httpbatch_cancel_token_new(&token), nil); err != nil {
		return 0, err
	}
	defer C.httpbatch_cancel_token_free(token)
	stop := context.AfterFunc(ctx, func() { C.httpbatch_cancel_token_cancel(token) })
	defer stop()
	var waited C.uint64_t
	err := l.do(func(p *C.httpbatch_redis_limiter) C.httpbatch_result {
		return C.httpbatch_redis_limiter_acquire(p, timeout, token, &waited)
	})
	// The context ended first (its deadline passing cancels the token too): say which way.
	if cerr := ctx.Err(); err != nil && cerr != nil {
		return 0, cerr
	}
	return time.Duration(waited) * time.Microsecond, err
}

// SetRate changes the shared rate for every process at once (no free burst).
func (l *RedisLimiter) SetRate(count float64, per time.Duration) error {
	return l.do(func(p *C.httpbatch_redis_limiter) C.httpbatch_result {
		return C.httpbatch_redis_limiter_set_rate(p, C.double(count), ms(per))
	})
}

// RedisLimiterStats are one handle's counters.
type RedisLimiterStats struct {
	Limiter LimiterStats // admissions and waits, as for a local limiter (fallback ones included)
	// RoundTrips are commands sent to Redis; FromLease admissions needed none.
	RoundTrips, FromLease, LeaseExpired uint64
	// RedisErrors are failed calls; Switches and Recoveries count Redis going away and back.
	RedisErrors, Switches, Recoveries uint64
	FallbackAdmitted                  uint64 // admitted by the local fallback (fail open)
	Degraded                          bool   // Redis was unreachable at the last try
}

// Stats reads this handle's counters.
func (l *RedisLimiter) Stats() (RedisLimiterStats, error) {
	var s C.httpbatch_redis_limiter_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	err := l.do(func(p *C.httpbatch_redis_limiter) C.httpbatch_result {
		return C.httpbatch_redis_limiter_stats_get(p, &s)
	})
	if err != nil {
		return RedisLimiterStats{}, err
	}
	return RedisLimiterStats{
		Limiter:    limiterStatsFrom(&s.limiter),
		RoundTrips: uint64(s.round_trips), FromLease: uint64(s.from_lease),
		LeaseExpired: uint64(s.lease_expired), RedisErrors: uint64(s.redis_errors),
		Switches: uint64(s.switches), Recoveries: uint64(s.recoveries),
		FallbackAdmitted: uint64(s.fallback_admitted), Degraded: bool(s.degraded),
	}, nil
}

// Close frees this handle (executors keep theirs). Idempotent.
func (l *RedisLimiter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ptr != nil {
		C.httpbatch_redis_limiter_free(l.ptr)
		l.ptr = nil
		runtime.SetFinalizer(l, nil)
	}
	return nil
}
