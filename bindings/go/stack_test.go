package httpbatch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestStackRetriesPayALimiterTokenEach(t *testing.T) {
	srv := startServer(t)
	pool, err := NewPool(PoolConfig{
		MaxInFlightPerHost: 8,
		Retry:              &RetryPolicy{MaxAttempts: 4, BaseDelay: 5 * time.Millisecond, Jitter: JitterNone},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	lim, err := NewLimiter(1000, time.Second, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	ex := newExecutor(t, Config{Workers: 4, Pool: pool, Limiter: lim})
	res, err := ex.Execute(context.Background(), []Request{{URL: srv.URL("/seq/go-retry?s=503,503,200")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	it, _ := res.Item(0)
	if it.Status != 200 || it.Attempts != 3 {
		t.Errorf("item %+v", it)
	}
	ls, _ := lim.Stats()
	ps, _ := pool.Stats()
	if ls.Admitted != 3 || ps.Retries != 2 || ps.Attempts != 3 {
		t.Errorf("limiter %+v pool %+v", ls, ps)
	}
	// The pool owns the client settings.
	if _, err := NewExecutor(Config{Pool: pool, Timeout: time.Second}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("pool + timeout: %v", err)
	}
}

func TestLimiterPacesAndChangesAtRunTime(t *testing.T) {
	srv := startServer(t)
	lim, err := NewLimiter(20, time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	ex := newExecutor(t, Config{Workers: 4, Limiter: lim})
	lim.Close() // the executor keeps its own reference
	reqs := make([]Request, 10)
	for i := range reqs {
		reqs[i] = Request{URL: srv.URL("/ok")}
	}
	start := time.Now()
	res, err := ex.Execute(context.Background(), reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Close()
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("10 requests at 20/s took %v", d)
	}
	if _, err := lim.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("closed limiter: %v", err)
	}
	if _, err := NewLimiter(0, time.Second, 1); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("zero rate: %v", err)
	}
	l2, _ := NewLimiter(1, time.Second, 1)
	defer l2.Close()
	if err := l2.SetRate(500, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l2.SetBurst(0); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("burst 0: %v", err)
	}
	if s, _ := l2.Stats(); s.RatePerSec < 499 {
		t.Errorf("rate %+v", s)
	}
}

func TestPoolWarmupAndHealth(t *testing.T) {
	srv := startServer(t)
	gone := startServer(t)
	bad := gone.URL("/")
	gone.Close()
	pool, err := NewPool(PoolConfig{WarmupPath: "/ok", UnhealthyThreshold: 2, HealthProbeTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	report, err := pool.Warmup([]string{srv.URL("/"), bad}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(report) != 2 || report[0].Opened != 3 || report[0].OK != 3 || report[1].Fail != 3 || report[1].Errors == "" {
		t.Errorf("warmup %+v", report)
	}
	if err := pool.EnableHealthCheck([]string{srv.URL("/"), bad}, 30*time.Millisecond, "/ok"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	var h HostHealth
	for time.Now().Before(deadline) {
		h, err = pool.HostHealth(bad)
		if err == nil && h.State == Unhealthy {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h.State != Unhealthy || h.UnhealthySince.IsZero() {
		t.Fatalf("health %+v %v", h, err)
	}
	ex := newExecutor(t, Config{Workers: 2, Pool: pool})
	res, err := ex.Execute(context.Background(), []Request{{URL: bad}, {URL: srv.URL("/ok")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	items, _ := res.Items()
	if !errors.Is(items[0].Err, ErrCircuitOpen) || items[1].Status != 200 {
		t.Errorf("items %+v", items)
	}
	if err := pool.DisableHealthCheck(); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.HostHealth("http://127.0.0.1:1/"); err == nil {
		t.Error("health of an unchecked host")
	}
}

// Builds the whole stack: a pool with retries, a rate limiter, and an executor over both.
func Example_stack() {
	server, _ := StartTestServer()
	defer server.Close()
	pool, _ := NewPool(PoolConfig{
		MaxInFlightPerHost: 4,
		Retry:              &RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond},
	})
	defer pool.Close()
	limiter, _ := NewLimiter(100, time.Second, 10)
	defer limiter.Close()
	executor, _ := NewExecutor(Config{Workers: 8, Pool: pool, Limiter: limiter})
	defer executor.Close()

	result, _ := executor.Execute(context.Background(), []Request{
		{URL: server.URL("/seq/example?s=503,200")},
	}, nil)
	defer result.Close()
	item, _ := result.Item(0)
	stats, _ := limiter.Stats()
	fmt.Printf("status %d after %d attempts; %d limiter tokens\n", item.Status, item.Attempts, stats.Admitted)
	// Output: status 200 after 2 attempts; 2 limiter tokens
}
