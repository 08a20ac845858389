package devidp

import (
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// client is a registered OAuth client. It is immutable once stored, so it
// can be handed to op without copying.
type client struct {
	id         string
	secret     string // empty for public clients (token_endpoint_auth_method none)
	name       string
	appType    op.ApplicationType
	authMethod oidc.AuthMethod
	redirects  []string
	grants     []oidc.GrantType
	scopes     []string // registered: the default request, and the client_credentials ceiling
	known      []string // every scope this server grants (tool scopes, openid, offline_access)
	issuedAt   time.Time
	loginURL   string // the consent page, without the id parameter
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirects }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return c.appType }
func (c *client) AuthMethod() oidc.AuthMethod         { return c.authMethod }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType { return c.grants }
func (c *client) LoginURL(id string) string {
	return c.loginURL + "?id=" + url.QueryEscape(id)
}
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *client) IDTokenLifetime() time.Duration      { return time.Hour }

// DevMode lets op accept the http loopback redirect URIs of web clients.
// Registration already confined every redirect URI to loopback (see
// checkRedirect), and op still requires an exact match for web clients.
func (c *client) DevMode() bool { return true }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed is what op asks for each scope of an authorization
// request: any scope this server knows, whatever the client registered.
// RFC 7591 §2 makes the registered scope a list of what the client can use,
// not a ceiling, and MCP step-up depends on it: a client registers with the
// scope of the first 401 and then re-authorizes for what a 403 names. The
// user approves each request (here: the dev consent page), so the grant
// stays with the user. client_credentials, where no user is asked, stays
// within the registered scopes (ClientCredentialsExchange).
func (c *client) IsScopeAllowed(scope string) bool { return slices.Contains(c.known, scope) }

// registered reports whether scope was registered for this client.
func (c *client) registered(scope string) bool         { return slices.Contains(c.scopes, scope) }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }

func (c *client) allows(g oidc.GrantType) bool { return slices.Contains(c.grants, g) }
