package oidcverify

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// The key set is ours rather than zitadel's rp.NewRemoteKeySet because that
// one refetches on every unknown kid (no rate limit, so forged kids turn us
// into an amplifier against the IdP), ties the shared fetch to the first
// caller's context, and exposes no state for /readyz. Key selection still
// goes through zitadel's oidc.FindMatchingKey, and HTTP through its
// httphelper.HttpRequest (status check, 1 MiB body cap).

var (
	errRateLimited = errors.New("JWKS refetch rate-limited")
	errNoKeys      = errors.New("no keys loaded")
)

// load resolves the endpoints (discovery) if still needed and fetches
// the key set. A load triggered by Verify (byVerify) happens at most once
// per refetchEvery; the background loop is not limited that way. On
// failure the last good key set stays in use.
func (v *Verifier) load(ctx context.Context, byVerify bool) error {
	select {
	case v.fetchSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-v.fetchSem }()
	if byVerify {
		v.mu.Lock()
		now := v.now()
		if !v.lastRefetch.IsZero() && now.Sub(v.lastRefetch) < refetchEvery {
			v.mu.Unlock()
			return errRateLimited
		}
		v.lastRefetch = now
		v.mu.Unlock()
		// The fetch serves every request waiting on this kid, so one
		// client hanging up must not abort it; hc's timeout bounds it.
		ctx = context.WithoutCancel(ctx)
	}
	err := v.discover(ctx)
	v.mu.RLock()
	uri := v.jwksURI
	v.mu.RUnlock()
	if uri == "" {
		if err == nil {
			err = errors.New("no JWKS URI")
		}
		v.fail("discovery", err)
		return err
	}
	if err != nil {
		// JWKS is known (configured); only introspection discovery failed.
		v.log.Warn("oidc discovery failed; introspection endpoint unknown", "err", rejectReason(err))
	}
	keys, err := v.fetchKeys(ctx, uri)
	if v.onKeysFetch != nil {
		v.onKeysFetch(err)
	}
	if err != nil {
		err = fmt.Errorf("jwks %s: %w", uri, err)
		v.fail("jwks", err)
		return err
	}
	v.install(keys)
	return nil
}

func (v *Verifier) fail(what string, err error) {
	v.mu.Lock()
	v.lastErr = rejectReason(err)
	v.mu.Unlock()
	v.log.Warn("token verification keys unavailable", "step", what, "err", rejectReason(err))
}

// install swaps in a freshly fetched key set and flushes the verified
// token cache if the keys differ, so no cached token outlives its key.
func (v *Verifier) install(keys []jose.JSONWebKey) {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		tp, _ := k.Thumbprint(crypto.SHA256)
		ids = append(ids, k.KeyID+"/"+k.Algorithm+"/"+k.Use+"/"+base64.RawURLEncoding.EncodeToString(tp))
	}
	slices.Sort(ids)
	id := strings.Join(ids, ",")

	v.mu.Lock()
	changed := id != v.keysID
	v.keys = keys
	v.keysID = id
	v.keysFetchedAt = v.now()
	v.lastErr = ""
	v.mu.Unlock()
	if changed {
		v.jwtCache.flush()
		kids := make([]string, 0, len(keys))
		for _, k := range keys {
			kids = append(kids, k.KeyID)
		}
		v.log.Info("token verification keys loaded", "keys", len(keys), "kids", kids)
	}
}

