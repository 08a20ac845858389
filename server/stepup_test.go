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
