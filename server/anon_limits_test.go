package server_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// batchOf returns a JSON-RPC batch of n copies of method (ids 1..n).
func batchOf(n int, method string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString(`{"jsonrpc":"2.0","id":` + strconv.Itoa(i) + `,"method":"` + method + `"}`)
	}
	b.WriteByte(']')
	return b.String()
}

// TestBatchCap: the request — one anonymous 2025-03-26 POST (no
// MCP-Protocol-Version), Accept: application/json, a batch of 10,000
// tools/list — is one JSON-RPC error and nothing is processed; a batch at
// the cap is answered in full. A token holder's oversize batch of agent
// calls reaches the agent zero times.
func TestBatchCap(t *testing.T) {
	ts := startServer(t, nil)
	r := ts.post(batchOf(10000, "tools/list"), rpcOpts{accept: "application/json"})
	if r.StatusCode != http.StatusBadRequest || len(r.body) > 1024 {
		t.Fatalf("10,000-message batch: status %d, %d bytes of answer; want 400 and one short error", r.StatusCode, len(r.body))
	}
	if m := r.rpc(t); m.Error == nil || m.Error.Code != -32600 || !strings.Contains(m.Error.Message, "MCP_MAX_BATCH") {
		t.Errorf("error = %s, want -32600 naming MCP_MAX_BATCH", r.body)
	}

	r = ts.post(batchOf(ts.Cfg.MaxBatch, "tools/list"), rpcOpts{accept: "application/json"})
	if r.StatusCode != http.StatusOK || len(r.rpcAll(t)) != ts.Cfg.MaxBatch {
		t.Fatalf("batch of MCP_MAX_BATCH=%d: status %d, want 200 with every answer", ts.Cfg.MaxBatch, r.StatusCode)
	}

	tok := ts.mint(map[string]any{"scope": "sentinelx:state"})
	var calls []string
	for i := range ts.Cfg.MaxBatch + 1 {
		calls = append(calls, `{"jsonrpc":"2.0","id":`+strconv.Itoa(i+1)+`,"method":"tools/call","params":{"name":"sentinel_state","arguments":{}}}`)
	}
	before := ts.AgentCalls()
	r = ts.post("["+strings.Join(calls, ",")+"]", rpcOpts{token: tok, accept: "application/json"})
	if r.StatusCode != http.StatusBadRequest || ts.AgentCalls() != before {
		t.Errorf("oversize batch with a token: status %d, %d agent calls; want 400 and none", r.StatusCode, ts.AgentCalls()-before)
	}

	// A body over the 1 MiB anonymous read is finished only once the token
	// is verified; the cap must count its messages then too.
	pad := strings.Repeat("x", 64<<10)
	calls = calls[:0]
	for i := range 20 {
		calls = append(calls, `{"jsonrpc":"2.0","id":`+strconv.Itoa(i+1)+`,"method":"tools/call","params":{"name":"sentinel_state","arguments":{},"_meta":{"pad":"`+pad+`"}}}`)
	}
	big := "[" + strings.Join(calls, ",") + "]"
	if len(big) <= 1<<20 || 20 <= ts.Cfg.MaxBatch {
		t.Fatalf("the test needs a body over 1 MiB (%d) and a batch over MCP_MAX_BATCH", len(big))
	}
	r = ts.post(big, rpcOpts{token: tok, accept: "application/json"})
	if r.StatusCode != http.StatusBadRequest || ts.AgentCalls() != before {
		t.Errorf("oversize batch over 1 MiB with a token: status %d, %d agent calls; want 400 and none", r.StatusCode, ts.AgentCalls()-before)
	}
}

// TestResponseCap: the answer to one POST is bounded as a whole; over
// MCP_MAX_RESPONSE_BYTES the client gets one JSON-RPC error instead.
func TestResponseCap(t *testing.T) {
	ts := startServerWith(t, setup{env: map[string]string{"MCP_MAX_RESPONSE_BYTES": "65536"}})
	one := ts.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, rpcOpts{accept: "application/json"})
	if one.StatusCode != http.StatusOK || len(one.body)*ts.Cfg.MaxBatch <= 65536 {
		t.Fatalf("tools/list: status %d, %d bytes; the test needs MCP_MAX_BATCH answers to exceed 64 KiB", one.StatusCode, len(one.body))
	}
	r := ts.post(batchOf(ts.Cfg.MaxBatch, "tools/list"), rpcOpts{accept: "application/json"})
	if r.StatusCode != http.StatusInternalServerError || len(r.body) > 65536 {
		t.Fatalf("batch answer over the cap: status %d, %d bytes; want 500 with one error", r.StatusCode, len(r.body))
	}
	if m := r.rpc(t); m.Error == nil || !strings.Contains(m.Error.Message, "MCP_MAX_RESPONSE_BYTES") {
		t.Errorf("error = %s, want one naming MCP_MAX_RESPONSE_BYTES", r.body)
	}
	// SSE answers are cut off at the cap too.
	r = ts.post(batchOf(ts.Cfg.MaxBatch, "tools/list"), rpcOpts{accept: "text/event-stream"})
	if len(r.body) > 65536 {
		t.Errorf("SSE batch answer: %d bytes, want at most 65536", len(r.body))
	}
}