// discover fills in the JWKS and introspection endpoints from the
// issuer's metadata: OpenID Connect discovery first, then RFC 8414.
// zitadel's client.Discover is not used because it compares the issuer
// byte for byte (we tolerate a trailing slash) and knows only the OIDC path.
func (v *Verifier) discover(ctx context.Context) error {
	v.mu.RLock()
	done := v.discovered
	v.mu.RUnlock()
	if done {
		return nil
	}
	oidcURL := strings.TrimSuffix(v.issuer, "/") + oidc.DiscoveryEndpoint
	doc, err := v.fetchMetadata(ctx, oidcURL)
	if err != nil {
		var err2 error
		doc, err2 = v.fetchMetadata(ctx, rfc8414URL(v.issuer))
		if err2 != nil {
			return fmt.Errorf("discovery: %w; %w", err, err2)
		}
	}
	if doc.JwksURI != "" {
		if err := checkURL("jwks_uri", doc.JwksURI, false); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.jwksURI == "" {
		v.jwksURI = doc.JwksURI
	}
	if v.introURL == "" && v.wantsIntro && checkURL("introspection_endpoint", doc.IntrospectionEndpoint, false) == nil {
		v.introURL = doc.IntrospectionEndpoint
	}
	if v.jwksURI == "" {
		return errors.New("discovery: metadata has no jwks_uri")
	}
	v.discovered = true
	if v.wantsIntro && v.introURL == "" {
		v.log.Warn("client credentials set but the issuer metadata has no introspection_endpoint; opaque tokens will be rejected")
	}
	return nil
}

// rfc8414URL inserts the well-known segment between host and path
// (RFC 8414 §3.1), unlike OIDC discovery which appends it.
func rfc8414URL(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return issuer
	}
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

func (v *Verifier) fetchMetadata(ctx context.Context, u string) (*oidc.DiscoveryConfiguration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	doc := new(oidc.DiscoveryConfiguration)
	if err := httphelper.HttpRequest(v.hc, req, doc); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	// RFC 8414 §3.3 / OIDC Discovery §4.3: the document must name the
	// issuer we expect, or it may describe another tenant.
	if !issuerMatch(doc.Issuer, v.issuer) {
		return nil, fmt.Errorf("%s: issuer mismatch: got %q", u, doc.Issuer)
	}
	return doc, nil
}

// fetchKeys downloads and parses the key set once; the parsed public
// keys are then reused for every token.
func (v *Verifier) fetchKeys(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := httphelper.HttpRequest(v.hc, req, &raw); err != nil {
		return nil, err
	}
	keys := make([]jose.JSONWebKey, 0, len(raw.Keys))
	for i, r := range raw.Keys {
		var k jose.JSONWebKey
		// Skip what we cannot use (unknown kty, symmetric or encryption
		// keys) instead of failing the whole set: IdPs publish those too.
		if err := k.UnmarshalJSON(r); err != nil {
			v.log.Debug("jwks: skipping key", "index", i, "err", err)
			continue
		}
		if k.Use != "" && k.Use != oidc.KeyUseSignature {
			continue
		}
		if _, symmetric := k.Key.([]byte); symmetric || !k.Valid() {
			continue
		}
		if !k.IsPublic() {
			k = k.Public()
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable signing keys among %d", len(raw.Keys))
	}
	return keys, nil
}

// lookupKey picks the key for a token's kid and alg. An unknown kid (or an
// empty set) earns one rate-limited refetch, which is how rotation is picked
// up between periodic refreshes.
func (v *Verifier) lookupKey(ctx context.Context, kid, alg string) (jose.JSONWebKey, error) {
	k, err := v.findKey(kid, alg)
	if err == nil || !(errors.Is(err, oidc.ErrKeyNone) || errors.Is(err, errNoKeys)) {
		return k, v.keyErr(k, kid, alg, err, nil)
	}
	ferr := v.load(ctx, true)
	k, err = v.findKey(kid, alg)
	return k, v.keyErr(k, kid, alg, err, ferr)
}

func (v *Verifier) findKey(kid, alg string) (jose.JSONWebKey, error) {
	v.mu.RLock()
	keys := v.keys // replaced, never mutated: safe to use unlocked
	v.mu.RUnlock()
	if len(keys) == 0 {
		return jose.JSONWebKey{}, errNoKeys
	}
	return oidc.FindMatchingKey(kid, oidc.KeyUseSignature, alg, keys...)
}

// keyErr turns a lookup result into a rejection with a reason an
// operator can act on; fetchErr is the outcome of the refetch, if any.
func (v *Verifier) keyErr(k jose.JSONWebKey, kid, alg string, err, fetchErr error) error {
	if err == nil {
		// A key published for one algorithm must not verify another
		// (e.g. a PS256 key used for RS256).
		if k.Algorithm != "" && k.Algorithm != alg {
			return reject("alg %s does not match key %q (alg %s)", alg, k.KeyID, k.Algorithm)
		}
		return nil
	}
	why := ""
	if fetchErr != nil {
		why = " (refetch: " + rejectReason(fetchErr) + ")"
	}
	switch {
	case errors.Is(err, errNoKeys):
		v.mu.RLock()
		last := v.lastErr
		v.mu.RUnlock()
		if last == "" && fetchErr != nil {
			last = rejectReason(fetchErr)
		}
		return reject("jwks unavailable: %s", last)
	case errors.Is(err, oidc.ErrKeyMultiple):
		return reject("token has no kid and several keys fit alg %s", alg)
	case kid != "":
		return reject("unknown kid %q for alg %s%s", kid, alg, why)
	default:
		return reject("no key for alg %s in JWKS%s", alg, why)
	}
}
