package oidcverify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"

	"github.com/pensados/sentinelx-mcp/internal/bounded"
)

// introspectRequest is RFC 7662 §2.1's form. zitadel's rs.Introspect sends
// oidc.IntrospectionRequest, which has no token_type_hint, and its
// ResourceServer constructor does discovery on the network; so we build the
// same request from the same parts (FormRequest, AuthorizeBasic,
// HttpRequest) with the hint added.
type introspectRequest struct {
	Token         string `schema:"token"`
	TokenTypeHint string `schema:"token_type_hint"`
}

// introspect asks the IdP about an opaque token and applies the same
// iss/aud/time rules as for JWTs. It returns when the answer stops being
// reusable: min(now+introspectCacheTTL, exp).
func (v *Verifier) introspect(ctx context.Context, token string, now time.Time) (info *auth.TokenInfo, until time.Time, err error) {
	var claims map[string]any
	if v.debug {
		// The IdP itself vouches for these claims.
		defer func() { v.debugLog(ctx, "introspection", err, claims, claims != nil) }()
	}
	if !v.wantsIntro {
		return nil, until, reject("not a JWT and introspection is not configured")
	}
	endpoint := v.introspectURL(ctx)
	if endpoint == "" {
		v.mu.RLock()
		last := v.lastErr
		v.mu.RUnlock()
		return nil, until, reject("introspection failed: endpoint unknown (discovery: %s)", last)
	}

	req, err := httphelper.FormRequest(ctx, endpoint,
		&introspectRequest{Token: token, TokenTypeHint: "access_token"},
		v.encoder, httphelper.AuthorizeBasic(v.clientID, v.clientSecret))
	if err != nil {
		return nil, until, reject("introspection failed: %s", rejectReason(err))
	}
	req.Header.Set("Accept", "application/json")
	var raw json.RawMessage
	if err := httphelper.HttpRequest(v.hc, req, &raw); err != nil {
		return nil, until, reject("introspection failed: %s", rejectReason(err))
	}
	var c jwtClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, until, reject("introspection failed: malformed response: %s", rejectReason(err))
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, until, reject("introspection failed: malformed response: %s", rejectReason(err))
	}
	if !c.Active {
		return nil, until, fmt.Errorf("%w: %w", auth.ErrInvalidToken, errInactive)
	}
	exp, err := v.checkClaims(&c, now, false)
	if err != nil {
		return nil, until, err
	}
	until = now.Add(introspectCacheTTL)
	if !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	if exp.IsZero() {
		// RFC 7662 makes exp optional. go-sdk rejects a zero
		// Expiration, and "active now, asked again in 30 s" is what we
		// actually know.
		exp = until
	}
	return tokenInfo(&c, claims, exp, v.scopeClaims), until, nil
}

// introspectURL returns the introspection endpoint, trying discovery
// (rate-limited, like a JWKS refetch) if Start has not resolved it yet.
func (v *Verifier) introspectURL(ctx context.Context) string {
	v.mu.RLock()
	u, done := v.introURL, v.discovered
	v.mu.RUnlock()
	if u != "" || done {
		return u
	}
	_ = v.load(ctx, true)
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.introURL
}

// errInactive marks an introspection answer of active:false, the one
// failure worth remembering (an outage is not).
var errInactive = errors.New("inactive token")

// introspectRate is introspection calls per second for tokens the bridge
// has not seen answered; twice that is the burst.
const introspectRate = 20

// rejectCache remembers token hashes the IdP called inactive, for ttl, so
// replaying a junk or revoked token costs no IdP call. Bounded: when full
// the oldest answer goes, which only costs a repeat call.
type rejectCache struct {
	mu sync.Mutex // guards m
	m  *bounded.Map[[32]byte, struct{}]
}

func newRejectCache(max int, ttl time.Duration) *rejectCache {
	return &rejectCache{m: bounded.New[[32]byte, struct{}](max, ttl)}
}

func (c *rejectCache) add(key [32]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Put(key, struct{}{}, now)
}

// seen peeks rather than gets: the answer is the IdP's at add time and
// ages from then; replaying the token must not keep it beyond ttl.
func (c *rejectCache) seen(key [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m.Peek(key, now)
	return ok
}
