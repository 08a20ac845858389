// Package idptest is a minimal OpenID provider for tests: discovery (OpenID
// Connect and RFC 8414), a JWKS with real RSA and EC keys, and a minter for
// valid and deliberately broken access tokens. It is test support only;
// production code never imports it.
package idptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DefaultSubject is the sub of minted tokens unless claims set one.
const DefaultSubject = "user-1"

// Key is one signing key the IdP holds. Its public half is in the JWKS
// unless it was made with [IdP.NewUnpublishedKey].
type Key struct {
	KID     string
	Alg     jose.SignatureAlgorithm
	Private crypto.Signer
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

func (k *Key) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Public(), KeyID: k.KID, Algorithm: string(k.Alg), Use: "sig"}
}

// Option configures [New].
type Option func(*config)

type config struct {
	path      string
	audience  any
	scope     string
	noOIDC    bool
	noRFC8414 bool
}

// WithIssuerPath serves the issuer at the server's URL plus path, e.g.
// "/realms/sentinelx" or "/" (an issuer with a trailing slash).
func WithIssuerPath(path string) Option { return func(c *config) { c.path = path } }

// WithAudience sets the default aud of minted tokens (a string or a
// []string). Without it tokens carry no aud unless the claims add one.
func WithAudience(aud any) Option { return func(c *config) { c.audience = aud } }

// WithScope sets the default scope claim (space-separated). The default is
// "sentinelx:state".
func WithScope(scope string) Option { return func(c *config) { c.scope = scope } }

// WithoutOIDCDiscovery stops serving /.well-known/openid-configuration, so
// clients must fall back to RFC 8414 metadata.
func WithoutOIDCDiscovery() Option { return func(c *config) { c.noOIDC = true } }

// WithoutRFC8414 stops serving /.well-known/oauth-authorization-server.
func WithoutRFC8414() Option { return func(c *config) { c.noRFC8414 = true } }

// IdP is a running test identity provider.
type IdP struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:41234".
	URL string
	// Issuer is the iss of minted tokens and of the metadata, exactly as
	// served: URL plus the configured path.
	Issuer string
	// RSA and EC are the keys made by New (RS256 and ES256), both published.
	RSA, EC *Key

	tb       testing.TB
	cfg      config
	srv      *httptest.Server
	down     atomic.Bool
	jwksHits atomic.Int64
	metaHits atomic.Int64

	mu        sync.Mutex // guards the fields below
	published []*Key
	seq       int
}

// New starts an IdP on 127.0.0.1 for the test's lifetime, with one RSA
// 2048 (RS256) and one EC P-256 (ES256) key published.
func New(tb testing.TB, opts ...Option) *IdP {
	tb.Helper()
	cfg := config{scope: "sentinelx:state"}
	for _, o := range opts {
		o(&cfg)
	}
	p := &IdP{tb: tb, cfg: cfg}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	tb.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	p.Issuer = p.URL + cfg.path
	p.RSA = p.NewUnpublishedKey(jose.RS256)
	p.EC = p.NewUnpublishedKey(jose.ES256)
	p.Publish(p.RSA)
	p.Publish(p.EC)
	return p
}

// NewUnpublishedKey makes a key the JWKS does not list (yet): tokens
// signed with it carry a kid the verifier does not know.
func (p *IdP) NewUnpublishedKey(alg jose.SignatureAlgorithm) *Key {
	p.tb.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		p.tb.Fatalf("idptest: unsupported alg %s", alg)
	}
	if err != nil {
		p.tb.Fatalf("idptest: generating %s key: %v", alg, err)
	}
	p.mu.Lock()
	p.seq++
	kid := fmt.Sprintf("key-%d-%s", p.seq, strings.ToLower(string(alg)))
	p.mu.Unlock()
	return &Key{KID: kid, Alg: alg, Private: priv}
}

// Publish adds k to the JWKS.
func (p *IdP) Publish(k *Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = append(p.published, k)
}

// Rotate makes a new RSA key with a new kid, publishes it next to the old
// ones and returns it; sign with it through [WithKey].
func (p *IdP) Rotate() *Key {
	k := p.NewUnpublishedKey(jose.RS256)
	p.Publish(k)
	return k
}

// SetDown makes every endpoint answer 503 (true) or serve again (false).
func (p *IdP) SetDown(down bool) { p.down.Store(down) }

// JWKSFetches is how many times the JWKS was requested (including while down).
func (p *IdP) JWKSFetches() int64 { return p.jwksHits.Load() }

