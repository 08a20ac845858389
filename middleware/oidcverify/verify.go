// Package oidcverify checks OAuth 2.0 bearer tokens for the bridge: JWTs
// locally against the IdP's published keys (OIDC discovery or RFC 8414,
// then the JWKS) and opaque tokens through RFC 7662 introspection, with
// bounded caches and a bounded budget of IdP calls. Its [Verifier.Verify]
// is an auth.TokenVerifier; middleware.Bearer is its only caller in
// serving, `sentinelx-mcp doctor` the other.
package oidcverify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/auth"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/pensados/sentinelx-mcp/middleware"
)

// Fixed verification policy (DESIGN.md "Authentication and authorization",
// items 3, 7 and 8). They are constants, not settings, because every one of
// them is a security trade-off the design already decided.
const (
	// refetchEvery bounds how often an unknown kid may make us fetch
	// the JWKS again, so a flood of forged kids cannot hammer the IdP.
	refetchEvery = 10 * time.Second
	// refreshEvery re-reads the key set in the background so that a key
	// the IdP has withdrawn stops being trusted even if no new kid shows up.
	refreshEvery = 15 * time.Minute
	// cacheMax bounds both token caches.
	cacheMax = 10000
	// introspectCacheTTL is how long an "active" answer is reused: a revoked
	// opaque token keeps working at most this long.
	introspectCacheTTL = 30 * time.Second
	// httpTimeout is used when the caller's client has none, so an IdP
	// that accepts the connection and never answers cannot stall requests.
	httpTimeout = 10 * time.Second
)

// Config is plain data built from server.Config.
type Config struct {
	// Issuer is OIDC_ISSUER. Tokens' iss must equal it; a difference of only
	// a trailing slash is tolerated (the old bridge broke Authentik by
	// stripping it).
	Issuer string
	// JWKSURI is OIDC_JWKS_URI. Empty means discover it from Issuer.
	JWKSURI string
	// Audiences is OIDC_EXPECTED_AUDIENCE. Empty skips the audience check
	// (the seed's behaviour); otherwise aud must contain one of them and a
	// token without aud is rejected.
	Audiences []string
	// IntrospectionURL is OIDC_INTROSPECTION_URL (RFC 7662) for opaque
	// tokens. Empty with client credentials set means discover it.
	IntrospectionURL string
	// ClientID and ClientSecret authenticate introspection calls
	// (client_secret_basic).
	ClientID, ClientSecret string
	// RequireATJWT is OIDC_REQUIRE_AT_JWT: accept only typ at+jwt.
	RequireATJWT bool
	// ScopeClaims is OIDC_SCOPE_CLAIMS: the claims scopes are read from, in
	// JWTs and introspection answers alike. Empty means scope and scp.
	// IdPs that carry permissions elsewhere are named here: Auth0
	// "permissions", Entra app tokens "roles", Zitadel
	// "urn:zitadel:iam:org:project:roles" (an object whose keys are the
	// roles), Keycloak "realm_access.roles" (a dotted path into objects).
	ScopeClaims []string
	// HTTPClient talks to the IdP. Nil means a private client; a client
	// without a timeout is copied and given one.
	HTTPClient *http.Client
	// Logger receives key-set events and, with Debug, claims. Nil discards.
	Logger *slog.Logger
	// Debug is AUTH_DEBUG: log claims of accepted and rejected tokens
	// (never the token itself).
	Debug bool
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// OnVerify, when set, is told the result of every Verify call (for
	// metrics): via is "jwt", "introspection" or "cache", and err is nil
	// when the token was accepted.
	OnVerify func(via string, err error)
	// OnKeysFetch, when set, is told the outcome of every key-set fetch.
	OnKeysFetch func(err error)
}

// Status is a snapshot for /readyz and the status page.
type Status struct {
	// Ready is true once a key set has been loaded.
	Ready         bool
	Issuer        string
	JWKSURI       string // empty until discovered
	Keys          int
	KeysFetchedAt time.Time
	LastError     string // last discovery or JWKS failure; cleared on success
	Introspection bool   // opaque tokens can be introspected
	AudienceCheck bool
}

