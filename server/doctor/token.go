package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware"
)

// checkToken explains one access token: the verifier serve uses gives the
// verdict; the claims, read without trusting them, say why. The token
// itself is never printed, only its fingerprint.
func (r *run) checkToken(ctx context.Context) Check {
	tok := strings.TrimSpace(r.o.Token)
	c := Check{Name: "token", Notes: []string{"token: " + Fingerprint(tok)}}
	if r.ver == nil {
		c.Status, c.Detail = StatusFail, "cannot verify: the verifier did not start (see above)"
		return c
	}
	c.Notes = append(c.Notes, r.explainClaims(tok)...)
	info, err := r.ver.Verify(ctx, tok, nil)
	if err != nil {
		c.Status = StatusFail
		c.Detail = "refused: " + strings.TrimPrefix(err.Error(), "invalid token: ")
		c.Fix = "compare the claims above with OIDC_ISSUER and OIDC_EXPECTED_AUDIENCE; a client must request the token with resource=" + r.cfg.MCPURL()
		return c
	}
	sub, _ := info.Extra["sub"].(string)
	if sub == "" {
		sub = info.UserID
	}
	c.Status = StatusPass
	c.Detail = fmt.Sprintf("accepted: subject %q, scopes [%s], expires %s", sub, strings.Join(info.Scopes, " "), info.Expiration.UTC().Format(time.RFC3339))
	var can, cannot []string
	for _, s := range r.table.Specs() {
		if s.Scope == "" || slices.Contains(info.Scopes, s.Scope) {
			can = append(can, s.Name)
		} else {
			cannot = append(cannot, s.Name+" (needs "+s.Scope+")")
		}
	}
	c.Notes = append(c.Notes, "can call: "+strings.Join(can, ", "))
	if len(cannot) > 0 {
		c.Notes = append(c.Notes, "cannot call: "+strings.Join(cannot, ", "))
	}
	if r.cfg.PolicyFile != "" {
		c.Notes = append(c.Notes, "POLICY_FILE may narrow this further per caller and argument")
	}
	return c
}

// explainClaims reads a JWT's claims without verifying them, to compare
// them with the configuration. Opaque tokens have nothing to read.
func (r *run) explainClaims(tok string) []string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		if r.cfg.ClientID == "" {
			return []string{"shape: not a JWT, and introspection is not configured (OIDC_CLIENT_ID), so it cannot be accepted"}
		}
		return []string{"shape: not a JWT; it is checked by introspection"}
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var cl map[string]any
	if err != nil || json.Unmarshal(raw, &cl) != nil {
		return []string{"shape: three parts, but the payload is not base64url JSON"}
	}
	var notes []string
	iss, _ := cl["iss"].(string)
	switch {
	case iss == "":
		notes = append(notes, "iss: missing")
	case strings.TrimSuffix(iss, "/") == strings.TrimSuffix(r.cfg.Issuer, "/"):
		notes = append(notes, fmt.Sprintf("iss %q matches OIDC_ISSUER", iss))
	default:
		notes = append(notes, fmt.Sprintf("iss %q ≠ OIDC_ISSUER %q", iss, r.cfg.Issuer))
	}
	var aud []string
	switch a := cl["aud"].(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	switch {
	case len(r.cfg.Audiences) == 0:
		notes = append(notes, fmt.Sprintf("aud %q (not checked: OIDC_EXPECTED_AUDIENCE is empty)", aud))
	case slices.ContainsFunc(aud, func(s string) bool { return slices.Contains(r.cfg.Audiences, s) }):
		notes = append(notes, fmt.Sprintf("aud %q includes an expected audience", aud))
	default:
		notes = append(notes, fmt.Sprintf("aud %q has none of OIDC_EXPECTED_AUDIENCE %q: the token was issued for another resource", aud, r.cfg.Audiences))
	}
	now := r.o.Now()
	if exp, ok := cl["exp"].(float64); ok {
		t := time.Unix(int64(exp), 0)
		switch d := t.Sub(now); {
		case d > 0:
			notes = append(notes, fmt.Sprintf("exp %s: valid for %s more", t.UTC().Format(time.RFC3339), d.Round(time.Second)))
		case -d <= middleware.Leeway:
			notes = append(notes, fmt.Sprintf("exp %s: expired %s ago, still inside the %s clock-skew leeway", t.UTC().Format(time.RFC3339), (-d).Round(time.Second), middleware.Leeway))
		default:
			notes = append(notes, fmt.Sprintf("exp %s: expired %s ago (leeway %s)", t.UTC().Format(time.RFC3339), (-d).Round(time.Second), middleware.Leeway))
		}
	} else {
		notes = append(notes, "exp: missing")
	}
	if nbf, ok := cl["nbf"].(float64); ok && time.Unix(int64(nbf), 0).After(now.Add(middleware.Leeway)) {
		notes = append(notes, fmt.Sprintf("nbf %s: not valid yet (check this host's clock)", time.Unix(int64(nbf), 0).UTC().Format(time.RFC3339)))
	}
	// The scopes as the configured claims carry them (OIDC_SCOPE_CLAIMS);
	// the verdict says which of them the verifier took.
	for _, name := range r.cfg.ScopeClaims {
		if v, ok := cl[name]; ok {
			b, _ := json.Marshal(v)
			if len(b) > 300 {
				b = append(b[:300], "…"...)
			}
			notes = append(notes, fmt.Sprintf("%s: %s", name, b))
		}
	}
	for _, k := range []string{"client_id", "azp"} {
		if s, ok := cl[k].(string); ok && s != "" {
			notes = append(notes, fmt.Sprintf("client %q", s))
			break
		}
	}
	return notes
}
