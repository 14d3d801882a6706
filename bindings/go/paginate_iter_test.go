//go:build go1.23

package httpbatch

import (
	"context"
	"errors"
	"testing"
)

func TestPaginateRangeOverFunc(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2})
	walk, err := ex.Paginate(context.Background(), Request{URL: srv.URL("/pages/link/30?per=10&fail=range&fail_page=3")},
		StrategyLink, &PaginateOptions{Items: "/items"})
	if err != nil {
		t.Fatal(err)
	}
	defer walk.Close()
	n := 0
	var last error
	for item, err := range walk.Items() {
		if err != nil {
			last = err
			break
		}
		if len(item) == 0 {
			t.Fatal("empty item")
		}
		n++
	}
	var pe *PageError
	if n != 20 || !errors.As(last, &pe) || pe.Status != 500 {
		t.Fatalf("%d items, err %v", n, last)
	}
	pages, err := ex.Paginate(context.Background(), Request{URL: srv.URL("/pages/link/30?per=10")}, StrategyLink, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pages.Close()
	count := 0
	for page, err := range pages.Pages() {
		if err != nil || page.Status != 200 {
			t.Fatalf("page %d: %v", count, err)
		}
		count++
		if count == 2 {
			break // stopping early is fine
		}
	}
	if count != 2 {
		t.Fatalf("%d pages", count)
	}
}