// Verifier checks bearer tokens: JWTs locally against the IdP's JWKS and
// opaque tokens through RFC 7662 introspection. It is safe for concurrent
// use. Build it with [New], call [Verifier.Start] once, and hand
// [Verifier.Verify] to middleware.Bearer (an auth.TokenVerifier).
type Verifier struct {
	issuer       string
	audiences    []string
	requireATJWT bool
	scopeClaims  []string
	clientID     string
	clientSecret string
	wantsIntro   bool // client credentials are set
	hc           *http.Client
	log          *slog.Logger
	debug        bool
	now          func() time.Time
	encoder      httphelper.Encoder
	algs         []jose.SignatureAlgorithm
	onVerify     func(via string, err error)
	onKeysFetch  func(err error)

	// fetchSem serialises IdP fetches (discovery + JWKS) so a burst of
	// unknown kids produces one request, not one per caller.
	fetchSem  chan struct{}
	startOnce sync.Once
	// Start's retry delays; fields so tests can shorten them.
	backoffMin, backoffMax time.Duration

	mu            sync.RWMutex // guards the fields below
	jwksURI       string
	introURL      string
	discovered    bool // discovery done, or not needed
	keys          []jose.JSONWebKey
	keysID        string // fingerprint of keys, to notice rotation
	keysFetchedAt time.Time
	lastErr       string
	lastRefetch   time.Time // last fetch caused by Verify, for the rate limit

	jwtCache   *tokenCache // flushed whenever the key set changes
	introCache *tokenCache
	// introLimit bounds introspection calls for tokens not in introCache,
	// per client address and in total (limit.go); introRejected
	// remembers inactive answers briefly.
	introLimit    *introLimiter
	introRejected *rejectCache
}

// New validates cfg. It does no network I/O, so the server starts
// even while the IdP is down; [Verifier.Start] loads the keys.
func New(cfg Config) (*Verifier, error) {
	if err := checkURL("OIDC_ISSUER", cfg.Issuer, true); err != nil {
		return nil, err
	}
	if err := checkURL("OIDC_JWKS_URI", cfg.JWKSURI, false); err != nil {
		return nil, err
	}
	if err := checkURL("OIDC_INTROSPECTION_URL", cfg.IntrospectionURL, false); err != nil {
		return nil, err
	}
	if (cfg.ClientID == "") != (cfg.ClientSecret == "") {
		return nil, errors.New("OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set together")
	}
	if cfg.IntrospectionURL != "" && cfg.ClientID == "" {
		return nil, errors.New("OIDC_INTROSPECTION_URL needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET to authenticate to it")
	}
	var auds []string
	for _, a := range cfg.Audiences {
		if a = strings.TrimSpace(a); a != "" {
			auds = append(auds, a)
		}
	}
	var scopeClaims []string
	for _, c := range cfg.ScopeClaims {
		if c = strings.TrimSpace(c); c != "" {
			scopeClaims = append(scopeClaims, c)
		}
	}
	if len(scopeClaims) == 0 {
		scopeClaims = defaultScopeClaims()
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: httpTimeout}
	} else if hc.Timeout <= 0 {
		c := *hc
		c.Timeout = httpTimeout
		hc = &c
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	wantsIntro := cfg.ClientID != ""
	return &Verifier{
		issuer:        cfg.Issuer,
		audiences:     auds,
		requireATJWT:  cfg.RequireATJWT,
		scopeClaims:   scopeClaims,
		clientID:      cfg.ClientID,
		clientSecret:  cfg.ClientSecret,
		wantsIntro:    wantsIntro,
		hc:            hc,
		log:           logger,
		debug:         cfg.Debug,
		now:           now,
		encoder:       oidc.NewEncoder(),
		algs:          allowedAlgs(),
		onVerify:      cfg.OnVerify,
		onKeysFetch:   cfg.OnKeysFetch,
		fetchSem:      make(chan struct{}, 1),
		backoffMin:    time.Second,
		backoffMax:    30 * time.Second,
		jwksURI:       cfg.JWKSURI,
		introURL:      cfg.IntrospectionURL,
		discovered:    cfg.JWKSURI != "" && (!wantsIntro || cfg.IntrospectionURL != ""),
		jwtCache:      newTokenCache(cacheMax),
		introCache:    newTokenCache(cacheMax),
		introLimit:    newIntroLimiter(now),
		introRejected: newRejectCache(cacheMax, introspectCacheTTL),
	}, nil
}

