package oidcverify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testClock is an injectable clock for rate limits and expiry.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Unix(1_900_000_000, 0)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKey is a signing key with the kid it is published under.
type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func newTestRSA(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: jose.RS256, priv: k}
}

func newTestEC(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: jose.ES256, priv: k}
}

func (k testKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// sign produces a compact JWS. headers are added to the protected header;
// a "typ" entry replaces the default "JWT", and typ=nil removes it.
func (k testKey) sign(t testing.TB, claims map[string]any, headers map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	typ, typSet := headers["typ"]
	if !typSet {
		opts.WithType("JWT")
	} else if typ != nil {
		opts.WithType(jose.ContentType(typ.(string)))
	}
	for name, val := range headers {
		if name != "typ" {
			opts.WithHeader(jose.HeaderKey(name), val)
		}
	}
	key := any(jose.JSONWebKey{Key: k.priv, KeyID: k.kid})
	if k.kid == "" {
		key = k.priv
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testIdP serves OIDC discovery, RFC 8414 metadata, a JWKS and an
// introspection endpoint, and counts hits on each.
type testIdP struct {
	srv    *httptest.Server
	issuer string

	mu         sync.Mutex
	keys       []jose.JSONWebKey
	down       bool // every endpoint answers 503
	oidcGone   bool // OIDC discovery answers 404
	introspect func(form map[string]string) (int, map[string]any)

	oidcHits, rfc8414Hits, jwksHits, introHits atomic.Int64
	introAuth                                  atomic.Value // last Authorization header
}

const testClientID, testClientSecret = "mcp-rs", "s3cret"

func newTestIdP(t testing.TB, keys ...testKey) *testIdP {
	t.Helper()
	idp := &testIdP{}
	for _, k := range keys {
		idp.keys = append(idp.keys, k.public())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/tenant/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		idp.oidcHits.Add(1)
		if idp.isDown(w) {
			return
		}
		idp.mu.Lock()
		gone := idp.oidcGone
		idp.mu.Unlock()
		if gone {
			http.NotFound(w, r)
			return
		}
		idp.metadata(w)
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server/tenant", func(w http.ResponseWriter, r *http.Request) {
		idp.rfc8414Hits.Add(1)
		if idp.isDown(w) {
			return
		}
		idp.metadata(w)
	})
	mux.HandleFunc("/tenant/jwks", func(w http.ResponseWriter, r *http.Request) {
		idp.jwksHits.Add(1)
		if idp.isDown(w) {
			return
		}
		idp.mu.Lock()
		set := jose.JSONWebKeySet{Keys: idp.keys}
		idp.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("/tenant/introspect", func(w http.ResponseWriter, r *http.Request) {
		idp.introHits.Add(1)
		idp.introAuth.Store(r.Header.Get("Authorization"))
		if idp.isDown(w) {
			return
		}
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != testClientID || p != testClientSecret {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		form := map[string]string{}
		for k := range r.PostForm {
			form[k] = r.PostForm.Get(k)
		}
		idp.mu.Lock()
		fn := idp.introspect
		idp.mu.Unlock()
		status, body := http.StatusOK, map[string]any{"active": false}
		if fn != nil {
			status, body = fn(form)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
	idp.srv = httptest.NewServer(mux) // listens on 127.0.0.1
	idp.issuer = idp.srv.URL + "/tenant"
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *testIdP) isDown(w http.ResponseWriter) bool {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if idp.down {
		http.Error(w, "<html>maintenance</html>", http.StatusServiceUnavailable)
	}
	return idp.down
}

func (idp *testIdP) metadata(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer":                 idp.issuer,
		"jwks_uri":               idp.issuer + "/jwks",
		"introspection_endpoint": idp.issuer + "/introspect",
	})
}

func (idp *testIdP) setDown(down bool) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.down = down
}

func (idp *testIdP) setKeys(keys ...testKey) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.keys = nil
	for _, k := range keys {
		idp.keys = append(idp.keys, k.public())
	}
}

// config is a Config pointing at the IdP with discovery.
func (idp *testIdP) config(clock *testClock) Config {
	return Config{
		Issuer:     idp.issuer,
		Audiences:  []string{"https://mcp.example.com/mcp"},
		HTTPClient: idp.srv.Client(),
		Now:        clock.Now,
	}
}

// claims returns a valid claim set at the clock's time.
func testClaims(idp *testIdP, clock *testClock) map[string]any {
	now := clock.Now().Unix()
	return map[string]any{
		"iss":                idp.issuer,
		"sub":                "user-1",
		"aud":                "https://mcp.example.com/mcp",
		"exp":                now + 300,
		"iat":                now,
		"nbf":                now,
		"scope":              "sentinelx:state sentinelx:exec",
		"preferred_username": "alice",
		"client_id":          "claude",
	}
}

// newTestVerifier builds a verifier and loads its keys synchronously.
func newTestVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.load(context.Background(), false); err != nil {
		t.Fatalf("load: %v", err)
	}
	return v
}

// noToken fails if a token (or a recognisable part of it) leaked
// into an error message.
func noToken(t *testing.T, token string, err error) {
	t.Helper()
	if err == nil || len(token) < 40 {
		return
	}
	if strings.Contains(err.Error(), token[len(token)-30:]) || strings.Contains(err.Error(), token[:30]) {
		t.Errorf("error leaks the token: %v", err)
	}
}
