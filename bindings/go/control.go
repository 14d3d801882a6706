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
)

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
