package devidp

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/pensados/sentinelx-mcp/middleware"
)

// maxRegistrationBytes bounds a registration request body.
const maxRegistrationBytes = 64 << 10

// registration is the RFC 7591 client metadata this server understands,
// plus the fields of its response (§3.2.1). Unknown metadata is ignored.
type registration struct {
	RedirectURIs            []string `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	// ApplicationType is from OpenID Connect Dynamic Client Registration
	// §2: "web" (the default) or "native".
	ApplicationType string `json:"application_type,omitempty"`

	ClientID              string `json:"client_id,omitempty"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
}

// registrationError is an RFC 7591 §3.2.2 error.
type registrationError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *registrationError) Error() string { return e.Code + ": " + e.Description }

func badMetadata(format string, args ...any) error {
	return &registrationError{"invalid_client_metadata", fmt.Sprintf(format, args...)}
}

func badRedirect(format string, args ...any) error {
	return &registrationError{"invalid_redirect_uri", fmt.Sprintf(format, args...)}
}

// register is the RFC 7591 registration endpoint, open to anyone (as MCP
// clients expect of a server that advertises it). Browser-based clients
// such as the MCP Inspector call it cross-origin.
func (p *IdP) register(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		h.Set("Allow", "POST, OPTIONS")
		writeJSON(w, http.StatusMethodNotAllowed, &registrationError{"invalid_request", "use POST with a JSON body"})
		return
	}
	var req registration
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, badMetadata("the body is not a JSON client metadata object: %v", err))
		return
	}
	c, resp, err := p.newClient(req)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, err)
		return
	}
	p.store.addClient(c)
	p.log.Info("dev IdP: client registered", "client_id", c.id, "client_name", c.name,
		"application_type", req.ApplicationType, "redirect_uris", strings.Join(c.redirects, " "))
	h.Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, resp)
}

// newClient validates req and returns the client and the response, which
// echoes the metadata as registered (defaults filled in).
func (p *IdP) newClient(req registration) (*client, *registration, error) {
	out := req
	if out.ApplicationType == "" {
		out.ApplicationType = "web"
	}
	var app op.ApplicationType
	switch out.ApplicationType {
	case "web":
		app = op.ApplicationTypeWeb
	case "native":
		app = op.ApplicationTypeNative
	default:
		return nil, nil, badMetadata("application_type must be web or native, not %q", req.ApplicationType)
	}
	if out.TokenEndpointAuthMethod == "" {
		out.TokenEndpointAuthMethod = string(oidc.AuthMethodBasic) // RFC 7591 §2
	}
	method := oidc.AuthMethod(out.TokenEndpointAuthMethod)
	switch method {
	case oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost:
	default:
		return nil, nil, badMetadata("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post")
	}
	if len(out.GrantTypes) == 0 {
		out.GrantTypes = []string{string(oidc.GrantTypeCode)}
	}
	var grants []oidc.GrantType
	for _, g := range out.GrantTypes {
		switch gt := oidc.GrantType(g); gt {
		case oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials:
			if !slices.Contains(grants, gt) {
				grants = append(grants, gt)
			}
		default:
			return nil, nil, badMetadata("grant_type %q is not supported (authorization_code, refresh_token, client_credentials)", g)
		}
	}
	usesCode := slices.Contains(grants, oidc.GrantTypeCode)
	if len(out.ResponseTypes) == 0 && usesCode {
		out.ResponseTypes = []string{string(oidc.ResponseTypeCode)}
	}
	for _, rt := range out.ResponseTypes {
		if rt != string(oidc.ResponseTypeCode) || !usesCode {
			return nil, nil, badMetadata("response_types must be [\"code\"] with the authorization_code grant, not %q", rt)
		}
	}
	if method == oidc.AuthMethodNone && slices.Contains(grants, oidc.GrantTypeClientCredentials) {
		return nil, nil, badMetadata("client_credentials needs a client secret; use client_secret_basic or client_secret_post")
	}
	if usesCode && len(out.RedirectURIs) == 0 {
		return nil, nil, badRedirect("redirect_uris is required for the authorization_code grant")
	}
	for _, u := range out.RedirectURIs {
		if err := p.checkRedirect(app, u); err != nil {
			return nil, nil, err
		}
	}
	scopes := p.clientScopes(out.Scope)
	out.Scope = strings.Join(scopes, " ")

	now := time.Now()
	c := &client{
		id: rand32(), name: out.ClientName, appType: app, authMethod: method,
		redirects: slices.Clone(out.RedirectURIs), grants: grants, scopes: scopes, known: p.knownScopes(),
		issuedAt: now, loginURL: p.issuer + pathConsent,
	}
	out.ClientID, out.ClientIDIssuedAt = c.id, now.Unix()
	if method != oidc.AuthMethodNone {
		c.secret = rand.Text() + rand.Text()
		never := int64(0)
		out.ClientSecret, out.ClientSecretExpiresAt = c.secret, &never
	}
	return c, &out, nil
}

// clientScopes keeps the known scopes of a registration's scope value;
// none requested (or none known) means every scope. RFC 7591 §2 lets the
// server replace what it will not grant.
func (p *IdP) clientScopes(requested string) []string {
	all := p.knownScopes()
	var out []string
	for _, s := range strings.Fields(requested) {
		if slices.Contains(all, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

// knownScopes is every scope this server grants: OpenID's and the tools'.
func (p *IdP) knownScopes() []string {
	return append([]string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}, p.scopes...)
}

// checkRedirect applies the redirect URI rules of the application type
// (OpenID Connect DCR §2, RFC 8252) and of dev mode: an http(s) redirect
// must stay on this machine, because every authorization is approved.
//
//   - web: an http or https URL on a loopback host, matched exactly.
//   - native: a loopback http(s) URL (any port at authorization time,
//     RFC 8252 §7.3) or a private-use URI scheme (§7.1).
func (p *IdP) checkRedirect(app op.ApplicationType, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return badRedirect("%q is not an absolute URI", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return badRedirect("%q must not contain a fragment (RFC 6749 §3.1.2)", raw)
	}
	switch u.Scheme {
	case "http", "https":
		if !middleware.IsLoopback(u.Hostname()) {
			return badRedirect("%q: the dev authorization server approves every request, so redirect URIs must be on this machine (localhost, 127.0.0.1 or [::1])", raw)
		}
		if p.intoAS(u) {
			return badRedirect("%q points into the authorization server itself (%s)", raw, p.issuer)
		}
		return nil
	default:
		if app != op.ApplicationTypeNative {
			return badRedirect("%q: a web client's redirect URIs must be http(s) URLs; private-use schemes need application_type native", raw)
		}
		if strings.Contains(u.Scheme, "javascript") || u.Scheme == "data" || u.Scheme == "file" {
			return badRedirect("%q: scheme %q is not a private-use URI scheme", raw, u.Scheme)
		}
		return nil
	}
}

// intoAS reports whether the http(s) URL u would reach this server: a
// loopback host on the issuer's port. Hosts are compared as the machine
// resolves them, not as strings, so localhost, 127.0.0.1 and [::1] (and
// the port a scheme implies) are all caught, whichever the issuer names.
func (p *IdP) intoAS(u *url.URL) bool {
	iss, err := url.Parse(p.issuer)
	if err != nil {
		return true
	}
	return middleware.IsLoopback(u.Hostname()) && effectivePort(u) == effectivePort(iss)
}

// effectivePort is u's port, or the one its scheme implies.
func effectivePort(u *url.URL) string {
	if port := u.Port(); port != "" {
		return port
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
