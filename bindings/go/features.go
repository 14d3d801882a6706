package httpbatch

/*
#include <stdlib.h>
#include "httpbatch.h"
*/
import "C"

import (
	"time"
	"unsafe"
)

// DedupConfig turns in-flight dedup on for an Executor: identical requests (method, URL,
// headers, body) in flight at the same time — in one batch or in batches on other goroutines —
// share one wire request, and each still gets its own Item (same status, headers and body).
// A request whose batch is cancelled leaves the shared request running for the others.
type DedupConfig struct {
	// UnsafeMethods shares POST, PUT, PATCH and DELETE too; by default only GET, HEAD and
	// OPTIONS are shared.
	UnsafeMethods bool
}

// Codec is a built-in codec of request coalescing.
type Codec uint32

const (
	// CodecJSONRPC combines JSON-RPC 2.0 calls (each request body one call object) into one
	// batch; answers are matched back by id, in any order. An error object fails its own item
	// with ErrRemote.
	CodecJSONRPC Codec = C.HTTPBATCH_COALESCE_JSONRPC
	// CodecJSONArray collects the bodies into one JSON array and splits the answer's array.
	CodecJSONArray Codec = C.HTTPBATCH_COALESCE_JSON_ARRAY
)

// CoalesceConfig turns request coalescing on for an Executor: requests with the same method, URL
// and headers are held up to MaxBatch or MaxDelay and sent as one HTTP request (through the rest
// of the stack: limiter, retries, pool), and the answer is split back into one Item each.
// Per-item errors stay per item (ErrRemote, ErrQueueFull); a failed combined request fails every
// member. At most Config.Workers requests are in flight, so batches fill up to the worker count.
type CoalesceConfig struct {
	Codec    Codec
	MaxBatch int           // most requests per HTTP request (required, above 0)
	MaxDelay time.Duration // longest a request waits for others (0: sent as soon as a worker frees)
	// MaxQueued bounds the requests held while their batches fill (0: the default, 10,000); one
	// more ends at once with ErrQueueFull. Only a bound below Config.Workers can fill.
	MaxQueued int
}

// DedupStats are the dedup layer's counters (Executor.DedupStats).
type DedupStats struct {
	Requests  uint64 // given to the layer
	Bypassed  uint64 // not shared (unsafe methods), sent on their own
	Wire      uint64 // shared requests sent: one per distinct request in flight
	Saved     uint64 // requests that joined one in flight: wire requests saved
	Left      uint64 // waiters that left before the outcome (cancel, deadline)
	Abandoned uint64 // shared requests cancelled because every waiter had left
	InFlight  uint64 // shared requests in flight now
}

// CoalesceStats are request coalescing's counters (Executor.CoalesceStats).
type CoalesceStats struct {
	Logical        uint64  // logical requests that joined a batch
	HTTPRequests   uint64  // combined HTTP requests sent
	Batched        uint64  // logical requests sent inside combined requests
	FailedRequests uint64  // combined requests that failed as a whole
	ItemErrors     uint64  // logical requests that ended with an error
	Rejected       uint64  // refused because the queue was full (ErrQueueFull)
	Abandoned      uint64  // callers that left before their outcome
	MeanBatchSize  float64 // logical requests per HTTP request (0 before the first)
}

// AdaptiveHostStats is what adaptive limits know about one host (Executor.AdaptiveHostStats).
type AdaptiveHostStats struct {
	EffectiveRate  float64       // the host's rate now, requests per second
	AdvertisedRate float64       // the quota its server last advertised, per second (0: none)
	Holds          uint64        // answers that held the host (Retry-After, a spent quota)
	HeldFor        time.Duration // how long the host is still held
	QuotaAnswers   uint64        // answers that carried quota headers
}

