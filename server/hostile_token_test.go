package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
)

// hostileEnv turns the per-subject rate limit off: the matrices below send
// many calls as one subject on purpose.
func hostileEnv() map[string]string { return map[string]string{"RATE_LIMIT": "0"} }

// callExec is a tools/call of a tool that needs sentinelx:exec.
const callExec = `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"}}}`

// TestHostileTokenMatrix adds, end to end through server.New, the token
// attacks TestTokenMatrix does not already cover: header injection (jku,
// x5u, jwk), crit, hostile kid values, nested and encrypted JWTs, token
// size, odd aud/iat/scope types, ID tokens and tokens for other resources.
// Nothing refused may reach the agent, and no key URL named by a token is
// ever fetched.
func TestHostileTokenMatrix(t *testing.T) {
	var attackerHits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attackerHits.Add(1)
		http.Error(w, "attacker", http.StatusTeapot)
	}))
	t.Cleanup(attacker.Close)

	ts := startServerWith(t, setup{env: hostileEnv()})
	idp := ts.IdP
	evil := idp.NewUnpublishedKey(jose.RS256)
	now := time.Now()
	unix := func(d time.Duration) int64 { return now.Add(d).Unix() }
	jwksBefore := idp.JWKSFetches()

	const (
		ok           = http.StatusOK
		unauthorized = http.StatusUnauthorized
		forbidden    = http.StatusForbidden
	)
	tests := []struct {
		name  string
		body  string // default callState
		token func() string
		want  int
	}{
		// Key-location headers are ignored: keys come only from the JWKS.
		{name: "jku to attacker, signed by our key", want: ok, token: func() string {
			return ts.mint(nil, idptest.WithHeader("jku", attacker.URL+"/jwks"))
		}},
		{name: "jku to attacker, signed by attacker key", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKey(evil), idptest.WithHeader("jku", attacker.URL+"/jwks"))
		}},
		{name: "jku to attacker, attacker key with our kid", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKey(evil), idptest.WithKID(idp.RSA.KID), idptest.WithHeader("jku", attacker.URL+"/jwks"))
		}},
		{name: "x5u to attacker, signed by our key", want: ok, token: func() string {
			return ts.mint(nil, idptest.WithHeader("x5u", attacker.URL+"/cert.pem"))
		}},
		{name: "x5u to attacker, signed by attacker key", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKey(evil), idptest.WithHeader("x5u", attacker.URL+"/cert.pem"))
		}},
		{name: "jwk of attacker key with our kid", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKey(evil), idptest.WithKID(idp.RSA.KID), idptest.WithHeader("jwk", unpublishedJWK(evil)))
		}},
		{name: "crit b64=false (RFC 7797)", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithHeader("crit", []string{"b64"}), idptest.WithHeader("b64", false))
		}},
		{name: "crit empty list", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithHeader("crit", []string{}))
		}},
		// Hostile kid values: unknown kid, one rate-limited refetch, 401.
		{name: "kid path traversal", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKID("../../etc/passwd"))
		}},
		{name: "kid SQL-ish", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKID("' OR 1=1 --"))
		}},
		{name: "kid 10 KB", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKID(strings.Repeat("k", 10<<10)))
		}},
		{name: "kid with NUL and newline", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKID("key-1\x00\nlevel=ERROR msg=forged"))
		}},
		{name: "kid a URL", want: unauthorized, token: func() string {
			return ts.mint(nil, idptest.WithKID(attacker.URL+"/key"))
		}},
		{name: "kid as a number", want: unauthorized, token: func() string {
			return signWith(t, ts, idp.RSA, map[jose.HeaderKey]any{"kid": 1}, mustJSON(idp.Claims(now, map[string]any{"aud": ts.MCPURL})))
		}},
		// Nested and encrypted JWTs are not unwrapped.
		{name: "nested JWT (cty JWT, inner valid)", want: unauthorized, token: func() string {
			inner := ts.mint(nil)
			return signWith(t, ts, idp.RSA, map[jose.HeaderKey]any{"cty": "JWT"}, []byte(inner))
		}},
		{name: "JWE (RSA-OAEP, A256GCM) carrying valid claims", want: unauthorized, token: func() string {
			return encryptJWE(t, ts, mustJSON(idp.Claims(now, map[string]any{"aud": ts.MCPURL})))
		}},
		{name: "JSON serialization instead of compact", want: unauthorized, token: func() string {
			return base64.RawURLEncoding.EncodeToString([]byte(`{"payload":"e30","signatures":[]}`))
		}},
		// Size.
		{name: "16 KB token", want: ok, token: func() string {
			return ts.mint(map[string]any{"pad": strings.Repeat("p", 16<<10)})
		}},
		{name: "~1 MiB token (under the 1 MiB + 64 KiB header limit)", want: ok, token: func() string {
			return ts.mint(map[string]any{"pad": strings.Repeat("p", 750<<10)}) // base64 → ~1 MB
		}},
		// Audience.
		{name: "aud is our URL with a trailing slash", want: unauthorized, token: func() string {
			return ts.mint(map[string]any{"aud": ts.MCPURL + "/"})
		}},
		{name: "aud differs in case", want: unauthorized, token: func() string {
			return ts.mint(map[string]any{"aud": strings.ToUpper(ts.MCPURL)})
		}},
		{name: "aud is the bare origin (not configured)", want: unauthorized, token: func() string {
			return ts.mint(map[string]any{"aud": ts.URL})
		}},
		{name: "aud is a number", want: unauthorized, token: func() string { return ts.mint(map[string]any{"aud": 42}) }},
		{name: "aud is an object", want: unauthorized, token: func() string {
			return ts.mint(map[string]any{"aud": map[string]any{"0": ts.MCPURL}})
		}},
		{name: "aud array of ours and non-strings", want: unauthorized, token: func() string {
			return ts.mint(map[string]any{"aud": []any{ts.MCPURL, 7}})
		}},
		{name: "token for another resource on the same IdP", want: unauthorized, token: func() string {
			return ts.mint(map[string]any{"aud": "https://other-mcp.example/mcp", "scope": "sentinelx:state sentinelx:exec"})
		}},
		{name: "ID token as access token (typ JWT, aud = client id)", want: unauthorized, token: func() string {
			return ts.mint(map[string]any{"aud": "mcp-client-123", "azp": "mcp-client-123", "nonce": "n-0S6_WzA2Mj",
				"at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "auth_time": now.Unix()}, idptest.WithTyp("JWT"))
		}},
		// Time claims.
		{name: "iat far future (year 3000)", want: unauthorized, token: func() string {
			return ts.mint(map[string]any{"iat": int64(32503680000)})
		}},
		{name: "iat a string", want: unauthorized, token: func() string { return ts.mint(map[string]any{"iat": "yesterday"}) }},
		{name: "exp far future (year 3000)", want: ok, token: func() string {
			return ts.mint(map[string]any{"exp": int64(32503680000)})
		}},
		{name: "exp a huge float", want: unauthorized, token: func() string { return ts.mint(map[string]any{"exp": 1e300}) }},
		{name: "exp negative", want: unauthorized, token: func() string { return ts.mint(map[string]any{"exp": -1}) }},
		{name: "nbf far future", want: unauthorized, token: func() string { return ts.mint(map[string]any{"nbf": unix(24 * time.Hour)}) }},
		// Scope claim types: only strings and arrays of strings grant.
		{name: "scope object naming the scope", want: forbidden, token: func() string {
			return ts.mint(map[string]any{"scope": map[string]any{"sentinelx:state": true}})
		}},
		{name: "scope true", want: forbidden, token: func() string { return ts.mint(map[string]any{"scope": true}) }},
		{name: "scope number", want: forbidden, token: func() string { return ts.mint(map[string]any{"scope": 1}) }},
		{name: "scope nested array", want: forbidden, token: func() string {
			return ts.mint(map[string]any{"scope": []any{[]any{"sentinelx:state"}}})
		}},
		{name: "scope comma-separated", want: forbidden, token: func() string {
			return ts.mint(map[string]any{"scope": "sentinelx:capabilities,sentinelx:state"})
		}},
		{name: "scope upper case", want: forbidden, token: func() string { return ts.mint(map[string]any{"scope": "SENTINELX:STATE"}) }},
		{name: "scope with trailing NUL", want: forbidden, token: func() string { return ts.mint(map[string]any{"scope": "sentinelx:state\x00"}) }},
		{name: "scp object, scope missing", want: forbidden, token: func() string {
			return ts.mint(map[string]any{"scope": nil, "scp": map[string]any{"sentinelx:state": "sentinelx:state"}})
		}},
		{name: "scope array with non-strings and ours", want: ok, token: func() string {
			return ts.mint(map[string]any{"scope": []any{1, nil, "sentinelx:state", map[string]any{}}})
		}},
		{name: "scope tab-separated", want: ok, token: func() string { return ts.mint(map[string]any{"scope": "openid\tsentinelx:state"}) }},
		{name: "state scope does not grant exec", body: callExec, want: forbidden, token: func() string {
			return ts.mint(map[string]any{"scope": "sentinelx:state sentinelx:execx sentinelx:ex"})
		}},
		{name: "exec string in array element with space grants both (IdP-signed)", body: callExec, want: ok, token: func() string {
			return ts.mint(map[string]any{"scope": []string{"sentinelx:state sentinelx:exec"}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == "" {
				body = callState
			}
			tok := tt.token()
			ts.secret(tok)
			before := ts.AgentCalls()
			r := ts.post(body, rpcOpts{token: tok, version: "2025-06-18"})
			if r.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d; WWW-Authenticate %q; body %.300s", r.StatusCode, tt.want, r.Header.Get("WWW-Authenticate"), r.body)
			}
			calls := ts.AgentCalls() - before
			switch tt.want {
			case ok:
				if m := r.rpc(t); m.Error != nil {
					t.Fatalf("JSON-RPC error %+v", m.Error)
				}
				if calls != 1 {
					t.Errorf("agent called %d times, want 1", calls)
				}
			case unauthorized:
				if wa := r.Header.Get("WWW-Authenticate"); !strings.Contains(wa, `error="invalid_token"`) {
					t.Errorf("WWW-Authenticate = %q, want invalid_token", wa)
				}
			case forbidden:
				if wa := r.Header.Get("WWW-Authenticate"); !strings.Contains(wa, `error="insufficient_scope"`) {
					t.Errorf("WWW-Authenticate = %q, want insufficient_scope", wa)
				}
			}
			if tt.want != ok && calls != 0 {
				t.Errorf("agent called %d times on a refused request", calls)
			}
		})
	}
	if n := attackerHits.Load(); n != 0 {
		t.Errorf("a URL named in a token header was fetched %d times", n)
	}
	// Six hostile kids inside one 10 s window: at most one JWKS refetch
	// (plus, rarely, the background refresh).
	if n := idp.JWKSFetches() - jwksBefore; n > 2 {
		t.Errorf("hostile kids caused %d JWKS fetches, want ≤ 2 (rate limit)", n)
	}
	if logs := ts.Logs.String(); strings.Contains(logs, "\nlevel=ERROR msg=forged") {
		t.Error("a kid injected a raw log line")
	}
	ts.assertNoSecretsLogged()
}

// TestAuthorizationHeaderLimit: a header over the server's limit (1 MiB +
// 64 KiB, set in server.Run) is refused by net/http with 431 before any
// code of ours runs, and the server keeps serving.
func TestAuthorizationHeaderLimit(t *testing.T) {
	ts := startServerWith(t, setup{env: hostileEnv()})
	before := ts.AgentCalls()
	huge := "Bearer " + strings.Repeat("A", 1200<<10) // 1.2 MiB of token68
	req := ts.request(http.MethodPost, "/mcp", strings.NewReader(callState))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", huge)
	resp, err := ts.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("1.2 MiB Authorization: status %d, want 431", resp.StatusCode)
		}
	} // a reset while the client is still writing is also a clean refusal
	if ts.AgentCalls() != before {
		t.Error("agent called")
	}
	if r := ts.post(callState, rpcOpts{token: ts.mint(nil)}); r.StatusCode != http.StatusOK {
		t.Errorf("after the oversize header: status %d", r.StatusCode)
	}
}

