package oidcverify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/pensados/sentinelx-mcp/middleware"
)

// Asymmetric algorithms only: with HS* anyone holding the public key could
// mint tokens, and "none" is no signature at all.
func allowedAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512,
		jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512,
		jose.EdDSA,
	}
}

// jwtClaims reuses zitadel's claim types (aud as string or array, times
// as numbers or RFC 3339 strings). Scopes are not read through
// oidc.AccessTokenClaims because its scope type rejects the whole token
// when an array holds a non-string and ignores scp; see scopesOf.
type jwtClaims struct {
	oidc.TokenClaims
	Active bool `json:"active"` // RFC 7662 responses only
}

func reject(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{auth.ErrInvalidToken}, args...)...)
}

// checkJWT checks a JWS-shaped token. It returns the token's exp so the
// caller can bound the cache entry by it.
func (v *Verifier) checkJWT(ctx context.Context, token string, now time.Time) (info *auth.TokenInfo, exp time.Time, err error) {
	var jws *jose.JSONWebSignature
	var claims map[string]any
	if v.debug {
		defer func() {
			verified := claims != nil
			if !verified && jws != nil {
				// Unverified, and logged as such, but it is what an
				// operator needs to see when the kid or alg is wrong.
				_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
			}
			v.debugLog(ctx, "jwt", err, claims, verified)
		}()
	}

	jws, err = jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		var bad *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &bad) {
			return nil, exp, reject("alg %q not allowed", string(bad.Got))
		}
		return nil, exp, reject("malformed JWT: %s", rejectReason(err))
	}
	h := jws.Signatures[0].Header
	// crit names extensions the verifier must understand; we understand
	// none, so RFC 7515 §4.1.11 says reject. jku/x5u/jwk are ignored on
	// purpose: keys come only from the configured JWKS.
	if _, ok := h.ExtraHeaders["crit"]; ok {
		return nil, exp, reject("crit header not supported")
	}
	if err := v.checkTyp(h); err != nil {
		return nil, exp, err
	}
	key, err := v.lookupKey(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, exp, err
	}
	payload, err := jws.Verify(&key)
	if err != nil {
		return nil, exp, reject("signature invalid (kid %q, alg %s)", h.KeyID, h.Algorithm)
	}

	var c jwtClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, exp, reject("malformed claims: %s", rejectReason(err))
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, exp, reject("malformed claims: %s", rejectReason(err))
	}
	if c.Expiration == 0 {
		return nil, exp, reject("exp missing")
	}
	exp, err = v.checkClaims(&c, now, true)
	if err != nil {
		return nil, exp, err
	}
	return tokenInfo(&c, claims, exp, v.scopeClaims), exp, nil
}

// checkTyp accepts at+jwt (RFC 9068) and, unless RequireATJWT, plain JWT,
// no typ, or Okta's application/okta-internal-at+jwt: Keycloak, Entra,
// Zitadel and Hydra issue typ JWT access tokens and Okta its own media type.
// ID tokens are kept out by the audience check instead.
func (v *Verifier) checkTyp(h jose.Header) error {
	raw, present := h.ExtraHeaders[jose.HeaderType]
	if !present {
		if v.requireATJWT {
			return reject("typ missing, at+jwt required")
		}
		return nil
	}
	typ, ok := raw.(string)
	if !ok {
		return reject("typ is not a string")
	}
	if strings.EqualFold(typ, "at+jwt") || strings.EqualFold(typ, "application/at+jwt") {
		return nil
	}
	if !v.requireATJWT && (strings.EqualFold(typ, "JWT") || strings.EqualFold(typ, "application/okta-internal-at+jwt")) {
		return nil
	}
	if v.requireATJWT {
		return reject("typ %q not allowed, at+jwt required", typ)
	}
	return reject("typ %q not allowed", typ)
}

