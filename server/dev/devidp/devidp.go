// Package devidp is the OAuth 2.1 authorization server embedded in
// `sentinelx-mcp dev`, so that a newcomer gets real OAuth (discovery, JWKS,
// PKCE, dynamic client registration, audience-bound JWTs) with no identity
// provider to install.
//
// It is built on zitadel/oidc/v3 op: op parses and validates the authorize
// request (client, redirect URI rules per application type, scopes,
// response type, PKCE method), runs the callback that hands out the code,
// authenticates clients at the token endpoint, and serves OIDC discovery,
// JWKS, userinfo, introspection and revocation. What op lacks is added
// beside it, in this package: RFC 7591 registration (register.go), the
// RFC 8414 metadata path, RFC 8707 resource indicators, the RFC 9207 iss
// parameter, and token minting (op signs access tokens with typ JWT, no
// scope claim and the same audience as the ID token, so this package signs
// RFC 9068 at+jwt tokens itself; token.go).
//
// Every authorization request is approved for one fixed user. That is only
// acceptable because the server binds loopback and confines redirect URIs
// to loopback: New refuses any other issuer.
package devidp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/pensados/sentinelx-mcp/middleware"
)

// The identity every authorization is granted to, and the client that
// exists from the start (client_credentials, for scripts and the banner).
const (
	devSubject  = "dev"
	devUsername = "dev"
	// DevClientID is the pre-registered confidential client.
	DevClientID = "sentinelx-dev"
)

// Paths under the issuer. op serves the ones it owns; these are ours.
const (
	pathRegister = "/register"
	pathConsent  = "/consent"
	pathCallback = "/authorize/callback" // op's, under the authorization endpoint
)

// Options configures [New].
type Options struct {
	// Issuer is the server's base URL, e.g. "http://127.0.0.1:8100". It must
	// name a loopback address.
	Issuer string
	// Resources are the RFC 8707 resource indicators tokens may be issued
	// for (the MCP URL). The first is used when a request names none.
	Resources []string
	// Scopes are the scopes clients may be granted (the tool table's).
	Scopes []string
	// TokenTTL is the lifetime of access tokens; zero means one hour.
	TokenTTL time.Duration
	// Logger receives one line per grant and registration. Nil discards.
	Logger *slog.Logger
}

// IdP is the embedded authorization server. Serve [IdP.Handler] at the
// root of the issuer's origin.
type IdP struct {
	issuer    string
	resources []string
	scopes    []string // tool scopes
	ttl       time.Duration
	log       *slog.Logger
	store     *storage
	devSecret string
	handler   http.Handler
}

// New creates the server with a fresh RS256 key and the dev client.
func New(o Options) (*IdP, error) {
	if err := checkIssuer(o.Issuer); err != nil {
		return nil, err
	}
	if len(o.Resources) == 0 {
		return nil, errors.New("devidp: Options.Resources is required")
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := newStorage(o.TokenTTL)
	if err != nil {
		return nil, err
	}
	p := &IdP{
		issuer:    strings.TrimSuffix(o.Issuer, "/"),
		resources: slices.Clone(o.Resources),
		scopes:    slices.Clone(o.Scopes),
		ttl:       o.TokenTTL,
		log:       o.Logger,
		store:     st,
		devSecret: rand.Text(),
	}
	st.addClient(&client{
		id: DevClientID, secret: p.devSecret, name: "sentinelx-mcp dev",
		appType: op.ApplicationTypeWeb, authMethod: oidc.AuthMethodBasic,
		grants: []oidc.GrantType{oidc.GrantTypeClientCredentials},
		scopes: p.scopes, known: p.knownScopes(), issuedAt: time.Now(), loginURL: p.issuer + pathConsent,
	})
	if p.handler, err = p.routes(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkIssuer refuses anything but an http(s) URL on a loopback address,
// because this server approves every request it is sent.
func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("devidp: issuer %q: want an absolute http(s) URL", issuer)
	}
	if !middleware.IsLoopback(u.Hostname()) {
		return fmt.Errorf("devidp: issuer %q: the dev authorization server approves every request, so it serves loopback only", issuer)
	}
	return nil
}

// Handler serves every endpoint of the server.
func (p *IdP) Handler() http.Handler { return p.handler }

// Issuer is the issuer identifier, as in discovery and the tokens' iss.
func (p *IdP) Issuer() string { return p.issuer }

// DevClient returns the credentials of the pre-registered confidential
// client, which may use the client_credentials grant for every scope.
func (p *IdP) DevClient() (id, secret string) { return DevClientID, p.devSecret }

// Token mints an access token for the dev user with every scope, for the
// default resource, valid for ttl (zero: Options.TokenTTL). It is what the
// dev banner prints.
func (p *IdP) Token(ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		ttl = p.ttl
	}
	return p.mintAccess(&grant{
		clientID: DevClientID, subject: devSubject, scopes: p.scopes,
		audience: p.resources[:1], authTime: time.Now(),
	}, ttl)
}

