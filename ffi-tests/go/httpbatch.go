// Package httpbatch runs batches of HTTP requests on httpbatch's Rust engine through its C ABI
// (include/httpbatch.h): a pool of worker threads, results in input order, cancellation and
// deadlines from a context.Context, progress callbacks, and statistics.
//
// The package links the static library built by `cargo build --release` at
// ../../target/release/libhttpbatch.a (see the cgo directives), so build the Rust crate first.
//
// Thread safety: an *Executor may be used from many goroutines at once; a *Result may not.
// Every handle has an idempotent Close.
package httpbatch

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libhttpbatch.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
#include <stdlib.h>
#include "httpbatch.h"
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/cgo"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Code is a numbered httpbatch_result code; numbers are stable and never reused.
type Code uint32

// The Code constants (CodeOK, CodeTimeout, …) and the Err sentinels are generated from the
// library's error-kind table into codes.go.

// String is the library's static description of the code.
func (c Code) String() string { return C.GoString(C.httpbatch_result_str(C.uint32_t(c))) }

// Error is a failed call or a failed item: its code and, when there is one, a message.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "httpbatch: " + e.Code.String()
	}
	return "httpbatch: " + e.Message
}

// Is makes errors.Is(err, ErrTimeout) (and the other sentinels) match any *Error of that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// ErrClosed is returned when a closed handle is used.
var ErrClosed = errors.New("httpbatch: use of a closed handle")

// Version is the library's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.httpbatch_version()) }

