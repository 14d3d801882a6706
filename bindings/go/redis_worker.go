//go:build httpbatch_redis

package httpbatch

/*
#cgo CFLAGS: -DHTTPBATCH_REDIS
#include <stdlib.h>
#include "httpbatch.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// RedisItem is one request of a work list: Payload is a URL, or a JSON request spec as
// `httpbatch submit` reads it; ID names its outcome (unique in the list).
type RedisItem struct {
	ID, Payload string
}

// RedisList is a work list in Redis: submit requests, read where it stands and its outcomes.
// Safe for concurrent use.
type RedisList struct {
	mu  sync.RWMutex
	ptr *C.httpbatch_redis_list
}

// OpenRedisList opens the list name on the Redis at url (redis://HOST:PORT/DB). It connects
// lazily.
func OpenRedisList(url, name string) (*RedisList, error) {
	l := &RedisList{}
	u, un := cstr(url)
	n, nn := cstr(name)
	if err := check(C.httpbatch_redis_list_new(u, un, n, nn, &l.ptr), nil); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(l, (*RedisList).Close)
	return l, nil
}

func (l *RedisList) do(f func(*C.httpbatch_redis_list) C.httpbatch_result) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.ptr == nil {
		return ErrClosed
	}
	return check(f(l.ptr), func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_redis_list_last_error(l.ptr, buf, n, out)
	})
}

// Submit appends items in order and returns how many were appended.
func (l *RedisList) Submit(items []RedisItem) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	// The strings are copied into C memory: cgo forbids passing Go memory that holds Go
	// pointers (the arrays of string pointers would).
	n := len(items)
	ptrSize := C.size_t(unsafe.Sizeof((*C.char)(nil)))
	lenSize := C.size_t(unsafe.Sizeof(C.size_t(0)))
	ids := unsafe.Slice((**C.char)(C.malloc(C.size_t(n)*ptrSize)), n)
	payloads := unsafe.Slice((**C.char)(C.malloc(C.size_t(n)*ptrSize)), n)
	idLens := unsafe.Slice((*C.size_t)(C.malloc(C.size_t(n)*lenSize)), n)
	payloadLens := unsafe.Slice((*C.size_t)(C.malloc(C.size_t(n)*lenSize)), n)
	for i, it := range items {
		ids[i], idLens[i] = C.CString(it.ID), C.size_t(len(it.ID))
		payloads[i], payloadLens[i] = C.CString(it.Payload), C.size_t(len(it.Payload))
	}
	defer func() {
		for i := range items {
			C.free(unsafe.Pointer(ids[i]))
			C.free(unsafe.Pointer(payloads[i]))
		}
		C.free(unsafe.Pointer(&ids[0]))
		C.free(unsafe.Pointer(&payloads[0]))
		C.free(unsafe.Pointer(&idLens[0]))
		C.free(unsafe.Pointer(&payloadLens[0]))
	}()
	var submitted C.uint64_t
	err := l.do(func(p *C.httpbatch_redis_list) C.httpbatch_result {
		return C.httpbatch_redis_list_submit(p, &ids[0], &idLens[0], &payloads[0], &payloadLens[0],
			C.size_t(n), &submitted)
	})
	return int(submitted), err
}

// RedisListStatus is where a list stands.
type RedisListStatus struct {
	Total, Queued, Pending, Recorded, Failed, Dead, Workers uint64
}

// Complete reports whether every submitted request has an outcome.
func (s RedisListStatus) Complete() bool { return s.Recorded >= s.Total }

// Status reads where the list stands.
func (l *RedisList) Status() (RedisListStatus, error) {
	var s C.httpbatch_redis_list_status
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	err := l.do(func(p *C.httpbatch_redis_list) C.httpbatch_result {
		return C.httpbatch_redis_list_status_get(p, &s)
	})
	return RedisListStatus{
		Total: uint64(s.total), Queued: uint64(s.queued), Pending: uint64(s.pending),
		Recorded: uint64(s.recorded), Failed: uint64(s.failed), Dead: uint64(s.dead),
		Workers: uint64(s.workers),
	}, err
}

// Outcome returns the outcome recorded for id (one JSON object), and false while it has none.
func (l *RedisList) Outcome(id string) (string, bool, error) {
	p, n := cstr(id)
	var size C.size_t
	err := l.do(func(h *C.httpbatch_redis_list) C.httpbatch_result {
		return C.httpbatch_redis_list_outcome(h, p, n, nil, 0, &size)
	})
	if e, ok := err.(*Error); ok && e.Code == CodeNotFound {
		return "", false, nil
	}
	if e, ok := err.(*Error); !ok || e.Code != CodeBufferTooSmall {
		return "", false, err
	}
	// A recorded outcome never changes: the length read first is still right.
	buf := make([]byte, int(size)+1)
	err = l.do(func(h *C.httpbatch_redis_list) C.httpbatch_result {
		return C.httpbatch_redis_list_outcome(h, p, n, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &size)
	})
	if err != nil {
		return "", false, err
	}
	return string(buf[:size]), true, nil
}

// Close frees the handle (the list stays in Redis). Idempotent.
func (l *RedisList) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ptr != nil {
		C.httpbatch_redis_list_free(l.ptr)
		l.ptr = nil
		runtime.SetFinalizer(l, nil)
	}
	return nil
}

// RedisWorkerConfig are a RedisWorker's options. Zero fields keep the defaults.
type RedisWorkerConfig struct {
	VisibilityTimeout time.Duration // claim others' entries unacknowledged this long (30s)
	MaxDeliveries     int           // dead-letter an entry delivered this often (5)
	ReadBatch         int           // entries read per round trip (16)
	ExitWhenComplete  bool          // Run returns once the list is done
}

// RedisWorker runs a work list's requests through an Executor and records one outcome per id.
// Payloads and outcomes are those of the CLI's `submit` and `worker`: Go, C and CLI workers
// serve one list together.
type RedisWorker struct {
	mu  sync.RWMutex
	ptr *C.httpbatch_redis_worker
}

// NewRedisWorker makes a worker of list on the Redis at url, named name (unique among the
// list's workers; a worker restarted under its name takes back what it left pending).
func NewRedisWorker(url, list, name string, cfg RedisWorkerConfig) (*RedisWorker, error) {
	w := &RedisWorker{}
	u, un := cstr(url)
	l, ln := cstr(list)
	n, nn := cstr(name)
	if err := check(C.httpbatch_redis_worker_new(u, un, l, ln, n, nn, &w.ptr), nil); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(w, (*RedisWorker).Close)
	var err error
	set := func(rc C.httpbatch_result) {
		if err == nil {
			err = check(rc, func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
				return C.httpbatch_redis_worker_last_error(w.ptr, buf, n, out)
			})
		}
	}
	if cfg.VisibilityTimeout != 0 {
		set(C.httpbatch_redis_worker_set_visibility_timeout_ms(w.ptr, millis(cfg.VisibilityTimeout)))
	}
	if cfg.MaxDeliveries != 0 {
		set(C.httpbatch_redis_worker_set_max_deliveries(w.ptr, C.uint64_t(cfg.MaxDeliveries)))
	}
	if cfg.ReadBatch != 0 {
		set(C.httpbatch_redis_worker_set_read_batch(w.ptr, C.size_t(cfg.ReadBatch)))
	}
	set(C.httpbatch_redis_worker_set_exit_when_complete(w.ptr, C.bool(cfg.ExitWhenComplete)))
	if err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *RedisWorker) do(f func(*C.httpbatch_redis_worker) C.httpbatch_result) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.ptr == nil {
		return ErrClosed
	}
	return check(f(w.ptr), func(buf *C.char, n C.size_t, out *C.size_t) C.httpbatch_result {
		return C.httpbatch_redis_worker_last_error(w.ptr, buf, n, out)
	})
}

// RedisWorkerSummary is what one Run did.
type RedisWorkerSummary struct {
	Started, Recorded, Duplicates, Skipped, Reclaimed, Dead, Released, RedisErrors uint64
}

// Run runs the worker loop on this goroutine until ctx is done (a graceful stop: what was read
// finishes and is recorded), Stop or Cancel is called, or (ExitWhenComplete) the list is done.
// A stopped worker stays stopped; make a new one to run again.
func (w *RedisWorker) Run(ctx context.Context, e *Executor) (RedisWorkerSummary, error) {
	stop := context.AfterFunc(ctx, func() { w.Stop() })
	defer stop()
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ptr == nil {
		return RedisWorkerSummary{}, ErrClosed
	}
	var s C.httpbatch_redis_worker_summary
	s.struct_size = C.size_t(unsafe.Sizeof(s))
	err := w.do(func(p *C.httpbatch_redis_worker) C.httpbatch_result {
		return C.httpbatch_redis_worker_run(p, e.ptr, &s)
	})
	return RedisWorkerSummary{
		Started: uint64(s.started), Recorded: uint64(s.recorded), Duplicates: uint64(s.duplicates),
		Skipped: uint64(s.skipped), Reclaimed: uint64(s.reclaimed), Dead: uint64(s.dead),
		Released: uint64(s.released), RedisErrors: uint64(s.redis_errors),
	}, err
}

// Stop ends Run gracefully: no more reads; what was read finishes and is recorded.
func (w *RedisWorker) Stop() error {
	return w.do(func(p *C.httpbatch_redis_worker) C.httpbatch_result { return C.httpbatch_redis_worker_stop(p) })
}

// Cancel ends Run at once: requests in flight are left pending for another worker.
func (w *RedisWorker) Cancel() error {
	return w.do(func(p *C.httpbatch_redis_worker) C.httpbatch_result { return C.httpbatch_redis_worker_cancel(p) })
}

// Close frees the worker once its Run has returned (it waits for it). Idempotent.
func (w *RedisWorker) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr != nil {
		C.httpbatch_redis_worker_free(w.ptr)
		w.ptr = nil
		runtime.SetFinalizer(w, nil)
	}
	return nil
}
