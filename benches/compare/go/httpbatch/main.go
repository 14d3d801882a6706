// Client: httpbatch's Go package (cgo, statically linked): an Executor with C workers (and
// httpbatch's limiter when RATE > 0), one Execute of N GETs, every item's status and body read.
// Timed from before the executor is built. Command line: see internal/cmp.
package main

import (
	"context"
	"time"

	httpbatch "github.com/httpbatch/httpbatch/bindings/go"

	"httpbatch-compare/internal/cmp"
)

func main() {
	a := cmp.Parse()
	var t cmp.Tally
	started := time.Now()
	cfg := httpbatch.Config{Workers: a.C}
	if a.Rate > 0 {
		lim, err := httpbatch.NewLimiter(a.Rate, time.Second, a.Burst)
		if err != nil {
			panic(err)
		}
		defer lim.Close()
		cfg.Limiter = lim
	}
	ex, err := httpbatch.NewExecutor(cfg)
	if err != nil {
		panic(err)
	}
	reqs := make([]httpbatch.Request, a.N)
	for i := range reqs {
		reqs[i] = httpbatch.Request{URL: a.URL(i)}
	}
	res, err := ex.Execute(context.Background(), reqs, nil)
	if err != nil {
		panic(err)
	}
	items, err := res.Items()
	if err != nil {
		panic(err)
	}
	for _, it := range items {
		if it.Err != nil {
			t.Error(it.Err)
		} else {
			t.Response(it.Status, len(it.Body))
		}
	}
	res.Close()
	// The wall time stops at the last response freed; the executor's teardown (joining its
	// worker threads, closing its connections) is not timed, as the other clients exit with
	// their pools and threads still up.
	wall := time.Since(started)
	ex.Close()
	t.Finish("go-httpbatch", a, time.Now().Add(-wall))
}
