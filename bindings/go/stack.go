package httpbatch

/*
#include <stdlib.h>
#include "httpbatch.h"
*/
import "C"

import (
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Limiter is a rate limiter: Count requests per Per, refilled continuously, bursts of up to
// Burst. Every request an executor built with it sends on the wire takes one token, retries
// included. Safe for concurrent use; executors keep their own reference, so it may be closed
// before them.
type Limiter struct {
	mu  sync.RWMutex
	ptr *C.httpbatch_limiter
}

func ms(d time.Duration) C.uint64_t { return C.uint64_t(d.Milliseconds()) }

// NewLimiter makes a limiter allowing count requests per interval (per at least 1 ms), with
// bursts of up to burst.
func NewLimiter(count float64, per time.Duration, burst int) (*Limiter, error) {
	l := &Limiter{}
	if err := check(C.httpbatch_limiter_new(C.double(count), ms(per), C.uint32_t(burst), &l.ptr), nil); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(l, (*Limiter).Close)
	return l, nil
}

func (l *Limiter) do(f func(*C.httpbatch_limiter) C.httpbatch_result) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.ptr == nil {
		return ErrClosed
	}
	return check(f(l.ptr), func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_limiter_last_error(l.ptr, buf, n, out)
	})
}

// SetRate changes the rate at run time (waiters are neither stranded nor granted a burst).
func (l *Limiter) SetRate(count float64, per time.Duration) error {
	return l.do(func(p *C.httpbatch_limiter) C.httpbatch_result {
		return C.httpbatch_limiter_set_rate(p, C.double(count), ms(per))
	})
}

// SetBurst changes the burst at run time.
func (l *Limiter) SetBurst(burst int) error {
	return l.do(func(p *C.httpbatch_limiter) C.httpbatch_result {
		return C.httpbatch_limiter_set_burst(p, C.uint32_t(burst))
	})
}

// SetPerHost adds one bucket per origin, for executors built afterwards.
func (l *Limiter) SetPerHost(count float64, per time.Duration, burst int) error {
	return l.do(func(p *C.httpbatch_limiter) C.httpbatch_result {
		return C.httpbatch_limiter_set_per_host(p, C.double(count), ms(per), C.uint32_t(burst))
	})
}

// LimiterStats are a limiter's counters.
type LimiterStats struct {
	Admitted, Throttled, Rejected, CurrentWaiters uint64
	TotalWait, MaxWait                            time.Duration
	RatePerSec                                    float64
	Burst                                         int
}

func limiterStatsFrom(s *C.httpbatch_limiter_stats) LimiterStats {
	return LimiterStats{
		Admitted: uint64(s.admitted), Throttled: uint64(s.throttled), Rejected: uint64(s.rejected),
		CurrentWaiters: uint64(s.current_waiters),
		TotalWait:      time.Duration(s.total_wait_us) * time.Microsecond,
		MaxWait:        time.Duration(s.max_wait_us) * time.Microsecond,
		RatePerSec:     float64(s.rate_per_sec), Burst: int(s.burst),
	}
}

// Stats reads the limiter's counters.
func (l *Limiter) Stats() (LimiterStats, error) {
	var s C.httpbatch_limiter_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	err := l.do(func(p *C.httpbatch_limiter) C.httpbatch_result { return C.httpbatch_limiter_stats_get(p, &s) })
	if err != nil {
		return LimiterStats{}, err
	}
	return limiterStatsFrom(&s), nil
}

// Close frees this handle (executors keep theirs). Idempotent.
func (l *Limiter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ptr != nil {
		C.httpbatch_limiter_free(l.ptr)
		l.ptr = nil
		runtime.SetFinalizer(l, nil)
	}
	return nil
}

// Jitter of retry backoff delays.
type Jitter uint32

// The jitters.
const (
	JitterFull  Jitter = C.HTTPBATCH_JITTER_FULL // the default
	JitterNone  Jitter = C.HTTPBATCH_JITTER_NONE
	JitterEqual Jitter = C.HTTPBATCH_JITTER_EQUAL
)

// RetryPolicy says when the pool retries. Zero fields keep the library's defaults: 3 attempts,
// 100 ms doubling to 10 s with full jitter, statuses 429/502/503/504 and transient transport
// errors, Retry-After honoured up to 60 s, idempotent methods (and opted-in requests) only.
type RetryPolicy struct {
	MaxAttempts        int
	BaseDelay          time.Duration
	MaxDelay           time.Duration
	Multiplier         float64
	Jitter             Jitter
	RetryStatuses      []uint16 // nil: the defaults; empty non-nil: no status
	NoTransportRetries bool
	IgnoreRetryAfter   bool
	RetryAfterCap      time.Duration
	RetryNonIdempotent bool
	BudgetRatio        float64 // > 0: at most this many retries per request (plus BudgetPerSec)
	BudgetPerSec       float64
}

