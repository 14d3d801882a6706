package httpbatch

/*
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
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

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
	// OnEvent runs on the goroutine that called Execute (or ExecuteStreaming) for every item
	// started, completed and failed, when dispatch pauses and resumes, and once at the end
	// (EventDrained); never after the call returns.
	OnEvent func(Event)
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

// isPlainGet says whether r can go into an httpbatch_batch_add_gets run: a GET with nothing but
// a URL. Whether the URL is UTF-8 is left to the C side, which checks a whole run at once (see
// addGets).
func isPlainGet(r *Request) bool {
	return (r.Method == "" || r.Method == "GET") && len(r.Header) == 0 && len(r.Body) == 0 &&
		r.Timeout == 0 && r.Tag == 0 && r.Priority == 0 && !r.RetryNonIdempotent
}

// addRequests copies the requests into the C batch, in order: runs of plain GETs go in one
// httpbatch_batch_add_gets call each, other requests one by one. A request that fails validation
// is added all the same: the C batch keeps its error in its slot.
func addRequests(batch *C.httpbatch_batch, requests []Request) error {
	size := 0 // room for every URL: runs of plain GETs never need more
	for i := range requests {
		size += len(requests[i].URL)
	}
	urls := make([]byte, 0, size)
	lens := make([]C.size_t, 0, len(requests))
	first := 0 // index of the first request of the pending run
	flush := func() error {
		if len(lens) == 0 {
			return nil
		}
		err := addGets(batch, requests[first:first+len(lens)], first, urls, lens)
		urls, lens = urls[:0], lens[:0]
		return err
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

// addGets adds run, plain GETs whose URLs are urls (lens[i] bytes each, back to back), as
// requests first, first+1, ... The C side checks the whole run's UTF-8 in one pass and adds
// nothing when a URL is not UTF-8; only then is each URL checked here, so that the invalid ones
// go in one by one and end as error items in their own slots (ErrInvalidURL), like any request
// that fails validation, while the valid ones around them still go in runs.
func addGets(batch *C.httpbatch_batch, run []Request, first int, urls []byte, lens []C.size_t) error {
	var p *C.char
	if len(urls) > 0 {
		p = (*C.char)(unsafe.Pointer(&urls[0]))
	}
	rc := C.httpbatch_batch_add_gets(batch, p, &lens[0], C.size_t(len(lens)))
	if rc == C.HTTPBATCH_RESULT_INVALID_UTF8 {
		return addGetsChecked(batch, run, first, urls, lens)
	}
	if err := check(rc, batchLastError(batch)); err != nil {
		return fmt.Errorf("requests %d..%d: %w", first, first+len(lens)-1, err)
	}
	return nil
}

// addGetsChecked is addGets for a run with a URL that is not UTF-8: runs of valid URLs go in
// one call each, the others one by one through httpbatch_request_set_url, which keeps the
// error in the request.
func addGetsChecked(batch *C.httpbatch_batch, run []Request, first int, urls []byte, lens []C.size_t) error {
	at, start, startAt := 0, 0, 0 // bytes used so far; the pending valid sub-run and its offset
	flush := func(end int) error {
		if end == start {
			return nil
		}
		sub := urls[startAt:at]
		var p *C.char
		if len(sub) > 0 {
			p = (*C.char)(unsafe.Pointer(&sub[0]))
		}
		rc := C.httpbatch_batch_add_gets(batch, p, &lens[start], C.size_t(end-start))
		if err := check(rc, batchLastError(batch)); err != nil {
			return fmt.Errorf("requests %d..%d: %w", first+start, first+end-1, err)
		}
		return nil
	}
	for i := range run {
		if utf8.ValidString(run[i].URL) {
			at += int(lens[i])
			continue
		}
		if err := flush(i); err != nil {
			return err
		}
		if err := addRequest(batch, &run[i]); err != nil {
			return fmt.Errorf("request %d: %w", first+i, err)
		}
		at += int(lens[i])
		start, startAt = i+1, at
	}
	return flush(len(run))
}

func batchLastError(batch *C.httpbatch_batch) lastErrorFn {
	return func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_batch_last_error(batch, buf, n, out)
	}
}

// addRequest copies one request with options into the C batch. The setters' validation errors
// are not returned: the C request keeps the first one, and the batch ends it in its slot.
func addRequest(batch *C.httpbatch_batch, r *Request) error {
	req, err := newCRequest(r)
	if err != nil {
		return err
	}
	defer C.httpbatch_request_free(req)
	return check(C.httpbatch_batch_add(batch, req), batchLastError(batch))
}

// newCRequest copies r into a new C request (free it with httpbatch_request_free). The setters'
// validation errors are kept by the C request, which then ends as an error item.
func newCRequest(r *Request) (*C.httpbatch_request, error) {
	var req *C.httpbatch_request
	if err := check(C.httpbatch_request_new(&req), nil); err != nil {
		return nil, err
	}
	if r.Method != "" {
		p, n := cstr(r.Method)
		C.httpbatch_request_set_method(req, p, n)
	}
	p, n := cstr(r.URL)
	C.httpbatch_request_set_url(req, p, n)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			kp, kn := cstr(k)
			vp, vn := cstr(v)
			C.httpbatch_request_add_header(req, kp, kn, vp, vn)
		}
	}
	if len(r.Body) > 0 {
		C.httpbatch_request_set_body(req, (*C.uint8_t)(unsafe.Pointer(&r.Body[0])), C.size_t(len(r.Body)))
	}
	if r.Timeout > 0 {
		C.httpbatch_request_set_timeout_ms(req, millis(r.Timeout))
	}
	C.httpbatch_request_set_tag(req, C.uint64_t(r.Tag))
	C.httpbatch_request_set_priority(req, C.int32_t(r.Priority))
	C.httpbatch_request_set_retry_non_idempotent(req, C.bool(r.RetryNonIdempotent))
	return req, nil
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
// An invalid request (bad URL, header with CR/LF, unknown method, …) is not sent: its Item is
// OutcomeError with the *Error (ErrInvalidURL, ErrInvalidHeader, …), and the other requests run.
//
// Close the Result when done with it.
func (e *Executor) Execute(ctx context.Context, requests []Request, opts *Options) (*Result, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return nil, ErrClosed
	}
	run, err := startRun(ctx, requests, opts)
	if err != nil {
		return nil, err
	}
	var res *C.httpbatch_batch_result
	rc := C.httpbatch_executor_execute(e.ptr, run.batch, &res)
	if p := run.finish(); p != nil {
		if res != nil {
			C.httpbatch_batch_result_free(res)
		}
		panic(p)
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
	r.Summary = summaryFrom(&s)
	runtime.SetFinalizer(r, (*Result).Close)
	return r, run.err(ctx, &r.Summary)
}

func summaryFrom(s *C.httpbatch_batch_summary) Summary {
	out := Summary{
		Total: uint64(s.total), Succeeded: uint64(s.succeeded), Responses: uint64(s.responses),
		Errors: uint64(s.errors), Cancelled: uint64(s.cancelled), NotRun: uint64(s.not_run),
		Duration: time.Duration(s.duration_us) * time.Microsecond, Throughput: float64(s.throughput),
		Latency: latencyFrom(s.latency),
	}
	for i := range out.StatusClasses {
		out.StatusClasses[i] = uint64(s.status_classes[i])
	}
	return out
}

// batchRun is one run's C batch and what watches it: the cancel token ctx drives, the callbacks'
// handles. finish releases everything.
type batchRun struct {
	batch       *C.httpbatch_batch
	token       *C.httpbatch_cancel_token
	handles     []cgo.Handle
	progress    *progressState
	events      *eventState
	deadline    time.Time
	hasDeadline bool
	done        chan struct{}
	watcher     sync.WaitGroup
}

// startRun builds the C batch from the requests and options, and starts watching ctx:
// cancellation cancels the token; a deadline becomes the batch deadline, so expired items report
// DeadlineExceeded/NotRun rather than Cancelled.
func startRun(ctx context.Context, requests []Request, opts *Options) (*batchRun, error) {
	if opts == nil {
		opts = &Options{}
	}
	r := &batchRun{done: make(chan struct{})}
	if err := check(C.httpbatch_batch_new(&r.batch), nil); err != nil {
		return nil, err
	}
	fail := func(err error) (*batchRun, error) {
		r.release()
		return nil, err
	}
	if err := addRequests(r.batch, requests); err != nil {
		return fail(err)
	}
	batch := r.batch
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
			return fail(ErrClosed)
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
	r.deadline, r.hasDeadline = ctx.Deadline()
	if r.hasDeadline {
		// Rounded up, so the batch never stops before ctx's deadline has passed.
		left := time.Until(r.deadline) + time.Millisecond - 1
		if left < time.Millisecond {
			left = time.Millisecond
		}
		C.httpbatch_batch_set_deadline_ms(batch, C.uint64_t(left.Milliseconds()))
	}
	if err := check(C.httpbatch_cancel_token_new(&r.token), nil); err != nil {
		return fail(err)
	}
	C.httpbatch_batch_set_cancel_token(batch, r.token)
	if opts.OnProgress != nil {
		r.progress = &progressState{fn: opts.OnProgress}
		h := cgo.NewHandle(r.progress)
		r.handles = append(r.handles, h)
		C.hbgo_set_progress(batch, C.uintptr_t(h), millis(opts.ProgressInterval))
	}
	if opts.OnEvent != nil {
		r.events = &eventState{fn: opts.OnEvent}
		h := cgo.NewHandle(r.events)
		r.handles = append(r.handles, h)
		C.hbgo_set_on_event(batch, C.uintptr_t(h))
	}
	if ctx.Done() != nil {
		r.watcher.Add(1)
		go func() {
			defer r.watcher.Done()
			select {
			case <-ctx.Done():
				if !(r.hasDeadline && errors.Is(ctx.Err(), context.DeadlineExceeded)) {
					C.httpbatch_cancel_token_cancel(r.token)
				}
			case <-r.done:
			}
		}()
	}
	return r, nil
}

// finish stops watching ctx and frees the run; it returns a panic a callback raised, to be
// raised again by the caller.
func (r *batchRun) finish() any {
	close(r.done)
	r.watcher.Wait()
	r.release()
	if r.progress != nil && r.progress.panic != nil {
		return r.progress.panic
	}
	if r.events != nil && r.events.panic != nil {
		return r.events.panic
	}
	return nil
}

func (r *batchRun) release() {
	for _, h := range r.handles {
		h.Delete()
	}
	r.handles = nil
	if r.token != nil {
		C.httpbatch_cancel_token_free(r.token)
		r.token = nil
	}
	C.httpbatch_batch_free(r.batch)
	r.batch = nil
}

// err is ctx's error when ctx ended before every item succeeded or failed on its own.
func (r *batchRun) err(ctx context.Context, s *Summary) error {
	err := ctx.Err()
	if err == nil && r.hasDeadline && !time.Now().Before(r.deadline) {
		// The batch deadline fired just as ctx's timer is about to.
		err = context.DeadlineExceeded
	}
	if err != nil && (s.Cancelled > 0 || s.NotRun > 0 || s.Errors > 0) {
		return err
	}
	return nil
}
