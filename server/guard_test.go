package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostOriginGuard: foreign Host or Origin → 403 before anything else;
// the server's own origins get CORS headers; preflights need no token
// (DESIGN items 11 and 12).
func TestHostOriginGuard(t *testing.T) {
	local := startServer(t, nil)
	// Behind nginx with proxy_set_header Host $host: the public name
	// arrives at the loopback listener.
	const public = "https://sentinelx.example.com"
	proxied := startServerWith(t, setup{env: map[string]string{
		"RESOURCE_URL":           public,
		"OIDC_EXPECTED_AUDIENCE": public + "/mcp",
		"MCP_ALLOWED_HOSTS":      "mcp.internal.example",
		"MCP_ALLOWED_ORIGINS":    "https://inspector.example,null",
	}})
	own := local.URL

	tests := []struct {
		name   string
		ts     *testServer
		method string
		body   string
		token  bool // send a valid token (audience of that server)
		host   string
		origin []string // nil: no Origin header
		want   int
		// wantCORS: Access-Control-Allow-Origin must echo the origin.
		wantCORS bool
	}{
		{name: "loopback Host", ts: local, body: callPing, want: 200},
		{name: "localhost Host", ts: local, body: callPing, host: "localhost:" + portOf(local), want: 200},
		{name: "foreign Host", ts: local, body: callPing, host: "evil.example", want: 403},
		{name: "foreign Host with token", ts: local, body: callState, token: true, host: "evil.example", want: 403},
		{name: "foreign Host on a loopback-looking name", ts: local, body: callPing, host: "localhost.evil.example", want: 403},
		{name: "foreign Origin", ts: local, body: callPing, origin: []string{"https://evil.example"}, want: 403},
		{name: "foreign Origin with token", ts: local, body: callState, token: true, origin: []string{"https://evil.example"}, want: 403},
		{name: "Origin null", ts: local, body: callPing, origin: []string{"null"}, want: 403},
		{name: "Origin of another loopback port", ts: local, body: callPing, origin: []string{"http://127.0.0.1:1"}, want: 403},
		{name: "own Origin 127.0.0.1", ts: local, body: callPing, origin: []string{own}, want: 200, wantCORS: true},
		{name: "own Origin localhost", ts: local, body: callPing, origin: []string{"http://localhost:" + portOf(local)}, want: 200, wantCORS: true},
		{name: "own Origin on a 401", ts: local, body: callState, origin: []string{own}, want: 401, wantCORS: true},
		{name: "own Origin with token", ts: local, body: callState, token: true, origin: []string{own}, want: 200, wantCORS: true},
		{name: "two Origin headers", ts: local, body: callPing, origin: []string{own, "https://evil.example"}, want: 403},
		{name: "preflight own Origin", ts: local, method: http.MethodOptions, origin: []string{own}, want: 204, wantCORS: true},
		{name: "preflight foreign Origin", ts: local, method: http.MethodOptions, origin: []string{"https://evil.example"}, want: 403},
		{name: "proxied: public Host", ts: proxied, body: callPing, host: "sentinelx.example.com", want: 200},
		{name: "proxied: public Host with port", ts: proxied, body: callPing, host: "sentinelx.example.com:443", want: 200},
		{name: "proxied: public Host, token", ts: proxied, body: callState, token: true, host: "sentinelx.example.com", want: 200},
		{name: "proxied: public Host, public Origin", ts: proxied, body: callState, token: true, host: "sentinelx.example.com", origin: []string{public}, want: 200, wantCORS: true},
		{name: "proxied: MCP_ALLOWED_HOSTS", ts: proxied, body: callPing, host: "mcp.internal.example", want: 200},
		{name: "proxied: MCP_ALLOWED_ORIGINS", ts: proxied, body: callPing, origin: []string{"https://inspector.example"}, want: 200, wantCORS: true},
		{name: "proxied: Origin null when listed", ts: proxied, body: callPing, origin: []string{"null"}, want: 200, wantCORS: true},
		{name: "proxied: suffix of the public Host", ts: proxied, body: callPing, host: "sentinelx.example.com.evil.example", want: 403},
		{name: "proxied: foreign Host", ts: proxied, body: callPing, host: "evil.example", want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := tt.ts
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := ts.request(method, "/mcp", strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("MCP-Protocol-Version", "2025-06-18")
			}
			if tt.token {
				req.Header.Set("Authorization", "Bearer "+ts.mint(nil))
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			for _, o := range tt.origin {
				req.Header.Add("Origin", o)
			}
			if method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-protocol-version")
			}
			before := ts.AgentCalls()
			r := ts.do(req)
			if r.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d; body %s", r.StatusCode, tt.want, r.body)
			}
			if tt.want == http.StatusForbidden {
				checkRPCErrorCode(t, r, -32003)
				if got := r.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Errorf("refused request got Access-Control-Allow-Origin %q", got)
				}
				if got := ts.AgentCalls() - before; got != 0 {
					t.Errorf("agent called %d times", got)
				}
			}
			if !tt.wantCORS {
				return
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tt.origin[0] {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.origin[0])
			}
			expose := strings.ToLower(r.Header.Get("Access-Control-Expose-Headers"))
			for _, h := range []string{"www-authenticate", "mcp-session-id"} {
				if !strings.Contains(expose, h) {
					t.Errorf("Access-Control-Expose-Headers = %q lacks %s", expose, h)
				}
			}
			if method == http.MethodOptions {
				allowM := r.Header.Get("Access-Control-Allow-Methods")
				allowH := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
				if !strings.Contains(allowM, "POST") {
					t.Errorf("Access-Control-Allow-Methods = %q", allowM)
				}
				for _, h := range []string{"authorization", "content-type", "mcp-protocol-version", "mcp-session-id"} {
					if !strings.Contains(allowH, h) {
						t.Errorf("Access-Control-Allow-Headers = %q lacks %s", allowH, h)
					}
				}
			}
		})
	}
	t.Run("proxied: challenges and metadata use the public URL", func(t *testing.T) {
		r := proxied.post(callState, rpcOpts{host: "sentinelx.example.com"})
		want := `Bearer resource_metadata="` + public + `/.well-known/oauth-protected-resource/mcp", scope="sentinelx:state"`
		if got := r.Header.Get("WWW-Authenticate"); r.StatusCode != http.StatusUnauthorized || got != want {
			t.Errorf("%d WWW-Authenticate = %q, want %q", r.StatusCode, got, want)
		}
		req := proxied.request(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", nil)
		req.Host = "sentinelx.example.com"
		m := proxied.do(req)
		if !strings.Contains(string(m.body), `"resource": "`+public+`/mcp"`) {
			t.Errorf("PRM = %s, want resource %s/mcp", m.body, public)
		}
		// A token issued for the loopback URL is not for this resource.
		tok := proxied.mint(map[string]any{"aud": proxied.MCPURL})
		if r := proxied.post(callState, rpcOpts{token: tok}); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("token for another audience: %d, want 401", r.StatusCode)
		}
	})
	local.assertNoSecretsLogged()
	proxied.assertNoSecretsLogged()
}

func portOf(ts *testServer) string {
	_, p, _ := strings.Cut(strings.TrimPrefix(ts.URL, "http://"), ":")
	return p
}

// checkRPCErrorCode asserts a JSON-RPC error body with code, any id.
func checkRPCErrorCode(t *testing.T, r response, code int) {
	t.Helper()
	m := r.rpc(t)
	if m.JSONRPC != "2.0" || m.Error == nil || m.Error.Code != code {
		t.Errorf("body %s: want a JSON-RPC error with code %d", r.body, code)
	}
}
