package httpbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// requestsFor is how many requests the server received on paths starting with prefix.
func requestsFor(t testing.TB, s *TestServer, prefix string) uint64 {
	t.Helper()
	res, err := controlClient.Get(s.URL("/__stats?prefix=" + prefix)) // the server reads it as is
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st struct {
		RequestsFor uint64 `json:"requests_for"`
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/__stats: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.RequestsFor
}

func execute(t testing.TB, ex *Executor, reqs []Request) []Item {
	t.Helper()
	res, err := ex.Execute(context.Background(), reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	items, err := res.Items()
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestDedupSends100IdenticalRequestsOnce(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 100, Dedup: &DedupConfig{}})
	reqs := make([]Request, 100)
	for i := range reqs {
		// Long enough for every worker to join the one request in flight.
		reqs[i] = Request{URL: srv.URL("/delay/2000")}
	}
	for i, it := range execute(t, ex, reqs) {
		if it.Status != 200 || string(it.Body) != "ok" {
			t.Fatalf("item %d: %d %q %v", i, it.Status, it.Body, it.Err)
		}
	}
	if n := requestsFor(t, srv, "/delay/"); n != 1 {
		t.Fatalf("the server saw %d requests, want 1", n)
	}
	s, err := ex.DedupStats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 100 || s.Wire != 1 || s.Saved != 99 || s.InFlight != 0 {
		t.Fatalf("dedup stats %+v", s)
	}
	// Mixed keys: one wire request per distinct URL.
	for i := range reqs[:90] {
		reqs[i] = Request{URL: srv.URL(fmt.Sprintf("/delay/1500?k=%d", i%3))}
	}
	execute(t, ex, reqs[:90])
	if n := requestsFor(t, srv, "/delay/1500"); n != 3 {
		t.Fatalf("mixed keys: the server saw %d requests, want 3", n)
	}
}

func rpcCall(method string, i int) []byte {
	return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":[%d],"id":%d}`, method, i, i))
}

func TestCoalesceJSONRPCSendsOneRequestAndKeepsItemErrors(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 10, Coalesce: &CoalesceConfig{Codec: CodecJSONRPC, MaxBatch: 10, MaxDelay: 10 * time.Second}})
	reqs := make([]Request, 10)
	for i := range reqs {
		method := "echo"
		switch i {
		case 3:
			method = "fail"
		case 7:
			method = "no-such-method"
		}
		reqs[i] = Request{Method: "POST", URL: srv.URL("/jsonrpc"), Body: rpcCall(method, i)}
	}
	items := execute(t, ex, reqs)
	if n := requestsFor(t, srv, "/jsonrpc"); n != 1 {
		t.Fatalf("the server saw %d requests, want 1", n)
	}
	for i, it := range items {
		switch i {
		case 3, 7:
			var e *Error
			if !errors.Is(it.Err, ErrRemote) || !errors.As(it.Err, &e) || it.Outcome != OutcomeError {
				t.Fatalf("item %d: %v %v", i, it.Outcome, it.Err)
			}
			want := map[int]string{3: "-32000", 7: "-32601"}[i]
			if !strings.Contains(e.Message, want) || errors.Is(it.Err, ErrProtocol) {
				t.Fatalf("item %d: %q", i, e.Message)
			}
		default:
			var reply struct {
				Result []int `json:"result"`
				ID     int   `json:"id"`
			}
			if it.Err != nil || json.Unmarshal(it.Body, &reply) != nil || reply.ID != i || reply.Result[0] != i {
				t.Fatalf("item %d: %s %v", i, it.Body, it.Err)
			}
		}
	}
	s, err := ex.CoalesceStats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Logical != 10 || s.HTTPRequests != 1 || s.MeanBatchSize != 10 || s.ItemErrors != 2 {
		t.Fatalf("coalesce stats %+v", s)
	}
	// The queue-full kind has its own sentinel too.
	if !errors.Is(&Error{Code: CodeQueueFull, Message: "coalescing queue full"}, ErrQueueFull) ||
		errors.Is(&Error{Code: CodeQueueFull}, ErrNotRun) {
		t.Fatal("ErrQueueFull")
	}
}

