package devidp

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// opServer is op's LegacyServer with the methods overridden where this
// server's policy differs: PKCE S256 is mandatory, resource indicators
// bind the audience, and tokens are minted here (see the package doc).
// Everything else (request parsing, client authentication, redirect URI
// rules, JWKS, userinfo, introspection, revocation) is op's.
type opServer struct {
	*op.LegacyServer
	idp *IdP
}

// metadata is op's discovery document plus what op has no field for.
type metadata struct {
	*oidc.DiscoveryConfiguration
	// RFC 9207 §3.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// Discovery serves both the OpenID and the RFC 8414 document, advertising
// only what this server really does.
func (s *opServer) Discovery(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	resp, err := s.LegacyServer.Discovery(ctx, r)
	if err != nil {
		return nil, err
	}
	d, ok := resp.Data.(*oidc.DiscoveryConfiguration)
	if !ok {
		return resp, nil
	}
	d.RegistrationEndpoint = s.idp.issuer + pathRegister
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost}
	d.IDTokenSigningAlgValuesSupported = []string{"RS256"}
	out := op.NewResponse(metadata{DiscoveryConfiguration: d, AuthorizationResponseIssParameterSupported: true})
	out.Header.Set("Cache-Control", "no-store")
	return out, nil
}

// VerifyAuthRequest refuses unknown clients and response modes other than
// query (iss is added to the query), and fills in the client's scopes when
// none are requested (RFC 6749 §3.3 lets the server pick a default; op
// would refuse).
func (s *opServer) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	// An unknown client_id is the requester's mistake, not the server's: op
	// answers it with 500 server_error. RFC 6749 §4.1.2.1: tell the user
	// agent and do not redirect, so 400 invalid_request, redirect disabled.
	if id := r.Data.ClientID; id != "" {
		if _, err := s.idp.store.client(id); err != nil {
			return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client_id; register the client first (%s)", s.idp.issuer+pathRegister)
		}
	}
	cr, err := s.LegacyServer.VerifyAuthRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	// A native client's loopback redirect may take any port at
	// authorization time (RFC 8252 §7.3), so registration alone cannot keep
	// it out of this server.
	if u, err := url.Parse(cr.Data.RedirectURI); err == nil && (u.Scheme == "http" || u.Scheme == "https") && s.idp.intoAS(u) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri points into the authorization server itself")
	}
	if m := cr.Data.ResponseMode; m != "" && m != oidc.ResponseModeQuery {
		return nil, oidc.ErrInvalidRequest().WithDescription("response_mode %q is not supported; use query", m)
	}
	if len(cr.Data.Scopes) == 0 {
		if c, ok := cr.Client.(*client); ok {
			cr.Data.Scopes = slices.Clone(c.scopes)
		}
	}
	return cr, nil
}

// Authorize runs after op has validated client, redirect URI, scopes,
// response type and the PKCE method. Its errors are redirected to the
// client. The request is stored and the browser sent to the consent page.
func (s *opServer) Authorize(_ context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	d := r.Data
	if d.RequestParam != "" {
		return nil, oidc.ErrRequestNotSupported()
	}
	if d.CodeChallenge == "" || d.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if len(d.Scopes) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("none of the requested scopes is known to this server (known: %s)", strings.Join(s.idp.knownScopes(), " "))
	}
	aud, err := s.idp.audience(r.Form["resource"], nil)
	if err != nil {
		return nil, err
	}
	a := &authRequest{
		id: rand32(), clientID: r.Client.GetID(), redirectURI: d.RedirectURI,
		scopes: d.Scopes, audience: aud, state: d.State, nonce: d.Nonce,
		challenge: &oidc.CodeChallenge{Challenge: d.CodeChallenge, Method: d.CodeChallengeMethod},
		created:   s.idp.store.now(),
	}
	s.idp.store.saveRequest(a)
	return op.NewRedirect(r.Client.LoginURL(a.id)), nil
}