func (rp *RetryPolicy) build() (*C.httpbatch_retry_policy, error) {
	var p *C.httpbatch_retry_policy
	if err := check(C.httpbatch_retry_policy_new(&p), nil); err != nil {
		return nil, err
	}
	last := func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_retry_policy_last_error(p, buf, n, out)
	}
	steps := []func() C.httpbatch_result{}
	if rp.MaxAttempts != 0 {
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_retry_policy_set_max_attempts(p, C.uint32_t(rp.MaxAttempts))
		})
	}
	if rp.BaseDelay != 0 || rp.MaxDelay != 0 || rp.Multiplier != 0 {
		base, max, mult := rp.BaseDelay, rp.MaxDelay, rp.Multiplier
		if base == 0 {
			base = 100 * time.Millisecond
		}
		if max == 0 {
			max = 10 * time.Second
		}
		if mult == 0 {
			mult = 2
		}
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_retry_policy_set_backoff(p, ms(base), ms(max), C.double(mult))
		})
	}
	if rp.Jitter != JitterFull {
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_retry_policy_set_jitter(p, C.uint32_t(rp.Jitter)) })
	}
	if rp.RetryStatuses != nil {
		steps = append(steps, func() C.httpbatch_result {
			if len(rp.RetryStatuses) == 0 {
				return C.httpbatch_retry_policy_set_retry_statuses(p, nil, 0)
			}
			return C.httpbatch_retry_policy_set_retry_statuses(p, (*C.uint16_t)(unsafe.Pointer(&rp.RetryStatuses[0])), C.size_t(len(rp.RetryStatuses)))
		})
	}
	if rp.NoTransportRetries {
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_retry_policy_set_retry_transport_errors(p, false) })
	}
	if rp.IgnoreRetryAfter || rp.RetryAfterCap != 0 {
		limit := rp.RetryAfterCap
		if limit == 0 {
			limit = 60 * time.Second
		}
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_retry_policy_set_retry_after(p, C.bool(!rp.IgnoreRetryAfter), ms(limit))
		})
	}
	if rp.RetryNonIdempotent {
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_retry_policy_set_retry_non_idempotent(p, true) })
	}
	if rp.BudgetRatio > 0 {
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_retry_policy_set_budget(p, C.double(rp.BudgetRatio), C.double(rp.BudgetPerSec))
		})
	}
	for _, step := range steps {
		if err := check(step(), last); err != nil {
			C.httpbatch_retry_policy_free(p)
			return nil, err
		}
	}
	return p, nil
}

// PoolConfig configures a Pool. Zero fields keep the defaults.
type PoolConfig struct {
	MaxInFlightPerHost int           // requests in flight per origin (default 32)
	Timeout            time.Duration // whole-exchange timeout (default 30 s)
	ConnectTimeout     time.Duration // default 10 s
	MaxBodySize        int64         // default 10 MiB
	Retry              *RetryPolicy  // nil: the default policy
	// Health checks (started with EnableHealthCheck).
	HealthProbeTimeout time.Duration // default: the interval
	UnhealthyThreshold int           // failed probes that open the circuit (default 2)
	HealthyThreshold   int           // good probes that close it (default 1)
	WarmupPath         string        // default "/"
	WarmupTimeout      time.Duration // default 10 s
	Net                *Net          // TLS and proxies (nil: the defaults)
	// OnHealthChange, if set, is called on every health state change of a host, from the
	// pool's health-check thread (not the goroutine that built the pool): keep it short and safe
	// for concurrent use. It is not called after Close.
	OnHealthChange func(origin string, old, new HealthState)
}

// Pool is a connection pool: per-host in-flight caps, retries, warmup, health checks. Safe for
// concurrent use; executors keep their own reference, so it may be closed before them.
type Pool struct {
	mu       sync.RWMutex
	ptr      *C.httpbatch_pool
	healthID uintptr // registry id of OnHealthChange (0: none)
}

