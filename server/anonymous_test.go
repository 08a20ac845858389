package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	callState = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sentinel_state","arguments":{}}}`
	callPing  = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ping","arguments":{}}}`
)

func initBody(version string) string {
	return `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + version +
		`","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`
}

// meta2026 is the per-request _meta a 2026-07-28 client sends.
const meta2026 = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`

// TestAnonymousPassThrough: everything that cannot reach the agent goes to
// go-sdk without a token (DESIGN "the contract" item 2).
func TestAnonymousPassThrough(t *testing.T) {
	ts := startServer(t, nil)
	h2026 := func(method, name string) map[string]string {
		h := map[string]string{"Mcp-Method": method}
		if name != "" {
			h["Mcp-Name"] = name
		}
		return h
	}
	tests := []struct {
		name       string
		body       string
		version    string
		headers    map[string]string
		wantStatus int
		// wantResult: the JSON-RPC result contains this; wantCode: the
		// JSON-RPC error code (0: no error object expected).
		wantResult string
		wantCode   int
		// plain: go-sdk answers with a text/plain body containing this.
		plain string
	}{
		{name: "initialize 2025-03-26", body: initBody("2025-03-26"), wantStatus: 200, wantResult: `"protocolVersion":"2025-03-26"`},
		{name: "initialize 2025-06-18", body: initBody("2025-06-18"), version: "", wantStatus: 200, wantResult: `"protocolVersion":"2025-06-18"`},
		{name: "initialize 2025-11-25", body: initBody("2025-11-25"), wantStatus: 200, wantResult: `"protocolVersion":"2025-11-25"`},
		{name: "notifications/initialized", body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, version: "2025-06-18", wantStatus: 202},
		{name: "ping", body: `{"jsonrpc":"2.0","id":2,"method":"ping"}`, version: "2025-06-18", wantStatus: 200, wantResult: `{}`},
		{name: "tools/list", body: `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, version: "2025-06-18", wantStatus: 200, wantResult: `"name":"sentinel_state"`},
		{name: "tools/call ping", body: callPing, version: "2025-06-18", wantStatus: 200, wantResult: `\"service\":\"sentinelx-mcp\"`},
		{name: "logging/setLevel", body: `{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}}`, version: "2025-06-18", wantStatus: 200, wantResult: `{}`},
		{name: "resources/list", body: `{"jsonrpc":"2.0","id":2,"method":"resources/list"}`, version: "2025-06-18", wantStatus: 200, wantResult: `"resources":[]`},
		{name: "prompts/list", body: `{"jsonrpc":"2.0","id":2,"method":"prompts/list"}`, version: "2025-06-18", wantStatus: 200, wantResult: `"prompts":[]`},
		{name: "unknown tool", body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}`, version: "2025-06-18", wantStatus: 200, wantCode: -32602},
		// Bare go-sdk answers an unknown method on a legacy version with a
		// plain-text 400 ("JSON RPC not handled"); the bridge must not turn
		// it into an auth error.
		{name: "unknown method", body: `{"jsonrpc":"2.0","id":2,"method":"no/such","params":{}}`, version: "2025-06-18", wantStatus: 400, plain: "not handled"},
		{name: "2026 server/discover", body: `{"jsonrpc":"2.0","id":4,"method":"server/discover","params":{` + meta2026 + `}}`,
			version: "2026-07-28", headers: h2026("server/discover", ""), wantStatus: 200, wantResult: `"2026-07-28"`},
		{name: "2026 tools/list", body: `{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{` + meta2026 + `}}`,
			version: "2026-07-28", headers: h2026("tools/list", ""), wantStatus: 200, wantResult: `"name":"ping"`},
		{name: "2026 tools/call ping", body: `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"ping","arguments":{},` + meta2026 + `}}`,
			version: "2026-07-28", headers: h2026("tools/call", "ping"), wantStatus: 200, wantResult: `sentinelx-mcp`},
		{name: "2026 unknown method", body: `{"jsonrpc":"2.0","id":8,"method":"no/such","params":{` + meta2026 + `}}`,
			version: "2026-07-28", headers: h2026("no/such", ""), wantStatus: 404, wantCode: -32601},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.AgentCalls()
			r := ts.post(tt.body, rpcOpts{version: tt.version, headers: tt.headers})
			if r.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", r.StatusCode, tt.wantStatus, r.body)
			}
			if got := r.Header.Get("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate = %q on an anonymous request", got)
			}
			if got := ts.AgentCalls() - before; got != 0 {
				t.Errorf("agent called %d times", got)
			}
			if tt.wantStatus == http.StatusAccepted {
				return
			}
			if tt.plain != "" {
				if !strings.Contains(string(r.body), tt.plain) {
					t.Errorf("body %q does not contain %q", r.body, tt.plain)
				}
				return
			}
			m := r.rpc(t)
			if tt.wantCode != 0 {
				if m.Error == nil || m.Error.Code != tt.wantCode {
					t.Errorf("error = %+v, want code %d; body %s", m.Error, tt.wantCode, r.body)
				}
			} else {
				if m.Error != nil {
					t.Fatalf("unexpected error %+v", m.Error)
				}
				if !strings.Contains(string(m.Result), tt.wantResult) {
					t.Errorf("result %s does not contain %s", m.Result, tt.wantResult)
				}
			}
		})
	}
	ts.assertNoSecretsLogged()
}

// TestProtectedWithoutToken: what can reach the agent needs a token, and the
// 401 tells the client where to get one and which scope to ask for.
func TestProtectedWithoutToken(t *testing.T) {
	ts := startServer(t, nil)
	required := startServerWith(t, setup{env: map[string]string{"MCP_AUTH_REQUIRED": "true"}})
	tests := []struct {
		name      string
		ts        *testServer
		method    string
		body      string
		version   string
		wantID    string
		wantScope bool
		golden    string
	}{
		{name: "tools/call sentinel_state", ts: ts, method: http.MethodPost, body: callState, version: "2025-06-18", wantID: "7", wantScope: true, golden: "challenge_401_missing.txt"},
		{name: "tools/call sentinel_state 2026", ts: ts, method: http.MethodPost, body: `{"jsonrpc":"2.0","id":"s-1","method":"tools/call","params":{"name":"sentinel_state","arguments":{},` + meta2026 + `}}`, version: "2026-07-28", wantID: `"s-1"`, wantScope: true},
		{name: "DELETE /mcp", ts: ts, method: http.MethodDelete, wantID: "null"},
		{name: "auth required: initialize", ts: required, method: http.MethodPost, body: initBody("2025-06-18"), wantID: "1", golden: "challenge_401_missing_noscope.txt"},
		{name: "auth required: ping", ts: required, method: http.MethodPost, body: `{"jsonrpc":"2.0","id":2,"method":"ping"}`, wantID: "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.ts.AgentCalls()
			req := tt.ts.request(tt.method, "/mcp", strings.NewReader(tt.body))
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.version != "" {
				req.Header.Set("MCP-Protocol-Version", tt.version)
			}
			if strings.Contains(tt.body, meta2026) {
				req.Header.Set("Mcp-Method", "tools/call")
				req.Header.Set("Mcp-Name", "sentinel_state")
			}
			r := tt.ts.do(req)
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401; body %s", r.StatusCode, r.body)
			}
			wa := r.Header.Get("WWW-Authenticate")
			prm := tt.ts.URL + "/.well-known/oauth-protected-resource/mcp"
			want := `Bearer resource_metadata="` + prm + `"`
			if tt.wantScope {
				want += `, scope="sentinelx:state"`
			}
			if wa != want {
				t.Errorf("WWW-Authenticate = %q, want %q", wa, want)
			}
			if strings.Contains(wa, "error=") {
				t.Errorf("a request without credentials got error= in %q (RFC 6750 §3.1)", wa)
			}
			checkRPCError(t, r, tt.wantID, -32001, "Missing Authorization header")
			if tt.golden != "" {
				checkGolden(t, tt.golden, []byte(tt.ts.normalize(challengeDump(r))))
			}
			if got := tt.ts.AgentCalls() - before; got != 0 {
				t.Errorf("agent called %d times", got)
			}
		})
	}
}

// checkRPCError asserts a JSON-RPC error body as written by the gates.
func checkRPCError(t *testing.T, r response, wantID string, wantCode int, wantMessage string) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m rpcBody
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	if m.JSONRPC != "2.0" {
		t.Errorf("jsonrpc = %q", m.JSONRPC)
	}
	if string(m.ID) != wantID {
		t.Errorf("id = %s, want %s", m.ID, wantID)
	}
	if m.Error == nil {
		t.Fatalf("no error object in %s", r.body)
	}
	if m.Error.Code != wantCode || m.Error.Message != wantMessage {
		t.Errorf("error = {%d %q}, want {%d %q}", m.Error.Code, m.Error.Message, wantCode, wantMessage)
	}
}

// challengeDump is the golden form of a challenge: status, the challenge
// header and the body.
func challengeDump(r response) string {
	return r.Status + "\nWWW-Authenticate: " + r.Header.Get("WWW-Authenticate") + "\nContent-Type: " +
		r.Header.Get("Content-Type") + "\n\n" + string(r.body)
}

// TestMCPClient drives the server with go-sdk's own client at every
// protocol version it speaks, anonymously and with a token.
func TestMCPClient(t *testing.T) {
	ts := startServer(t, nil)
	tok := ts.mint(map[string]any{"preferred_username": "alice"})
	for _, version := range []string{"2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			anon := ts.connect(ctx, "", version)
			if got := anon.InitializeResult().ProtocolVersion; got != version {
				t.Errorf("negotiated %q, want %q", got, version)
			}
			tools, err := anon.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			again, err := anon.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			var names, names2 []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			for _, tl := range again.Tools {
				names2 = append(names2, tl.Name)
			}
			if !slices.Contains(names, "ping") || !slices.Contains(names, "sentinel_state") {
				t.Errorf("tools = %v, want ping and sentinel_state", names)
			}
			if !slices.Equal(names, names2) {
				t.Errorf("tools/list order is not deterministic: %v then %v", names, names2)
			}
			res, err := anon.CallTool(ctx, &mcp.CallToolParams{Name: "ping"})
			if err != nil || res.IsError {
				t.Fatalf("anonymous ping: %v %+v", err, res)
			}
			if _, err := anon.CallTool(ctx, &mcp.CallToolParams{Name: "sentinel_state"}); err == nil {
				t.Errorf("anonymous sentinel_state succeeded")
			}

			authed := ts.connect(ctx, tok, version)
			before := ts.AgentCalls()
			res, err = authed.CallTool(ctx, &mcp.CallToolParams{Name: "sentinel_state"})
			if err != nil {
				t.Fatalf("sentinel_state: %v", err)
			}
			if res.IsError {
				t.Fatalf("sentinel_state isError: %+v", res.Content)
			}
			if ts.AgentCalls() == before {
				t.Errorf("agent was not called")
			}
			if res.Meta["subject"] != "user-1" || res.Meta["preferred_username"] != "alice" || res.Meta["proxy"] != "sentinelx-mcp" {
				t.Errorf("_meta = %v", res.Meta)
			}
		})
	}
	ts.assertNoSecretsLogged()
}
