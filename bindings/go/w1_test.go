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

// W1: 20,000 GETs of 64 bytes at concurrency 32 against the loopback server process. Each
// batch builds the requests, runs them, and reads every item's status and body (copied into Go
// memory), as benches/ffi_w1.rs does through the Rust API.
const w1Requests = 20000

// w1Phases, when set, receives how long building the requests, Execute and reading took.
var w1Phases func(build, execute, read time.Duration)

func w1Batch(tb testing.TB, ex *Executor, url string) {
	start := time.Now()
	reqs := make([]Request, w1Requests)
	for i := range reqs {
		reqs[i] = Request{URL: url}
	}
	built := time.Now()
	res, err := ex.Execute(context.Background(), reqs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	executed := time.Now()
	defer func() {
		if w1Phases != nil {
			w1Phases(built.Sub(start), executed.Sub(built), time.Since(executed))
		}
	}()
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
	// ffi-tests/bench/w1.sh runs one server process for all three implementations.
	url := os.Getenv("HTTPBATCH_W1_URL") + "/bytes/64"
	if os.Getenv("HTTPBATCH_W1_URL") == "" {
		url = startServer(t).URL("/bytes/64")
	}
	ex := newExecutor(t, Config{Workers: 32})
	w1Batch(t, ex, url)
	w1Phases = func(b, e, r time.Duration) {
		fmt.Fprintf(os.Stderr, "phases go build %.2f ms, execute %.2f ms, read %.2f ms\n",
			b.Seconds()*1e3, e.Seconds()*1e3, r.Seconds()*1e3)
	}
	defer func() { w1Phases = nil }()
	for i := 0; i < n; i++ {
		start, cpu := time.Now(), cpuSeconds()
		w1Batch(t, ex, url)
		fmt.Printf("w1 go %.6f %.6f\n", time.Since(start).Seconds(), cpuSeconds()-cpu)
	}
}

// BenchmarkItems measures copying a 20,000-item result into Go memory (W1's read phase).
func BenchmarkItems(b *testing.B) {
	srv := startServer(b)
	ex := newExecutor(b, Config{Workers: 32})
	reqs := make([]Request, w1Requests)
	for i := range reqs {
		reqs[i] = Request{URL: srv.URL("/bytes/64")}
	}
	res, err := ex.Execute(context.Background(), reqs, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := res.Items(); err != nil {
			b.Fatal(err)
		}
	}
}
