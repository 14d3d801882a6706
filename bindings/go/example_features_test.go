package httpbatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	httpbatch "github.com/httpbatch/httpbatch/bindings/go"
)

// Twenty identical requests in flight at once share one wire request; each gets its own item.
func ExampleDedupConfig() {
	server, _ := httpbatch.StartTestServer()
	defer server.Close()
	executor, err := httpbatch.NewExecutor(httpbatch.Config{Workers: 20, Dedup: &httpbatch.DedupConfig{}})
	if err != nil {
		panic(err)
	}
	defer executor.Close()

	requests := make([]httpbatch.Request, 20)
	for i := range requests {
		requests[i] = httpbatch.Request{URL: server.URL("/delay/1000")}
	}
	result, err := executor.Execute(context.Background(), requests, nil)
	if err != nil {
		panic(err)
	}
	defer result.Close()
	stats, _ := executor.DedupStats()
	fmt.Printf("%d of %d succeeded; wire requests %d, saved %d\n",
		result.Summary.Succeeded, result.Summary.Total, stats.Wire, stats.Saved)
	// Output:
	// 20 of 20 succeeded; wire requests 1, saved 19
}

// Four JSON-RPC calls go out as one batch request; the call the server answers with an error
// object fails on its own, with ErrRemote.
func ExampleCoalesceConfig() {
	server, _ := httpbatch.StartTestServer()
	defer server.Close()
	executor, err := httpbatch.NewExecutor(httpbatch.Config{
		Workers:  4,
		Coalesce: &httpbatch.CoalesceConfig{Codec: httpbatch.CodecJSONRPC, MaxBatch: 4, MaxDelay: 5 * time.Second},
	})
	if err != nil {
		panic(err)
	}
	defer executor.Close()

	var requests []httpbatch.Request
	for i, method := range []string{"echo", "add", "fail", "echo"} {
		call := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":[%d,1],"id":%d}`, method, i, i)
		requests = append(requests, httpbatch.Request{Method: "POST", URL: server.URL("/jsonrpc"), Body: []byte(call)})
	}
	result, err := executor.Execute(context.Background(), requests, nil)
	if err != nil {
		panic(err)
	}
	defer result.Close()
	items, _ := result.Items()
	for i, item := range items {
		if errors.Is(item.Err, httpbatch.ErrRemote) {
			fmt.Printf("%d: remote error\n", i)
			continue
		}
		var reply struct{ Result json.RawMessage }
		json.Unmarshal(item.Body, &reply)
		fmt.Printf("%d: %s\n", i, reply.Result)
	}
	stats, _ := executor.CoalesceStats()
	fmt.Printf("%d calls in %d HTTP request\n", stats.Logical, stats.HTTPRequests)
	// Output:
	// 0: [0,1]
	// 1: 2.0
	// 2: remote error
	// 3: [3,1]
	// 4 calls in 1 HTTP request
}

// With adaptive limits, a host's rate follows the quota its server advertises.
func ExampleExecutor_AdaptiveHostStats() {
	server, _ := httpbatch.StartTestServer()
	defer server.Close()
	executor, err := httpbatch.NewExecutor(httpbatch.Config{Workers: 4, Adaptive: true})
	if err != nil {
		panic(err)
	}
	defer executor.Close()

	// The server allows 10 requests per second and says so in RateLimit headers.
	requests := make([]httpbatch.Request, 12)
	for i := range requests {
		requests[i] = httpbatch.Request{URL: server.URL("/quota/example?limit=10")}
	}
	result, err := executor.Execute(context.Background(), requests, nil)
	if err != nil {
		panic(err)
	}
	defer result.Close()
	stats, _ := executor.AdaptiveHostStats(server.URL("/"))
	fmt.Printf("%d of %d succeeded; host rate %.0f/s\n", result.Summary.Succeeded, result.Summary.Total, stats.EffectiveRate)
	// Output:
	// 12 of 12 succeeded; host rate 10/s
}

// Walks a cursor-paginated API item by item, then resumes a walk from its saved state.
func ExampleExecutor_Paginate() {
	server, _ := httpbatch.StartTestServer()
	defer server.Close()
	executor, err := httpbatch.NewExecutor(httpbatch.Config{Workers: 2})
	if err != nil {
		panic(err)
	}
	defer executor.Close()

	// 25 items, 10 to a page: {"data":[{"id":1},…],"meta":{"next":"…"}}.
	first := httpbatch.Request{URL: server.URL("/pages/cursor/25?per=10")}
	strategy := httpbatch.StrategyCursor("/meta/next", "after")
	walk, err := executor.Paginate(context.Background(), first, strategy,
		&httpbatch.PaginateOptions{Items: "/data", MaxPages: 2})
	if err != nil {
		panic(err)
	}
	n := 0
	for walk.NextItem() {
		n++
	}
	state, _ := walk.State()
	walk.Close()
	fmt.Printf("first walk: %d items, err %v\n", n, walk.Err())

	rest, _ := executor.Paginate(context.Background(), first, strategy,
		&httpbatch.PaginateOptions{Items: "/data", Resume: state})
	defer rest.Close()
	var last struct{ ID int }
	for rest.NextItem() {
		n++
		json.Unmarshal(rest.Item(), &last)
	}
	fmt.Printf("after the resume: %d items, the last id %d\n", n, last.ID)
	// Output:
	// first walk: 20 items, err <nil>
	// after the resume: 25 items, the last id 25
}
