package httpbatch

/*
#include "httpbatch.h"
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// EventKind says what an Event reports.
type EventKind uint32

// The event kinds.
const (
	EventStarted   EventKind = C.HTTPBATCH_EVENT_KIND_STARTED   // a worker started item Index
	EventCompleted EventKind = C.HTTPBATCH_EVENT_KIND_COMPLETED // item Index got a response below 400
	EventFailed    EventKind = C.HTTPBATCH_EVENT_KIND_FAILED    // item Index settled otherwise
	EventPaused    EventKind = C.HTTPBATCH_EVENT_KIND_PAUSED    // dispatch paused
	EventResumed   EventKind = C.HTTPBATCH_EVENT_KIND_RESUMED   // dispatch resumed after PausedFor
	EventDrained   EventKind = C.HTTPBATCH_EVENT_KIND_DRAINED   // every item has settled; the last event
)

// Event is one per-item or run event (Options.OnEvent).
type Event struct {
	Kind      EventKind
	Index     int           // the item's input index (Started, Completed, Failed)
	Item      *Item         // the settled item (Completed, Failed), copied into Go memory
	PausedFor time.Duration // how long the pause lasted (Resumed)
}

type eventState struct {
	fn    func(Event)
	panic any
}

//export httpbatchGoEvent
func httpbatchGoEvent(e *C.httpbatch_event, handle C.uintptr_t) {
	st := cgo.Handle(handle).Value().(*eventState)
	if st.panic != nil {
		return
	}
	// A Go panic must not unwind through the C frames: keep it and re-panic after the run.
	defer func() {
		if v := recover(); v != nil {
			st.panic = v
		}
	}()
	ev := Event{Kind: EventKind(e.kind), Index: int(e.index), PausedFor: time.Duration(e.paused_us) * time.Microsecond}
	if e.item != nil {
		it := itemFromC(e.item, nil)
		ev.Item = &it
	}
	st.fn(ev)
}

// itemFromC copies a C item (and its response headers, header_count of them at headers) into
// Go memory.
func itemFromC(c *C.httpbatch_item, headers *C.httpbatch_header) Item {
	us := func(v C.uint64_t) time.Duration { return time.Duration(v) * time.Microsecond }
	it := Item{
		Outcome: Outcome(c.outcome), Status: int(c.status), Tag: uint64(c.tag),
		Attempts: int(c.attempts), Queued: us(c.queued_us), Wire: us(c.wire_us), Total: us(c.total_us),
	}
	if it.Outcome != OutcomeResponse {
		it.Err = &Error{Code: Code(c.code), Message: C.GoStringN(c.error_message, C.int(c.error_message_len))}
		return it
	}
	it.URL = C.GoStringN(c.url, C.int(c.url_len))
	it.Body = C.GoBytes(unsafe.Pointer(c.body), C.int(c.body_len))
	if headers != nil && c.header_count > 0 {
		hs := unsafe.Slice(headers, int(c.header_count))
		it.headers = make([]string, 0, 2*len(hs))
		for _, h := range hs {
			name := C.GoBytes(unsafe.Pointer(h.name), C.int(h.name_len))
			it.headers = append(it.headers, canonicalKey(name), C.GoStringN(h.value, C.int(h.value_len)))
		}
	}
	return it
}

type streamState struct {
	fn    func(index int, item Item)
	panic any
}

//export httpbatchGoItem
func httpbatchGoItem(index C.size_t, item *C.httpbatch_item, headers *C.httpbatch_header, handle C.uintptr_t) {
	st := cgo.Handle(handle).Value().(*streamState)
	if st.panic != nil {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			st.panic = v
		}
	}()
	st.fn(int(index), itemFromC(item, headers))
}

// ExecuteStreaming runs every request like Execute, but hands each item to fn as it settles (in
// completion order, with its input index) instead of keeping the results: memory stays bounded
// by what is queued and in flight, whatever the number of requests. fn runs on the calling
// goroutine, once per request, before ExecuteStreaming returns. A panic in fn is raised again
// once the run has settled. The summary and error follow Execute's rules.
func (e *Executor) ExecuteStreaming(ctx context.Context, requests []Request, opts *Options, fn func(index int, item Item)) (Summary, error) {
	if fn == nil {
		return Summary{}, errors.New("httpbatch: ExecuteStreaming needs a function")
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return Summary{}, ErrClosed
	}
	run, err := startRun(ctx, requests, opts)
	if err != nil {
		return Summary{}, err
	}
	st := &streamState{fn: fn}
	h := cgo.NewHandle(st)
	var s C.httpbatch_batch_summary
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	rc := C.hbgo_execute_streaming(e.ptr, run.batch, C.uintptr_t(h), &s)
	h.Delete()
	p := run.finish()
	if p == nil {
		p = st.panic
	}
	if p != nil {
		panic(p)
	}
	if err := check(rc, func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_executor_last_error(e.ptr, buf, n, out)
	}); err != nil {
		return Summary{}, err
	}
	sum := summaryFrom(&s)
	return sum, run.err(ctx, &sum)
}

// ErrWouldBlock is what TryExecute returns when the rate limiter has no token now.
var ErrWouldBlock = errors.New("httpbatch: the rate limiter has no token now")

// TryExecute sends r through the executor's rate limiter (Config.Limiter) without waiting: when
// a token is available now, r runs on the calling goroutine (through the pool and its retries)
// and its Item is returned. When none is, nothing is sent: it returns ErrWouldBlock and how long
// until a token should be available (another caller may take it first). A request that fails
// validation gives an Item holding its error. Without a limiter it fails with ErrNotFound.
func (e *Executor) TryExecute(r Request) (Item, time.Duration, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return Item{}, 0, ErrClosed
	}
	req, err := newCRequest(&r)
	if err != nil {
		return Item{}, 0, err
	}
	defer C.httpbatch_request_free(req)
	var res *C.httpbatch_batch_result
	var waitUs C.uint64_t
	if err := check(C.httpbatch_executor_try_execute(e.ptr, req, &res, &waitUs), func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_executor_last_error(e.ptr, buf, n, out)
	}); err != nil {
		return Item{}, 0, err
	}
	if res == nil {
		wait := time.Duration(waitUs) * time.Microsecond
		if uint64(waitUs) >= uint64(1<<63-1)/1000 {
			wait = time.Duration(1<<63 - 1)
		}
		return Item{}, wait, ErrWouldBlock
	}
	result := &Result{ptr: res, n: 1}
	defer result.Close()
	it, err := result.Item(0)
	return it, 0, err
}

// healthCallbacks maps the ids given to C to the pools' OnHealthChange functions. A pool's
// entry goes when the Pool is closed: executors may keep the C pool (and its health thread)
// alive longer, and their late calls find nothing and are dropped.
var (
	healthCallbacks sync.Map // uintptr -> func(string, HealthState, HealthState)
	healthNextID    atomic.Uintptr
)

//export httpbatchGoHealth
func httpbatchGoHealth(origin *C.char, originLen C.size_t, old, new C.httpbatch_health_state, id C.uintptr_t) {
	f, ok := healthCallbacks.Load(uintptr(id))
	if !ok {
		return
	}
	// A panic must not unwind into the health thread's C frames.
	defer func() { _ = recover() }()
	f.(func(string, HealthState, HealthState))(C.GoStringN(origin, C.int(originLen)), HealthState(old), HealthState(new))
}

// setOnHealthChange registers fn on the pool builder and returns its registry id (0: none).
func setOnHealthChange(b *C.httpbatch_pool_builder, fn func(origin string, old, new HealthState)) (uintptr, C.httpbatch_result) {
	if fn == nil {
		return 0, C.HTTPBATCH_RESULT_OK
	}
	id := healthNextID.Add(1)
	healthCallbacks.Store(id, fn)
	return id, C.hbgo_set_on_health_change(b, C.uintptr_t(id))
}
