package httpbatch

/*
#include <stdlib.h>
#include "httpbatch.h"
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

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
	headers  []string // response headers: name (any case), value, name, value, ...
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
		k := http.CanonicalHeaderKey(it.headers[i])
		h[k] = append(h[k], it.headers[i+1])
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
	var lensPtr *C.size_t
	defer func() { C.free(unsafe.Pointer(lensPtr)) }()
	var lens []C.size_t
	for done := 0; done < count; {
		n := count - done
		if n > itemChunk {
			n = itemChunk
		}
		cs[0].struct_size = C.size_t(unsafe.Sizeof(cs[0]))
		if err := check(C.httpbatch_batch_result_items(r.ptr, C.size_t(start+done), C.size_t(n), &cs[0]), nil); err != nil {
			return nil, err
		}
		// The room the chunk needs: two lengths per header, and per response its URL, body and
		// header text; then one C call copies the bytes and writes the lengths.
		nl, need := 0, 0
		for i := 0; i < n; i++ {
			nl += 2 * int(cs[i].header_count)
			if cs[i].outcome == C.HTTPBATCH_OUTCOME_RESPONSE {
				need += int(cs[i].url_len) + int(cs[i].body_len) + int(cs[i].headers_len)
			}
		}
		if cap(lens) < nl {
			C.free(unsafe.Pointer(lensPtr))
			lensPtr = (*C.size_t)(C.malloc(C.size_t(nl) * C.size_t(unsafe.Sizeof(C.size_t(0)))))
			lens = unsafe.Slice(lensPtr, nl)
		}
		lens = lens[:nl]
		slab := make([]byte, need)
		if need > 0 || nl > 0 {
			var lp *C.size_t
			if nl > 0 {
				lp = &lens[0]
			}
			var bp *C.uint8_t
			if need > 0 {
				bp = (*C.uint8_t)(unsafe.Pointer(&slab[0]))
			}
			if err := check(C.httpbatch_batch_result_copy_range(r.ptr, C.size_t(start+done), C.size_t(n), lp, C.size_t(nl), bp, C.size_t(need)), nil); err != nil {
				return nil, err
			}
		}
		fillItems(out[done:done+n], cs[:n], lens, slab)
		done += n
	}
	return out, nil
}

// fillItems builds Go items from C items, their header lengths (name, value, name, ...; laid one
// item after the other) and slab, the chunk's bytes copied in the same call
// (httpbatch_batch_result_copy_range: per response, URL, body, then each header's name and
// value). Bodies are capped sub-slices of the slab; URLs,
// header names and values are strings over it, which is never written again. A batch of 20,000
// small responses thus costs a few allocations per chunk rather than several per item, which
// keeps the garbage collector from competing with the worker threads for CPU. Header names stay
// as received (lower case): Header puts them in canonical form when it builds its map,
// HeaderValue compares without regard to case.
func fillItems(out []Item, cs []C.httpbatch_item, lens []C.size_t, slab []byte) {
	us := func(v C.uint64_t) time.Duration { return time.Duration(v) * time.Microsecond }
	headerStrings := make([]string, len(lens)) // name, value, name, value, ... for the chunk
	// at is the next byte of slab.
	at := 0
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
		nh := int(it.header_count)
		own := lens[: 2*nh : 2*nh]
		pairs := headerStrings[: 2*nh : 2*nh]
		lens, headerStrings = lens[2*nh:], headerStrings[2*nh:]
		if o.Outcome != OutcomeResponse {
			o.Err = &Error{Code: Code(it.code), Message: C.GoStringN(it.error_message, C.int(it.error_message_len))}
			continue
		}
		o.URL, at = slabString(slab, at, int(it.url_len))
		end := at + int(it.body_len)
		o.Body = slab[at:end:end]
		at = end
		for j := range pairs {
			pairs[j], at = slabString(slab, at, int(own[j]))
		}
		o.headers = pairs
	}
}

// slabString returns the n bytes of slab from at as a string over slab, and the offset after
// them.
func slabString(slab []byte, at, n int) (string, int) {
	if n == 0 {
		return "", at
	}
	return unsafe.String(&slab[at : at+n][0], n), at + n
}

// canonicalKey returns name in the canonical form http.Header uses ("content-length" ->
// "Content-Length"), rewriting the common alphanumeric names in place (name is the caller's
// copy).
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