// CodeExchange redeems an authorization code. PKCE is always checked (op
// skips it for confidential clients that omit code_verifier). Which
// failures spend the code is decided in grants.go.
func (s *opServer) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	var aud []string
	a, err := s.idp.store.redeem(r.Data.Code, r.Client.GetID(), func(a *authRequest) error {
		if err := op.AuthorizeCodeChallenge(r.Data.CodeVerifier, a.challenge); err != nil {
			return err
		}
		if r.Data.RedirectURI != a.redirectURI {
			return oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
		}
		var err error
		aud, err = s.idp.audience(r.Form["resource"], a.audience)
		return err
	})
	switch {
	case errors.Is(err, errReplay):
		s.idp.log.Warn("dev IdP: authorization code replayed; its tokens are revoked", "client_id", r.Client.GetID())
		return nil, oidc.ErrInvalidGrant().WithDescription("code %s", errReplay)
	case errors.Is(err, errOtherClient):
		return nil, oidc.ErrInvalidGrant().WithDescription("code was issued to another client")
	case errors.Is(err, errNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid or expired code")
	case err != nil:
		return nil, err
	}
	g := &grant{clientID: a.clientID, subject: a.subject, scopes: a.scopes, audience: aud, authTime: a.authTime, family: a.family}
	full := &grant{clientID: a.clientID, subject: a.subject, scopes: a.scopes, audience: a.audience, authTime: a.authTime, family: a.family}
	return s.idp.issue(ctx, r.Client, g, full, a.nonce)
}

// RefreshToken rotates the refresh token; scope and resource may narrow
// the new access token, never widen it.
func (s *opServer) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	var scopes, aud []string
	full, err := s.idp.store.useRefresh(r.Data.RefreshToken, r.Client.GetID(), func(full *grant) error {
		scopes = full.scopes
		if len(r.Data.Scopes) > 0 {
			if !subset(r.Data.Scopes, full.scopes) {
				return oidc.ErrInvalidScope().WithDescription("a refresh cannot add scopes")
			}
			scopes = r.Data.Scopes
		}
		var err error
		aud, err = s.idp.audience(r.Form["resource"], full.audience)
		return err
	})
	switch {
	case errors.Is(err, errReplay):
		s.idp.log.Warn("dev IdP: rotated refresh token replayed; its family is revoked", "client_id", r.Client.GetID())
		return nil, oidc.ErrInvalidGrant().WithDescription("refresh token %s", errReplay)
	case errors.Is(err, errNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid, expired or revoked refresh token")
	case err != nil:
		return nil, err
	}
	g := &grant{clientID: full.clientID, subject: full.subject, scopes: scopes, audience: aud, authTime: full.authTime, family: full.family}
	return s.idp.issue(ctx, r.Client, g, full, "")
}

// ClientCredentialsExchange issues a token to the client itself. Without a
// scope parameter it gets every scope it is allowed.
func (s *opServer) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	c, ok := r.Client.(*client)
	if !ok {
		return nil, oidc.ErrInvalidClient()
	}
	scopes := []string(r.Data.Scope)
	if len(scopes) == 0 {
		scopes = slices.DeleteFunc(slices.Clone(c.scopes), isOIDCScope)
	}
	// No user approves this grant, so the registered scopes are the ceiling
	// (an operator's choice at registration), unlike the code grant.
	for _, sc := range scopes {
		if !c.registered(sc) || isOIDCScope(sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not registered for this client (client_credentials grants only registered scopes)", sc)
		}
	}
	aud, err := s.idp.audience(r.Form["resource"], nil)
	if err != nil {
		return nil, err
	}
	return s.idp.issue(ctx, c, &grant{clientID: c.id, subject: c.id, scopes: scopes, audience: aud, authTime: s.idp.store.now()}, nil, "")
}

func isOIDCScope(s string) bool { return s == oidc.ScopeOpenID || s == oidc.ScopeOfflineAccess }

// audience resolves the RFC 8707 resource parameters of a request. With
// bound set (a code or refresh token), they may only narrow it; none means
// bound, or the default resource.
func (p *IdP) audience(requested, bound []string) ([]string, error) {
	if len(requested) == 0 {
		if bound != nil {
			return bound, nil
		}
		return p.resources[:1], nil
	}
	allowed := p.resources
	if bound != nil {
		allowed = bound
	}
	var out []string
	for _, r := range requested {
		if !slices.Contains(allowed, r) {
			return nil, oidc.ErrInvalidTarget().WithDescription("resource %q is not served by this authorization server (known: %s)", r, strings.Join(allowed, " "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}
