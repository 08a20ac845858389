package server_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
)

// TestTokenMatrix sends tools/call sentinel_state with every kind of good
// and bad token (DESIGN "the contract" items 1, 3, 5, 6, 9, 12).
func TestTokenMatrix(t *testing.T) {
	ts := startServer(t, nil)
	idp := ts.IdP
	now := time.Now()
	unix := func(d time.Duration) int64 { return now.Add(d).Unix() }
	unpublished := idp.NewUnpublishedKey("RS256")
	bigGroups := make([]string, 600)
	for i := range bigGroups {
		bigGroups[i] = "group-with-a-long-name-" + strings.Repeat("x", 10)
	}

	const (
		ok           = http.StatusOK
		unauthorized = http.StatusUnauthorized
		badRequest   = http.StatusBadRequest
	)
	tests := []struct {
		name  string
		token func() string // sent as "Authorization: Bearer <token>"
		// auth replaces the Authorization header(s) entirely.
		auth   func() []string
		query  func() string
		want   int
		golden string
	}{
		{name: "valid RS256", token: func() string { return ts.mint(nil) }, want: ok},
		{name: "valid ES256", token: func() string { return ts.mint(nil, idptest.WithKey(idp.EC)) }, want: ok},
		{name: "expired beyond leeway", token: func() string {
			return ts.mint(map[string]any{"exp": unix(-2 * time.Minute), "iat": unix(-time.Hour)})
		}, want: unauthorized, golden: "challenge_401_invalid.txt"},
		{name: "expired within leeway", token: func() string {
			return ts.mint(map[string]any{"exp": unix(-30 * time.Second), "iat": unix(-time.Hour)})
		}, want: ok},
		{name: "nbf in the future", token: func() string { return ts.mint(map[string]any{"nbf": unix(2 * time.Minute)}) }, want: unauthorized},
		{name: "nbf within leeway", token: func() string { return ts.mint(map[string]any{"nbf": unix(30 * time.Second)}) }, want: ok},
		{name: "iat 2 minutes in the future", token: func() string { return ts.mint(map[string]any{"iat": unix(2 * time.Minute)}) }, want: unauthorized},
		{name: "missing exp", token: func() string { return ts.mint(map[string]any{"exp": nil}) }, want: unauthorized},
		{name: "names nobody (no sub, client_id or azp)", token: func() string {
			return ts.mint(map[string]any{"sub": nil, "client_id": nil, "azp": nil})
		}, want: unauthorized},
		{name: "wrong issuer", token: func() string { return ts.mint(map[string]any{"iss": "https://evil.example"}) }, want: unauthorized},
		{name: "issuer with a different path", token: func() string { return ts.mint(map[string]any{"iss": idp.Issuer + "/other"}) }, want: unauthorized},
		{name: "missing iss", token: func() string { return ts.mint(map[string]any{"iss": nil}) }, want: unauthorized},
		{name: "issuer with trailing slash", token: func() string { return ts.mint(map[string]any{"iss": idp.Issuer + "/"}) }, want: ok},
		{name: "wrong audience", token: func() string { return ts.mint(map[string]any{"aud": "https://other.example/mcp"}) }, want: unauthorized},
		{name: "audience is the base URL only", token: func() string { return ts.mint(map[string]any{"aud": ts.URL + "/other"}) }, want: unauthorized},
		{name: "no aud", token: func() string { return ts.mint(map[string]any{"aud": nil}) }, want: unauthorized},
		{name: "aud array containing ours", token: func() string {
			return ts.mint(map[string]any{"aud": []string{"https://other.example", ts.MCPURL}})
		}, want: ok},
		{name: "aud array without ours", token: func() string {
			return ts.mint(map[string]any{"aud": []string{"https://other.example", "account"}})
		}, want: unauthorized},
		{name: "alg none", token: func() string { tok := idp.Unsigned(nil); ts.secret(tok); return tok }, want: unauthorized},
		{name: "HS256 with the RSA public key", token: func() string { tok := idp.HS256WithPublicKey(nil); ts.secret(tok); return tok }, want: unauthorized},
		{name: "unknown kid", token: func() string { return ts.mint(nil, idptest.WithKey(unpublished)) }, want: unauthorized},
		{name: "kid of another key", token: func() string { return ts.mint(nil, idptest.WithKID(idp.EC.KID)) }, want: unauthorized},
		{name: "RSA key used with PS256", token: func() string {
			return ts.mint(nil, idptest.WithKey(&idptest.Key{KID: idp.RSA.KID, Alg: "PS256", Private: idp.RSA.Private}))
		}, want: unauthorized},
		{name: "crit header", token: func() string {
			return ts.mint(nil, idptest.WithHeader("crit", []string{"exp"}), idptest.WithHeader("exp", 1))
		}, want: unauthorized},
		{name: "attacker key with jku", token: func() string {
			return ts.mint(nil, idptest.WithKey(unpublished), idptest.WithHeader("jku", "http://127.0.0.1:1/jwks"))
		}, want: unauthorized},
		{name: "attacker key embedded as jwk", token: func() string {
			return ts.mint(nil, idptest.WithKey(unpublished), idptest.WithKID(""), idptest.WithHeader("jwk", unpublishedJWK(unpublished)))
		}, want: unauthorized},
		{name: "empty aud array", token: func() string { return ts.mint(map[string]any{"aud": []string{}}) }, want: unauthorized},
		{name: "bad signature", token: func() string { tok := idptest.TamperSignature(ts.mint(nil)); ts.secret(tok); return tok }, want: unauthorized},
		{name: "claims changed after signing", token: func() string {
			tok := idptest.TamperPayload(ts.mint(nil), idp.Claims(now, map[string]any{"scope": "sentinelx:state sentinelx:exec"}))
			ts.secret(tok)
			return tok
		}, want: unauthorized},
		{name: "typ JWT", token: func() string { return ts.mint(nil, idptest.WithTyp("JWT")) }, want: ok},
		{name: "typ at+jwt", token: func() string { return ts.mint(nil, idptest.WithTyp("at+jwt")) }, want: ok},
		{name: "typ application/at+jwt", token: func() string { return ts.mint(nil, idptest.WithTyp("application/at+jwt")) }, want: ok},
		{name: "typ absent", token: func() string { return ts.mint(nil, idptest.WithTyp("")) }, want: ok},
		{name: "group-heavy token over 8 KB", token: func() string { return ts.mint(map[string]any{"groups": bigGroups}) }, want: ok},
		{name: "garbage token", token: func() string { ts.secret("garbage-3a1f"); return "garbage-3a1f" }, want: unauthorized},
		{name: "JWT-shaped garbage", token: func() string { return "aGVsbG8.d29ybGQ.Zm9v" }, want: unauthorized},
		{name: "token in query string", query: func() string {
			tok := ts.mint(nil)
			return "access_token=" + tok
		}, want: badRequest, golden: "challenge_400_query.txt"},
		{name: "token in query string and header", token: func() string { return ts.mint(nil) }, query: func() string {
			return "access_token=" + ts.mint(nil)
		}, want: badRequest},
		{name: "token in an unparseable query", token: func() string { return ts.mint(nil) }, query: func() string {
			return "access_token=abc%zz"
		}, want: badRequest},
		{name: "token after a semicolon", token: func() string { return ts.mint(nil) }, query: func() string {
			return "x=1;access_token=abc"
		}, want: badRequest},
		{name: "blank Authorization then a valid one", auth: func() []string { return []string{"", "Bearer " + ts.mint(nil)} }, want: ok},
		{name: "two Authorization headers", auth: func() []string {
			return []string{"Bearer " + ts.mint(nil), "Bearer " + ts.mint(nil)}
		}, want: badRequest, golden: "challenge_400_two_headers.txt"},
		{name: "scheme bearer lowercase", auth: func() []string { return []string{"bearer " + ts.mint(nil)} }, want: ok},
		{name: "scheme BEARER uppercase", auth: func() []string { return []string{"BEARER " + ts.mint(nil)} }, want: ok},
		{name: "Basic credentials", auth: func() []string { return []string{"Basic dXNlcjpwYXNzd29yZA=="} }, want: unauthorized},
		{name: "Bearer with no token", auth: func() []string { return []string{"Bearer "} }, want: unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := rpcOpts{version: "2025-06-18"}
			if tt.token != nil {
				o.token = tt.token()
			}
			if tt.auth != nil {
				o.auth = tt.auth()
			}
			if tt.query != nil {
				o.query = tt.query()
			}
			before := ts.AgentCalls()
			r := ts.post(callState, o)
			if r.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d; WWW-Authenticate %q; body %s", r.StatusCode, tt.want, r.Header.Get("WWW-Authenticate"), r.body)
			}
			calls := ts.AgentCalls() - before
			wa := r.Header.Get("WWW-Authenticate")
			prm := `resource_metadata="` + ts.URL + `/.well-known/oauth-protected-resource/mcp"`
			switch tt.want {
			case ok:
				checkStateResult(t, r)
				if calls != 1 {
					t.Errorf("agent called %d times, want 1", calls)
				}
			case unauthorized:
				if !strings.HasPrefix(wa, "Bearer ") || !strings.Contains(wa, prm) {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with %s", wa, prm)
				}
				if tt.auth == nil { // a bearer token was sent and refused
					if !strings.Contains(wa, `error="invalid_token"`) {
						t.Errorf("WWW-Authenticate = %q, want error=\"invalid_token\"", wa)
					}
					checkRPCError(t, r, "7", -32001, "Invalid access token")
				}
			case badRequest:
				if !strings.Contains(wa, `error="invalid_request"`) {
					t.Errorf("WWW-Authenticate = %q, want error=\"invalid_request\"", wa)
				}
				var m rpcBody
				if err := json.Unmarshal(r.body, &m); err != nil || m.Error == nil || m.JSONRPC != "2.0" {
					t.Errorf("body %s is not a JSON-RPC error", r.body)
				}
			}
			if tt.want != ok && calls != 0 {
				t.Errorf("agent called %d times on a refused request", calls)
			}
			if tt.golden != "" {
				checkGolden(t, tt.golden, []byte(ts.normalize(challengeDump(r))))
			}
		})
	}
	ts.assertNoSecretsLogged()
}

