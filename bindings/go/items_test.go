package httpbatch

import (
	"errors"
	"net/http"
	"testing"
)

// Plain GETs go to C in one call per run; a URL that is not UTF-8 makes that call fail, and then
// each URL goes in on its own: the bad ones (first, last, adjacent, alone) end as ErrInvalidURL
// in their own slots, the good ones around them run.
func TestInvalidUTF8AmongPlainGets(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 4})
	bad := map[int]bool{0: true, 5: true, 6: true, 20: true, 39: true}
	var reqs []Request
	for i := 0; i < 40; i++ {
		u := srv.URL("/ok")
		if bad[i] {
			u = srv.URL("/\xff\xfe")
		}
		reqs = append(reqs, Request{URL: u})
	}
	// A request with options in the middle splits the plain GETs into two runs.
	reqs[30] = Request{URL: srv.URL("/status/201"), Tag: 7}
	before := srv.Requests()
	items := execute(t, ex, reqs)
	for i, it := range items {
		switch {
		case bad[i]:
			if it.Outcome != OutcomeError || !errors.Is(it.Err, ErrInvalidURL) {
				t.Errorf("item %d: %+v, want ErrInvalidURL", i, it)
			}
		case i == 30:
			if it.Status != 201 || it.Tag != 7 {
				t.Errorf("item 30: %+v", it)
			}
		case it.Status != 200:
			t.Errorf("item %d: %+v", i, it)
		}
	}
	if sent := srv.Requests() - before; sent != 35 {
		t.Errorf("%d requests reached the server, want 35", sent)
	}
}

// Items keep header names as received; Header gives them in canonical form and HeaderValue finds
// them whatever the case, for responses whose header sets differ from item to item.
func TestItemHeadersCanonicalAcrossItems(t *testing.T) {
	srv := startServer(t)
	ex := newExecutor(t, Config{Workers: 2})
	var reqs []Request
	for i := 0; i < 30; i++ {
		if i%3 == 1 {
			reqs = append(reqs, Request{Method: "POST", URL: srv.URL("/echo"), Body: []byte("x"),
				Header: http.Header{"X-Trace": {"t"}, "X-Other-Name": {"o"}}})
		} else {
			reqs = append(reqs, Request{URL: srv.URL("/bytes/3")})
		}
	}
	items := execute(t, ex, reqs)
	for i, it := range items {
		h := it.Header()
		if len(h) == 0 {
			t.Errorf("item %d: headers %v", i, h)
		}
		for k := range h {
			if k != http.CanonicalHeaderKey(k) {
				t.Errorf("item %d: key %q not canonical", i, k)
			}
		}
		if h.Get("Content-Length") == "" || it.HeaderValue("CONTENT-LENGTH") != h.Get("content-length") {
			t.Errorf("item %d: content-length %q / %q", i, it.HeaderValue("CONTENT-LENGTH"), h.Get("content-length"))
		}
		if i%3 == 1 {
			if h.Get("X-Echo-H-X-Trace") != "t" || it.HeaderValue("x-echo-h-x-other-name") != "o" ||
				len(h["X-Echo-H-X-Other-Name"]) != 1 {
				t.Errorf("item %d: echo headers %v", i, h)
			}
		} else if h.Get("X-Echo-H-X-Trace") != "" || it.HeaderValue("X-Echo-H-X-Trace") != "" {
			t.Errorf("item %d: echo header on a plain GET: %v", i, h)
		}
	}
}