func checkURL(name, raw string, required bool) error {
	if raw == "" {
		if required {
			return fmt.Errorf("%s is required", name)
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s must be an absolute http(s) URL, got %q", name, raw)
	}
	return nil
}

// Start loads discovery and the key set in the background, retrying with
// backoff until it succeeds, then refreshes the key set periodically until
// ctx is done. It returns at once; calling it again has no effect.
func (v *Verifier) Start(ctx context.Context) {
	v.startOnce.Do(func() { go v.run(ctx) })
}

func (v *Verifier) run(ctx context.Context) {
	delay := v.backoffMin
	for {
		err := v.load(ctx, false)
		wait := refreshEvery
		if err != nil || !v.resolved() {
			wait = delay
			delay = min(delay*2, v.backoffMax)
		} else {
			delay = v.backoffMin
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// resolved reports whether every endpoint we may need is known, so the
// start loop keeps retrying discovery for introspection even when a
// configured JWKS URI already works.
func (v *Verifier) resolved() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.discovered && len(v.keys) > 0
}

// Status reports the verifier's state.
func (v *Verifier) Status() Status {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return Status{
		Ready:         len(v.keys) > 0,
		Issuer:        v.issuer,
		JWKSURI:       v.jwksURI,
		Keys:          len(v.keys),
		KeysFetchedAt: v.keysFetchedAt,
		LastError:     v.lastErr,
		Introspection: v.introURL != "" && v.clientID != "",
		AudienceCheck: len(v.audiences) > 0,
	}
}

// Verify checks a bearer token and returns who it belongs to. Every
// rejection wraps auth.ErrInvalidToken with a specific reason meant for the
// log; the reason never contains the token. IdP failures fail closed.
//
// It has go-sdk's [auth.TokenVerifier] signature so the bearer middleware
// takes it as it is. The request is not read (it may be nil): the client
// address that keys the introspection budget comes from ctx, where
// middleware.ClientAddr put it.
func (v *Verifier) Verify(ctx context.Context, token string, _ *http.Request) (_ *auth.TokenInfo, err error) {
	via := "jwt"
	if v.onVerify != nil {
		defer func() { v.onVerify(via, err) }()
	}
	if token == "" {
		return nil, fmt.Errorf("%w: empty token", auth.ErrInvalidToken)
	}
	now := v.now()
	key := sha256.Sum256([]byte(token))
	switch shapeOf(token) {
	case shapeJWE:
		return nil, fmt.Errorf("%w: encrypted JWT (JWE) not supported", auth.ErrInvalidToken)
	case shapeJWT:
		if info, ok := v.jwtCache.get(key, now); ok {
			via = "cache"
			return copyInfo(info), nil
		}
		// Taken before verifying: if the key set changes meanwhile, the
		// result must not land in the freshly flushed cache.
		gen := v.jwtCache.generation()
		info, exp, err := v.checkJWT(ctx, token, now)
		if err != nil {
			return nil, err
		}
		v.jwtCache.put(gen, key, info, exp.Add(middleware.Leeway), now)
		return copyInfo(info), nil
	default:
		via = "introspection"
		if info, ok := v.introCache.get(key, now); ok {
			via = "cache"
			return copyInfo(info), nil
		}
		if v.introRejected.seen(key, now) {
			return nil, reject("inactive token (cached answer)")
		}
		addr := middleware.ClientKey(ctx)
		if v.wantsIntro {
			// Junk opaque tokens must not turn the bridge into an amplifier
			// against the IdP, nor spend the budget of real users; cached
			// good tokens are unaffected.
			if err := v.introLimit.allow(addr, key, now); err != nil {
				return nil, err
			}
		}
		gen := v.introCache.generation()
		info, until, err := v.introspect(ctx, token, now)
		if err != nil {
			if errors.Is(err, errInactive) {
				v.introRejected.add(key, now)
				v.introLimit.inactive(addr)
			}
			return nil, err
		}
		v.introLimit.active(addr, key, info.Expiration, now)
		v.introCache.put(gen, key, info, until, now)
		return copyInfo(info), nil
	}
}

// Shapes of a bearer token, decided on syntax alone.
const (
	shapeOpaque = iota
	shapeJWT
	shapeJWE
)

// shapeOf classifies a token as JWS compact (3 base64url parts), JWE
// compact (5 parts) or anything else (opaque, for introspection).
func shapeOf(token string) int {
	parts := 1
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			parts++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return shapeOpaque
		}
	}
	switch parts {
	case 3:
		// A JWS needs a header and a payload; "a..b" is not one.
		if h, rest, _ := strings.Cut(token, "."); h == "" || strings.HasPrefix(rest, ".") {
			return shapeOpaque
		}
		return shapeJWT
	case 5:
		return shapeJWE
	}
	return shapeOpaque
}

// copyInfo returns a copy callers may modify without touching the cached
// entry. Extra's nested "claims" map is shared and must be treated as
// read-only.
func copyInfo(in *auth.TokenInfo) *auth.TokenInfo {
	out := *in
	out.Scopes = append([]string(nil), in.Scopes...)
	out.Extra = make(map[string]any, len(in.Extra))
	for k, val := range in.Extra {
		out.Extra[k] = val
	}
	return &out
}

// rejectReason shortens an error from the IdP side (which may carry a
// whole HTML error page) to something fit for one log line.
func rejectReason(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