// NewPool builds a pool. Close it when done.
func NewPool(cfg PoolConfig) (*Pool, error) {
	var b *C.httpbatch_pool_builder
	if err := check(C.httpbatch_pool_builder_new(&b), nil); err != nil {
		return nil, err
	}
	last := func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_pool_builder_last_error(b, buf, n, out)
	}
	var steps []func() C.httpbatch_result
	if cfg.MaxInFlightPerHost != 0 {
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_pool_builder_set_max_in_flight_per_host(b, C.size_t(cfg.MaxInFlightPerHost))
		})
	}
	if cfg.Timeout != 0 {
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_pool_builder_set_timeout_ms(b, millis(cfg.Timeout)) })
	}
	if cfg.ConnectTimeout != 0 {
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_pool_builder_set_connect_timeout_ms(b, millis(cfg.ConnectTimeout))
		})
	}
	if cfg.MaxBodySize != 0 {
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_pool_builder_set_max_body_size(b, C.uint64_t(cfg.MaxBodySize))
		})
	}
	if cfg.UnhealthyThreshold != 0 || cfg.HealthyThreshold != 0 || cfg.HealthProbeTimeout != 0 {
		bad, good := cfg.UnhealthyThreshold, cfg.HealthyThreshold
		if bad == 0 {
			bad = 2
		}
		if good == 0 {
			good = 1
		}
		steps = append(steps, func() C.httpbatch_result {
			return C.httpbatch_pool_builder_set_health_check(b, ms(cfg.HealthProbeTimeout), C.uint32_t(bad), C.uint32_t(good))
		})
	}
	if cfg.WarmupPath != "" || cfg.WarmupTimeout != 0 {
		path, timeout := cfg.WarmupPath, cfg.WarmupTimeout
		if path == "" {
			path = "/"
		}
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		steps = append(steps, func() C.httpbatch_result {
			p, n := cstr(path)
			return C.httpbatch_pool_builder_set_warmup(b, p, n, millis(timeout))
		})
	}
	var policy *C.httpbatch_retry_policy
	if cfg.Retry != nil {
		var err error
		if policy, err = cfg.Retry.build(); err != nil {
			C.httpbatch_pool_builder_free(b)
			return nil, err
		}
		defer C.httpbatch_retry_policy_free(policy)
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_pool_builder_set_retry_policy(b, policy) })
	}
	if cfg.Net != nil {
		o, err := cfg.Net.build()
		if err != nil {
			C.httpbatch_pool_builder_free(b)
			return nil, err
		}
		defer C.httpbatch_net_options_free(o)
		steps = append(steps, func() C.httpbatch_result { return C.httpbatch_pool_builder_set_net_options(b, o) })
	}
	var healthID uintptr
	steps = append(steps, func() C.httpbatch_result {
		id, rc := setOnHealthChange(b, cfg.OnHealthChange)
		healthID = id
		return rc
	})
	for _, step := range steps {
		if err := check(step(), last); err != nil {
			C.httpbatch_pool_builder_free(b)
			healthCallbacks.Delete(healthID)
			return nil, err
		}
	}
	p := &Pool{healthID: healthID}
	if err := check(C.httpbatch_pool_builder_build(b, &p.ptr), nil); err != nil {
		healthCallbacks.Delete(healthID)
		return nil, err
	}
	runtime.SetFinalizer(p, (*Pool).Close)
	return p, nil
}

func (p *Pool) do(f func(*C.httpbatch_pool) C.httpbatch_result) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.ptr == nil {
		return ErrClosed
	}
	return check(f(p.ptr), func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_pool_last_error(p.ptr, buf, n, out)
	})
}

// HostWarmup is the warmup of one host.
type HostWarmup struct {
	Origin                                       string
	Requested, Attempted, Opened, Live, OK, Fail int
	Elapsed                                      time.Duration
	Errors                                       string // the transport errors, joined with "; "
}

// Warmup opens n connections to each host concurrently and reports per host.
func (p *Pool) Warmup(hosts []string, n int) ([]HostWarmup, error) {
	var report *C.httpbatch_warmup_report
	list := strings.Join(hosts, "\n")
	err := p.do(func(ptr *C.httpbatch_pool) C.httpbatch_result {
		h, hl := cstr(list)
		return C.httpbatch_pool_warmup(ptr, h, hl, C.size_t(n), &report)
	})
	if err != nil {
		return nil, err
	}
	defer C.httpbatch_warmup_report_free(report)
	var count C.size_t
	C.httpbatch_warmup_report_len(report, &count)
	out := make([]HostWarmup, int(count))
	for i := range out {
		var h C.httpbatch_host_warmup
		h.struct_size = C.size_t(unsafe.Sizeof(h))
		if err := check(C.httpbatch_warmup_report_host(report, C.size_t(i), &h), nil); err != nil {
			return nil, err
		}
		out[i] = HostWarmup{
			Origin: C.GoStringN(h.origin, C.int(h.origin_len)), Requested: int(h.requested),
			Attempted: int(h.attempted), Opened: int(h.opened), Live: int(h.live), OK: int(h.ok),
			Fail: int(h.failed), Elapsed: time.Duration(h.elapsed_us) * time.Microsecond,
			Errors: C.GoStringN(h.errors, C.int(h.errors_len)),
		}
	}
	return out, nil
}

