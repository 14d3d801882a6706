package httpbatch

/*
#include <stdlib.h>
#include "httpbatch.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Strategy says how a Paginator finds the next page.
type Strategy string

// StrategyLink follows the Link header's rel="next" (RFC 8288; relative URLs resolved).
const StrategyLink Strategy = "link"

// StrategyCursor reads the next cursor at JSON pointer (e.g. "/meta/next") of each page and
// sends it back as query parameter param; a missing, null or empty cursor ends the walk.
func StrategyCursor(pointer, param string) Strategy {
	return Strategy("cursor:" + pointer + ":" + param)
}

// StrategyPage sends page numbers (from 1) in query parameter param, until an empty page or
// the total (PaginateOptions.Total).
func StrategyPage(param string) Strategy { return Strategy("page:" + param) }

// StrategyOffset sends item offsets (from 0) in query parameter param, until an empty page or
// the total.
func StrategyOffset(param string) Strategy { return Strategy("offset:" + param) }

// PaginateOptions configure a Paginator. The zero value (or nil) reads no items and sets no
// limit.
type PaginateOptions struct {
	// Items is the JSON pointer of each page's array of items (e.g. "/data"); ItemsRoot says
	// the page itself is the array.
	Items     string
	ItemsRoot bool
	// Total is the JSON pointer of the total number of items on the first page (StrategyPage
	// and StrategyOffset): the walk stops there.
	Total string
	// MaxPages and MaxItems stop the walk after so many pages or items, counting those before
	// a resume (0: no limit).
	MaxPages, MaxItems uint64
	// Resume continues a walk from a State saved earlier, with the same request and strategy.
	Resume string
}

// Page is one page of a walk, copied into Go memory.
type Page struct {
	Status int
	Body   []byte
	Items  []json.RawMessage
}

// PageError is a page that answered a status of 400 or more, or a body the strategy cannot
// read. It ends the walk; the Paginator's State still names that page, to resume from later.
type PageError struct {
	Status  int
	Body    []byte
	Message string
}

func (e *PageError) Error() string {
	return fmt.Sprintf("httpbatch: page failed (status %d): %s", e.Status, e.Message)
}

// Paginator walks the pages of a paginated API, each page through the executor's stack (its
// limiter, retries, pool caps, dedup, cache). Read it like bufio.Scanner: NextPage and Page, or
// NextItem and Item (not both), then Err. Not safe for concurrent use, but Close is safe from
// any goroutine and idempotent. The Executor must stay open while the walk runs.
type Paginator struct {
	mu    sync.Mutex
	ptr   *C.httpbatch_paginator
	exec  *Executor
	token *C.httpbatch_cancel_token
	ctx   context.Context
	done  chan struct{}
	watch *sync.WaitGroup // apart from p, so the watcher does not keep p from its finalizer
	page  Page
	item  json.RawMessage
	err   error
}

// Paginate starts a walk over the pages of first under strategy. Cancelling ctx (or its
// deadline) interrupts the page in flight; Err then matches ctx's error. Close the Paginator when
// done.
func (e *Executor) Paginate(ctx context.Context, first Request, strategy Strategy, opts *PaginateOptions) (*Paginator, error) {
	if opts == nil {
		opts = &PaginateOptions{}
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return nil, ErrClosed
	}
	req, err := newCRequest(&first)
	if err != nil {
		return nil, err
	}
	defer C.httpbatch_request_free(req)
	p := &Paginator{exec: e, ctx: ctx, done: make(chan struct{}), watch: &sync.WaitGroup{}}
	sp, sn := cstr(string(strategy))
	if err := check(C.httpbatch_paginator_new(e.ptr, req, sp, sn, &p.ptr), nil); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(p, (*Paginator).Close)
	fail := func(err error) (*Paginator, error) {
		p.Close()
		return nil, err
	}
	if opts.Items != "" || opts.ItemsRoot {
		ip, in := cstr(opts.Items)
		if err := p.check(C.httpbatch_paginator_set_items(p.ptr, ip, in)); err != nil {
			return fail(err)
		}
	}
	if opts.Total != "" {
		tp, tn := cstr(opts.Total)
		if err := p.check(C.httpbatch_paginator_set_total(p.ptr, tp, tn)); err != nil {
			return fail(err)
		}
	}
	if opts.MaxPages > 0 || opts.MaxItems > 0 {
		rc := C.httpbatch_paginator_set_limits(p.ptr, C.uint64_t(opts.MaxPages), C.uint64_t(opts.MaxItems))
		if err := p.check(rc); err != nil {
			return fail(err)
		}
	}
	if opts.Resume != "" {
		rp, rn := cstr(opts.Resume)
		if err := p.check(C.httpbatch_paginator_resume(p.ptr, rp, rn)); err != nil {
			return fail(err)
		}
	}
	if ctx.Done() != nil {
		if err := check(C.httpbatch_cancel_token_new(&p.token), nil); err != nil {
			return fail(err)
		}
		if err := p.check(C.httpbatch_paginator_set_cancel_token(p.ptr, p.token)); err != nil {
			return fail(err)
		}
		token, done, watch := p.token, p.done, p.watch
		watch.Add(1)
		go func() {
			defer watch.Done()
			select {
			case <-ctx.Done():
				C.httpbatch_cancel_token_cancel(token)
			case <-done:
			}
		}()
	}
	return p, nil
}

func (p *Paginator) check(rc C.httpbatch_result) error {
	return check(rc, func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_paginator_last_error(p.ptr, buf, n, out)
	})
}

// step runs one read under the locks; false once the walk is over or failed (see Err).
func (p *Paginator) step(read func() (uint32, error)) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return false
	}
	if p.ptr == nil {
		p.err = ErrClosed
		return false
	}
	p.exec.mu.RLock()
	defer p.exec.mu.RUnlock()
	if p.exec.ptr == nil {
		p.err = ErrClosed
		return false
	}
	if p.token != nil && p.ctx.Err() != nil {
		// The watcher cancels asynchronously: do not start a page the caller has cancelled.
		C.httpbatch_cancel_token_cancel(p.token)
	}
	outcome, err := read()
	switch {
	case err != nil:
		if ctxErr := p.ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		p.err = err
		return false
	case outcome == C.HTTPBATCH_PAGE_FAILED:
		var status C.uint16_t
		C.httpbatch_paginator_page_status(p.ptr, &status)
		p.err = &PageError{Status: int(status), Body: p.body(), Message: readLastError(func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
			return C.httpbatch_paginator_last_error(p.ptr, buf, n, out)
		})}
		return false
	}
	return outcome == C.HTTPBATCH_PAGE_READ
}

func (p *Paginator) body() []byte {
	var b *C.uint8_t
	var n C.size_t
	if C.httpbatch_paginator_page_body(p.ptr, &b, &n) != C.HTTPBATCH_RESULT_OK || n == 0 {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(b), C.int(n))
}

// NextPage reads the next page; false once the walk is over or failed (then see Err).
func (p *Paginator) NextPage() bool {
	return p.step(func() (uint32, error) {
		var outcome C.uint32_t
		if err := p.check(C.httpbatch_paginator_next_page(p.ptr, &outcome)); err != nil {
			return 0, err
		}
		if outcome != C.HTTPBATCH_PAGE_READ {
			return uint32(outcome), nil
		}
		var status C.uint16_t
		var count C.size_t
		C.httpbatch_paginator_page_status(p.ptr, &status)
		C.httpbatch_paginator_page_item_count(p.ptr, &count)
		page := Page{Status: int(status), Body: p.body(), Items: make([]json.RawMessage, int(count))}
		for i := range page.Items {
			var json *C.char
			var n C.size_t
			if err := p.check(C.httpbatch_paginator_page_item(p.ptr, C.size_t(i), &json, &n)); err != nil {
				return 0, err
			}
			page.Items[i] = C.GoBytes(unsafe.Pointer(json), C.int(n))
		}
		p.page = page
		return uint32(outcome), nil
	})
}

// Page is the page NextPage read.
func (p *Paginator) Page() Page {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.page
}

// NextItem reads the next item of the walk; false once the walk is over or failed (then see
// Err).
func (p *Paginator) NextItem() bool {
	return p.step(func() (uint32, error) {
		var json *C.char
		var n C.size_t
		var outcome C.uint32_t
		if err := p.check(C.httpbatch_paginator_next_item(p.ptr, &json, &n, &outcome)); err != nil {
			return 0, err
		}
		if outcome == C.HTTPBATCH_PAGE_READ {
			p.item = C.GoBytes(unsafe.Pointer(json), C.int(n))
		}
		return uint32(outcome), nil
	})
}

// Item is the item NextItem read, as JSON.
func (p *Paginator) Item() json.RawMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.item
}

// Err is why the walk stopped early: a *PageError for a failed page, an *Error for a failed
// request (ErrTimeout, ErrCancelled, …; also matching ctx's error when ctx ended it), nil when
// it ran to its end.
func (p *Paginator) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// State is where the walk stands, as JSON ({"next":…,"pages":N,"items":N,"done":B}): save it
// and pass it as PaginateOptions.Resume to continue later, in this process or another.
func (p *Paginator) State() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ptr == nil {
		return "", ErrClosed
	}
	return readText(func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_paginator_state(p.ptr, buf, n, out)
	})
}

// readText reads a text the C library copies into a buffer (sized by a first call).
func readText(fn lastErrorFn) (string, error) {
	var n C.size_t
	fn(nil, 0, &n)
	buf := make([]byte, int(n)+1)
	if err := check(fn((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n), nil); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// Close frees the walk. Idempotent; safe from any goroutine.
func (p *Paginator) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ptr == nil {
		return nil
	}
	close(p.done)
	p.watch.Wait() // the watcher may be cancelling the token: free it after
	C.httpbatch_paginator_free(p.ptr)
	p.ptr = nil
	if p.token != nil {
		C.httpbatch_cancel_token_free(p.token)
		p.token = nil
	}
	runtime.SetFinalizer(p, nil)
	return nil
}
