package httpbatch

import (
	"bytes"
	"context"
	"testing"
)

func TestCacheAnswersTheSecondBatchAndRevalidates(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 1, Cache: &CacheConfig{MemoryBytes: 1 << 20, Dir: t.TempDir()}})
	reqs := []Request{
		{URL: srv.URL("/cacheable/go-fresh?cc=max-age%3D60")},
		{URL: srv.URL("/cacheable/go-etag?cc=no-cache&etag=1")},
	}
	for i := 0; i < 2; i++ {
		res, err := ex.Execute(context.Background(), reqs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Summary.Succeeded != 2 {
			t.Fatalf("run %d: %+v", i, res.Summary)
		}
		res.Close()
	}
	s, err := ex.CacheStats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Misses != 2 || s.Hits != 1 || s.Revalidations != 1 || s.NotModified != 1 {
		t.Fatalf("cache stats %+v", s)
	}
	if n := srv.Requests(); n != 3 {
		t.Fatalf("%d requests reached the server, want 3", n)
	}
}

func TestCompressBodyIsDecodedByTheServer(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 1, CompressBody: 1024})
	body := bytes.Repeat([]byte("name,value\n"), 5000)
	res, err := ex.Execute(context.Background(), []Request{{Method: "POST", URL: srv.URL("/gunzip-echo"), Body: body}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	items, err := res.Items()
	if err != nil {
		t.Fatal(err)
	}
	r := items[0]
	if r.Err != nil || r.Header().Get("x-content-encoding") != "gzip" || !bytes.Equal(r.Body, body) {
		t.Fatalf("err %v, encoding %q, %d bytes back", r.Err, r.Header().Get("x-content-encoding"), len(r.Body))
	}
}