// TestReplayAfterExpiryWithWarmCache: a token accepted (and cached) just
// before exp+leeway is refused once that instant passes, although its
// cache entry was warm. Real clock: the token is minted to expire ~2 s
// from now; the test waits for that instant, not for a fixed time.
func TestReplayAfterExpiryWithWarmCache(t *testing.T) {
	ts := startServerWith(t, setup{env: hostileEnv()})
	// Valid until exp + 60 s leeway = now + 2 s.
	deadline := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	exp := deadline.Add(-60 * time.Second)
	tok := ts.mint(map[string]any{"exp": exp.Unix(), "iat": exp.Add(-time.Hour).Unix()})
	for i := range 3 { // the first verifies, the others come from the cache
		if r := ts.post(callState, rpcOpts{token: tok}); r.StatusCode != http.StatusOK {
			if time.Now().After(deadline) {
				t.Skip("machine too slow to use the token before it expired")
			}
			t.Fatalf("call %d before expiry: status %d", i, r.StatusCode)
		}
	}
	for time.Now().Before(deadline.Add(50 * time.Millisecond)) {
		time.Sleep(25 * time.Millisecond)
	}
	before := ts.AgentCalls()
	r := ts.post(callState, rpcOpts{token: tok})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("replay after exp+leeway: status %d, WWW-Authenticate %q; want 401 invalid_token", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if ts.AgentCalls() != before {
		t.Error("agent called with an expired token")
	}
}

// signWith signs payload with k, adding headers (kid defaults to k's).
func signWith(t *testing.T, ts *testServer, k *idptest.Key, headers map[jose.HeaderKey]any, payload []byte) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	for h, v := range headers {
		opts = opts.WithHeader(h, v)
	}
	var key any = jose.JSONWebKey{Key: k.Private, KeyID: k.KID}
	if _, ok := headers["kid"]; ok {
		key = k.Private
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	ts.secret(out)
	return out
}

// encryptJWE returns a compact JWE of payload to a fresh RSA key, with the
// IdP's RSA kid in the header, as an IdP that encrypts access tokens would.
func encryptJWE(t *testing.T, ts *testServer, payload []byte) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: &priv.PublicKey, KeyID: ts.IdP.RSA.KID},
		(&jose.EncrypterOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	ts.secret(out)
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