// checkStateResult asserts a successful sentinel_state result: the agent's
// JSON as text and structuredContent, and the bridge's _meta.
func checkStateResult(t *testing.T, r response) {
	t.Helper()
	m := r.rpc(t)
	if m.Error != nil {
		t.Fatalf("JSON-RPC error %+v", m.Error)
	}
	var res struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		StructuredContent map[string]any `json:"structuredContent"`
		Meta              map[string]any `json:"_meta"`
	}
	if err := json.Unmarshal(m.Result, &res); err != nil {
		t.Fatalf("result %s: %v", m.Result, err)
	}
	if res.IsError || len(res.Content) != 1 || res.Content[0].Type != "text" {
		t.Fatalf("result = %s", m.Result)
	}
	var text map[string]any
	if err := json.Unmarshal([]byte(res.Content[0].Text), &text); err != nil {
		t.Fatalf("text content %q is not JSON: %v", res.Content[0].Text, err)
	}
	for _, k := range []string{"uptime", "total_executions", "blocked_count", "error_count"} {
		if _, ok := text[k]; !ok {
			t.Errorf("state JSON lacks %q: %s", k, res.Content[0].Text)
		}
	}
	if !reflect.DeepEqual(text, res.StructuredContent) {
		t.Errorf("structuredContent %v differs from text %v", res.StructuredContent, text)
	}
	for _, k := range []string{"proxy", "ms", "subject", "preferred_username"} {
		if _, ok := res.Meta[k]; !ok {
			t.Errorf("_meta lacks %q: %v", k, res.Meta)
		}
	}
	if res.Meta["proxy"] != "sentinelx-mcp" || res.Meta["subject"] != idptest.DefaultSubject {
		t.Errorf("_meta = %v", res.Meta)
	}
}