// MetadataFetches is how many times a discovery document was requested.
func (p *IdP) MetadataFetches() int64 { return p.metaHits.Load() }

// JWKSURI is where the key set is served.
func (p *IdP) JWKSURI() string { return p.URL + "/jwks" }

func (p *IdP) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	isJWKS := path == "/jwks"
	if isJWKS {
		p.jwksHits.Add(1)
	} else if strings.HasPrefix(path, "/.well-known/") {
		p.metaHits.Add(1)
	}
	if p.down.Load() {
		http.Error(w, "identity provider down", http.StatusServiceUnavailable)
		return
	}
	issuerPath := strings.TrimSuffix(p.cfg.path, "/")
	switch {
	case isJWKS:
		writeJSON(w, p.JWKS())
	case !p.cfg.noOIDC && path == issuerPath+"/.well-known/openid-configuration":
		writeJSON(w, p.metadata())
	case !p.cfg.noRFC8414 && path == "/.well-known/oauth-authorization-server"+issuerPath:
		writeJSON(w, p.metadata())
	default:
		http.NotFound(w, r)
	}
}

// JWKS returns the published key set.
func (p *IdP) JWKS() jose.JSONWebKeySet {
	p.mu.Lock()
	defer p.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range p.published {
		set.Keys = append(set.Keys, k.jwk())
	}
	return set
}

func (p *IdP) metadata() map[string]any {
	return map[string]any{
		"issuer":                                p.Issuer,
		"jwks_uri":                              p.JWKSURI(),
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// MintOption changes how [IdP.Mint] signs.
type MintOption func(*mintConfig)

type mintConfig struct {
	key     *Key
	kid     *string
	typ     *string
	headers map[jose.HeaderKey]any
	now     time.Time
}

// WithKey signs with k (default: the IdP's RSA key).
func WithKey(k *Key) MintOption { return func(c *mintConfig) { c.key = k } }

// WithKID writes kid into the header instead of the key's own; "" omits it.
func WithKID(kid string) MintOption { return func(c *mintConfig) { c.kid = &kid } }

// WithTyp sets the typ header (default "at+jwt"); "" omits it.
func WithTyp(typ string) MintOption { return func(c *mintConfig) { c.typ = &typ } }

// WithHeader adds a protected header.
func WithHeader(name string, v any) MintOption {
	return func(c *mintConfig) {
		if c.headers == nil {
			c.headers = map[jose.HeaderKey]any{}
		}
		c.headers[jose.HeaderKey(name)] = v
	}
}

// At mints as if the current time were now (iat and exp defaults).
func At(now time.Time) MintOption { return func(c *mintConfig) { c.now = now } }

// Claims returns the default claims for a token minted now, merged with
// extra. A nil value in extra removes that claim.
func (p *IdP) Claims(now time.Time, extra map[string]any) map[string]any {
	c := map[string]any{
		"iss":   p.Issuer,
		"sub":   DefaultSubject,
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
		"scope": p.cfg.scope,
		"jti":   fmt.Sprintf("jti-%d", now.UnixNano()),
	}
	if p.cfg.audience != nil {
		c["aud"] = p.cfg.audience
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// Mint signs the default claims merged with claims (nil values remove a
// default) and returns the compact JWS.
func (p *IdP) Mint(claims map[string]any, opts ...MintOption) string {
	p.tb.Helper()
	mc := mintConfig{key: p.RSA, now: time.Now()}
	for _, o := range opts {
		o(&mc)
	}
	payload, err := json.Marshal(p.Claims(mc.now, claims))
	if err != nil {
		p.tb.Fatalf("idptest: claims: %v", err)
	}
	jwk := jose.JSONWebKey{Key: mc.key.Private, KeyID: mc.key.KID}
	if mc.kid != nil {
		jwk.KeyID = *mc.kid
	}
	var key any = jwk
	if jwk.KeyID == "" {
		key = mc.key.Private
	}
	so := &jose.SignerOptions{}
	typ := "at+jwt"
	if mc.typ != nil {
		typ = *mc.typ
	}
	if typ != "" {
		so = so.WithType(jose.ContentType(typ))
	}
	for k, v := range mc.headers {
		so = so.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: mc.key.Alg, Key: key}, so)
	if err != nil {
		p.tb.Fatalf("idptest: signer: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		p.tb.Fatalf("idptest: sign: %v", err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		p.tb.Fatalf("idptest: serialize: %v", err)
	}
	return s
}
