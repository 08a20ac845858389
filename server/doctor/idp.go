package doctor

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify"
)

// discovery is the part of the IdP's metadata doctor reports on.
type discovery struct {
	URL                   string `json:"-"`
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// maxDoc caps what doctor reads from any endpoint.
const maxDoc = 1 << 20

// checkDiscovery loads the issuer's metadata (OpenID Connect discovery,
// then RFC 8414) and compares its issuer with OIDC_ISSUER byte for byte:
// the verifier tolerates a trailing slash, the tokens' iss does not lie.
// zitadel's client.Discover is not used: it knows only the OIDC path and,
// on a mismatch, does not say which issuer the document names — which is
// the one thing the operator needs to copy.
func (r *run) checkDiscovery(ctx context.Context) Check {
	c := Check{Name: "issuer discovery"}
	// With OIDC_JWKS_URI set and no introspection, serve never fetches
	// the metadata: a failure here is then only a warning.
	needed := r.cfg.JWKSURI == "" || (r.cfg.ClientID != "" && r.cfg.IntrospectionURL == "")
	failed := StatusFail
	if !needed {
		failed = StatusWarn
	}
	iss := strings.TrimSuffix(r.cfg.Issuer, "/")
	u, _ := url.Parse(r.cfg.Issuer)
	rfc8414 := u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + strings.TrimSuffix(u.Path, "/")
	var errs []string
	for _, loc := range []string{iss + "/.well-known/openid-configuration", rfc8414} {
		var d discovery
		if err := r.getJSON(ctx, loc, &d); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		d.URL = loc
		switch {
		case d.Issuer == r.cfg.Issuer:
			r.disc = &d
			c.Status, c.Detail = StatusPass, fmt.Sprintf("%s names issuer %q, as configured", loc, d.Issuer)
		case strings.TrimSuffix(d.Issuer, "/") == iss:
			r.disc = &d
			c.Status, c.Detail = StatusWarn, fmt.Sprintf("%s names issuer %q; OIDC_ISSUER is %q (differs only in the trailing slash, which the bridge tolerates)", loc, d.Issuer, r.cfg.Issuer)
			c.Fix = fmt.Sprintf("set OIDC_ISSUER=%s exactly, as the IdP writes it into tokens", d.Issuer)
		default:
			c.Status, c.Detail = failed, fmt.Sprintf("%s names issuer %q, not OIDC_ISSUER %q: tokens from this IdP would be refused", loc, d.Issuer, r.cfg.Issuer)
			c.Fix = "set OIDC_ISSUER to the issuer your IdP puts in tokens (for Keycloak: https://HOST/realms/REALM)"
		}
		return c
	}
	c.Status = failed
	c.Detail = "no metadata at " + r.cfg.Issuer + ": " + strings.Join(errs, "; ")
	c.Fix = "check OIDC_ISSUER and that this host reaches the IdP (DNS, firewall, proxy)"
	if !needed {
		c.Detail += " (not needed: OIDC_JWKS_URI is set)"
	}
	return c
}

// checkJWKS runs the verifier serve would build, lets it load its keys and
// reports what it holds: the keys are then usable for exactly the tokens
// serve would accept.
func (r *run) checkJWKS(ctx context.Context) Check {
	c := Check{Name: "signing keys (JWKS)"}
	v, err := oidcverify.New(oidcverify.Config{
		Issuer: r.cfg.Issuer, JWKSURI: r.cfg.JWKSURI, Audiences: r.cfg.Audiences,
		IntrospectionURL: r.cfg.IntrospectionURL, ClientID: r.cfg.ClientID, ClientSecret: r.cfg.ClientSecret,
		RequireATJWT: r.cfg.RequireATJWT, ScopeClaims: r.cfg.ScopeClaims, HTTPClient: r.hc, Now: r.o.Now,
	})
	if err != nil {
		c.Status, c.Detail = StatusFail, err.Error()
		return c
	}
	r.ver = v
	// The verifier keeps its background loop until ctx ends; this
	// check's deadline is that end.
	v.Start(ctx)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st := v.Status()
		if st.Ready {
			keys := v.Keys()
			c.Status = StatusPass
			c.Detail = fmt.Sprintf("%d usable signing key(s) from %s", len(keys), st.JWKSURI)
			for _, k := range keys {
				alg := k.Alg
				if alg == "" {
					alg = "(any " + k.Kty + " alg)"
				}
				c.Notes = append(c.Notes, fmt.Sprintf("kid %q alg %s kty %s", k.KID, alg, k.Kty))
			}
			return c
		}
		if st.LastError != "" {
			c.Status, c.Detail = StatusFail, "the verifier could not load keys: "+st.LastError
			c.Fix = "check that the IdP publishes RS/ES/PS/EdDSA signing keys at its jwks_uri (or set OIDC_JWKS_URI)"
			return c
		}
		select {
		case <-ctx.Done():
			c.Status, c.Detail = StatusFail, fmt.Sprintf("no keys within %s (IdP down or slow)", r.timeout)
			c.Fix = "check that this host reaches " + r.cfg.Issuer
			return c
		case <-tick.C:
		}
	}
}

// checkIntrospection asks the introspection endpoint about a random token
// with the configured client credentials: an answer with "active" means
// the credentials work; 401 means they do not.
func (r *run) checkIntrospection(ctx context.Context) Check {
	c := Check{Name: "introspection"}
	if r.cfg.ClientID == "" {
		c.Status, c.Detail = StatusSkip, "OIDC_CLIENT_ID not set: opaque tokens are refused, JWTs only"
		return c
	}
	endpoint := r.cfg.IntrospectionURL
	if endpoint == "" && r.disc != nil {
		endpoint = r.disc.IntrospectionEndpoint
	}
	if endpoint == "" {
		c.Status, c.Detail = StatusFail, "client credentials are set but no introspection endpoint is known (not in OIDC_INTROSPECTION_URL nor in the metadata)"
		c.Fix = "set OIDC_INTROSPECTION_URL"
		return c
	}
	form := url.Values{"token": {"doctor-probe-" + rand.Text()}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		c.Status, c.Detail = StatusFail, err.Error()
		return c
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(r.cfg.ClientID), url.QueryEscape(r.cfg.ClientSecret))
	resp, err := r.hc.Do(req)
	if err != nil {
		c.Status, c.Detail = StatusFail, "POST "+endpoint+": "+shortErr(err)
		c.Fix = "check that this host reaches the IdP"
		return c
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDoc))
	var out struct {
		Active *bool `json:"active"`
	}
	switch {
	case resp.StatusCode == http.StatusOK && json.Unmarshal(body, &out) == nil && out.Active != nil:
		c.Status, c.Detail = StatusPass, fmt.Sprintf("%s answers client %q (secret %s)", endpoint, r.cfg.ClientID, Fingerprint(r.cfg.ClientSecret))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusForbidden:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("%s refused client %q: HTTP %d", endpoint, r.cfg.ClientID, resp.StatusCode)
		c.Fix = "check OIDC_CLIENT_ID/OIDC_CLIENT_SECRET and that the client may introspect (confidential client, client_secret_basic)"
	default:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("%s: HTTP %d, not an RFC 7662 answer", endpoint, resp.StatusCode)
		c.Fix = "check OIDC_INTROSPECTION_URL"
	}
	return c
}

func (r *run) getJSON(ctx context.Context, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %s", u, shortErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDoc)).Decode(into); err != nil {
		return fmt.Errorf("%s: not JSON: %s", u, shortErr(err))
	}
	return nil
}

// shortErr keeps an error to one readable line: Go's url.Error repeats
// the method and URL the caller already names.
func shortErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
