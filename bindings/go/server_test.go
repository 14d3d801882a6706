package httpbatch

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TestServer is the scripted loopback HTTP/1.1 server of the tests (the httpbatch-testserver
// crate), run as a process: `httpbatch serve --port 0 --exit-on-stdin-eof`. It is not part of
// this package or of the C ABI. The binary is $HTTPBATCH_BIN (ffi-tests/run.sh sets it), by
// default ../../target/release/httpbatch. Routes: /ok, /status/{code}, /bytes/{n},
// /delay/{ms}, /echo, /seq/{key}?s=503,503,200&retry_after=S, /flaky/{key}?fail=N,
// /limited/{key}?n=N, /close, /reset, and the control routes /__stats and /__reset, which count
// nowhere. Its stdin is a pipe only this process holds, so it stops when the tests end, however
// they end. Safe for concurrent use.
type TestServer struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.Closer
	base  string
}

// StartTestServer starts a server on a free port and returns once it listens. Close it when
// done.
func StartTestServer() (*TestServer, error) {
	bin := os.Getenv("HTTPBATCH_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", "target", "release", "httpbatch")
	}
	cmd := exec.Command(bin, "serve", "--port", "0", "--exit-on-stdin-eof")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the test server (set HTTPBATCH_BIN?): %w", err)
	}
	// The first line on stdout is the base URL, printed once the port is bound.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	base := strings.TrimSpace(line)
	if err != nil || !strings.HasPrefix(base, "http://127.0.0.1:") {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("%s printed no URL: %q (%v)", bin, line, err)
	}
	return &TestServer{cmd: cmd, stdin: stdin, base: base}, nil
}

// URL is "http://127.0.0.1:PORT" + path (path starts with "/"); "" after Close.
func (s *TestServer) URL(path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return ""
	}
	return s.base + path
}

// ServerStats are the server's counters, as its /__stats route reports them.
type ServerStats struct {
	Accepted        uint64 `json:"accepted"`
	OpenConnections uint64 `json:"open_connections"`
	Requests        uint64 `json:"requests"`
	InFlight        uint64 `json:"in_flight"`
	MaxInFlight     uint64 `json:"max_in_flight"`
}

// A connection of its own per call, so the control requests never share one with the traffic
// under test (a control request on a fresh connection is not counted at all).
var controlClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// Stats reads the server's counters; reading them does not change them.
func (s *TestServer) Stats() (ServerStats, error) {
	var st ServerStats
	url := s.URL("/__stats")
	if url == "" {
		return st, ErrClosed
	}
	res, err := controlClient.Get(url)
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /__stats: %s", res.Status)
	}
	return st, json.NewDecoder(res.Body).Decode(&st)
}

func (s *TestServer) stat(f func(ServerStats) uint64) uint64 {
	st, err := s.Stats()
	if err != nil {
		return 0
	}
	return f(st)
}

// Requests is how many requests the server has received (0 after Close).
func (s *TestServer) Requests() uint64 {
	return s.stat(func(st ServerStats) uint64 { return st.Requests })
}

// Accepted is how many TCP connections the server has accepted (0 after Close).
func (s *TestServer) Accepted() uint64 {
	return s.stat(func(st ServerStats) uint64 { return st.Accepted })
}

// MaxInFlight is the most requests the server has had in flight at once (0 after Close).
func (s *TestServer) MaxInFlight() uint64 {
	return s.stat(func(st ServerStats) uint64 { return st.MaxInFlight })
}

// Close stops the server (SIGTERM) and waits for it; an error if it did not exit cleanly.
// Idempotent.
func (s *TestServer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd := s.cmd
	s.cmd = nil
	cmd.Process.Signal(syscall.SIGTERM)
	s.stdin.Close()
	return cmd.Wait()
}
