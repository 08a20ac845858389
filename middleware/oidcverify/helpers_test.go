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

// verifyTestClock is an injectable clock for rate limits and expiry.
type verifyTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func newVerifyTestClock() *verifyTestClock {
	return &verifyTestClock{t: time.Unix(1_900_000_000, 0)}
}

func (c *verifyTestClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *verifyTestClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// verifyTestKey is a signing key with the kid it is published under.
type verifyTestKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func newVerifyTestRSA(t testing.TB, kid string) verifyTestKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return verifyTestKey{kid: kid, alg: jose.RS256, priv: k}
}

func newVerifyTestEC(t testing.TB, kid string) verifyTestKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return verifyTestKey{kid: kid, alg: jose.ES256, priv: k}
}

func (k verifyTestKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// sign produces a compact JWS. headers are added to the protected header;
// a "typ" entry replaces the default "JWT", and typ=nil removes it.
func (k verifyTestKey) sign(t testing.TB, claims map[string]any, headers map[string]any) string {
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

// verifyTestIdP serves OIDC discovery, RFC 8414 metadata, a JWKS and an
// introspection endpoint, and counts hits on each.
type verifyTestIdP struct {
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

const verifyTestClientID, verifyTestClientSecret = "mcp-rs", "s3cret"

func newVerifyTestIdP(t testing.TB, keys ...verifyTestKey) *verifyTestIdP {
	t.Helper()
	idp := &verifyTestIdP{}
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
		if u, p, ok := r.BasicAuth(); !ok || u != verifyTestClientID || p != verifyTestClientSecret {
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

func (idp *verifyTestIdP) isDown(w http.ResponseWriter) bool {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if idp.down {
		http.Error(w, "<html>maintenance</html>", http.StatusServiceUnavailable)
	}
	return idp.down
}

func (idp *verifyTestIdP) metadata(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer":                 idp.issuer,
		"jwks_uri":               idp.issuer + "/jwks",
		"introspection_endpoint": idp.issuer + "/introspect",
	})
}

func (idp *verifyTestIdP) setDown(down bool) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.down = down
}

func (idp *verifyTestIdP) setKeys(keys ...verifyTestKey) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.keys = nil
	for _, k := range keys {
		idp.keys = append(idp.keys, k.public())
	}
}

// config is a VerifierConfig pointing at the IdP with discovery.
func (idp *verifyTestIdP) config(clock *verifyTestClock) VerifierConfig {
	return VerifierConfig{
		Issuer:     idp.issuer,
		Audiences:  []string{"https://mcp.example.com/mcp"},
		HTTPClient: idp.srv.Client(),
		Now:        clock.Now,
	}
}

// claims returns a valid claim set at the clock's time.
func verifyTestClaims(idp *verifyTestIdP, clock *verifyTestClock) map[string]any {
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

// newVerifyTestVerifier builds a verifier and loads its keys synchronously.
func newVerifyTestVerifier(t testing.TB, cfg VerifierConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.verifyLoad(context.Background(), false); err != nil {
		t.Fatalf("load: %v", err)
	}
	return v
}

// verifyTestNoToken fails if a token (or a recognisable part of it) leaked
// into an error message.
func verifyTestNoToken(t *testing.T, token string, err error) {
	t.Helper()
	if err == nil || len(token) < 40 {
		return
	}
	if strings.Contains(err.Error(), token[len(token)-30:]) || strings.Contains(err.Error(), token[:30]) {
		t.Errorf("error leaks the token: %v", err)
	}
}
