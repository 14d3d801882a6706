// Package cmp is what the harness's Go clients share: the command line every client of
// benches/compare takes, pacing for clients without a limiter, and the JSON line they print.
package cmp

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// Timeouts of every client: httpbatch's defaults.
const (
	Timeout        = 30 * time.Second
	ConnectTimeout = 10 * time.Second
)

// Args is `CLIENT N C RATE BURST URL [URL...]` (RATE 0: unlimited).
type Args struct {
	N, C  int
	Rate  float64
	Burst int
	URLs  []string
}

// Parse reads os.Args; exits 2 with the usage when they are wrong.
func Parse() Args {
	a := Args{}
	bad := len(os.Args) < 6
	if !bad {
		var e1, e2, e3, e4 error
		a.N, e1 = strconv.Atoi(os.Args[1])
		a.C, e2 = strconv.Atoi(os.Args[2])
		a.Rate, e3 = strconv.ParseFloat(os.Args[3], 64)
		a.Burst, e4 = strconv.Atoi(os.Args[4])
		a.URLs = os.Args[5:]
		bad = e1 != nil || e2 != nil || e3 != nil || e4 != nil || a.N < 0 || a.C < 1 || a.Rate < 0 || a.Burst < 1
	}
	if bad {
		fmt.Fprintln(os.Stderr, "usage: CLIENT N C RATE BURST URL [URL...]   (RATE 0: unlimited)")
		os.Exit(2)
	}
	return a
}

// URL is the URL of request i.
func (a Args) URL(i int) string { return a.URLs[i%len(a.URLs)] }

// Pacer hands out evenly spaced start times (GCRA), bursts of Burst after an idle spell.
type Pacer struct {
	mu       sync.Mutex
	interval time.Duration
	slack    time.Duration
	next     time.Time
}

// NewPacer returns nil when rate is 0.
func NewPacer(rate float64, burst int) *Pacer {
	if rate <= 0 {
		return nil
	}
	iv := time.Duration(float64(time.Second) / rate)
	return &Pacer{interval: iv, slack: iv * time.Duration(burst-1)}
}

// Wait takes the next slot and sleeps until it.
func (p *Pacer) Wait() {
	p.mu.Lock()
	now := time.Now()
	slot := now
	if !p.next.IsZero() {
		slot = p.next
		if earliest := now.Add(-p.slack); earliest.After(slot) {
			slot = earliest
		}
	}
	p.next = slot.Add(p.interval)
	p.mu.Unlock()
	if d := time.Until(slot); d > 0 {
		time.Sleep(d)
	}
}

// Tally counts outcomes; safe for concurrent use.
type Tally struct {
	mu         sync.Mutex
	ok, errors int
	bytes      int64
	firstError string
}

// Response records a response: ok when the status is 200.
func (t *Tally) Response(status, bodyLen int) {
	if status != 200 {
		t.Error(fmt.Errorf("status %d", status))
		return
	}
	t.mu.Lock()
	t.ok++
	t.bytes += int64(bodyLen)
	t.mu.Unlock()
}

// Error records a failed request.
func (t *Tally) Error(err error) {
	t.mu.Lock()
	if t.errors == 0 {
		t.firstError = err.Error()
	}
	t.errors++
	t.mu.Unlock()
}

// Finish prints the JSON line and exits: 0 when every request was ok.
func (t *Tally) Finish(client string, a Args, started time.Time) {
	wall := time.Since(started).Seconds()
	line, _ := json.Marshal(map[string]any{
		"client": client, "n": a.N, "ok": t.ok, "bytes": t.bytes, "wall_s": wall,
		"errors": t.errors, "first_error": t.firstError,
	})
	fmt.Println(string(line))
	if t.ok != a.N {
		os.Exit(1)
	}
	os.Exit(0)
}
