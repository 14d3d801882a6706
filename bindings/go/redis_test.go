//go:build httpbatch_redis

package httpbatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startRedis runs a real redis-server (scripts/setup.sh installs it) on a free loopback port
// for the test, nothing written to disk, killed at the end.
func startRedis(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server (scripts/setup.sh installs it): %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for until := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				break
			}
		}
		if time.Now().After(until) {
			t.Fatal("redis-server did not answer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port)
}

func TestRedisLimiterSharedByTwoExecutors(t *testing.T) {
	url := startRedis(t)
	srv := startServer(t)
	var limiters [2]*RedisLimiter
	var execs [2]*Executor
	for i := range limiters {
		l, err := NewRedisLimiter(url, 20, time.Second, 2, RedisLimiterConfig{Key: "go-exec"})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		e, err := NewExecutor(Config{Workers: 4, SharedLimiter: l})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		limiters[i], execs[i] = l, e
	}
	start := time.Now()
	for _, e := range execs {
		reqs := make([]Request, 4)
		for i := range reqs {
			reqs[i] = Request{URL: srv.URL("/ok")}
		}
		res, err := e.Execute(context.Background(), reqs, nil)
		if err != nil || res.Summary.Succeeded != 4 {
			t.Fatalf("%v %+v", err, res)
		}
	}
	// 8 slots, a burst of 2, 50 ms apart: the 8th is 300 ms after the first (load only delays).
	if took := time.Since(start); took < 290*time.Millisecond {
		t.Fatalf("8 requests under one 20/s limit took %v", took)
	}
	for _, l := range limiters {
		s, err := l.Stats()
		if err != nil || s.Limiter.Admitted != 4 || s.RoundTrips < 4 || s.Degraded {
			t.Fatalf("%v %+v", err, s)
		}
	}
	// One per 10 s: after the first, a 10 ms deadline refuses at once, as Go's own deadlines do.
	slow, err := NewRedisLimiter(url, 1, 10*time.Second, 1, RedisLimiterConfig{Key: "go-slow"})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := slow.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a deadline error, got %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := slow.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("want a cancelled error, got %v", err)
	}
	limiters[0].Close()
	if _, err := limiters[0].Stats(); err != ErrClosed {
		t.Fatalf("want ErrClosed, got %v", err)
	}
}

func TestRedisWorkerRunsAListToCompletion(t *testing.T) {
	url := startRedis(t)
	srv := startServer(t)
	list, err := OpenRedisList(url, "go-done")
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	items := []RedisItem{{ID: "spec", Payload: `{"url":"` + srv.URL("/status/404") + `"}`}}
	for i := 0; i < 8; i++ {
		items = append(items, RedisItem{ID: fmt.Sprint(i), Payload: srv.URL("/ok")})
	}
	if n, err := list.Submit(items); err != nil || n != 9 {
		t.Fatal(n, err)
	}
	e, err := NewExecutor(Config{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	w, err := NewRedisWorker(url, "go-done", "go-worker", RedisWorkerConfig{ExitWhenComplete: true, ReadBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sum, err := w.Run(context.Background(), e)
	if err != nil || sum.Started != 9 || sum.Recorded != 9 {
		t.Fatalf("%v %+v", err, sum)
	}
	st, err := list.Status()
	if err != nil || !st.Complete() || st.Pending != 0 || st.Failed != 1 || st.Workers != 1 {
		t.Fatalf("%v %+v", err, st)
	}
	out, ok, err := list.Outcome("spec")
	if err != nil || !ok || !strings.Contains(out, `"status":404`) || !strings.Contains(out, `"worker":"go-worker"`) {
		t.Fatalf("%q %v %v", out, ok, err)
	}
	if _, ok, err := list.Outcome("missing"); ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := NewRedisWorker(url, "go-done", "", RedisWorkerConfig{}); !errors.Is(err, &Error{Code: CodeInvalidConfig}) {
		t.Fatalf("want invalid config, got %v", err)
	}
}

func TestRedisWorkerStopsWhenTheContextEnds(t *testing.T) {
	url := startRedis(t)
	srv := startServer(t)
	list, err := OpenRedisList(url, "go-stop")
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	e, err := NewExecutor(Config{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	w, err := NewRedisWorker(url, "go-stop", "go-stopper", RedisWorkerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	type ran struct {
		sum RedisWorkerSummary
		err error
	}
	done := make(chan ran, 1)
	go func() {
		s, err := w.Run(ctx, e)
		done <- ran{s, err}
	}()
	if _, err := list.Submit([]RedisItem{{"a", srv.URL("/ok")}, {"b", srv.URL("/ok")}}); err != nil {
		t.Fatal(err)
	}
	for until := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st, err := list.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Recorded == 2 {
			break
		}
		if time.Now().After(until) {
			t.Fatalf("never recorded: %+v", st)
		}
	}
	cancel()
	r := <-done
	if r.err != nil || r.sum.Recorded != 2 || r.sum.Released != 0 {
		t.Fatalf("%v %+v", r.err, r.sum)
	}
}
