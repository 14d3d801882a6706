package httpbatch_test

import (
	"context"
	"fmt"
	"time"

	httpbatch "github.com/httpbatch/httpbatch/bindings/go"
)

// Runs a small batch against the loopback test server (a process the tests start, see
// StartTestServer in server_test.go) and prints one line per request, in input order.
func Example() {
	server, err := httpbatch.StartTestServer()
	if err != nil {
		panic(err)
	}
	defer server.Close()

	executor, err := httpbatch.NewExecutor(httpbatch.Config{Workers: 4, Timeout: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	defer executor.Close()

	requests := []httpbatch.Request{
		{URL: server.URL("/ok")},
		{URL: server.URL("/bytes/16")},
		{URL: server.URL("/status/404")},
		{URL: server.URL("/delay/2000"), Timeout: 50 * time.Millisecond},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	result, err := executor.Execute(ctx, requests, nil)
	if err != nil {
		panic(err)
	}
	defer result.Close()

	items, _ := result.Items()
	for i, item := range items {
		if item.Err != nil {
			fmt.Printf("%d: %v\n", i, item.Outcome)
			continue
		}
		fmt.Printf("%d: %d, %d bytes\n", i, item.Status, len(item.Body))
	}
	fmt.Printf("%d of %d succeeded\n", result.Summary.Succeeded, result.Summary.Total)
	// Output:
	// 0: 200, 2 bytes
	// 1: 200, 16 bytes
	// 2: 404, 3 bytes
	// 3: error
	// 2 of 4 succeeded
}
