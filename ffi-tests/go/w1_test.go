package httpbatch

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// W1: 20,000 GETs of 64 bytes at concurrency 32 against the in-process loopback server. Each
// batch builds the requests, runs them, and reads every item's status and body (copied into Go
// memory), as benches/ffi_w1.rs does through the Rust API.
const w1Requests = 20000

func w1Batch(tb testing.TB, ex *Executor, url string) {
	reqs := make([]Request, w1Requests)
	for i := range reqs {
		reqs[i] = Request{URL: url}
	}
	res, err := ex.Execute(context.Background(), reqs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	items, err := res.Items()
	if err != nil {
		tb.Fatal(err)
	}
	bytes := 0
	for i, it := range items {
		if it.Status != 200 {
			tb.Fatalf("item %d: %+v", i, it)
		}
		bytes += len(it.Body)
	}
	res.Close()
	if bytes != w1Requests*64 {
		tb.Fatalf("%d bytes", bytes)
	}
}

func BenchmarkW1(b *testing.B) {
	srv := startServer(b)
	ex := newExecutor(b, Config{Workers: 32})
	url := srv.URL("/bytes/64")
	w1Batch(b, ex, url) // warm up connections
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w1Batch(b, ex, url)
	}
	b.ReportMetric(float64(w1Requests*b.N)/b.Elapsed().Seconds(), "req/s")
}

func cpuSeconds() float64 {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)/1e6
}

// TestW1 prints one `w1 go WALL CPU` line per batch when HTTPBATCH_W1=BATCHES is set (used by
// ffi-tests/bench/w1.sh); otherwise it is skipped.
func TestW1(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("HTTPBATCH_W1"))
	if err != nil || n <= 0 {
		t.Skip("set HTTPBATCH_W1=BATCHES to run W1")
	}
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 32})
	url := srv.URL("/bytes/64")
	w1Batch(t, ex, url)
	for i := 0; i < n; i++ {
		start, cpu := time.Now(), cpuSeconds()
		w1Batch(t, ex, url)
		fmt.Printf("w1 go %.6f %.6f\n", time.Since(start).Seconds(), cpuSeconds()-cpu)
	}
}
