package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"time"
)

type idp struct {
	url string
	key *rsa.PrivateKey
	kid string
	srv *http.Server
}

func newIdP() (*idp, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &idp{url: "http://" + ln.Addr().String(), key: key, kid: "bench-rs256"}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": p.kid,
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	meta, _ := json.Marshal(map[string]any{
		"issuer": p.url, "jwks_uri": p.url + "/jwks",
		"authorization_endpoint": p.url + "/authorize", "token_endpoint": p.url + "/token",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
	mux := http.NewServeMux()
	serve := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		}
	}
	mux.Handle("GET /jwks", serve(jwks))
	mux.Handle("GET /.well-known/openid-configuration", serve(meta))
	mux.Handle("GET /.well-known/oauth-authorization-server", serve(meta))
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *idp) close() { p.srv.Close() }

// mint signs an RS256 access token for aud with scope.
func (p *idp) mint(aud, scope string, ttl time.Duration) string {
	now := time.Now()
	header, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": p.kid})
	claims, _ := json.Marshal(map[string]any{
		"iss": p.url, "sub": "bench-user", "aud": aud, "scope": scope,
		"preferred_username": "bench", "client_id": "bench-client",
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": rand.Text(),
	})
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return signing + "." + b64(sig)
}

// --- report ---