// checkClaims applies the time, issuer and audience rules shared by
// JWTs and introspection responses, with a fixed leeway. requireIss is
// false for introspection, where iss is optional (RFC 7662 §2.2).
func (v *Verifier) checkClaims(c *jwtClaims, now time.Time, requireIss bool) (time.Time, error) {
	exp := c.Expiration.AsTime()
	if !exp.IsZero() && !now.Before(exp.Add(middleware.Leeway)) {
		return exp, reject("expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbf := c.NotBefore.AsTime(); !nbf.IsZero() && nbf.After(now.Add(middleware.Leeway)) {
		return exp, reject("not valid before %s (nbf)", nbf.UTC().Format(time.RFC3339))
	}
	if iat := c.IssuedAt.AsTime(); !iat.IsZero() && iat.After(now.Add(middleware.Leeway)) {
		return exp, reject("issued in the future (iat %s)", iat.UTC().Format(time.RFC3339))
	}
	if (requireIss || c.Issuer != "") && !issuerMatch(c.Issuer, v.issuer) {
		return exp, reject("issuer mismatch: got %q", c.Issuer)
	}
	if len(v.audiences) > 0 {
		if len(c.Audience) == 0 {
			return exp, reject("audience mismatch: token has no aud")
		}
		if !audienceMatch(c.Audience, v.audiences) {
			return exp, reject("audience mismatch: got %q", []string(c.Audience))
		}
	}
	if c.Subject == "" && c.ClientID == "" && c.AuthorizedParty == "" {
		// Sessions, rate limits and the audit log are keyed by who the
		// token names; a token naming nobody cannot be held to account.
		return exp, reject("token names no subject: sub, client_id and azp are all missing")
	}
	return exp, nil
}

// issuerMatch compares exactly except for one trailing slash, the
// only difference DESIGN.md item 6 tolerates.
func issuerMatch(got, want string) bool {
	return got != "" && strings.TrimSuffix(got, "/") == strings.TrimSuffix(want, "/")
}

func audienceMatch(got, want []string) bool {
	for _, g := range got {
		for _, w := range want {
			if g == w {
				return true
			}
		}
	}
	return false
}

// tokenInfo builds what go-sdk hands to tools as req.Extra.TokenInfo.
func tokenInfo(c *jwtClaims, claims map[string]any, exp time.Time, scopeClaims []string) *auth.TokenInfo {
	clientID := c.ClientID
	if clientID == "" {
		clientID = c.AuthorizedParty
	}
	// UserID binds stateful sessions to their owner in go-sdk; a token
	// without sub (some client-credentials tokens) falls back to its
	// client, so such sessions are still bound to someone.
	userID := c.Subject
	if userID == "" && clientID != "" {
		userID = "client:" + clientID
	}
	return &auth.TokenInfo{
		UserID:     userID,
		Scopes:     scopesOf(claims, scopeClaims...),
		Expiration: exp,
		Extra: map[string]any{
			"username":  firstString(claims, "preferred_username", "username", "email", "client_id"),
			"client_id": clientID,
			"claims":    claims,
		},
	}
}

// defaultScopeClaims are where RFC 9068 (scope) and Entra/Okta (scp) put
// scopes.
func defaultScopeClaims() []string { return []string{"scope", "scp"} }

// scopesOf merges the scopes found in the named claims (default scope
// and scp). A value may be a space-separated string or an array of strings
// (Entra uses scp, Okta an array); for a claim other than scope and scp it
// may also be an object whose keys are the scopes (Zitadel's project roles).
// scope and scp are strings or arrays by definition, so an object there is
// malformed and grants nothing. A name that is not a top-level claim but
// contains dots is followed as a path into nested objects
// ("realm_access.roles"). Non-strings are ignored rather than failing the
// token; duplicates are dropped; the order is the claims' order.
func scopesOf(claims map[string]any, names ...string) []string {
	if len(names) == 0 {
		names = defaultScopeClaims()
	}
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		for _, f := range strings.Fields(s) {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	for _, name := range names {
		switch val := claimAt(claims, name).(type) {
		case string:
			add(val)
		case []any:
			for _, e := range val {
				if s, ok := e.(string); ok {
					add(s)
				}
			}
		case map[string]any:
			if name == "scope" || name == "scp" {
				continue
			}
			keys := make([]string, 0, len(val))
			for k := range val {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				add(k)
			}
		}
	}
	return out
}

// claimAt returns claims[name], or, when there is no such claim and
// name has dots, the value at that path through nested objects.
func claimAt(claims map[string]any, name string) any {
	if v, ok := claims[name]; ok || !strings.Contains(name, ".") {
		return v
	}
	var cur any = claims
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func firstString(claims map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := claims[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// debugLog implements AUTH_DEBUG: the outcome and the claims, never
// the token.
func (v *Verifier) debugLog(ctx context.Context, kind string, err error, claims map[string]any, trusted bool) {
	attrs := []slog.Attr{slog.String("kind", kind), slog.Bool("trusted", trusted), slog.Any("claims", claims)}
	if err != nil {
		v.log.LogAttrs(ctx, slog.LevelInfo, "auth debug: token rejected", append(attrs, slog.String("reason", err.Error()))...)
		return
	}
	v.log.LogAttrs(ctx, slog.LevelInfo, "auth debug: token accepted", attrs...)
}