func TestCoalesceQueueFullEndsItsOwnItems(t *testing.T) {
	srv := startServer(t)
	// Ten workers and a batch that waits a minute for ten: only four may be held, so the other
	// six end at once with ErrQueueFull; once the stats show them, cancelling ends the four held.
	ex := newExecutor(t, Config{Workers: 10, Coalesce: &CoalesceConfig{Codec: CodecJSONRPC, MaxBatch: 10, MaxDelay: time.Minute, MaxQueued: 4}})
	reqs := make([]Request, 10)
	for i := range reqs {
		reqs[i] = Request{Method: "POST", URL: srv.URL("/jsonrpc"), Body: rpcCall("echo", i)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan []Item)
	go func() {
		// Cancelled on purpose: the partial result comes with ctx.Err().
		res, err := ex.Execute(ctx, reqs, nil)
		if res == nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Execute: %v", err)
			done <- nil
			return
		}
		defer res.Close()
		items, err := res.Items()
		if err != nil {
			t.Error(err)
		}
		done <- items
	}()
	for waited := time.Now(); ; {
		s, err := ex.CoalesceStats()
		if err != nil {
			t.Fatal(err)
		}
		if s.Rejected == 6 {
			break
		}
		if time.Since(waited) > 30*time.Second {
			t.Fatalf("never six rejected: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	full, cancelled := 0, 0
	for i, it := range <-done {
		switch {
		case errors.Is(it.Err, ErrQueueFull) && !errors.Is(it.Err, ErrNotRun):
			full++
		case it.Outcome == OutcomeCancelled || errors.Is(it.Err, ErrCancelled):
			cancelled++
		default:
			t.Fatalf("item %d: %v %v", i, it.Outcome, it.Err)
		}
	}
	if full != 6 || cancelled != 4 || requestsFor(t, srv, "/jsonrpc") != 0 {
		t.Fatalf("%d queue full, %d cancelled, %d sent", full, cancelled, requestsFor(t, srv, "/jsonrpc"))
	}
	if _, err := NewExecutor(Config{Coalesce: &CoalesceConfig{Codec: CodecJSONRPC, MaxBatch: 1, MaxQueued: -1}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("MaxQueued -1: %v", err)
	}
}

func TestCoalesceJSONArraySplitsTheAnswer(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 5, Coalesce: &CoalesceConfig{Codec: CodecJSONArray, MaxBatch: 5, MaxDelay: 10 * time.Second}})
	reqs := make([]Request, 5)
	for i := range reqs {
		reqs[i] = Request{Method: "POST", URL: srv.URL("/json-array"), Body: []byte(fmt.Sprint(i * 10))}
	}
	for i, it := range execute(t, ex, reqs) {
		var got struct{ Item int }
		if it.Err != nil || json.Unmarshal(it.Body, &got) != nil || got.Item != i*10 {
			t.Fatalf("item %d: %s %v", i, it.Body, it.Err)
		}
	}
	if n := requestsFor(t, srv, "/json-array"); n != 1 {
		t.Fatalf("the server saw %d requests, want 1", n)
	}
}

func TestFeatureOptionsAndStatsErrors(t *testing.T) {
	for _, c := range []CoalesceConfig{{Codec: CodecJSONRPC}, {Codec: 9, MaxBatch: 2}} {
		if _, err := NewExecutor(Config{Coalesce: &c}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	ex := newExecutor(t, Config{})
	if _, err := ex.CoalesceStats(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CoalesceStats without coalescing: %v", err)
	}
	if _, err := ex.AdaptiveHostStats("http://127.0.0.1:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AdaptiveHostStats without adaptive limits: %v", err)
	}
	if s, err := ex.DedupStats(); err != nil || s != (DedupStats{}) {
		t.Fatalf("DedupStats without dedup: %+v %v", s, err)
	}
	ex.Close()
	if _, err := ex.DedupStats(); err != ErrClosed {
		t.Fatalf("after Close: %v", err)
	}
}

func TestAdaptiveHoldsAHostAfter429AndFollowsItsQuota(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2, Adaptive: true})
	host := srv.URL("/")
	if _, err := ex.AdaptiveHostStats(host); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before any answer: %v", err)
	}
	hold := []Request{{URL: srv.URL("/seq/go-hold?s=429,200&retry_after=2")}}
	if it := execute(t, ex, hold)[0]; it.Status != 429 {
		t.Fatalf("first answer %d %v", it.Status, it.Err)
	}
	readAt := time.Now()
	s, err := ex.AdaptiveHostStats(host)
	if err != nil || s.Holds != 1 || s.HeldFor <= 0 || s.HeldFor > 2*time.Second {
		t.Fatalf("after a 429: %+v %v", s, err)
	}
	// The next request to the host waits the hold out before it is sent: the call cannot
	// return before the hold (read after readAt, in whole milliseconds rounded down) ends.
	it := execute(t, ex, hold)[0]
	if it.Status != 200 || time.Now().Before(readAt.Add(s.HeldFor)) {
		t.Fatalf("after the hold: %d %v, returned %v before the hold ended", it.Status, it.Err,
			readAt.Add(s.HeldFor).Sub(time.Now()))
	}
	if s, _ := ex.AdaptiveHostStats(host); s.HeldFor != 0 {
		t.Fatalf("still held: %+v", s)
	}
	execute(t, ex, []Request{{URL: srv.URL("/quota/go?limit=20")}})
	s, err = ex.AdaptiveHostStats(host)
	if err != nil || s.EffectiveRate != 20 || s.AdvertisedRate != 20 || s.QuotaAnswers < 1 {
		t.Fatalf("after a quota: %+v %v", s, err)
	}
}