// routes puts op's handler and the endpoints op lacks behind one mux.
func (p *IdP) routes() (http.Handler, error) {
	cfg := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes:       p.knownScopes(),
	}
	if _, err := rand.Read(cfg.CryptoKey[:]); err != nil {
		return nil, err
	}
	prov, err := op.NewProvider(cfg, p.store, op.StaticIssuer(p.issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("devidp: %w", err)
	}
	eps := op.Endpoints{
		Authorization: op.NewEndpoint("authorize"),
		Token:         op.NewEndpoint("oauth/token"),
		Introspection: op.NewEndpoint("oauth/introspect"),
		Userinfo:      op.NewEndpoint("userinfo"),
		Revocation:    op.NewEndpoint("revoke"),
		JwksURI:       op.NewEndpoint("keys"),
	}
	srv := &opServer{LegacyServer: op.NewLegacyServer(prov, eps), idp: p}
	oph := withIss(p.issuer, op.RegisterLegacyServer(srv, op.AuthorizeCallbackHandler(prov), op.WithServerCORSOptions(corsOptions())))

	mux := http.NewServeMux()
	mux.Handle(pathRegister, http.HandlerFunc(p.register))
	mux.Handle(pathConsent, http.HandlerFunc(p.consent))
	// RFC 8414 §3: for an issuer without a path the document lives here;
	// it is the same document as OpenID discovery.
	mux.Handle("/.well-known/oauth-authorization-server", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = oidc.DiscoveryEndpoint, ""
		oph.ServeHTTP(w, r2)
	}))
	mux.Handle("/", oph)
	return mux, nil
}

// corsOptions lets browser-based clients (the MCP Inspector) read
// discovery, keys and token responses from any origin, without
// credentials: op's default reflects every Origin with
// Access-Control-Allow-Credentials: true, which would let any web page
// make credentialed calls here. Nothing on this server uses cookies or
// other ambient credentials; a client authenticates in the request itself.
func corsOptions() *cors.Options {
	return &cors.Options{
		AllowedOrigins: []string{"*"},
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost},
		AllowedHeaders: []string{"Accept", "Accept-Language", "Authorization", "Content-Type", "X-Requested-With"},
		ExposedHeaders: []string{"Location", "Content-Length"},
	}
}

// withIss adds the RFC 9207 iss parameter to authorization responses: the
// redirects of /authorize and its callback to the client's redirect URI,
// success and error alike. Redirects within this server (to the consent
// page and the callback) are left alone.
func withIss(issuer string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&issWriter{ResponseWriter: w, issuer: issuer}, r)
	})
}

type issWriter struct {
	http.ResponseWriter
	issuer string
	wrote  bool
}

func (w *issWriter) WriteHeader(code int) {
	if !w.wrote && code >= 300 && code < 400 {
		w.addIss()
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *issWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *issWriter) addIss() {
	loc := w.Header().Get("Location")
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() || strings.HasPrefix(loc, w.issuer+"/") {
		return
	}
	q := u.Query()
	if !q.Has("code") && !q.Has("error") {
		return
	}
	q.Set("iss", w.issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
}