// cstr points C at the bytes of s for the duration of a call (C copies them; s has no Go
// pointers inside, so cgo allows it).
func cstr(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

type lastErrorFn func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result

func readLastError(fn lastErrorFn) string {
	var n C.size_t
	fn(nil, 0, &n)
	buf := make([]byte, int(n)+1)
	if fn((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n) != C.HTTPBATCH_RESULT_OK {
		return ""
	}
	return string(buf[:n])
}

func check(rc C.httpbatch_result, last lastErrorFn) error {
	if rc == C.HTTPBATCH_RESULT_OK {
		return nil
	}
	e := &Error{Code: Code(rc)}
	if last != nil {
		e.Message = readLastError(last)
	}
	return e
}

// Config configures an Executor. Zero fields keep the library's defaults.
type Config struct {
	Workers          int           // worker threads: the most requests in flight (default 32)
	Timeout          time.Duration // whole-exchange timeout per request (default 30s)
	ConnectTimeout   time.Duration // default 10s
	MaxBodySize      int64         // response body limit in bytes (default 10 MiB)
	MaxIdlePerOrigin int           // idle connections kept per origin (default 128)
	MaxRedirects     int           // -1: follow none; 0: the default (5)
	UserAgent        string        // default "httpbatch/VERSION"
	// Pool, if set, is the layer requests go through (retries, per-host caps, health); the
	// client settings above then belong to the pool and must be left zero.
	Pool *Pool
	// Limiter, if set, rate-limits every attempt (retries included): pool -> limiter -> executor.
	Limiter *Limiter
	// Net, if set, configures TLS and proxies (a client setting: with Pool, set PoolConfig.Net).
	Net *Net
	// Cache, if set, answers requests from a response cache (cache.go).
	Cache *CacheConfig
	// CompressBody, if above 0, gzips request bodies of at least this many bytes.
	CompressBody int
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
		if err := applyCache(b, cfg, set); err != nil {
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

// Request is one HTTP request. Only URL is required; Method defaults to GET.
type Request struct {
	Method             string
	URL                string
	Header             http.Header
	Body               []byte
	Timeout            time.Duration // 0: the executor's
	Tag                uint64        // reported back in the Item
	Priority           int32         // higher starts first; results stay in input order
	RetryNonIdempotent bool          // opt a POST/PATCH in to retries
}

// Progress of a running batch.
type Progress struct {
	Completed, Total, Succeeded, Failed uint64
	Percent                             float64
	Elapsed                             time.Duration
	Throughput                          float64       // items per second
	ETA                                 time.Duration // -1 while unknown
	Paused                              bool          // dispatch is paused now (see Control)
	PausedFor                           time.Duration // time spent paused so far
}

// Control pauses, resumes and cancels the batches it is given to (Options.Control), from any
// goroutine. Pausing stops dispatch: requests in flight finish, nothing new starts; the batch
// deadline keeps running while paused. Cancel ends the batch paused or not (items not started end
// OutcomeCancelled). One Control may steer several batches. Close it when done; a running batch
// keeps its own reference.
type Control struct {
	mu  sync.RWMutex
	ptr *C.httpbatch_control
}

// NewControl returns a Control that is neither paused nor cancelled.
func NewControl() (*Control, error) {
	c := &Control{}
	if err := check(C.httpbatch_control_new(&c.ptr), nil); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(c, (*Control).Close)
	return c, nil
}

func (c *Control) call(f func(*C.httpbatch_control) C.httpbatch_result) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return ErrClosed
	}
	return check(f(c.ptr), nil)
}

// Pause stops dispatch in every batch under this control. Idempotent.
func (c *Control) Pause() error {
	return c.call(func(p *C.httpbatch_control) C.httpbatch_result { return C.httpbatch_control_pause(p) })
}

// Resume continues dispatch. Idempotent.
func (c *Control) Resume() error {
	return c.call(func(p *C.httpbatch_control) C.httpbatch_result { return C.httpbatch_control_resume(p) })
}

// Cancel ends every batch under this control. Idempotent and final.
func (c *Control) Cancel() error {
	return c.call(func(p *C.httpbatch_control) C.httpbatch_result { return C.httpbatch_control_cancel(p) })
}

// Paused reports whether dispatch is paused (false once closed).
func (c *Control) Paused() bool {
	var paused C.bool
	if c.call(func(p *C.httpbatch_control) C.httpbatch_result {
		return C.httpbatch_control_is_paused(p, &paused)
	}) != nil {
		return false
	}
	return bool(paused)
}

// Close frees the control. Idempotent.
func (c *Control) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		C.httpbatch_control_free(c.ptr)
		c.ptr = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// Options of one Execute call. The zero value (or nil) runs everything with the executor's
// concurrency, no fail-fast, and no callback.
type Options struct {
	// FailFast: after the first failed item (an error outcome), start nothing more (NotRun).
	FailFast bool
	// FailFastStatus, with FailFast, also stops after a response whose status is at least this
	// (e.g. 500); 0 means only errors stop the batch.
	FailFastStatus int
	// Control pauses, resumes and cancels the batch from any goroutine (nil: none).
	Control        *Control
	Concurrency    int           // at most this many in flight (0: the worker count)
	RequestTimeout time.Duration // for requests that set none
	// OnProgress runs on the goroutine that called Execute, at most every ProgressInterval,
	// and once more at 100%; never after Execute returns.
	OnProgress       func(Progress)
	ProgressInterval time.Duration
}

// Outcome says how an item ended.
type Outcome uint32

// The outcomes.
const (
	OutcomeResponse  Outcome = C.HTTPBATCH_OUTCOME_RESPONSE
	OutcomeError     Outcome = C.HTTPBATCH_OUTCOME_ERROR
	OutcomeCancelled Outcome = C.HTTPBATCH_OUTCOME_CANCELLED
	OutcomeNotRun    Outcome = C.HTTPBATCH_OUTCOME_NOT_RUN
)

func (o Outcome) String() string {
	switch o {
	case OutcomeResponse:
		return "response"
	case OutcomeError:
		return "error"
	case OutcomeCancelled:
		return "cancelled"
	case OutcomeNotRun:
		return "not_run"
	}
	return fmt.Sprintf("Outcome(%d)", uint32(o))
}

// Item is one result, copied into Go memory.
type Item struct {
	Outcome  Outcome
	Status   int      // HTTP status of a response
	Err      error    // *Error for every outcome but a response
	Body     []byte   // response body
	headers  []string // response headers: canonical name, value, name, value, ...
	URL      string   // URL that answered, after redirects
	Tag      uint64
	Attempts int
	Queued   time.Duration
	Wire     time.Duration
	Total    time.Duration
}

// Header returns the response headers as a new http.Header (canonical keys).
func (it *Item) Header() http.Header {
	h := make(http.Header, len(it.headers)/2)
	for i := 0; i+1 < len(it.headers); i += 2 {
		h[it.headers[i]] = append(h[it.headers[i]], it.headers[i+1])
	}
	return h
}

// HeaderValue returns the first value of response header name (case-insensitive), or "".
// Unlike Header it builds no map.
func (it *Item) HeaderValue(name string) string {
	for i := 0; i+1 < len(it.headers); i += 2 {
		if strings.EqualFold(it.headers[i], name) {
			return it.headers[i+1]
		}
	}
	return ""
}

// Summary of a run.
type Summary struct {
	Total, Succeeded, Responses, Errors, Cancelled, NotRun uint64
	StatusClasses                                          [5]uint64 // 1xx..5xx
	Duration                                               time.Duration
	Throughput                                             float64
	Latency                                                Latency
}

// Latency percentiles.
type Latency struct {
	Count                    uint64
	Mean, P50, P90, P99, Max time.Duration
}

func latencyFrom(l C.httpbatch_latency) Latency {
	us := func(v C.uint64_t) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{Count: uint64(l.count), Mean: us(l.mean_us), P50: us(l.p50_us), P90: us(l.p90_us), P99: us(l.p99_us), Max: us(l.max_us)}
}

// Result holds the items of a run, in input order, in C memory until Close (or until the
// garbage collector finds it unreachable). Items are copied into Go memory when read. Not safe
// for concurrent use.
type Result struct {
	ptr     *C.httpbatch_batch_result
	n       int
	Summary Summary
}

// Len is the number of items (one per request).
func (r *Result) Len() int { return r.n }

// Item copies item i into Go memory.
func (r *Result) Item(i int) (Item, error) {
	items, err := r.items(i, 1)
	if err != nil {
		return Item{}, err
	}
	return items[0], nil
}

// Items copies every item into Go memory (in two cgo calls, whatever the count).
func (r *Result) Items() ([]Item, error) {
	return r.items(0, r.n)
}

// itemChunk is how many C items are read per cgo call: large enough to make the call cost
// negligible, small enough that the scratch arrays stay off the garbage collector's back.
const itemChunk = 512

func (r *Result) items(start, count int) ([]Item, error) {
	if r.ptr == nil {
		return nil, ErrClosed
	}
	out := make([]Item, count)
	// Scratch arrays in C memory: they hold C pointers, and cgo would scan Go memory passed to
	// C for Go pointers on every call.
	csPtr := (*C.httpbatch_item)(C.malloc(C.size_t(itemChunk) * C.size_t(unsafe.Sizeof(C.httpbatch_item{}))))
	defer C.free(unsafe.Pointer(csPtr))
	cs := unsafe.Slice(csPtr, itemChunk)
	var hsPtr *C.httpbatch_header
	defer func() { C.free(unsafe.Pointer(hsPtr)) }()
	var hs []C.httpbatch_header
	for done := 0; done < count; {
		n := count - done
		if n > itemChunk {
			n = itemChunk
		}
		cs[0].struct_size = C.size_t(unsafe.Sizeof(cs[0]))
		if err := check(C.httpbatch_batch_result_items(r.ptr, C.size_t(start+done), C.size_t(n), &cs[0]), nil); err != nil {
			return nil, err
		}
		total := 0
		for i := 0; i < n; i++ {
			total += int(cs[i].header_count)
		}
		if cap(hs) < total {
			C.free(unsafe.Pointer(hsPtr))
			hsPtr = (*C.httpbatch_header)(C.malloc(C.size_t(total) * C.size_t(unsafe.Sizeof(C.httpbatch_header{}))))
			hs = unsafe.Slice(hsPtr, total)
		}
		hs = hs[:total]
		if total > 0 {
			var got C.size_t
			if err := check(C.httpbatch_batch_result_headers_range(r.ptr, C.size_t(start+done), C.size_t(n), &hs[0], C.size_t(total), &got), nil); err != nil {
				return nil, err
			}
		}
		var need C.size_t
		C.httpbatch_batch_result_copy_bytes(r.ptr, C.size_t(start+done), C.size_t(n), nil, 0, &need)
		slab := make([]byte, int(need))
		if need > 0 {
			if err := check(C.httpbatch_batch_result_copy_bytes(r.ptr, C.size_t(start+done), C.size_t(n), (*C.uint8_t)(unsafe.Pointer(&slab[0])), need, nil), nil); err != nil {
				return nil, err
			}
		}
		fillItems(out[done:done+n], cs[:n], hs, slab)
		done += n
	}
	return out, nil
}

// fillItems builds Go items from C items, their headers (laid one item after the other) and
// slab, the chunk's bytes copied in one call (httpbatch_batch_result_copy_bytes: per response,
// URL, body, then each header's name and value). Bodies are capped sub-slices of the slab; URLs,
// header names and values are strings over it, which is never written again (header names are
// canonicalised in place first). A batch of 20,000 small responses thus costs a few allocations
// per chunk rather than several per item, which keeps the garbage collector from competing with
// the worker threads for CPU.
func fillItems(out []Item, cs []C.httpbatch_item, hs []C.httpbatch_header, slab []byte) {
	us := func(v C.uint64_t) time.Duration { return time.Duration(v) * time.Microsecond }
	headerStrings := make([]string, 2*len(hs)) // name, value, name, value, ... for the chunk
	at := 0
	next := func(n int) []byte {
		b := slab[at : at+n : at+n]
		at += n
		return b
	}
	str := func(b []byte) string {
		if len(b) == 0 {
			return ""
		}
		return unsafe.String(&b[0], len(b))
	}
	for i := range cs {
		it := &cs[i]
		o := &out[i]
		*o = Item{
			Outcome:  Outcome(it.outcome),
			Status:   int(it.status),
			Tag:      uint64(it.tag),
			Attempts: int(it.attempts),
			Queued:   us(it.queued_us),
			Wire:     us(it.wire_us),
			Total:    us(it.total_us),
		}
		own := hs[:it.header_count]
		pairs := headerStrings[: 2*len(own) : 2*len(own)]
		hs, headerStrings = hs[it.header_count:], headerStrings[2*len(own):]
		if o.Outcome != OutcomeResponse {
			o.Err = &Error{Code: Code(it.code), Message: C.GoStringN(it.error_message, C.int(it.error_message_len))}
			continue
		}
		o.URL = str(next(int(it.url_len)))
		o.Body = next(int(it.body_len))
		for j := range own {
			name := next(int(own[j].name_len))
			pairs[2*j] = canonicalKey(name)
			pairs[2*j+1] = str(next(int(own[j].value_len)))
		}
		o.headers = pairs
	}
}

// canonicalKey returns name in the canonical form http.Header uses ("content-length" ->
// "Content-Length"), rewriting the common alphanumeric names in place in the slab.
func canonicalKey(name []byte) string {
	for _, c := range name {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return http.CanonicalHeaderKey(string(name))
		}
	}
	upper := true
	for i, c := range name {
		switch {
		case upper && c >= 'a' && c <= 'z':
			name[i] = c - ('a' - 'A')
		case !upper && c >= 'A' && c <= 'Z':
			name[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	if len(name) == 0 {
		return ""
	}
	return unsafe.String(&name[0], len(name))
}

// Close frees the C memory. Idempotent.
func (r *Result) Close() error {
	if r.ptr != nil {
		C.httpbatch_batch_result_free(r.ptr)
		r.ptr = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// progressState is what the cgo.Handle passed to C refers to.
type progressState struct {
	fn    func(Progress)
	panic any
}

//export httpbatchGoProgress
func httpbatchGoProgress(p *C.httpbatch_progress, handle C.uintptr_t) {
	st := cgo.Handle(handle).Value().(*progressState)
	if st.panic != nil {
		return
	}
	// A Go panic must not unwind through the C frames: keep it and re-panic after Execute.
	defer func() {
		if v := recover(); v != nil {
			st.panic = v
		}
	}()
	st.fn(Progress{
		Completed:  uint64(p.completed),
		Total:      uint64(p.total),
		Succeeded:  uint64(p.succeeded),
		Failed:     uint64(p.failed),
		Percent:    float64(p.percent),
		Elapsed:    time.Duration(p.elapsed_us) * time.Microsecond,
		Throughput: float64(p.throughput),
		ETA:        etaFrom(int64(p.eta_us)),
		Paused:     bool(p.paused),
		PausedFor:  time.Duration(p.paused_us) * time.Microsecond,
	})
}

func etaFrom(us int64) time.Duration {
	if us < 0 {
		return -1
	}
	return time.Duration(us) * time.Microsecond
}

func isPlainGet(r *Request) bool {
	return (r.Method == "" || r.Method == "GET") && len(r.Header) == 0 && len(r.Body) == 0 &&
		r.Timeout == 0 && r.Tag == 0 && r.Priority == 0 && !r.RetryNonIdempotent
}

// addRequests copies the requests into the C batch, in order: runs of plain GETs go in one
// httpbatch_batch_add_gets call each, other requests one by one.
func addRequests(batch *C.httpbatch_batch, requests []Request) error {
	plain, size := 0, 0
	for i := range requests {
		if isPlainGet(&requests[i]) {
			plain++
			size += len(requests[i].URL)
		}
	}
	urls := make([]byte, 0, size)
	lens := make([]C.size_t, 0, plain)
	first := 0 // index of the first request of the pending run
	flush := func() error {
		if len(lens) == 0 {
			return nil
		}
		var p *C.char
		if len(urls) > 0 {
			p = (*C.char)(unsafe.Pointer(&urls[0]))
		}
		if C.httpbatch_batch_add_gets(batch, p, &lens[0], C.size_t(len(lens))) != C.HTTPBATCH_RESULT_OK {
			// Nothing was added; find the culprit one by one (the batch is dropped on error).
			for j := range lens {
				if err := addRequest(batch, &requests[first+j]); err != nil {
					return fmt.Errorf("request %d: %w", first+j, err)
				}
			}
		}
		urls, lens = urls[:0], lens[:0]
		return nil
	}
	for i := range requests {
		r := &requests[i]
		if isPlainGet(r) {
			if len(lens) == 0 {
				first = i
			}
			urls = append(urls, r.URL...)
			lens = append(lens, C.size_t(len(r.URL)))
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := addRequest(batch, r); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
	}
	return flush()
}

// addRequest copies one request with options into the C batch.
func addRequest(batch *C.httpbatch_batch, r *Request) error {
	var req *C.httpbatch_request
	if err := check(C.httpbatch_request_new(&req), nil); err != nil {
		return err
	}
	defer C.httpbatch_request_free(req)
	last := func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_request_last_error(req, buf, n, out)
	}
	if r.Method != "" {
		p, n := cstr(r.Method)
		if err := check(C.httpbatch_request_set_method(req, p, n), last); err != nil {
			return err
		}
	}
	p, n := cstr(r.URL)
	if err := check(C.httpbatch_request_set_url(req, p, n), last); err != nil {
		return err
	}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			kp, kn := cstr(k)
			vp, vn := cstr(v)
			if err := check(C.httpbatch_request_add_header(req, kp, kn, vp, vn), last); err != nil {
				return err
			}
		}
	}
	if len(r.Body) > 0 {
		if err := check(C.httpbatch_request_set_body(req, (*C.uint8_t)(unsafe.Pointer(&r.Body[0])), C.size_t(len(r.Body))), last); err != nil {
			return err
		}
	}
	if r.Timeout > 0 {
		C.httpbatch_request_set_timeout_ms(req, millis(r.Timeout))
	}
	C.httpbatch_request_set_tag(req, C.uint64_t(r.Tag))
	C.httpbatch_request_set_priority(req, C.int32_t(r.Priority))
	C.httpbatch_request_set_retry_non_idempotent(req, C.bool(r.RetryNonIdempotent))
	return check(C.httpbatch_batch_add(batch, req), func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_batch_last_error(batch, buf, n, out)
	})
}

// Execute runs every request and returns one item per request, in input order. It blocks until
// every item has settled, or ctx ended (cancellation or deadline), fail-fast tripped, and the
// requests in flight were interrupted.
//
// Cancelling ctx cancels the batch from a watching goroutine: items not finished end
// OutcomeCancelled. A ctx deadline becomes the batch deadline: items not started end
// OutcomeNotRun, items in flight end with ErrDeadlineExceeded. When ctx ended before every item
// succeeded or failed on its own, Execute returns the partial result together with ctx.Err().
//
// An invalid request (bad URL, header with CR/LF, …) fails the whole call before anything is
// sent, with an error that wraps the *Error and names the request's index.
//
// Close the Result when done with it.
func (e *Executor) Execute(ctx context.Context, requests []Request, opts *Options) (*Result, error) {
	if opts == nil {
		opts = &Options{}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return nil, ErrClosed
	}
	var batch *C.httpbatch_batch
	if err := check(C.httpbatch_batch_new(&batch), nil); err != nil {
		return nil, err
	}
	defer C.httpbatch_batch_free(batch)
	if err := addRequests(batch, requests); err != nil {
		return nil, err
	}
	if opts.FailFast {
		C.httpbatch_batch_set_fail_fast(batch, true)
	}
	if opts.FailFastStatus > 0 {
		C.httpbatch_batch_set_fail_fast_status(batch, C.uint16_t(min(opts.FailFastStatus, 1000)))
	}
	if opts.Control != nil {
		opts.Control.mu.RLock()
		if opts.Control.ptr == nil {
			opts.Control.mu.RUnlock()
			return nil, ErrClosed
		}
		C.httpbatch_batch_set_control(batch, opts.Control.ptr)
		opts.Control.mu.RUnlock()
	}
	if opts.Concurrency > 0 {
		C.httpbatch_batch_set_concurrency(batch, C.size_t(opts.Concurrency))
	}
	if opts.RequestTimeout > 0 {
		C.httpbatch_batch_set_request_timeout_ms(batch, millis(opts.RequestTimeout))
	}
	deadline, hasDeadline := ctx.Deadline()
	if hasDeadline {
		// Rounded up, so the batch never stops before ctx's deadline has passed.
		left := time.Until(deadline) + time.Millisecond - 1
		if left < time.Millisecond {
			left = time.Millisecond
		}
		C.httpbatch_batch_set_deadline_ms(batch, C.uint64_t(left.Milliseconds()))
	}
	var token *C.httpbatch_cancel_token
	if err := check(C.httpbatch_cancel_token_new(&token), nil); err != nil {
		return nil, err
	}
	defer C.httpbatch_cancel_token_free(token)
	C.httpbatch_batch_set_cancel_token(batch, token)

	var state *progressState
	if opts.OnProgress != nil {
		state = &progressState{fn: opts.OnProgress}
		h := cgo.NewHandle(state)
		defer h.Delete()
		C.hbgo_set_progress(batch, C.uintptr_t(h), millis(opts.ProgressInterval))
	}

	// Watch ctx: cancellation cancels the token. A deadline is left to the batch deadline set
	// above, so expired items report DeadlineExceeded/NotRun rather than Cancelled.
	done := make(chan struct{})
	var watcher sync.WaitGroup
	if ctx.Done() != nil {
		watcher.Add(1)
		go func() {
			defer watcher.Done()
			select {
			case <-ctx.Done():
				if !(hasDeadline && errors.Is(ctx.Err(), context.DeadlineExceeded)) {
					C.httpbatch_cancel_token_cancel(token)
				}
			case <-done:
			}
		}()
	}
	var res *C.httpbatch_batch_result
	rc := C.httpbatch_executor_execute(e.ptr, batch, &res)
	close(done)
	watcher.Wait()
	if state != nil && state.panic != nil {
		if res != nil {
			C.httpbatch_batch_result_free(res)
		}
		panic(state.panic)
	}
	if err := check(rc, func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_executor_last_error(e.ptr, buf, n, out)
	}); err != nil {
		return nil, err
	}
	r := &Result{ptr: res}
	var n C.size_t
	C.httpbatch_batch_result_len(res, &n)
	r.n = int(n)
	var s C.httpbatch_batch_summary
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	if err := check(C.httpbatch_batch_result_summary(res, &s), nil); err != nil {
		C.httpbatch_batch_result_free(res)
		return nil, err
	}
	r.Summary = Summary{
		Total: uint64(s.total), Succeeded: uint64(s.succeeded), Responses: uint64(s.responses),
		Errors: uint64(s.errors), Cancelled: uint64(s.cancelled), NotRun: uint64(s.not_run),
		Duration: time.Duration(s.duration_us) * time.Microsecond, Throughput: float64(s.throughput),
		Latency: latencyFrom(s.latency),
	}
	for i := range r.Summary.StatusClasses {
		r.Summary.StatusClasses[i] = uint64(s.status_classes[i])
	}
	runtime.SetFinalizer(r, (*Result).Close)
	err := ctx.Err()
	if err == nil && hasDeadline && !time.Now().Before(deadline) {
		// The batch deadline fired just as ctx's timer is about to.
		err = context.DeadlineExceeded
	}
	if err != nil && (r.Summary.Cancelled > 0 || r.Summary.NotRun > 0 || r.Summary.Errors > 0) {
		return r, err
	}
	return r, nil
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