func TestPaginateCursorItems(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2})
	walk, err := ex.Paginate(context.Background(), Request{URL: srv.URL("/pages/cursor/57?per=10")},
		StrategyCursor("/meta/next", "after"), &PaginateOptions{Items: "/data"})
	if err != nil {
		t.Fatal(err)
	}
	defer walk.Close()
	n := 0
	for walk.NextItem() {
		n++
		var item struct{ ID int }
		if err := json.Unmarshal(walk.Item(), &item); err != nil || item.ID != n {
			t.Fatalf("item %d: %s", n, walk.Item())
		}
	}
	if walk.Err() != nil || n != 57 {
		t.Fatalf("%d items, err %v", n, walk.Err())
	}
	state, err := walk.State()
	if err != nil || !strings.Contains(state, `"done":true`) || !strings.Contains(state, `"items":57`) {
		t.Fatalf("state %s %v", state, err)
	}
	if walk.NextPage() || walk.Err() == nil {
		t.Fatal("a walk reads items or pages, not both")
	}
	walk.Close()
	walk.Close()
	if _, err := walk.State(); err != ErrClosed {
		t.Fatalf("after Close: %v", err)
	}
}

func TestPaginatePagesWithATotalAndLimits(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2})
	walk, err := ex.Paginate(context.Background(), Request{URL: srv.URL("/pages/numbered/100?per=10")},
		StrategyPage("page"), &PaginateOptions{Items: "/items", Total: "/total", MaxPages: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer walk.Close()
	pages, items := 0, 0
	for walk.NextPage() {
		p := walk.Page()
		if p.Status != 200 || !strings.Contains(string(p.Body), `"total":100`) || len(p.Items) != 10 {
			t.Fatalf("page %d: %+v", pages, p)
		}
		pages++
		items += len(p.Items)
	}
	if walk.Err() != nil || pages != 3 || items != 30 {
		t.Fatalf("%d pages, %d items, err %v", pages, items, walk.Err())
	}
	if _, err := ex.Paginate(context.Background(), Request{URL: srv.URL("/")}, "sideways", nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("an unknown strategy: %v", err)
	}
}

func TestPaginateResumesAfterAFailedPage(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2})
	first := Request{URL: srv.URL("/pages/link/30?per=10&fail=go&fail_page=2")}
	walk, err := ex.Paginate(context.Background(), first, StrategyLink, &PaginateOptions{Items: "/items"})
	if err != nil {
		t.Fatal(err)
	}
	defer walk.Close()
	var seen []string
	for walk.NextItem() {
		seen = append(seen, string(walk.Item()))
	}
	var pe *PageError
	if !errors.As(walk.Err(), &pe) || pe.Status != 500 || !strings.Contains(string(pe.Body), "scripted failure") {
		t.Fatalf("err %v", walk.Err())
	}
	if len(seen) != 10 {
		t.Fatalf("%d items before the failure", len(seen))
	}
	state, err := walk.State()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ex.Paginate(context.Background(), first, StrategyLink, &PaginateOptions{Items: "/items", Resume: state})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for again.NextItem() {
		seen = append(seen, string(again.Item()))
	}
	if again.Err() != nil || len(seen) != 30 || seen[10] != `{"id":11}` || seen[29] != `{"id":30}` {
		t.Fatalf("%d items, err %v", len(seen), again.Err())
	}
}

func TestPaginateStopsWhenTheContextIsCancelled(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	walk, err := ex.Paginate(ctx, Request{URL: srv.URL("/pages/link/30?per=10")}, StrategyLink, &PaginateOptions{Items: "/items"})
	if err != nil {
		t.Fatal(err)
	}
	defer walk.Close()
	if !walk.NextItem() {
		t.Fatalf("first item: %v", walk.Err())
	}
	cancel()
	// The items of the page read are handed out; the next page request is cancelled.
	n := 1
	for walk.NextItem() {
		n++
	}
	if n != 10 {
		t.Fatalf("%d items, want the first page's 10", n)
	}
	if err := walk.Err(); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("err %v", err)
	}
	ex.Close()
	other, _ := NewExecutor(Config{})
	defer other.Close()
	w2, err := other.Paginate(context.Background(), Request{URL: srv.URL("/pages/link/30")}, StrategyLink, nil)
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if w2.NextPage() || w2.Err() != ErrClosed {
		t.Fatalf("with the executor closed: %v", w2.Err())
	}
	w2.Close()
}
