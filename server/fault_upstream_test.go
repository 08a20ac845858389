package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/server"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// toolResult is the part of a tools/call result the fault tests read.
type toolResult struct {
	IsError bool `json:"isError"`
	Content []struct {
		Text string `json:"text"`
	} `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent"`
}

func (r toolResult) text() string {
	var b strings.Builder
	for _, c := range r.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}

// callTool runs one tools/call with a context deadline as the bound on
// latency: a call that does not return within bound fails the test as a
// hang. It returns the tool result (a JSON-RPC error fails the test).
func (ts *testServer) callTool(t *testing.T, tok, name string, args any, bound time.Duration) toolResult {
	t.Helper()
	params, _ := json.Marshal(map[string]any{"name": name, "arguments": args})
	body := `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":` + string(params) + `}`
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	req := ts.request(http.MethodPost, "/mcp", strings.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s did not return within %s (hang)", name, bound)
		}
		t.Fatalf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	var m struct {
		Result toolResult      `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: status %d, decoding: %v", name, resp.StatusCode, err)
	}
	if m.Error != nil {
		t.Fatalf("%s: JSON-RPC error %s", name, m.Error)
	}
	return m.Result
}

// settleGoroutines waits (bounded) for the goroutine count to come back to
// at most base+slack and returns the last count seen.
func settleGoroutines(ts *testServer, base, slack int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts.client.CloseIdleConnections()
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= base+slack || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// switchAgent is an agent on a fixed loopback port that can be taken down
// (listener closed, connections dropped) and brought back.
type switchAgent struct {
	agent *sandbox.Agent
	addr  string
	mu    sync.Mutex
	srv   *http.Server
}

func newSwitchAgent(t *testing.T, opts sandbox.Options) *switchAgent {
	t.Helper()
	if opts.Token == "" {
		opts.Token = agentToken
	}
	a, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchAgent{agent: a, addr: ln.Addr().String()}
	s.serve(ln)
	t.Cleanup(func() { s.down(); _ = a.Close() })
	return s
}

func (s *switchAgent) serve(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = &http.Server{Handler: s.agent, ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(s.srv)
}

func (s *switchAgent) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

func (s *switchAgent) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("re-listen on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

// TestUpstreamFaults: every way the agent can fail becomes an isError tool
// result naming what happened, within a bound, without leaking goroutines,
// and the bridge serves normally once the agent recovers.
func TestUpstreamFaults(t *testing.T) {
	var fault atomic.Int32
	sw := newSwitchAgent(t, sandbox.Options{Fault: func(*http.Request) sandbox.Fault { return sandbox.Fault(fault.Load()) }})
	ts := startServerWith(t, setup{
		env:    map[string]string{"RATE_LIMIT": "0", "UPSTREAM_TIMEOUT": "1s"},
		mutate: func(c *server.Config) { c.UpstreamURL = "http://" + sw.addr },
	})
	tok := ts.mint(map[string]any{"scope": "sentinelx:state sentinelx:exec"})
	const bound = 15 * time.Second

	// Warm up: pools, caches and the verifier's key set exist before the
	// goroutine baseline is taken.
	for range 3 {
		if r := ts.callTool(t, tok, "sentinel_state", map[string]any{}, bound); r.IsError {
			t.Fatalf("warm-up: %s", r.text())
		}
	}
	base := settleGoroutines(ts, 0, 1<<30)

	tests := []struct {
		name  string
		fault sandbox.Fault
		down  bool
		want  []string // all must appear in the message
	}{
		{name: "agent down mid-run", down: true, want: []string{"cannot reach SENTINELX_URL", "connection refused"}},
		{name: "slower than UPSTREAM_TIMEOUT", fault: sandbox.FaultStall, want: []string{"timed out after 1s"}},
		{name: "connection reset mid-body", fault: sandbox.FaultReset, want: []string{"SENTINELX_URL"}},
		{name: "garbage HTML 500", fault: sandbox.FaultGarbage500, want: []string{"500"}},
		{name: "64 MB response", fault: sandbox.FaultHuge, want: []string{"exceeds 16 MiB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.down {
				sw.down()
				defer sw.up(t)
			}
			fault.Store(int32(tt.fault))
			defer fault.Store(int32(sandbox.FaultNone))
			for _, call := range []struct {
				name string
				args any
			}{{"sentinel_state", map[string]any{}}, {"sentinel_exec", map[string]any{"cmd": "uptime"}}} {
				reps := 3
				if tt.fault == sandbox.FaultStall {
					reps = 1 // each costs the full timeout
				}
				for i := range reps {
					r := ts.callTool(t, tok, call.name, call.args, bound)
					if !r.IsError {
						t.Fatalf("%s: not an error result: %.300s", call.name, r.text())
					}
					msg := r.text()
					if i == 0 {
						t.Logf("%s: %.200s", call.name, msg)
					}
					for _, w := range tt.want {
						if !strings.Contains(msg, w) {
							t.Errorf("%s: message %.300q lacks %q", call.name, msg, w)
						}
					}
					if strings.Contains(msg, agentToken) || strings.Contains(msg, "goroutine ") || len(msg) > 4096 {
						t.Errorf("%s: message leaks the token, a stack trace or is oversized (%d bytes)", call.name, len(msg))
					}
				}
			}
		})
	}
	// Recovered: normal service, and no goroutine left behind by any fault.
	if r := ts.callTool(t, tok, "sentinel_state", map[string]any{}, bound); r.IsError {
		t.Fatalf("after recovery: %s", r.text())
	}
	const slack = 8
	if n := settleGoroutines(ts, base, slack); n > base+slack {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d after the faults, %d before (slack %d)\n%s", n, base, slack, buf[:runtime.Stack(buf, true)])
	}
}

// TestUpstreamDownAtStart: the bridge starts without its agent, /readyz
// says so, calls fail with a clear message, and /healthz stays 200.
func TestUpstreamDownAtStart(t *testing.T) {
	ts := startServerWith(t, setup{agentDown: true, env: map[string]string{"RATE_LIMIT": "0", "UPSTREAM_TIMEOUT": "1s"}})
	code, rb := ts.readyz()
	if code != http.StatusServiceUnavailable || rb.Checks["upstream"].OK {
		t.Errorf("/readyz = %d %+v, want 503 with upstream failing", code, rb.Checks["upstream"])
	}
	if r := ts.do(ts.request(http.MethodGet, "/healthz", nil)); r.StatusCode != http.StatusOK {
		t.Errorf("/healthz = %d", r.StatusCode)
	}
	r := ts.callTool(t, ts.mint(nil), "sentinel_state", map[string]any{}, 15*time.Second)
	if !r.IsError || !strings.Contains(r.text(), "cannot reach SENTINELX_URL") {
		t.Errorf("result = %+v", r)
	}
}
