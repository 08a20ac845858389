package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestStepUpChallengeByRevision: the 403's scope follows the client's
// protocol revision. Up to 2025-11-25 it is the token's scopes this server
// knows plus what the call needs, so a client that replaces its scope with
// the challenge's keeps what it had (no state → exec → state flip-flop);
// from 2026-07-28 only what the call needs. The JSON-RPC message names the
// missing scope either way. Goldens keyed on MCP-Protocol-Version ("" = no
// header, which means 2025-03-26).
func TestStepUpChallengeByRevision(t *testing.T) {
	ts := startServer(t, nil)
	// openid and other:api are not this resource's to name; state and edit are.
	tok := ts.mint(map[string]any{"scope": "openid sentinelx:edit other:api sentinelx:state"})
	const callExec = `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"}}}`
	const callExec2026 = `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"},` + meta2026 + `}}`
	tests := []struct {
		version, body, scope, golden string
	}{
		{"", callExec, "sentinelx:state sentinelx:exec sentinelx:edit", "challenge_403_2025-03-26.txt"},
		{"2025-06-18", callExec, "sentinelx:state sentinelx:exec sentinelx:edit", "challenge_403_2025-06-18.txt"},
		{"2025-11-25", callExec, "sentinelx:state sentinelx:exec sentinelx:edit", "challenge_403_2025-11-25.txt"},
		{"2026-07-28", callExec2026, "sentinelx:exec", "challenge_403_2026-07-28.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			before := ts.AgentCalls()
			var h map[string]string
			if tt.version == "2026-07-28" {
				h = map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "sentinel_exec"}
			}
			r := ts.post(tt.body, rpcOpts{token: tok, version: tt.version, headers: h})
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d: %s", r.StatusCode, r.body)
			}
			www := r.Header.Get("WWW-Authenticate")
			if !strings.Contains(www, `scope="`+tt.scope+`"`) || !strings.Contains(www, `error="insufficient_scope"`) {
				t.Errorf("WWW-Authenticate %s: want scope=%q", www, tt.scope)
			}
			checkRPCError(t, r, "9", -32003, "Missing required scope: sentinelx:exec")
			if n := ts.AgentCalls() - before; n != 0 {
				t.Errorf("agent called %d times", n)
			}
			checkGolden(t, tt.golden, []byte(ts.normalize(challengeDump(r))))
		})
	}
}

// TestStatelessGET: a stateless /mcp has no GET stream, so GET answers 405
// with Allow as a bare go-sdk stateless server does, token or not; a 401
// there made the TS SDK start a second sign-in for its GET stream. The Host
// guard still runs first. Stateful GET keeps 401-before-anything
// (TestStatefulSessions).
func TestStatelessGET(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name, method, token string
	}{
		{"GET without a token", http.MethodGet, ""},
		{"GET with a token", http.MethodGet, ts.mint(map[string]any{})},
		{"HEAD", http.MethodHead, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ts.request(tc.method, "/mcp", nil)
			req.Header.Set("Accept", "text/event-stream")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			r := ts.do(req)
			if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
				t.Fatalf("status %d, Allow %q; want 405, Allow: POST", r.StatusCode, r.Header.Get("Allow"))
			}
			if r.Header.Get("WWW-Authenticate") != "" {
				t.Errorf("WWW-Authenticate on a 405: %s", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	req := ts.request(http.MethodGet, "/mcp", nil)
	req.Host = "evil.example"
	if r := ts.do(req); r.StatusCode != http.StatusForbidden {
		t.Errorf("GET with a foreign Host: %d, want 403 from the guard", r.StatusCode)
	}
}
