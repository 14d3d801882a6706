package httpbatch

/*
#include "httpbatch.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// TestServer is the library's scripted loopback HTTP/1.1 server on 127.0.0.1, for tests,
// examples and demos (not production traffic). Routes: /ok, /status/{code}, /bytes/{n},
// /delay/{ms}, /echo (body echoed; x-echo-method and x-echo-h-NAME headers),
// /seq/{key}?s=503,503,200&retry_after=S, /flaky/{key}?fail=N, /limited/{key}?n=N, /close,
// /reset. Safe for concurrent use.
type TestServer struct {
	mu  sync.RWMutex
	ptr *C.httpbatch_test_server
}

// StartTestServer starts a server on a free port. Close it when done.
func StartTestServer() (*TestServer, error) {
	s := &TestServer{}
	if err := check(C.httpbatch_test_server_start(0, &s.ptr), nil); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(s, (*TestServer).Close)
	return s, nil
}

// URL is "http://127.0.0.1:PORT" + path (path starts with "/"); "" after Close.
func (s *TestServer) URL(path string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return ""
	}
	buf := make([]byte, 64+len(path))
	var n C.size_t
	p, pl := cstr(path)
	if C.httpbatch_test_server_url(s.ptr, p, pl, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n) != C.HTTPBATCH_RESULT_OK {
		return ""
	}
	return string(buf[:n])
}

func (s *TestServer) counter(f func(*C.httpbatch_test_server, *C.uint64_t) C.httpbatch_result) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ptr == nil {
		return 0
	}
	var v C.uint64_t
	f(s.ptr, &v)
	return uint64(v)
}

// Requests is how many requests the server has answered.
func (s *TestServer) Requests() uint64 {
	return s.counter(func(p *C.httpbatch_test_server, v *C.uint64_t) C.httpbatch_result {
		return C.httpbatch_test_server_requests(p, v)
	})
}

// Accepted is how many TCP connections the server has accepted.
func (s *TestServer) Accepted() uint64 {
	return s.counter(func(p *C.httpbatch_test_server, v *C.uint64_t) C.httpbatch_result {
		return C.httpbatch_test_server_accepted(p, v)
	})
}

// MaxInFlight is the most requests the server has had in flight at once.
func (s *TestServer) MaxInFlight() uint64 {
	return s.counter(func(p *C.httpbatch_test_server, v *C.uint64_t) C.httpbatch_result {
		return C.httpbatch_test_server_max_in_flight(p, v)
	})
}

// Close stops the server. Idempotent.
func (s *TestServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr != nil {
		C.httpbatch_test_server_free(s.ptr)
		s.ptr = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}
