// A program outside the repository that uses the Go module as a user would: `go get` through a
// module proxy, the C library through pkg-config. ffi-tests/run.sh builds it in a temporary
// module and runs it against `httpbatch serve`: `consumer BASE_URL`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	httpbatch "github.com/httpbatch/httpbatch/bindings/go"
)

func main() {
	base := os.Args[1]
	ex, err := httpbatch.NewExecutor(httpbatch.Config{Workers: 4})
	if err != nil {
		panic(err)
	}
	defer ex.Close()
	reqs := []httpbatch.Request{{URL: base + "/ok"}, {URL: "no scheme"}, {URL: base + "/status/404"}, {URL: base + "/delay/5000"}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := ex.Execute(ctx, reqs, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		panic(fmt.Sprintf("want the context's deadline, got %v", err))
	}
	defer res.Close()
	items, err := res.Items()
	if err != nil {
		panic(err)
	}
	for i, it := range items {
		fmt.Printf("%d: %s %d invalid_url=%v deadline=%v\n", i, it.Outcome, it.Status,
			errors.Is(it.Err, httpbatch.ErrInvalidURL), errors.Is(it.Err, context.DeadlineExceeded))
	}
	fmt.Println("version", httpbatch.Version())
}