// TestScopeGate: a valid token without the tool's scope gets 403
// insufficient_scope and nothing reaches the agent (item 4); scopes come
// from scope or scp, as a string or an array (item 5).
func TestScopeGate(t *testing.T) {
	ts := startServer(t, nil)
	tests := []struct {
		name   string
		claims map[string]any
		want   int
		scope  string // the 403's scope; "" means sentinelx:state
		golden string
	}{
		// 2025-06-18: the 403 also names the token's known scopes (TestStepUpChallengeByRevision).
		{name: "only sentinelx:capabilities", claims: map[string]any{"scope": "sentinelx:capabilities"}, want: http.StatusForbidden, scope: "sentinelx:state sentinelx:capabilities", golden: "challenge_403_insufficient.txt"},
		{name: "no scope at all", claims: map[string]any{"scope": nil}, want: http.StatusForbidden},
		{name: "empty scope", claims: map[string]any{"scope": ""}, want: http.StatusForbidden},
		{name: "scope prefix only", claims: map[string]any{"scope": "sentinelx:stat sentinelx"}, want: http.StatusForbidden},
		{name: "scope string", claims: map[string]any{"scope": "openid sentinelx:state"}, want: http.StatusOK},
		{name: "scope array", claims: map[string]any{"scope": []string{"openid", "sentinelx:state"}}, want: http.StatusOK},
		{name: "scp array", claims: map[string]any{"scope": nil, "scp": []string{"sentinelx:state"}}, want: http.StatusOK},
		{name: "scp string", claims: map[string]any{"scope": nil, "scp": "profile sentinelx:state"}, want: http.StatusOK},
		{name: "scope in neither but in another claim", claims: map[string]any{"scope": nil, "scopes": "sentinelx:state"}, want: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.AgentCalls()
			r := ts.post(callState, rpcOpts{token: ts.mint(tt.claims), version: "2025-06-18"})
			if r.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d; body %s", r.StatusCode, tt.want, r.body)
			}
			calls := ts.AgentCalls() - before
			if tt.want == http.StatusOK {
				checkStateResult(t, r)
				return
			}
			scope := tt.scope
			if scope == "" {
				scope = "sentinelx:state"
			}
			want := `Bearer error="insufficient_scope", scope="` + scope + `", resource_metadata="` + ts.URL + `/.well-known/oauth-protected-resource/mcp"`
			if got := r.Header.Get("WWW-Authenticate"); got != want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, want)
			}
			checkRPCError(t, r, "7", -32003, "Missing required scope: sentinelx:state")
			if calls != 0 {
				t.Errorf("agent called %d times", calls)
			}
			if tt.golden != "" {
				checkGolden(t, tt.golden, []byte(ts.normalize(challengeDump(r))))
			}
		})
	}
	ts.assertNoSecretsLogged()
}

