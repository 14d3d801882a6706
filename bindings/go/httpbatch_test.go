package httpbatch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func startServer(t testing.TB) *TestServer {
	t.Helper()
	s, err := StartTestServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("test server: %v", err)
		}
	})
	return s
}

func newExecutor(t testing.TB, cfg Config) *Executor {
	t.Helper()
	e, err := NewExecutor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestBatchInOrderWithPerItemErrors(t *testing.T) {
	srv := startServer(t)
	gone := startServer(t)
	refused := gone.URL("/ok")
	gone.Close()
	ex := newExecutor(t, Config{Workers: 8, Timeout: 5 * time.Second})

	var reqs []Request
	for i := 0; i < 50; i++ {
		reqs = append(reqs, Request{URL: srv.URL(fmt.Sprintf("/bytes/%d", i)), Tag: uint64(i)})
	}
	reqs = append(reqs,
		Request{URL: srv.URL("/status/404")},
		Request{URL: refused},
		Request{URL: srv.URL("/delay/1000"), Timeout: 50 * time.Millisecond},
		Request{Method: "POST", URL: srv.URL("/echo"), Body: []byte("hi\x00there"),
			Header: http.Header{"X-Trace": {"t1"}}},
	)
	res, err := ex.Execute(context.Background(), reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if res.Len() != 54 {
		t.Fatalf("len %d", res.Len())
	}
	items, err := res.Items()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		it := items[i]
		if it.Outcome != OutcomeResponse || it.Status != 200 || len(it.Body) != i || it.Tag != uint64(i) {
			t.Errorf("item %d: %+v", i, it)
		}
		if it.HeaderValue("Content-Length") != fmt.Sprint(i) {
			t.Errorf("item %d: content-length %q", i, it.HeaderValue("Content-Length"))
		}
	}
	if items[50].Status != 404 || items[50].Err != nil {
		t.Errorf("404 item: %+v", items[50])
	}
	if !errors.Is(items[51].Err, ErrConnectRefused) || items[51].Outcome != OutcomeError {
		t.Errorf("refused item: %+v", items[51])
	}
	var he *Error
	if !errors.As(items[52].Err, &he) || he.Code != CodeTimeout || he.Message == "" {
		t.Errorf("timeout item: %+v", items[52])
	}
	if !errors.Is(items[52].Err, ErrTimeout) || errors.Is(items[52].Err, ErrCancelled) {
		t.Errorf("errors.Is mismatch: %v", items[52].Err)
	}
	echo := items[53]
	if string(echo.Body) != "hi\x00there" || echo.Header().Get("X-Echo-Method") != "POST" ||
		echo.HeaderValue("x-echo-h-x-trace") != "t1" || len(echo.Header()["X-Echo-H-X-Trace"]) != 1 {
		t.Errorf("echo item: %+v", echo)
	}
	s := res.Summary
	if s.Total != 54 || s.Succeeded != 51 || s.Responses != 52 || s.Errors != 2 {
		t.Errorf("summary %+v", s)
	}
	st, err := ex.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 54 || st.Errors[CodeConnectRefused] != 1 || st.Errors[CodeTimeout] != 1 {
		t.Errorf("stats %+v", st)
	}
	cs, err := ex.ConnectionStats()
	if err != nil || cs.Opened == 0 || cs.Reused != cs.Requests-cs.Opened {
		t.Errorf("connection stats %+v %v", cs, err)
	}
	if err := ex.ResetStats(); err != nil {
		t.Fatal(err)
	}
	if st, _ := ex.Stats(); st.Requests != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

func TestInvalidInputsAreTypedErrors(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 1})
	cases := []struct {
		req  Request
		want error
	}{
		{Request{URL: "ftp://x/"}, ErrInvalidURL},
		{Request{URL: ""}, ErrInvalidURL},
		{Request{URL: srv.URL("/ok"), Header: http.Header{"X-A": {"a\r\nInjected: 1"}}}, ErrInvalidHeader},
		{Request{URL: srv.URL("/ok"), Method: "BREW"}, ErrInvalidRequest},
		{Request{URL: "http://127.0.0.1/\xff"}, ErrInvalidURL},
	}
	// Each bad request ends as an error in its own slot; the good ones around it run.
	for _, c := range cases {
		before := srv.Requests()
		res, err := ex.Execute(context.Background(), []Request{{URL: srv.URL("/ok")}, c.req, {URL: srv.URL("/status/201")}}, nil)
		if err != nil {
			t.Fatalf("%+v: %v", c.req, err)
		}
		items, err := res.Items()
		if err != nil {
			t.Fatal(err)
		}
		if items[0].Status != 200 || items[2].Status != 201 {
			t.Errorf("%+v: neighbours %+v %+v", c.req, items[0], items[2])
		}
		if items[1].Outcome != OutcomeError || !errors.Is(items[1].Err, c.want) || items[1].Attempts != 0 {
			t.Errorf("%+v: got %+v, want %v", c.req, items[1], c.want)
		}
		var he *Error
		if !errors.As(items[1].Err, &he) || he.Message == "" {
			t.Errorf("%+v: no message in %v", c.req, items[1].Err)
		}
		if res.Summary.Errors != 1 || res.Summary.Responses != 2 {
			t.Errorf("%+v: summary %+v", c.req, res.Summary)
		}
		if sent := srv.Requests() - before; sent != 2 {
			t.Errorf("%+v: %d requests reached the server, want 2", c.req, sent)
		}
		res.Close()
	}
	// Many plain GETs (added in one call) with bad URLs among them: each keeps its slot.
	var reqs []Request
	for i := 0; i < 50; i++ {
		u := srv.URL("/ok")
		if i%10 == 3 {
			u = "::nope"
		}
		reqs = append(reqs, Request{URL: u})
	}
	res, err := ex.Execute(context.Background(), reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	items, _ := res.Items()
	for i, it := range items {
		bad := i%10 == 3
		if bad != errors.Is(it.Err, ErrInvalidURL) || bad == (it.Status == 200) {
			t.Errorf("item %d: %+v", i, it)
		}
	}
	res.Close()
	if _, err := NewExecutor(Config{Workers: 100000}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("workers: %v", err)
	}
	// An empty batch is fine.
	res, err = ex.Execute(context.Background(), nil, nil)
	if err != nil || res.Len() != 0 || res.Summary.Total != 0 {
		t.Errorf("empty batch: %v %+v", err, res)
	}
	if _, err := res.Item(0); err == nil {
		t.Error("item 0 of an empty result")
	}
	res.Close()
	res.Close()
	if _, err := res.Item(0); !errors.Is(err, ErrClosed) {
		t.Errorf("closed result: %v", err)
	}
}

func TestCancelWithContext(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 4})
	var reqs []Request
	for i := 0; i < 5000; i++ {
		p := "/ok"
		if i < 8 {
			p = "/delay/10000"
		}
		reqs = append(reqs, Request{URL: srv.URL(p)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	res, err := ex.Execute(ctx, reqs, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	defer res.Close()
	if time.Since(start) > 3*time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}
	if res.Summary.Cancelled < 4 || res.Summary.Cancelled+res.Summary.Succeeded != 5000 {
		t.Errorf("summary %+v", res.Summary)
	}
	it, _ := res.Item(0)
	if it.Outcome != OutcomeCancelled || !errors.Is(it.Err, ErrCancelled) || !errors.Is(it.Err, context.Canceled) ||
		errors.Is(it.Err, context.DeadlineExceeded) {
		t.Errorf("item 0 %+v", it)
	}
}

func TestDeadlineFromContext(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2})
	reqs := make([]Request, 10)
	for i := range reqs {
		reqs[i] = Request{URL: srv.URL("/delay/5000")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := ex.Execute(ctx, reqs, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	defer res.Close()
	if res.Summary.Errors != 2 || res.Summary.NotRun != 8 {
		t.Errorf("summary %+v", res.Summary)
	}
	first, _ := res.Item(0)
	last, _ := res.Item(9)
	if !errors.Is(first.Err, ErrDeadlineExceeded) || last.Outcome != OutcomeNotRun || !errors.Is(last.Err, ErrNotRun) {
		t.Errorf("items %+v %+v", first, last)
	}
	// Code written for Go's own deadlines recognises the items that hit the batch deadline.
	if !errors.Is(first.Err, context.DeadlineExceeded) || errors.Is(first.Err, context.Canceled) {
		t.Errorf("item 0 does not match context.DeadlineExceeded: %v", first.Err)
	}
	// A request timeout is not the batch deadline.
	if errors.Is(&Error{Code: CodeTimeout}, context.DeadlineExceeded) {
		t.Error("ErrTimeout matches context.DeadlineExceeded")
	}
}

func TestProgressFailFastConcurrency(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 8})
	reqs := make([]Request, 60)
	for i := range reqs {
		reqs[i] = Request{URL: srv.URL("/delay/5")}
	}
	var calls []Progress
	res, err := ex.Execute(context.Background(), reqs, &Options{
		Concurrency:      3,
		OnProgress:       func(p Progress) { calls = append(calls, p) },
		ProgressInterval: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	res.Close()
	if len(calls) < 2 || calls[len(calls)-1].Completed != 60 || calls[len(calls)-1].Percent != 100 {
		t.Errorf("progress calls %d, last %+v", len(calls), calls[len(calls)-1])
	}
	if m := srv.MaxInFlight(); m > 3 {
		t.Errorf("max in flight %d with concurrency 3", m)
	}

	reqs = append([]Request{{URL: srv.URL("/status/500")}}, reqs...)
	res, err = ex.Execute(context.Background(), reqs, &Options{FailFast: true, FailFastStatus: 500, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	last, _ := res.Item(60)
	if res.Summary.NotRun == 0 || last.Outcome != OutcomeNotRun {
		t.Errorf("fail-fast summary %+v", res.Summary)
	}
}

func TestProgressPanicIsRepanickedAfterTheRun(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2})
	defer func() {
		if v := recover(); v != "boom" {
			t.Errorf("recovered %v", v)
		}
		// Still usable afterwards.
		res, err := ex.Execute(context.Background(), []Request{{URL: srv.URL("/ok")}}, nil)
		if err != nil || res.Summary.Succeeded != 1 {
			t.Errorf("after panic: %v", err)
		}
		res.Close()
	}()
	ex.Execute(context.Background(), []Request{{URL: srv.URL("/ok")}}, &Options{
		OnProgress: func(Progress) { panic("boom") },
	})
	t.Error("no panic")
}

func TestConcurrentUseAndIdempotentClose(t *testing.T) {
	srv := startServer(t)
	ex, err := NewExecutor(Config{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reqs := make([]Request, 200)
			for i := range reqs {
				reqs[i] = Request{URL: srv.URL("/bytes/8")}
			}
			res, err := ex.Execute(context.Background(), reqs, nil)
			if err != nil || res.Summary.Succeeded != 200 {
				t.Errorf("goroutine: %v %+v", err, res)
				return
			}
			res.Close()
			ex.Stats()
		}()
	}
	wg.Wait()
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ex.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Execute(context.Background(), nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after close: %v", err)
	}
	if _, err := ex.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("stats after close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	srv.Close()
	if srv.URL("/ok") != "" {
		t.Error("URL after close")
	}
}

func TestVersionAndCodes(t *testing.T) {
	if Version() == "" {
		t.Error("empty version")
	}
	if CodeTimeout.String() != "timeout" || CodeOK != 0 || CodeNullArgument != 1000 {
		t.Error("codes")
	}
	// Error text says each thing once: the message names the failure; the code is in e.Code.
	e := &Error{Code: CodeDeadlineExceeded, Message: "batch deadline exceeded"}
	if e.Error() != "httpbatch: batch deadline exceeded" {
		t.Error(e.Error())
	}
	if e := (&Error{Code: CodeTimeout}); e.Error() != "httpbatch: timeout" {
		t.Error(e.Error())
	}
	if !errors.Is(e, ErrDeadlineExceeded) || errors.Is(e, ErrTimeout) {
		t.Error("sentinels")
	}
}

func TestCanonicalKeysMatchNetHTTP(t *testing.T) {
	for _, name := range []string{"content-length", "x-echo-h-x-trace", "ETAG", "www-authenticate", "x_under", "a--b", "-x", "", "x y", "1st-try"} {
		got := canonicalKey([]byte(name))
		if want := http.CanonicalHeaderKey(name); got != want {
			t.Errorf("%q: got %q, want %q", name, got, want)
		}
	}
}

func TestControlPausesAndResumes(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 4})
	ctl, err := NewControl()
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	reqs := make([]Request, 80)
	for i := range reqs {
		reqs[i] = Request{URL: srv.URL("/delay/10")}
	}
	var completed atomic.Uint64
	var pausedSeen atomic.Bool
	during := make(chan uint64, 1)
	go func() {
		for completed.Load() < 10 {
			time.Sleep(time.Millisecond)
		}
		ctl.Pause()
		if !ctl.Paused() {
			t.Error("Paused() after Pause()")
		}
		// Requests in flight at the pause (10 ms each) finish within the first window.
		time.Sleep(300 * time.Millisecond)
		before := completed.Load()
		time.Sleep(300 * time.Millisecond)
		during <- completed.Load() - before
		ctl.Resume()
	}()
	res, err := ex.Execute(context.Background(), reqs, &Options{
		Control:          ctl,
		ProgressInterval: time.Millisecond,
		OnProgress: func(p Progress) {
			completed.Store(p.Completed)
			if p.Paused {
				pausedSeen.Store(true)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	if n := <-during; n != 0 {
		t.Errorf("%d items settled while paused", n)
	}
	if !pausedSeen.Load() || res.Summary.Succeeded != 80 {
		t.Errorf("paused seen %v, summary %+v", pausedSeen.Load(), res.Summary)
	}
	ctl.Close()
	if err := ctl.Pause(); !errors.Is(err, ErrClosed) {
		t.Errorf("Pause after Close: %v", err)
	}
}

// The response head limit: a 20,000-byte header parses by default and is a protocol error at
// 16 KiB, while a small head still parses there.
func TestMaxResponseHead(t *testing.T) {
	srv := startServer(t)
	for _, limit := range []int64{0, 16 * 1024} {
		ex := newExecutor(t, Config{Workers: 2, MaxResponseHead: limit})
		items := execute(t, ex, []Request{
			{URL: srv.URL("/big-header/20000")},
			{URL: srv.URL("/ok")},
		})
		big := items[0]
		if limit == 0 && (big.Status != 200 || len(big.HeaderValue("X-Big")) != 20000) {
			t.Errorf("default limit: %+v", big.Err)
		}
		if limit != 0 && !errors.Is(big.Err, ErrProtocol) {
			t.Errorf("16 KiB limit: status %d, err %v", big.Status, big.Err)
		}
		if items[1].Status != 200 {
			t.Errorf("limit %d, small head: %+v", limit, items[1])
		}
	}
}