// applyFeatures sets dedup, coalescing and adaptive limits of cfg on a builder.
func applyFeatures(b *C.httpbatch_executor_builder, cfg Config, set func(C.httpbatch_result) error) error {
	if d := cfg.Dedup; d != nil {
		if err := set(C.httpbatch_executor_builder_set_dedup(b, true, C.bool(d.UnsafeMethods))); err != nil {
			return err
		}
	}
	if c := cfg.Coalesce; c != nil {
		if c.MaxBatch <= 0 {
			return &Error{Code: CodeInvalidConfig, Message: "coalescing: MaxBatch must be above 0"}
		}
		if c.MaxQueued < 0 {
			return &Error{Code: CodeInvalidConfig, Message: "coalescing: MaxQueued must not be negative"}
		}
		rc := C.httpbatch_executor_builder_set_coalesce(b, C.uint32_t(c.Codec), C.size_t(c.MaxBatch), millis(c.MaxDelay))
		if err := set(rc); err != nil {
			return err
		}
		if c.MaxQueued > 0 {
			if err := set(C.httpbatch_executor_builder_set_coalesce_max_queued(b, C.size_t(c.MaxQueued))); err != nil {
				return err
			}
		}
	}
	if cfg.Adaptive {
		if err := set(C.httpbatch_executor_builder_set_adaptive(b, 1)); err != nil {
			return err
		}
	}
	return nil
}

// DedupStats reads the dedup layer's counters (all zero when Config.Dedup is nil); safe while
// batches run.
func (e *Executor) DedupStats() (DedupStats, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return DedupStats{}, ErrClosed
	}
	var s C.httpbatch_dedup_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	if err := check(C.httpbatch_executor_dedup_stats(e.ptr, &s), nil); err != nil {
		return DedupStats{}, err
	}
	return DedupStats{Requests: uint64(s.requests), Bypassed: uint64(s.bypassed), Wire: uint64(s.wire),
		Saved: uint64(s.saved), Left: uint64(s.left), Abandoned: uint64(s.abandoned),
		InFlight: uint64(s.in_flight)}, nil
}

// CoalesceStats reads request coalescing's counters; an error matching ErrNotFound when the
// executor does not coalesce.
func (e *Executor) CoalesceStats() (CoalesceStats, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return CoalesceStats{}, ErrClosed
	}
	var s C.httpbatch_coalesce_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	if err := check(C.httpbatch_executor_coalesce_stats(e.ptr, &s), e.lastError); err != nil {
		return CoalesceStats{}, err
	}
	return CoalesceStats{Logical: uint64(s.logical), HTTPRequests: uint64(s.http_requests),
		Batched: uint64(s.batched), FailedRequests: uint64(s.failed_requests),
		ItemErrors: uint64(s.item_errors), Rejected: uint64(s.rejected), Abandoned: uint64(s.abandoned),
		MeanBatchSize: float64(s.mean_batch_size)}, nil
}

// AdaptiveHostStats reads what adaptive limits know about host (a URL or an origin); an error
// matching ErrNotFound when Config.Adaptive is off or the host's server sent nothing to follow
// yet.
func (e *Executor) AdaptiveHostStats(host string) (AdaptiveHostStats, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return AdaptiveHostStats{}, ErrClosed
	}
	var s C.httpbatch_adaptive_host_stats
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	p, n := cstr(host)
	if err := check(C.httpbatch_executor_adaptive_host_stats(e.ptr, p, n, &s), e.lastError); err != nil {
		return AdaptiveHostStats{}, err
	}
	held := time.Duration(1<<63 - 1)
	if ms := uint64(s.held_for_ms); ms < uint64(held/time.Millisecond) {
		held = time.Duration(ms) * time.Millisecond
	}
	return AdaptiveHostStats{EffectiveRate: float64(s.effective_rate_per_sec),
		AdvertisedRate: float64(s.advertised_rate_per_sec), Holds: uint64(s.holds), HeldFor: held,
		QuotaAnswers: uint64(s.quota_answers)}, nil
}

// lastError reads the executor's last error text (call with e.mu held).
func (e *Executor) lastError(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
	return C.httpbatch_executor_last_error(e.ptr, buf, n, out)
}