// TestAnonRateLimit: anonymous messages are limited per client address;
// the address comes from X-Forwarded-For only when the peer is a trusted
// proxy (loopback by default), so a client cannot take someone else's
// budget or dodge its own by forging the header. Token holders are not
// counted. The rate is tiny so that no refill happens during the test.
func TestAnonRateLimit(t *testing.T) {
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	xff := func(a string) rpcOpts { return rpcOpts{headers: map[string]string{"X-Forwarded-For": a}} }
	limited := func(t *testing.T, r response, what string) {
		t.Helper()
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: status %d, want 429 with Retry-After", what, r.StatusCode)
		}
		if m := r.rpc(t); m.Error == nil || m.Error.Code != -32029 {
			t.Errorf("%s: body %s, want JSON-RPC error -32029", what, r.body)
		}
	}
	ok := func(t *testing.T, r response, what string) {
		t.Helper()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, want 200 (%s)", what, r.StatusCode, r.body)
		}
	}
	env := map[string]string{"ANON_RATE_LIMIT": "0.001", "MCP_MAX_BATCH": "1"}

	t.Run("loopback proxy trusted (default)", func(t *testing.T) {
		ts := startServerWith(t, setup{env: env})
		ok(t, ts.post(ping, xff("203.0.113.1")), "first anonymous call from A")
		limited(t, ts.post(ping, xff("203.0.113.1")), "second anonymous call from A")
		limited(t, ts.post(ping, xff("6.6.6.6, 203.0.113.1")), "A forging an earlier hop")
		ok(t, ts.post(ping, xff("203.0.113.2")), "first anonymous call from B")
		ok(t, ts.post(ping, rpcOpts{headers: map[string]string{"X-Real-IP": "203.0.113.3"}}), "C named by X-Real-IP")
		ok(t, ts.post(ping, rpcOpts{token: ts.mint(nil), headers: map[string]string{"X-Forwarded-For": "203.0.113.1"}}), "A with a token")
		if !strings.Contains(ts.Logs.String(), "anonymous rate limited") {
			t.Error("no log line for the refused calls")
		}
	})
	t.Run("no proxy trusted", func(t *testing.T) {
		env := map[string]string{"TRUSTED_PROXIES": "none"}
		for k, v := range map[string]string{"ANON_RATE_LIMIT": "0.001", "MCP_MAX_BATCH": "1"} {
			env[k] = v
		}
		ts := startServerWith(t, setup{env: env})
		ok(t, ts.post(ping, xff("203.0.113.1")), "first anonymous call")
		limited(t, ts.post(ping, xff("203.0.113.2")), "a forged X-Forwarded-For from an untrusted peer")
		limited(t, ts.post(ping, rpcOpts{headers: map[string]string{"X-Real-IP": "203.0.113.3"}}), "a forged X-Real-IP from an untrusted peer")
	})
	t.Run("another proxy trusted, loopback peer spoofing", func(t *testing.T) {
		env := map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8"}
		for k, v := range map[string]string{"ANON_RATE_LIMIT": "0.001", "MCP_MAX_BATCH": "1"} {
			env[k] = v
		}
		ts := startServerWith(t, setup{env: env})
		ok(t, ts.post(ping, xff("203.0.113.1")), "first anonymous call")
		limited(t, ts.post(ping, xff("203.0.113.2")), "a forged X-Forwarded-For")
	})
}

// listenBody is a 2026-07-28 subscriptions/listen request.
const listenBody = `{"jsonrpc":"2.0","id":7,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},` + meta2026 + `}}`

// openListen POSTs subscriptions/listen and returns the response with its
// body unread (the stream), or the whole response when it is not a stream.
func (ts *testServer) openListen(ctx context.Context, token, from string) *http.Response {
	ts.t.Helper()
	req := ts.request(http.MethodPost, "/mcp", strings.NewReader(listenBody)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "subscriptions/listen")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := (&http.Client{}).Do(req) // no timeout: a stream is meant to stay open; ctx bounds it
	if err != nil {
		ts.t.Fatalf("listen: %v", err)
	}
	return resp
}

