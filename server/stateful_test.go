package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStatefulSessions: with MCP_STATEFUL=true a session created by subject
// A is never usable by subject B or anonymously (DESIGN item 10), and the
// GET stream needs a token.
func TestStatefulSessions(t *testing.T) {
	ts := startServerWith(t, setup{env: map[string]string{"MCP_STATEFUL": "true"}})
	alice := ts.mint(map[string]any{"sub": "alice", "preferred_username": "Alice"})
	bob := ts.mint(map[string]any{"sub": "bob"})
	const v = "2025-06-18"

	r := ts.post(initBody(v), rpcOpts{token: alice})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("initialize: %d %s", r.StatusCode, r.body)
	}
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("initialize returned no Mcp-Session-Id")
	}
	if r := ts.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, rpcOpts{token: alice, session: sid, version: v}); r.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d %s", r.StatusCode, r.body)
	}

	refused := func(code int) bool { return code == http.StatusForbidden || code == http.StatusNotFound }
	tests := []struct {
		name   string
		method string
		body   string
		token  string
		check  func(t *testing.T, r response)
	}{
		{name: "B calls a tool in A's session", body: callState, token: bob, check: func(t *testing.T, r response) {
			if !refused(r.StatusCode) {
				t.Errorf("status = %d, want 403 or 404; body %s", r.StatusCode, r.body)
			}
		}},
		{name: "B lists tools in A's session", body: `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, token: bob, check: func(t *testing.T, r response) {
			if !refused(r.StatusCode) {
				t.Errorf("status = %d, want 403 or 404; body %s", r.StatusCode, r.body)
			}
		}},
		{name: "anonymous protected call in A's session", body: callState, check: func(t *testing.T, r response) {
			if r.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401; body %s", r.StatusCode, r.body)
			}
			checkRPCError(t, r, "7", -32001, "Missing Authorization header")
		}},
		{name: "anonymous tools/list in A's session", body: `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, check: func(t *testing.T, r response) {
			if r.StatusCode == http.StatusOK {
				t.Errorf("anonymous request used A's session: %s", r.body)
			}
		}},
		{name: "A calls a tool in A's session", body: callState, token: alice, check: func(t *testing.T, r response) {
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status = %d; body %s", r.StatusCode, r.body)
			}
			if !strings.Contains(string(r.body), `"subject":"alice"`) || !strings.Contains(string(r.body), `"preferred_username":"Alice"`) {
				t.Errorf("_meta does not name alice: %s", r.body)
			}
		}},
		{name: "GET without token", method: http.MethodGet, check: func(t *testing.T, r response) {
			if r.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", r.StatusCode)
			}
		}},
		{name: "GET with B's token", method: http.MethodGet, token: bob, check: func(t *testing.T, r response) {
			if !refused(r.StatusCode) {
				t.Errorf("status = %d, want 403 or 404", r.StatusCode)
			}
		}},
		{name: "DELETE without token", method: http.MethodDelete, check: func(t *testing.T, r response) {
			if r.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", r.StatusCode)
			}
		}},
		{name: "DELETE with B's token", method: http.MethodDelete, token: bob, check: func(t *testing.T, r response) {
			if !refused(r.StatusCode) {
				t.Errorf("status = %d, want 403 or 404", r.StatusCode)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.AgentCalls()
			var r response
			if tt.method == "" {
				r = ts.post(tt.body, rpcOpts{token: tt.token, session: sid, version: v})
			} else {
				req := ts.request(tt.method, "/mcp", nil)
				req.Header.Set("Accept", "text/event-stream")
				req.Header.Set("Mcp-Session-Id", sid)
				req.Header.Set("MCP-Protocol-Version", v)
				if tt.token != "" {
					req.Header.Set("Authorization", "Bearer "+tt.token)
				}
				r = ts.do(req)
			}
			tt.check(t, r)
			if r.StatusCode != http.StatusOK && ts.AgentCalls() != before {
				t.Errorf("agent called on a refused request")
			}
		})
	}

	t.Run("GET stream with A's token", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req := ts.request(http.MethodGet, "/mcp", nil).WithContext(ctx)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("MCP-Protocol-Version", v)
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		cancel()
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Errorf("GET = %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})

	t.Run("DELETE with A's token ends the session", func(t *testing.T) {
		req := ts.request(http.MethodDelete, "/mcp", nil)
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("MCP-Protocol-Version", v)
		req.Header.Set("Authorization", "Bearer "+alice)
		if r := ts.do(req); r.StatusCode >= 300 {
			t.Fatalf("DELETE = %d %s", r.StatusCode, r.body)
		}
		r := ts.post(callState, rpcOpts{token: alice, session: sid, version: v})
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("call after DELETE = %d, want 404", r.StatusCode)
		}
	})
	ts.assertNoSecretsLogged()
}

// TestShutdownWithOpenStream: an idle GET stream (stateful mode) must not
// hold shutdown for the whole 30 s drain timeout; in-flight calls drain,
// idle streams are closed.
func TestShutdownWithOpenStream(t *testing.T) {
	ts := startServerWith(t, setup{env: map[string]string{"MCP_STATEFUL": "true"}})
	alice := ts.mint(map[string]any{"sub": "alice"})
	r := ts.post(initBody("2025-06-18"), rpcOpts{token: alice})
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatalf("no session: %d %s", r.StatusCode, r.body)
	}
	ts.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, rpcOpts{token: alice, session: sid, version: "2025-06-18"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := ts.request(http.MethodGet, "/mcp", nil).WithContext(ctx)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := (&http.Client{}).Do(req) // no client timeout: the stream is meant to stay open
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET = %d", resp.StatusCode)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		cancel() // let the drain finish so the test ends
		<-stopped
		t.Errorf("BUG: Run was still draining 5 s after cancel with one idle GET stream open (drain timeout is 30 s)")
	}
}
