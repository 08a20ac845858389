package idptest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
)

func get(t *testing.T, url string, v any) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

func TestDiscoveryAndJWKS(t *testing.T) {
	tests := []struct {
		name       string
		opts       []idptest.Option
		oidcPath   string
		rfc8414    string
		wantIssuer func(p *idptest.IdP) string
	}{
		{name: "root issuer", oidcPath: "/.well-known/openid-configuration", rfc8414: "/.well-known/oauth-authorization-server",
			wantIssuer: func(p *idptest.IdP) string { return p.URL }},
		{name: "issuer with path", opts: []idptest.Option{idptest.WithIssuerPath("/realms/x")},
			oidcPath: "/realms/x/.well-known/openid-configuration", rfc8414: "/.well-known/oauth-authorization-server/realms/x",
			wantIssuer: func(p *idptest.IdP) string { return p.URL + "/realms/x" }},
		{name: "issuer with trailing slash", opts: []idptest.Option{idptest.WithIssuerPath("/")},
			oidcPath: "/.well-known/openid-configuration", rfc8414: "/.well-known/oauth-authorization-server",
			wantIssuer: func(p *idptest.IdP) string { return p.URL + "/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := idptest.New(t, tt.opts...)
			if p.Issuer != tt.wantIssuer(p) {
				t.Errorf("Issuer = %q, want %q", p.Issuer, tt.wantIssuer(p))
			}
			for _, path := range []string{tt.oidcPath, tt.rfc8414} {
				var md struct {
					Issuer  string `json:"issuer"`
					JWKSURI string `json:"jwks_uri"`
				}
				if code := get(t, p.URL+path, &md); code != http.StatusOK {
					t.Fatalf("%s: %d", path, code)
				}
				if md.Issuer != p.Issuer || md.JWKSURI != p.JWKSURI() {
					t.Errorf("%s = %+v", path, md)
				}
			}
			var set jose.JSONWebKeySet
			get(t, p.JWKSURI(), &set)
			if len(set.Keys) != 2 || p.JWKSFetches() != 1 {
				t.Errorf("JWKS has %d keys after %d fetches", len(set.Keys), p.JWKSFetches())
			}
			p.Rotate()
			get(t, p.JWKSURI(), &set)
			if len(set.Keys) != 3 {
				t.Errorf("after Rotate, %d keys", len(set.Keys))
			}
			p.SetDown(true)
			if code := get(t, p.JWKSURI(), nil); code != http.StatusServiceUnavailable {
				t.Errorf("down: %d", code)
			}
		})
	}
}

func TestMint(t *testing.T) {
	p := idptest.New(t, idptest.WithAudience("https://rs.example/mcp"))
	set := p.JWKS()
	tests := []struct {
		name    string
		token   string
		wantAlg string
		wantKID string
		wantTyp any
		verify  bool
	}{
		{name: "default", token: p.Mint(nil), wantAlg: "RS256", wantKID: p.RSA.KID, wantTyp: "at+jwt", verify: true},
		{name: "ES256", token: p.Mint(nil, idptest.WithKey(p.EC)), wantAlg: "ES256", wantKID: p.EC.KID, wantTyp: "at+jwt", verify: true},
		{name: "typ JWT", token: p.Mint(nil, idptest.WithTyp("JWT")), wantAlg: "RS256", wantKID: p.RSA.KID, wantTyp: "JWT", verify: true},
		{name: "no typ", token: p.Mint(nil, idptest.WithTyp("")), wantAlg: "RS256", wantKID: p.RSA.KID, verify: true},
		{name: "other kid", token: p.Mint(nil, idptest.WithKID("nope")), wantAlg: "RS256", wantKID: "nope", wantTyp: "at+jwt"},
		{name: "tampered", token: idptest.TamperSignature(p.Mint(nil)), wantAlg: "RS256", wantKID: p.RSA.KID, wantTyp: "at+jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jws, err := jose.ParseSigned(tt.token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Header
			if h.Algorithm != tt.wantAlg || h.KeyID != tt.wantKID || h.ExtraHeaders[jose.HeaderType] != tt.wantTyp {
				t.Errorf("header = alg %s kid %s typ %v", h.Algorithm, h.KeyID, h.ExtraHeaders[jose.HeaderType])
			}
			keys := set.Key(h.KeyID)
			if len(keys) == 0 {
				if tt.verify {
					t.Fatalf("kid %q not in JWKS", h.KeyID)
				}
				return
			}
			payload, err := jws.Verify(keys[0])
			if (err == nil) != tt.verify {
				t.Fatalf("Verify err = %v, want ok=%v", err, tt.verify)
			}
			if err != nil {
				return
			}
			var c map[string]any
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Fatal(err)
			}
			if c["iss"] != p.Issuer || c["aud"] != "https://rs.example/mcp" || c["sub"] != idptest.DefaultSubject || c["scope"] != "sentinelx:state" {
				t.Errorf("claims = %v", c)
			}
		})
	}
	t.Run("nil removes a default claim", func(t *testing.T) {
		c := p.Claims(time.Now(), map[string]any{"exp": nil, "x": 1})
		if _, ok := c["exp"]; ok || c["x"] != 1 {
			t.Errorf("claims = %v", c)
		}
	})
	t.Run("forgeries", func(t *testing.T) {
		for name, tok := range map[string]string{"none": p.Unsigned(nil), "hs256": p.HS256WithPublicKey(nil)} {
			hdr, _, _ := strings.Cut(tok, ".")
			if _, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256}); err == nil {
				t.Errorf("%s (%s) parses as an allowed algorithm", name, hdr)
			}
		}
	})
}
