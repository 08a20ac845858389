package oidcverify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/pensados/sentinelx-mcp/middleware"
)

// testRaw assembles a JWS by hand, for what go-jose refuses to sign
// (alg none, HS256 with a public key as secret).
func testRaw(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func TestVerifierJWT(t *testing.T) {
	clock := newTestClock()
	rsa1 := newTestRSA(t, "rsa1")
	rsa2 := newTestRSA(t, "rsa2")
	ec1 := newTestEC(t, "ec1")
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed1 := testKey{kid: "ed1", alg: jose.EdDSA, priv: edPriv}
	idp := newTestIdP(t, rsa1, rsa2, ec1, ed1)
	now := clock.Now().Unix()

	var jkuHits atomic.Int64
	jku := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jkuHits.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{rsa1.public()}})
	}))
	t.Cleanup(jku.Close)

	pubDER, err := x509.MarshalPKIXPublicKey(rsa1.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	// with returns the valid claims changed by kv pairs; a nil value deletes.
	with := func(kv ...any) map[string]any {
		c := testClaims(idp, clock)
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	noAud := func(c *Config) { c.Audiences = nil }
	strict := func(c *Config) { c.RequireATJWT = true }

	groups := make([]string, 400)
	for i := range groups {
		groups[i] = fmt.Sprintf("/org/department-%03d/team-group-name", i)
	}

	tests := []struct {
		name    string
		cfg     func(*Config)
		token   func(t *testing.T) string
		wantErr string // substring of the reason; "" = accepted
		check   func(t *testing.T, info *auth.TokenInfo)
	}{
		{name: "valid RS256", token: func(t *testing.T) string { return rsa1.sign(t, with(), nil) },
			check: func(t *testing.T, info *auth.TokenInfo) {
				if info.UserID != "user-1" || info.Expiration.Unix() != now+300 {
					t.Errorf("info = %+v", info)
				}
				if info.Extra["username"] != "alice" || info.Extra["client_id"] != "claude" {
					t.Errorf("extra = %v", info.Extra)
				}
				if c, _ := info.Extra["claims"].(map[string]any); c["sub"] != "user-1" {
					t.Errorf("claims = %v", c)
				}
			}},
		{name: "valid ES256", token: func(t *testing.T) string { return ec1.sign(t, with(), nil) }},
		{name: "valid EdDSA", token: func(t *testing.T) string { return ed1.sign(t, with(), nil) }},
		{name: "second key of the set", token: func(t *testing.T) string { return rsa2.sign(t, with(), nil) }},
		{name: "expired", token: func(t *testing.T) string { return rsa1.sign(t, with("exp", now-61), nil) }, wantErr: "expired"},
		{name: "expired within leeway", token: func(t *testing.T) string { return rsa1.sign(t, with("exp", now-59), nil) }},
		{name: "nbf in the future", token: func(t *testing.T) string { return rsa1.sign(t, with("nbf", now+120), nil) }, wantErr: "nbf"},
		{name: "nbf within leeway", token: func(t *testing.T) string { return rsa1.sign(t, with("nbf", now+30), nil) }},
		{name: "iat far in the future", token: func(t *testing.T) string { return rsa1.sign(t, with("iat", now+120), nil) }, wantErr: "iat"},
		{name: "exp missing", token: func(t *testing.T) string { return rsa1.sign(t, with("exp", nil), nil) }, wantErr: "exp missing"},
		{name: "wrong issuer", token: func(t *testing.T) string { return rsa1.sign(t, with("iss", "https://evil.example.com/tenant"), nil) }, wantErr: "issuer mismatch"},
		{name: "issuer missing", token: func(t *testing.T) string { return rsa1.sign(t, with("iss", nil), nil) }, wantErr: "issuer mismatch"},
		{name: "token issuer with trailing slash", token: func(t *testing.T) string { return rsa1.sign(t, with("iss", idp.issuer+"/"), nil) }},
		{name: "config issuer with trailing slash",
			cfg:   func(c *Config) { c.Issuer = idp.issuer + "/" },
			token: func(t *testing.T) string { return rsa1.sign(t, with(), nil) }},
		{name: "issuer differing by more than a slash", token: func(t *testing.T) string { return rsa1.sign(t, with("iss", idp.issuer+"//"), nil) }, wantErr: "issuer mismatch"},
		{name: "wrong audience", token: func(t *testing.T) string { return rsa1.sign(t, with("aud", "https://other.example.com"), nil) }, wantErr: "audience mismatch"},
		{name: "aud array containing ours", token: func(t *testing.T) string {
			return rsa1.sign(t, with("aud", []string{"account", "https://mcp.example.com/mcp"}), nil)
		}},
		{name: "no aud, audience configured", token: func(t *testing.T) string { return rsa1.sign(t, with("aud", nil), nil) }, wantErr: "no aud"},
		{name: "no aud, no audience configured", cfg: noAud, token: func(t *testing.T) string { return rsa1.sign(t, with("aud", nil), nil) }},
		{name: "alg none", token: func(t *testing.T) string {
			return testRaw(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "rsa1"}, with(), func([]byte) []byte { return nil })
		}, wantErr: `alg "none" not allowed`},
		{name: "HS256 with the RSA public key as secret", token: func(t *testing.T) string {
			return testRaw(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "rsa1"}, with(), func(in []byte) []byte {
				m := hmac.New(sha256.New, pubPEM)
				m.Write(in)
				return m.Sum(nil)
			})
		}, wantErr: `alg "HS256" not allowed`},
		{name: "unknown kid", token: func(t *testing.T) string { return newTestRSA(t, "abc").sign(t, with(), nil) }, wantErr: `unknown kid "abc"`},
		{name: "kid of a key of another type", token: func(t *testing.T) string {
			return testKey{kid: "rsa1", alg: jose.ES256, priv: ec1.priv}.sign(t, with(), nil)
		}, wantErr: `unknown kid "rsa1" for alg ES256`},
		{name: "alg differs from the key's alg", token: func(t *testing.T) string {
			return testKey{kid: "rsa1", alg: jose.PS256, priv: rsa1.priv}.sign(t, with(), nil)
		}, wantErr: "does not match key"},
		{name: "no kid, one key of the type", token: func(t *testing.T) string {
			return testKey{alg: jose.ES256, priv: ec1.priv}.sign(t, with(), nil)
		}},
		{name: "no kid, several keys of the type", token: func(t *testing.T) string {
			return testKey{alg: jose.RS256, priv: rsa1.priv}.sign(t, with(), nil)
		}, wantErr: "several keys"},
		{name: "bad signature", token: func(t *testing.T) string {
			tok := []byte(rsa1.sign(t, with(), nil))
			i := strings.LastIndexByte(string(tok), '.') + 10
			if tok[i] == 'A' {
				tok[i] = 'B'
			} else {
				tok[i] = 'A'
			}
			return string(tok)
		}, wantErr: "signature invalid"},
		{name: "payload swapped after signing", token: func(t *testing.T) string {
			a := strings.Split(rsa1.sign(t, with(), nil), ".")
			b := strings.Split(rsa1.sign(t, with("sub", "admin"), nil), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}, wantErr: "signature invalid"},
		{name: "typ JWT", token: func(t *testing.T) string { return rsa1.sign(t, with(), map[string]any{"typ": "JWT"}) }},
		{name: "typ at+jwt", token: func(t *testing.T) string { return rsa1.sign(t, with(), map[string]any{"typ": "at+jwt"}) }},
		{name: "typ application/at+jwt", token: func(t *testing.T) string {
			return rsa1.sign(t, with(), map[string]any{"typ": "application/at+jwt"})
		}},
		{name: "typ AT+JWT (case-insensitive)", token: func(t *testing.T) string { return rsa1.sign(t, with(), map[string]any{"typ": "AT+JWT"}) }},
		{name: "typ absent", token: func(t *testing.T) string { return rsa1.sign(t, with(), map[string]any{"typ": nil}) }},
		{name: "typ foo", token: func(t *testing.T) string { return rsa1.sign(t, with(), map[string]any{"typ": "foo"}) }, wantErr: `typ "foo" not allowed`},
		{name: "typ id_token-like", token: func(t *testing.T) string {
			return rsa1.sign(t, with(), map[string]any{"typ": "id_token+jwt"})
		}, wantErr: "not allowed"},
		{name: "RequireATJWT rejects JWT", cfg: strict, token: func(t *testing.T) string { return rsa1.sign(t, with(), nil) }, wantErr: "at+jwt required"},
		{name: "RequireATJWT rejects absent typ", cfg: strict, token: func(t *testing.T) string {
			return rsa1.sign(t, with(), map[string]any{"typ": nil})
		}, wantErr: "at+jwt required"},
		{name: "RequireATJWT accepts at+jwt", cfg: strict, token: func(t *testing.T) string {
			return rsa1.sign(t, with(), map[string]any{"typ": "application/at+jwt"})
		}},
		{name: "scope string", token: func(t *testing.T) string { return rsa1.sign(t, with("scope", "a  b"), nil) },
			check: checkScopes("a", "b")},
		{name: "scp string", token: func(t *testing.T) string { return rsa1.sign(t, with("scope", nil, "scp", "a b"), nil) },
			check: checkScopes("a", "b")},
		{name: "scp array", token: func(t *testing.T) string {
			return rsa1.sign(t, with("scope", nil, "scp", []any{"a", 7, "b", nil, "a"}), nil)
		}, check: checkScopes("a", "b")},
		{name: "scope and scp merged", token: func(t *testing.T) string {
			return rsa1.sign(t, with("scope", "a b", "scp", []string{"b", "c"}), nil)
		}, check: checkScopes("a", "b", "c")},
		{name: "no scope", token: func(t *testing.T) string { return rsa1.sign(t, with("scope", nil), nil) },
			check: checkScopes()},
		{name: "username falls back to email, client_id to azp", token: func(t *testing.T) string {
			return rsa1.sign(t, with("preferred_username", nil, "email", "a@example.com", "client_id", nil, "azp", "vscode"), nil)
		}, check: func(t *testing.T, info *auth.TokenInfo) {
			if info.Extra["username"] != "a@example.com" || info.Extra["client_id"] != "vscode" {
				t.Errorf("extra = %v", info.Extra)
			}
		}},
		{name: "username falls back to client_id", token: func(t *testing.T) string {
			return rsa1.sign(t, with("preferred_username", nil), nil)
		}, check: func(t *testing.T, info *auth.TokenInfo) {
			if info.Extra["username"] != "claude" {
				t.Errorf("extra = %v", info.Extra)
			}
		}},
		{name: "jku header ignored", token: func(t *testing.T) string {
			return rsa1.sign(t, with(), map[string]any{"jku": jku.URL, "x5u": jku.URL + "/cert"})
		}},
		{name: "embedded jwk header not trusted", token: func(t *testing.T) string {
			evil := newTestRSA(t, "rsa1")
			pub := evil.public()
			return evil.sign(t, with(), map[string]any{"jwk": pub})
		}, wantErr: "signature invalid"},
		{name: "crit header", token: func(t *testing.T) string {
			return rsa1.sign(t, with(), map[string]any{"crit": []string{"exp"}, "exp": now})
		}, wantErr: "crit"},
		{name: "JWE-shaped", token: func(*testing.T) string { return "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn" }, wantErr: "JWE"},
		{name: "opaque without introspection", token: func(*testing.T) string { return "x.y.z" }, wantErr: "malformed JWT"},
		{name: "not a JWT, introspection off", token: func(*testing.T) string { return "opaque-token-123" }, wantErr: "introspection is not configured"},
		{name: "16 KB token with many groups", token: func(t *testing.T) string {
			tok := rsa1.sign(t, with("groups", groups), nil)
			if len(tok) < 16<<10 {
				t.Fatalf("token is only %d bytes", len(tok))
			}
			return tok
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := idp.config(clock)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			v := newTestVerifier(t, cfg)
			tok := tt.token(t)
			info, err := v.Verify(context.Background(), tok, nil)
			noToken(t, tok, err)
			if tt.wantErr != "" {
				if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidToken with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.check != nil {
				tt.check(t, info)
			}
		})
	}
	if n := jkuHits.Load(); n != 0 {
		t.Errorf("jku/x5u server was fetched %d times", n)
	}
}

func checkScopes(want ...string) func(t *testing.T, info *auth.TokenInfo) {
	return func(t *testing.T, info *auth.TokenInfo) {
		t.Helper()
		if !slices.Equal(info.Scopes, want) {
			t.Errorf("scopes = %q, want %q", info.Scopes, want)
		}
	}
}

func TestVerifierCache(t *testing.T) {
	clock := newTestClock()
	k := newTestRSA(t, "rsa1")
	idp := newTestIdP(t, k)
	v := newTestVerifier(t, idp.config(clock))
	ctx := context.Background()
	claims := testClaims(idp, clock)
	claims["exp"] = clock.Now().Unix() + 10
	tok := k.sign(t, claims, nil)

	info, err := v.Verify(ctx, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	info.Scopes[0] = "tampered"
	info.Extra["username"] = "mallory"
	if v.jwtCache.len() != 1 {
		t.Fatalf("cache has %d entries", v.jwtCache.len())
	}
	again, err := v.Verify(ctx, tok, nil)
	if err != nil || again.Scopes[0] != "sentinelx:state" || again.Extra["username"] != "alice" {
		t.Fatalf("cached result changed by the caller: %+v, %v", again, err)
	}

	// Inside the leeway after exp the cache still answers; past it the
	// entry is dead and the token is rejected as on first sight.
	clock.Advance(10*time.Second + middleware.Leeway - time.Second)
	if _, err := v.Verify(ctx, tok, nil); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := v.Verify(ctx, tok, nil); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("past exp+leeway: %v", err)
	}

	// Bounded.
	c := newTokenCache(100)
	until := clock.Now().Add(time.Hour)
	for i := range 1000 {
		c.put(c.generation(), sha256.Sum256([]byte(fmt.Sprint(i))), info, until, clock.Now())
		if c.len() > 100 {
			t.Fatalf("cache grew to %d", c.len())
		}
	}
	// A result computed before a flush is not stored after it.
	gen := c.generation()
	c.flush()
	c.put(gen, [32]byte{1}, info, until, clock.Now())
	if c.len() != 0 {
		t.Fatal("stale put landed after flush")
	}
}

func TestNewVerifierConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"minimal", Config{Issuer: "https://idp.example.com"}, ""},
		{"issuer missing", Config{}, "OIDC_ISSUER is required"},
		{"issuer not a URL", Config{Issuer: "idp.example.com"}, "OIDC_ISSUER must be"},
		{"bad JWKS URI", Config{Issuer: "https://i", JWKSURI: "ftp://x/jwks"}, "OIDC_JWKS_URI"},
		{"introspection without credentials", Config{Issuer: "https://i", IntrospectionURL: "https://i/introspect"}, "needs OIDC_CLIENT_ID"},
		{"client id without secret", Config{Issuer: "https://i", ClientID: "a"}, "set together"},
		{"all set", Config{Issuer: "https://i", IntrospectionURL: "https://i/introspect", ClientID: "a", ClientSecret: "b",
			HTTPClient: &http.Client{}, Audiences: []string{" https://m/mcp ", ""}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if v.hc.Timeout <= 0 {
					t.Error("HTTP client has no timeout")
				}
				if tt.cfg.HTTPClient != nil && tt.cfg.HTTPClient.Timeout != 0 {
					t.Error("caller's client was modified")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerifierDebugLog(t *testing.T) {
	clock := newTestClock()
	k := newTestRSA(t, "rsa1")
	idp := newTestIdP(t, k)
	var buf bytes.Buffer
	var mu sync.Mutex
	cfg := idp.config(clock)
	cfg.Debug = true
	cfg.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{mu: &mu, w: &buf}, nil))
	v := newTestVerifier(t, cfg)
	good := k.sign(t, testClaims(idp, clock), nil)
	bad := newTestRSA(t, "nope").sign(t, testClaims(idp, clock), nil)
	if _, err := v.Verify(context.Background(), good, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), bad, nil); err == nil {
		t.Fatal("bad token accepted")
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	for _, want := range []string{"token accepted", "token rejected", `"preferred_username":"alice"`, `unknown kid \"nope\"`, `"trusted":false`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	for _, tok := range []string{good, bad} {
		if sig := tok[strings.LastIndexByte(tok, '.')+1:]; strings.Contains(out, sig) || strings.Contains(out, tok[:40]) {
			t.Errorf("log contains a token")
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
