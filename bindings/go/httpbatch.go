// Package httpbatch runs batches of HTTP requests on httpbatch's Rust engine through its C ABI
// (include/httpbatch.h): a pool of worker threads, results in input order, cancellation and
// deadlines from a context.Context, progress callbacks, and statistics.
//
// The package links the C library through pkg-config: install it first with the repository's
// scripts/install-c.sh PREFIX (the library, its headers and httpbatch.pc), then
//
//	export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig     # unless PREFIX is a system prefix
//	go get github.com/httpbatch/httpbatch/bindings/go
//
// The default build links the shared library (the program needs PREFIX/lib on the loader's path
// at run time); -tags httpbatch_static links the static library instead.
//
// Every input gets exactly one Item, in input order: a request that fails validation (a bad URL,
// a header with CR/LF) ends as an Item with its *Error, like any other failed request. Item
// errors match the package's sentinels with errors.Is, and ErrDeadlineExceeded and ErrCancelled
// items also match context.DeadlineExceeded and context.Canceled.
//
// Thread safety: an *Executor may be used from many goroutines at once; a *Result may not.
// Every handle has an idempotent Close.
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
// An error of code CodeDeadlineExceeded also matches context.DeadlineExceeded, and one of code
// CodeCancelled matches context.Canceled, so code written for Go's own deadlines and
// cancellation handles the items of a batch that hit them.
func (e *Error) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e.Code == CodeDeadlineExceeded
	case context.Canceled:
		return e.Code == CodeCancelled
	}
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
