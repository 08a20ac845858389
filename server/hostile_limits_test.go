package server_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawExchange writes req on a fresh TCP connection and reads until the
// server closes it or deadline passes. It returns what was read and
// whether the server closed the connection (EOF or reset) before the
// deadline.
func rawExchange(t *testing.T, addr, req string, deadline time.Duration) (string, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		return "", true
	}
	_ = c.SetReadDeadline(time.Now().Add(deadline))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), false
	}
	return string(b), true
}

func statusOf(raw string) int {
	line, _, _ := strings.Cut(raw, "\r\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// TestSlowloris: a client that sends part of a header and then nothing, or
// trickles one byte at a time, is disconnected by ReadHeaderTimeout (10 s,
// fixed in server.Run — there is no option to shorten it, so this test
// runs in parallel with the others). Meanwhile the server keeps serving.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	ts := startServerWith(t, setup{env: hostileEnv()})
	addr := strings.TrimPrefix(ts.URL, "http://")
	const bound = 25 * time.Second // far above 10 s; the test never measures it

	var wg sync.WaitGroup
	results := make([]bool, 2)
	wg.Add(2)
	go func() { // partial header, then silence
		defer wg.Done()
		_, closed := rawExchange(t, addr, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", bound)
		results[0] = closed
	}()
	go func() { // one byte every 200 ms, never finishing the header
		defer wg.Done()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer c.Close()
		stop := time.Now().Add(bound)
		_, _ = io.WriteString(c, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: ")
		for time.Now().Before(stop) {
			if _, err := c.Write([]byte("a")); err != nil {
				results[1] = true
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			var one [1]byte
			if _, err := c.Read(one[:]); err != nil {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					results[1] = true // EOF or reset: the server hung up
					return
				}
			}
		}
	}()
	// While both hold their connection, a normal call is served.
	if r := ts.post(callState, rpcOpts{token: ts.mint(nil)}); r.StatusCode != http.StatusOK {
		t.Errorf("normal call during slowloris: %d", r.StatusCode)
	}
	wg.Wait()
	if !results[0] {
		t.Errorf("a partial header held the connection open past %s", bound)
	}
	if !results[1] {
		t.Errorf("a trickled header held the connection open past %s", bound)
	}
}

// TestMalformedSessionID: Mcp-Session-Id with control characters is
// refused by net/http (400) before our code; a 10 KB or 1 MiB one gets a
// 4xx (stateful: unknown session) or is ignored (stateless). No panic, and
// the server keeps serving.
func TestMalformedSessionID(t *testing.T) {
	stateless := startServerWith(t, setup{env: hostileEnv()})
	stateful := startServerWith(t, setup{env: map[string]string{"RATE_LIMIT": "0", "MCP_STATEFUL": "true"}})
	for _, ts := range []*testServer{stateless, stateful} {
		mode := "stateless"
		if ts == stateful {
			mode = "stateful"
		}
		addr := strings.TrimPrefix(ts.URL, "http://")
		for _, sid := range []string{"abc\x01def", "abc\x7fdef", "abc\rdef", "abc\x00def", "\x1b[31mred"} {
			t.Run(mode+" control char "+strconv.Quote(sid), func(t *testing.T) {
				req := "POST /mcp HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n" +
					"Mcp-Session-Id: " + sid + "\r\nContent-Length: " + strconv.Itoa(len(callPing)) + "\r\nConnection: close\r\n\r\n" + callPing
				before := ts.AgentCalls()
				raw, _ := rawExchange(t, addr, req, 10*time.Second)
				if st := statusOf(raw); st < 400 || st > 499 {
					t.Errorf("status %d, want 4xx; response %.200q", st, raw)
				}
				if ts.AgentCalls() != before {
					t.Error("agent called")
				}
			})
		}
		for _, n := range []int{10 << 10, 1 << 20} {
			t.Run(mode+" session id of "+strconv.Itoa(n)+" bytes", func(t *testing.T) {
				r := ts.post(callState, rpcOpts{token: ts.mint(nil), session: strings.Repeat("S", n), version: "2025-06-18"})
				switch {
				case mode == "stateful" && (r.StatusCode < 400 || r.StatusCode > 499):
					t.Errorf("status %d, want 4xx (unknown session)", r.StatusCode)
				case mode == "stateless" && r.StatusCode != http.StatusOK:
					t.Errorf("status %d, want 200 (stateless ignores the header)", r.StatusCode)
				}
			})
		}
		if r := ts.post(callPing, rpcOpts{}); r.StatusCode != http.StatusOK {
			t.Errorf("%s: ping afterwards: %d", mode, r.StatusCode)
		}
	}
}

// TestSessionOwnerMemory: in stateful mode, BindSessions records the owner
// of any Mcp-Session-Id that arrives with a valid token, before go-sdk
// has checked that the session exists; unknown ids are answered 404 but
// stay in the owner map (up to 10,000 entries, for 31 minutes). The map
// is bounded by count, not by size, so ids near the 1 MiB header limit
// let any token holder (no scope needed) pin memory.
func TestSessionOwnerMemory(t *testing.T) {
	// LOG_LEVEL=warn: the request log would copy every 1 MiB header into
	// the test's log buffer, which under -race on a loaded machine made a
	// single request outlast the client timeout; what is measured here is
	// the owner map, not the logger.
	ts := startServerWith(t, setup{env: map[string]string{"RATE_LIMIT": "0", "MCP_STATEFUL": "true", "LOG_LEVEL": "warn"}})
	tok := ts.mint(map[string]any{"scope": ""})
	const n, size = 48, 1 << 20
	heap := func() uint64 {
		ts.Logs.Reset() // the test logger prints request headers
		ts.client.CloseIdleConnections()
		var ms runtime.MemStats
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range n {
		sid := strconv.Itoa(i) + strings.Repeat("S", size-16)
		if r := ts.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, rpcOpts{token: tok, session: sid, version: "2025-06-18"}); r.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown session: status %d, want 404", r.StatusCode)
		}
	}
	grown := int64(heap()) - int64(before)
	t.Logf("heap after %d unknown 1 MiB session ids: %+.1f MiB", n, float64(grown)/(1<<20))
	if grown > n*size/2 {
		t.Fatalf("%d requests with unknown 1 MiB Mcp-Session-Id values and a scope-less token pinned %.0f MiB: "+
			"session ids go-sdk has not accepted must not be remembered", n, float64(grown)/(1<<20))
	}
}

// TestStatefulSessionCost: go-sdk v1.8.0 has no cap on concurrent
// stateful sessions (only SessionTimeout, 30 min here), and initialize is
// anonymous, so this records what one idle session costs. It asserts only
// that the server stays responsive; the figures go in docs/SECURITY.md.
func TestStatefulSessionCost(t *testing.T) {
	// ANON_RATE_LIMIT=0: 200 anonymous initializes from one address are
	// what is measured here; the limit itself is TestAnonRateLimit's.
	ts := startServerWith(t, setup{env: map[string]string{"RATE_LIMIT": "0", "MCP_STATEFUL": "true", "ANON_RATE_LIMIT": "0"}})
	settle := func() (int, uint64) {
		ts.client.CloseIdleConnections()
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	g0, h0 := settle()
	const n = 200
	for i := range n {
		r := ts.post(initBody("2025-06-18"), rpcOpts{version: "2025-06-18"})
		if r.StatusCode != http.StatusOK || r.Header.Get("Mcp-Session-Id") == "" {
			t.Fatalf("initialize %d: status %d", i, r.StatusCode)
		}
	}
	ts.Logs.Reset()
	g1, h1 := settle()
	t.Logf("%d anonymous idle sessions: %+d goroutines (%.1f each), %+.1f KiB heap (%.1f KiB each)",
		n, g1-g0, float64(g1-g0)/n, float64(int64(h1)-int64(h0))/1024, float64(int64(h1)-int64(h0))/1024/n)
	if r := ts.post(callState, rpcOpts{token: ts.mint(nil), version: "2025-06-18"}); r.StatusCode != http.StatusOK {
		t.Errorf("call after %d sessions: %d", n, r.StatusCode)
	}
}

// TestDNSRebindingHosts: Host values an attacker's DNS name or a confused
// client could produce. Only our names and loopback literals pass.
func TestDNSRebindingHosts(t *testing.T) {
	ts := startServerWith(t, setup{env: hostileEnv()})
	addr := strings.TrimPrefix(ts.URL, "http://")
	port := portOf(ts)
	tests := []struct {
		name, requestLine, host string
		want                    int
	}{
		{"trailing-dot localhost", "POST /mcp HTTP/1.1", "localhost.:" + port, 403},
		{"rebinding name", "POST /mcp HTTP/1.1", "127.0.0.1.nip.io:" + port, 403},
		{"hex IPv4", "POST /mcp HTTP/1.1", "0x7f000001:" + port, 403},
		{"decimal IPv4", "POST /mcp HTTP/1.1", "2130706433:" + port, 403},
		{"short IPv4", "POST /mcp HTTP/1.1", "127.1:" + port, 403},
		{"octal IPv4", "POST /mcp HTTP/1.1", "0177.0.0.1:" + port, 403},
		{"userinfo in Host", "POST /mcp HTTP/1.1", "evil.example@127.0.0.1:" + port, 403},
		{"empty Host", "POST /mcp HTTP/1.1", "", 403},
		{"absolute-form URI names a foreign host", "POST http://evil.example/mcp HTTP/1.1", "127.0.0.1:" + port, 403},
		{"IPv4-mapped loopback literal", "POST /mcp HTTP/1.1", "[::ffff:127.0.0.1]:" + port, 200},
		{"upper-case LOCALHOST", "POST /mcp HTTP/1.1", "LOCALHOST:" + port, 200},
		{"loopback 127.0.0.2", "POST /mcp HTTP/1.1", "127.0.0.2:" + port, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.requestLine + "\r\nHost: " + tt.host + "\r\nContent-Type: application/json\r\nAccept: application/json\r\n" +
				"Content-Length: " + strconv.Itoa(len(callPing)) + "\r\nConnection: close\r\n\r\n" + callPing
			raw, _ := rawExchange(t, addr, req, 10*time.Second)
			st := statusOf(raw)
			if st != tt.want && !(tt.want == 403 && st == 400) { // net/http may refuse a malformed Host first
				t.Errorf("status %d, want %d; response %.200q", st, tt.want, raw)
			}
		})
	}
}

// TestOversizeBodyDefaultLimit: one byte over the default 16 MiB, sent
// with a valid token for a protected tool, gets 413 and never reaches the
// agent (TestBody covers small limits and chunked bodies).
func TestOversizeBodyDefaultLimit(t *testing.T) {
	ts := startServerWith(t, setup{env: hostileEnv()})
	prefix := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"},"_meta":{"pad":"`
	suffix := `"}}}`
	body := prefix + strings.Repeat("a", 16<<20+1-len(prefix)-len(suffix)) + suffix
	before := ts.AgentCalls()
	r := ts.post(body, rpcOpts{token: ts.mint(map[string]any{"scope": "sentinelx:exec"})})
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", r.StatusCode)
	}
	if m := r.rpc(t); m.Error == nil {
		t.Errorf("413 body %q is not a JSON-RPC error", r.body)
	}
	if ts.AgentCalls() != before {
		t.Error("agent called")
	}
}
