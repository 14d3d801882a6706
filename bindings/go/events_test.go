package httpbatch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEventsPerItem(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 4})
	var (
		events  []Event
		drained int
	)
	opts := &Options{OnEvent: func(e Event) {
		if drained > 0 {
			t.Error("an event after EventDrained")
		}
		if e.Kind == EventDrained {
			drained++
		}
		events = append(events, e)
	}}
	reqs := []Request{{URL: srv.URL("/bytes/7")}, {URL: srv.URL("/status/503")}, {URL: "::bad"}, {URL: srv.URL("/ok")}}
	res, err := ex.Execute(context.Background(), reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	res.Close()
	started := map[int]int{}
	settled := map[int]*Item{}
	for _, e := range events {
		switch e.Kind {
		case EventStarted:
			started[e.Index]++
		case EventCompleted, EventFailed:
			if e.Item == nil || settled[e.Index] != nil {
				t.Fatalf("event %+v", e)
			}
			settled[e.Index] = e.Item
			if (e.Kind == EventCompleted) != (e.Item.Outcome == OutcomeResponse && e.Item.Status < 400) {
				t.Errorf("kind %d for %+v", e.Kind, e.Item)
			}
		}
	}
	if drained != 1 || events[len(events)-1].Kind != EventDrained {
		t.Errorf("drained %d, last %+v", drained, events[len(events)-1])
	}
	if len(started) != 3 || started[2] != 0 || len(settled) != 4 {
		t.Errorf("started %v settled %v", started, settled)
	}
	if len(settled[0].Body) != 7 {
		t.Errorf("item 0 %+v", settled[0])
	}
	if settled[1].Status != 503 || !errors.Is(settled[2].Err, ErrInvalidURL) || settled[3].Status != 200 {
		t.Errorf("items %+v %+v %+v", settled[1], settled[2], settled[3])
	}
	// A panic in the callback is raised again once the run has settled.
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v", v)
			}
		}()
		ex.Execute(context.Background(), reqs, &Options{OnEvent: func(Event) { panic("boom") }})
		t.Error("no panic")
	}()
}

func TestExecuteStreaming(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 8})
	const n = 500
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{URL: srv.URL("/bytes/32")}
	}
	reqs[77] = Request{URL: "nope"}
	seen := make([]int, n)
	bytes := 0
	headers := 0
	sum, err := ex.ExecuteStreaming(context.Background(), reqs, nil, func(i int, it Item) {
		seen[i]++
		bytes += len(it.Body)
		if it.HeaderValue("Content-Length") == "32" && it.Header().Get("content-length") == "32" {
			headers++
		}
		if i == 77 && !errors.Is(it.Err, ErrInvalidURL) {
			t.Errorf("item 77 %+v", it)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("item %d delivered %d times", i, c)
		}
	}
	if bytes != 32*(n-1) || headers != n-1 || sum.Total != n || sum.Succeeded != n-1 || sum.Errors != 1 {
		t.Errorf("bytes %d headers %d summary %+v", bytes, headers, sum)
	}
	// The context's deadline: the summary and the error as Execute gives them.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	slow := []Request{{URL: srv.URL("/delay/5000")}, {URL: srv.URL("/ok")}}
	var deadlineItems int
	sum, err = ex.ExecuteStreaming(ctx, slow, &Options{Concurrency: 1}, func(i int, it Item) {
		if errors.Is(it.Err, context.DeadlineExceeded) || errors.Is(it.Err, ErrNotRun) {
			deadlineItems++
		}
	})
	if !errors.Is(err, context.DeadlineExceeded) || deadlineItems != 2 || sum.Total != 2 {
		t.Errorf("deadline: %v, %d, %+v", err, deadlineItems, sum)
	}
}

func TestTryExecute(t *testing.T) {
	srv := startServer(t)
	lim, err := NewLimiter(1, time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	ex := newExecutor(t, Config{Workers: 2, Limiter: lim})
	before := srv.Requests()
	it, wait, err := ex.TryExecute(Request{URL: srv.URL("/bytes/5")})
	if err != nil || wait != 0 || it.Status != 200 || len(it.Body) != 5 {
		t.Fatalf("first: %+v %v %v", it, wait, err)
	}
	_, wait, err = ex.TryExecute(Request{URL: srv.URL("/bytes/5")})
	if !errors.Is(err, ErrWouldBlock) || wait < 59*time.Second || wait > time.Minute {
		t.Errorf("second: %v %v", wait, err)
	}
	if sent := srv.Requests() - before; sent != 1 {
		t.Errorf("%d requests reached the server, want 1", sent)
	}
	it, _, err = ex.TryExecute(Request{URL: "::bad"})
	if err != nil || !errors.Is(it.Err, ErrInvalidURL) {
		t.Errorf("invalid: %+v %v", it, err)
	}
	plain := newExecutor(t, Config{Workers: 1})
	if _, _, err := plain.TryExecute(Request{URL: srv.URL("/ok")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("no limiter: %v", err)
	}
}

func TestPoolHealthChangeCallback(t *testing.T) {
	gone := startServer(t)
	bad := gone.URL("/")
	gone.Close()
	var (
		mu      sync.Mutex
		changes []string
		got     = make(chan struct{}, 1)
	)
	pool, err := NewPool(PoolConfig{
		UnhealthyThreshold: 2, HealthProbeTimeout: 200 * time.Millisecond,
		OnHealthChange: func(origin string, old, new HealthState) {
			mu.Lock()
			changes = append(changes, origin)
			mu.Unlock()
			if old == Healthy && new == Unhealthy {
				select {
				case got <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.EnableHealthCheck([]string{bad}, 20*time.Millisecond, "/ok"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no Healthy -> Unhealthy change observed")
	}
	mu.Lock()
	if len(changes) == 0 || changes[0] != strings.TrimSuffix(bad, "/") {
		t.Errorf("changes %v, want origin %s", changes, bad)
	}
	mu.Unlock()
	pool.Close()
	if _, ok := healthCallbacks.Load(pool.healthID); ok {
		t.Error("the callback outlives Close")
	}
}