// TestBatch: a 2025-03-26 batch needs the union of its messages' scopes;
// the gate never decides on the first message alone.
func TestBatch(t *testing.T) {
	ts := startServer(t, nil)
	pingThenState := "[" + callPing + "," + callState + "]"
	stateThenPing := "[" + callState + "," + callPing + "]"
	withNotification := `[{"jsonrpc":"2.0","method":"notifications/initialized"},` + callState + "]"
	tests := []struct {
		name   string
		body   string
		claims map[string]any // nil: no token
		want   int
	}{
		{name: "ping then state, no token", body: pingThenState, want: http.StatusUnauthorized},
		{name: "state then ping, no token", body: stateThenPing, want: http.StatusUnauthorized},
		{name: "notification then state, no token", body: withNotification, want: http.StatusUnauthorized},
		{name: "ping then state, scope missing", body: pingThenState, claims: map[string]any{"scope": "sentinelx:capabilities"}, want: http.StatusForbidden},
		{name: "ping then state, scope granted", body: pingThenState, claims: map[string]any{}, want: http.StatusOK},
		{name: "two pings, no token", body: "[" + callPing + "," + strings.Replace(callPing, `"id":3`, `"id":4`, 1) + "]", want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := rpcOpts{} // no MCP-Protocol-Version: 2025-03-26, where batches exist
			if tt.claims != nil {
				o.token = ts.mint(tt.claims)
			}
			before := ts.AgentCalls()
			r := ts.post(tt.body, o)
			if r.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d; body %s", r.StatusCode, tt.want, r.body)
			}
			calls := ts.AgentCalls() - before
			wa := r.Header.Get("WWW-Authenticate")
			switch tt.want {
			case http.StatusOK:
				msgs := r.rpcAll(t)
				if len(msgs) != 2 {
					t.Errorf("want 2 responses, got %d: %s", len(msgs), r.body)
				}
				for _, m := range msgs {
					if m.Error != nil {
						t.Errorf("error in batch: %+v", m.Error)
					}
				}
			case http.StatusUnauthorized:
				if !strings.Contains(wa, `scope="sentinelx:state"`) || strings.Contains(wa, "error=") {
					t.Errorf("WWW-Authenticate = %q", wa)
				}
				checkRPCError(t, r, "7", -32001, "Missing Authorization header")
			case http.StatusForbidden:
				// 2025-03-26: the token's known scope is named too.
				if !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="sentinelx:state sentinelx:capabilities"`) {
					t.Errorf("WWW-Authenticate = %q", wa)
				}
				checkRPCError(t, r, "7", -32003, "Missing required scope: sentinelx:state")
			}
			if tt.want != http.StatusOK && calls != 0 {
				t.Errorf("agent called %d times", calls)
			}
		})
	}
	ts.assertNoSecretsLogged()
}

// TestKeyRotation: a new kid is picked up with one JWKS refetch; refetches
// are rate-limited; keys already loaded keep working while the IdP is down.
func TestKeyRotation(t *testing.T) {
	ts := startServer(t, nil)
	idp := ts.IdP
	call := func(tok string) int {
		t.Helper()
		return ts.post(callState, rpcOpts{token: tok, version: "2025-06-18"}).StatusCode
	}
	if got := call(ts.mint(nil)); got != http.StatusOK {
		t.Fatalf("old key before rotation: %d", got)
	}

	newKey := idp.Rotate()
	fetches := idp.JWKSFetches()
	if got := call(ts.mint(nil, idptest.WithKey(newKey))); got != http.StatusOK {
		t.Fatalf("token signed with the rotated-in key: status %d, want 200", got)
	}
	if got := idp.JWKSFetches() - fetches; got != 1 {
		t.Errorf("JWKS fetched %d times for one new kid, want 1", got)
	}
	if got := call(ts.mint(nil, idptest.WithKey(newKey))); got != http.StatusOK {
		t.Errorf("second token with the new key: %d", got)
	}
	if got := idp.JWKSFetches() - fetches; got != 1 {
		t.Errorf("JWKS fetched again for a known kid (%d fetches)", got)
	}

	// Unknown kids right after a refetch: rejected without hammering the IdP.
	fetches = idp.JWKSFetches()
	for range 5 {
		if got := call(ts.mint(nil, idptest.WithKey(idp.NewUnpublishedKey("RS256")))); got != http.StatusUnauthorized {
			t.Errorf("unknown kid: %d, want 401", got)
		}
	}
	if got := idp.JWKSFetches() - fetches; got > 1 {
		t.Errorf("5 unknown kids within 10 s caused %d JWKS fetches, want at most 1", got)
	}

	idp.SetDown(true)
	for _, k := range []*idptest.Key{idp.RSA, idp.EC, newKey} {
		if got := call(ts.mint(nil, idptest.WithKey(k))); got != http.StatusOK {
			t.Errorf("IdP down: fresh token with loaded key %s: %d, want 200", k.KID, got)
		}
	}
	if got := call(ts.mint(nil, idptest.WithKey(idp.NewUnpublishedKey("ES256")))); got != http.StatusUnauthorized {
		t.Errorf("IdP down: unknown kid: %d, want 401", got)
	}
	ts.assertNoSecretsLogged()
}

func unpublishedJWK(k *idptest.Key) map[string]any {
	b, err := json.Marshal(jose.JSONWebKey{Key: k.Public(), KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"})
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// TestSentTokenAlwaysVerified: a token that is sent is verified whatever
// the method, even one that would pass anonymously (DESIGN item 2).
func TestSentTokenAlwaysVerified(t *testing.T) {
	ts := startServer(t, nil)
	bad := idptest.TamperSignature(ts.mint(nil))
	ts.secret(bad)
	expired := ts.mint(map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()})
	bodies := map[string]string{
		"initialize":      initBody("2025-06-18"),
		"ping":            `{"jsonrpc":"2.0","id":2,"method":"ping"}`,
		"tools/list":      `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		"tools/call ping": callPing,
		"notification":    `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	}
	for name, body := range bodies {
		for tokName, tok := range map[string]string{"bad signature": bad, "expired": expired} {
			t.Run(name+" with "+tokName, func(t *testing.T) {
				r := ts.post(body, rpcOpts{token: tok})
				if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("status = %d, WWW-Authenticate %q; want 401 invalid_token", r.StatusCode, r.Header.Get("WWW-Authenticate"))
				}
			})
		}
		t.Run(name+" with a valid token", func(t *testing.T) {
			r := ts.post(body, rpcOpts{token: ts.mint(nil)})
			if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusAccepted {
				t.Errorf("status = %d; body %s", r.StatusCode, r.body)
			}
		})
	}
	ts.assertNoSecretsLogged()
}

// TestGateAgreesWithSDK: bodies crafted so that a naive gate and go-sdk
// could read a different method or tool name. Without a token, nothing
// may reach the agent, whatever go-sdk then answers.
func TestGateAgreesWithSDK(t *testing.T) {
	ts := startServer(t, nil)
	bodies := []struct{ name, body string }{
		{"duplicate name, protected last", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","name":"sentinel_state","arguments":{}}}`},
		{"duplicate name, protected first", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_state","name":"ping","arguments":{}}}`},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"sentinel_state","arguments":{}}}`},
		{"duplicate method reversed", `{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping","params":{"name":"sentinel_state","arguments":{}}}`},
		{"case-variant Name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"sentinel_state","name":"ping","arguments":{}}}`},
		{"case-variant Method", `{"jsonrpc":"2.0","id":1,"Method":"tools/call","method":"tools/call","params":{"name":"sentinel_state","arguments":{}}}`},
		{"case-variant Params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{"name":"ping"},"params":{"name":"sentinel_state","arguments":{}}}`},
		{"escaped tool name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel\u005fstate","arguments":{}}}`},
		{"escaped method", `{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"sentinel_state","arguments":{}}}`},
		{"duplicate params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping"},"params":{"name":"sentinel_state","arguments":{}}}`},
		{"duplicate params reversed", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_state","arguments":{}},"params":{"name":"ping"}}`},
		{"batch hiding the call second", "[" + callPing + "," + callPing + "," + callState + "]"},
		{"BOM before the body", "\ufeff" + callState},
		{"charset parameter", callState},
	}
	for _, tt := range bodies {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			o := rpcOpts{}
			if tt.name == "charset parameter" {
				o.headers = map[string]string{"Content-Type": "application/json; charset=utf-8"}
			}
			before := ts.AgentCalls()
			r := ts.post(body, o)
			if got := ts.AgentCalls() - before; got != 0 {
				t.Errorf("agent called %d times without a token (status %d, body %s)", got, r.StatusCode, r.body)
			}
			if r.StatusCode == http.StatusOK && strings.Contains(string(r.body), "total_executions") {
				t.Errorf("state returned without a token: %s", r.body)
			}
		})
	}
}

// TestTokenInForm: a token in a form body is refused with 400
// invalid_request like one in the query string (DESIGN item 1).
func TestTokenInForm(t *testing.T) {
	ts := startServer(t, nil)
	tok := ts.mint(nil)
	req := ts.request(http.MethodPost, "/mcp", strings.NewReader("access_token="+tok))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json, text/event-stream")
	before := ts.AgentCalls()
	r := ts.do(req)
	if ts.AgentCalls() != before {
		t.Errorf("agent called")
	}
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_request"`) {
		t.Errorf("status = %d, WWW-Authenticate %q, body %q; want 400 invalid_request", r.StatusCode, r.Header.Get("WWW-Authenticate"), r.body)
	}
	ts.assertNoSecretsLogged()
}