// EnableHealthCheck starts (or reconfigures) the pool's one health-check thread.
func (p *Pool) EnableHealthCheck(hosts []string, interval time.Duration, path string) error {
	list := strings.Join(hosts, "\n")
	return p.do(func(ptr *C.httpbatch_pool) C.httpbatch_result {
		h, hl := cstr(list)
		pp, pl := cstr(path)
		return C.httpbatch_pool_enable_health_check(ptr, h, hl, millis(interval), pp, pl)
	})
}

// DisableHealthCheck stops the health-check thread. Idempotent.
func (p *Pool) DisableHealthCheck() error {
	return p.do(func(ptr *C.httpbatch_pool) C.httpbatch_result { return C.httpbatch_pool_disable_health_check(ptr) })
}

// HealthState of a host.
type HealthState uint32

// The health states.
const (
	Healthy   HealthState = C.HTTPBATCH_HEALTH_STATE_HEALTHY
	Unhealthy HealthState = C.HTTPBATCH_HEALTH_STATE_UNHEALTHY
	HalfOpen  HealthState = C.HTTPBATCH_HEALTH_STATE_HALF_OPEN
)

// HostHealth is where a host stands with the health checker.
type HostHealth struct {
	State                                     HealthState
	ConsecutiveFailures, ConsecutiveSuccesses int
	Checks, FailedChecks                      uint64
	UnhealthySince, LastChecked               time.Time // zero when not applicable
	LastLatency                               time.Duration
}

// HostHealth reads the health of a health-checked host (ErrNotFound-coded *Error otherwise).
func (p *Pool) HostHealth(host string) (HostHealth, error) {
	var h C.httpbatch_host_health
	h.struct_size = C.size_t(unsafe.Sizeof(h))
	err := p.do(func(ptr *C.httpbatch_pool) C.httpbatch_result {
		hp, hl := cstr(host)
		return C.httpbatch_pool_host_health(ptr, hp, hl, &h)
	})
	if err != nil {
		return HostHealth{}, err
	}
	t := func(ms C.uint64_t) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(int64(ms))
	}
	return HostHealth{
		State: HealthState(h.state), ConsecutiveFailures: int(h.consecutive_failures),
		ConsecutiveSuccesses: int(h.consecutive_successes), Checks: uint64(h.checks),
		FailedChecks: uint64(h.failed_checks), UnhealthySince: t(h.unhealthy_since_unix_ms),
		LastChecked: t(h.last_checked_unix_ms), LastLatency: time.Duration(h.last_latency_us) * time.Microsecond,
	}, nil
}

// PoolStats are a pool's counters (connections counted at the socket).
type PoolStats struct {
	ConnectionsOpened, ConnectionsClosed, ConnectionsLive, ConnectionsReused uint64
	Requests, Attempts, Retries, Succeeded, Failures, CircuitOpen            uint64
	Hosts, InFlight                                                          uint64
	RetryBudgetExhausted, RetryAfterWaits, RetryAfterCapped                  uint64
	Backoff                                                                  time.Duration
}

// Stats reads the pool's counters.
func (p *Pool) Stats() (PoolStats, error) {
	var s C.httpbatch_pool_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	if err := p.do(func(ptr *C.httpbatch_pool) C.httpbatch_result { return C.httpbatch_pool_stats_get(ptr, &s) }); err != nil {
		return PoolStats{}, err
	}
	return PoolStats{
		ConnectionsOpened: uint64(s.connections_opened), ConnectionsClosed: uint64(s.connections_closed),
		ConnectionsLive: uint64(s.connections_live), ConnectionsReused: uint64(s.connections_reused),
		Requests: uint64(s.requests), Attempts: uint64(s.attempts), Retries: uint64(s.retries),
		Succeeded: uint64(s.succeeded), Failures: uint64(s.failures), CircuitOpen: uint64(s.circuit_open),
		Hosts: uint64(s.hosts), InFlight: uint64(s.in_flight),
		RetryBudgetExhausted: uint64(s.retry_budget_exhausted), RetryAfterWaits: uint64(s.retry_after_waits),
		RetryAfterCapped: uint64(s.retry_after_capped), Backoff: time.Duration(s.backoff_us) * time.Microsecond,
	}, nil
}

// Close frees this handle (executors keep theirs). Idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ptr != nil {
		healthCallbacks.Delete(p.healthID)
		C.httpbatch_pool_free(p.ptr)
		p.ptr = nil
		runtime.SetFinalizer(p, nil)
	}
	return nil
}