// TestListenStreams: 2026-07-28 listen streams (POST, stateless default)
// are capped per client address and in total, whether or not they carry a
// token, and end when idle. Before, any anonymous client could open any
// number, forever. Anonymous listen itself stays open, as on a bare go-sdk
// server (the conformance suite listens without a token).
func TestListenStreams(t *testing.T) {
	ts := startServerWith(t, setup{env: map[string]string{
		"MCP_MAX_STREAMS": "3", "MCP_MAX_CLIENT_STREAMS": "2", "MCP_STREAM_IDLE_TIMEOUT": "1s",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok := ts.mint(nil)

	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	for i, c := range []struct{ from, token string }{
		{"203.0.113.1", tok}, {"203.0.113.1", ""}, {"203.0.113.1", ""}, {"203.0.113.2", ""}, {"203.0.113.3", tok},
	} {
		r := ts.openListen(ctx, c.token, c.from)
		want := http.StatusOK
		switch i {
		case 2: // third from one address, anonymous: MCP_MAX_CLIENT_STREAMS=2
			want = http.StatusTooManyRequests
		case 4: // fourth in total, with a token: MCP_MAX_STREAMS=3
			want = http.StatusTooManyRequests
		}
		if r.StatusCode != want {
			r.Body.Close()
			t.Fatalf("listen %d from %s: status %d, want %d", i+1, c.from, r.StatusCode, want)
		}
		if want == http.StatusOK {
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("listen %d: Content-Type %q, want a stream", i+1, ct)
			}
			open = append(open, r)
			continue
		}
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("listen %d refused without Retry-After", i+1)
		}
		r.Body.Close()
	}

	// Idle streams end (MCP_STREAM_IDLE_TIMEOUT=1s): reading each to its
	// end returns; ctx (30 s) is only the bound that keeps a failure from
	// hanging the test.
	// Every open stream, anonymous or not, starts with the acknowledgement.
	var wg sync.WaitGroup
	var ended, acked atomic.Int32
	for _, r := range open {
		wg.Add(1)
		go func(r *http.Response) {
			defer wg.Done()
			sc := bufio.NewScanner(r.Body)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "notifications/subscriptions/acknowledged") {
					acked.Add(1)
				}
			}
			if ctx.Err() == nil {
				ended.Add(1)
			}
		}(r)
	}
	wg.Wait()
	if n := acked.Load(); n != int32(len(open)) {
		t.Errorf("%d of %d listen streams carried the acknowledgement", n, len(open))
	}
	if n := ended.Load(); n != int32(len(open)) {
		t.Fatalf("%d of %d idle listen streams ended before the 30 s bound", n, len(open))
	}
	// Their slots are free again.
	r := ts.openListen(ctx, tok, "203.0.113.1")
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Errorf("listen after the idle streams ended: status %d, want 200", r.StatusCode)
	}
}

// TestStatefulGETStreamCaps: the same caps for stateful GET streams.
func TestStatefulGETStreamCaps(t *testing.T) {
	ts := startServerWith(t, setup{env: map[string]string{
		"MCP_STATEFUL": "true", "MCP_MAX_STREAMS": "4", "MCP_MAX_CLIENT_STREAMS": "1",
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice := ts.mint(map[string]any{"sub": "alice"})
	get := func(from string) *http.Response {
		r := ts.post(initBody("2025-06-18"), rpcOpts{token: alice})
		sid := r.Header.Get("Mcp-Session-Id")
		if sid == "" {
			t.Fatalf("no session: %d %s", r.StatusCode, r.body)
		}
		ts.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, rpcOpts{token: alice, session: sid, version: "2025-06-18"})
		req := ts.request(http.MethodGet, "/mcp", nil).WithContext(ctx)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("X-Forwarded-For", from)
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		return resp
	}
	first := get("203.0.113.1")
	defer first.Body.Close()
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first GET stream: %d", first.StatusCode)
	}
	second := get("203.0.113.1")
	second.Body.Close()
	if second.StatusCode != http.StatusTooManyRequests {
		t.Errorf("second GET stream from one address: %d, want 429", second.StatusCode)
	}
	other := get("203.0.113.2")
	defer other.Body.Close()
	if other.StatusCode != http.StatusOK {
		t.Errorf("GET stream from another address: %d, want 200", other.StatusCode)
	}
}
