// Client: Go's net/http: C goroutines take the next index, GET it, check the status and read
// the body to the end (io.ReadAll). The Transport keeps up to C idle connections per origin
// (its default of 2 would make it reconnect all the time); timeouts as httpbatch's (30 s per
// request, 10 s connect); no proxy. Command line: see internal/cmp.
package main

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"httpbatch-compare/internal/cmp"
)

func main() {
	a := cmp.Parse()
	var t cmp.Tally
	started := time.Now()
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: cmp.ConnectTimeout}).DialContext,
		MaxIdleConns:        0, // no total cap
		MaxIdleConnsPerHost: a.C,
		IdleConnTimeout:     90 * time.Second,
	}
	client := &http.Client{Transport: tr, Timeout: cmp.Timeout}
	pacer := cmp.NewPacer(a.Rate, a.Burst)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < a.C; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= a.N {
					return
				}
				if pacer != nil {
					pacer.Wait()
				}
				res, err := client.Get(a.URL(i))
				if err != nil {
					t.Error(err)
					continue
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					t.Error(err)
					continue
				}
				t.Response(res.StatusCode, len(body))
			}
		}()
	}
	wg.Wait()
	t.Finish("go-nethttp", a, started)
}
