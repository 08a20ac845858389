package devidp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// issue answers a token request: an at+jwt access token for g, a rotated
// refresh token carrying full when full is set and the client registered
// the refresh_token grant, and an ID token when openid was granted.
func (p *IdP) issue(_ context.Context, c op.Client, g, full *grant, nonce string) (*op.Response, error) {
	at, _, err := p.mintAccess(g, p.ttl)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken: at,
		TokenType:   oidc.BearerToken,
		ExpiresIn:   uint64(p.ttl.Seconds()),
		Scope:       g.scopes,
	}
	if full != nil && slices.Contains(c.GrantTypes(), oidc.GrantTypeRefreshToken) {
		resp.RefreshToken = p.store.newRefresh(full)
	}
	if slices.Contains(g.scopes, oidc.ScopeOpenID) {
		if resp.IDToken, err = p.mintID(g, nonce, at); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	p.log.Info("dev IdP: token issued", "client_id", g.clientID, "sub", g.subject,
		"scope", strings.Join(g.scopes, " "), "aud", strings.Join(g.audience, " "), "refresh_token", resp.RefreshToken != "")
	out := op.NewResponse(resp)
	out.Header.Set("Cache-Control", "no-store")
	out.Header.Set("Pragma", "no-cache")
	return out, nil
}

// mintAccess signs an RFC 9068 access token: typ at+jwt, aud = the
// resource(s), scope as a space-separated string.
func (p *IdP) mintAccess(g *grant, ttl time.Duration) (string, time.Time, error) {
	now := p.store.now()
	exp := now.Add(ttl)
	jti := rand32()
	claims := map[string]any{
		"iss":       p.issuer,
		"sub":       g.subject,
		"aud":       audClaim(g.audience),
		"exp":       exp.Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"jti":       jti,
		"client_id": g.clientID,
		"scope":     strings.Join(g.scopes, " "),
	}
	if !g.authTime.IsZero() {
		claims["auth_time"] = g.authTime.Unix()
	}
	if g.subject == devSubject {
		claims["preferred_username"] = devUsername
	}
	tok, err := p.sign("at+jwt", claims)
	if err != nil {
		return "", time.Time{}, err
	}
	rec := *g
	rec.expires = exp
	p.store.recordToken(jti, &rec)
	return tok, exp, nil
}

// mintID signs an OpenID Connect ID token. Its audience is the client, not
// the resource, so the bridge's audience check refuses it as a bearer token.
func (p *IdP) mintID(g *grant, nonce, accessToken string) (string, error) {
	now := p.store.now()
	atHash, err := oidc.ClaimHash(accessToken, jose.RS256)
	if err != nil {
		return "", err
	}
	claims := map[string]any{
		"iss": p.issuer, "sub": g.subject, "aud": g.clientID, "azp": g.clientID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "at_hash": atHash,
	}
	if !g.authTime.IsZero() {
		claims["auth_time"] = g.authTime.Unix()
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if g.subject == devSubject {
		claims["preferred_username"] = devUsername
	}
	return p.sign("JWT", claims)
}

func (p *IdP) sign(typ string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.store.key.key, KeyID: p.store.key.id}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// audClaim is a string for one audience (what most verifiers expect) and an
// array otherwise.
func audClaim(aud []string) any {
	if len(aud) == 1 {
		return aud[0]
	}
	return aud
}

func rand32() string { return rand.Text() + rand.Text()[:6] }

func equalSecret(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
