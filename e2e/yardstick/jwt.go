package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth"
)

// jwtVerifier fetches the issuer's JWKS once and returns a verifier for
// auth.RequireBearerToken that checks, on every call, an RS256 signature
// against it, then iss, aud and exp (one minute of leeway).
func jwtVerifier(issuer, audience string) (auth.TokenVerifier, error) {
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := getJSON(strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &meta); err != nil {
		return nil, err
	}
	if meta.Issuer != issuer {
		return nil, fmt.Errorf("discovery: issuer %q, want %q", meta.Issuer, issuer)
	}
	var keys jose.JSONWebKeySet
	if err := getJSON(meta.JWKSURI, &keys); err != nil {
		return nil, err
	}
	algs := []jose.SignatureAlgorithm{jose.RS256}
	return func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		tok, err := jwt.ParseSigned(token, algs)
		if err != nil || len(tok.Headers) != 1 {
			return nil, auth.ErrInvalidToken
		}
		found := keys.Key(tok.Headers[0].KeyID)
		if len(found) == 0 {
			return nil, auth.ErrInvalidToken
		}
		var std jwt.Claims
		var extra struct {
			Scope string `json:"scope"`
		}
		if err := tok.Claims(found[0].Key, &std, &extra); err != nil {
			return nil, auth.ErrInvalidToken
		}
		if err := std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: time.Now()}, time.Minute); err != nil {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: strings.Fields(extra.Scope), Expiration: std.Expiry.Time(), UserID: std.Subject}, nil
	}, nil
}

func getJSON(url string, v any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
