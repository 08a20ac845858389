package oidcverify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
)

// TestVerifierIdPShapes feeds the verifier access tokens shaped like those
// of the IdPs people actually run (issuer form, typ header, aud, where the
// scopes live, which name claim is present), minted by idptest, with the
// configuration docs/idps.md tells operators to use. Run with -v for the
// summary table.
func TestVerifierIdPShapes(t *testing.T) {
	const mcpURL = "https://sentinelx.example.com/mcp"
	type shape struct {
		name       string
		issuerPath string // idptest.WithIssuerPath
		// configIssuer rewrites the OIDC_ISSUER the operator types, from
		// the IdP's real issuer (default: verbatim).
		configIssuer func(iss string) string
		audiences    []string // OIDC_EXPECTED_AUDIENCE
		scopeClaims  []string // OIDC_SCOPE_CLAIMS (nil = default scope,scp)
		typ          string   // JWT typ header
		claims       map[string]any
		opaque       bool // the token is opaque and introspected; claims are the introspection answer
		strict       bool // OIDC_REQUIRE_AT_JWT

		wantErr      string // substring of the rejection; "" = accepted
		wantScopes   []string
		wantUser     string // TokenInfo.UserID
		wantUsername string // Extra["username"]
	}
	shapes := []shape{
		{
			name:       "Keycloak, default aud account (no audience mapper)",
			issuerPath: "/realms/sentinelx", typ: "JWT",
			audiences: []string{mcpURL},
			claims: map[string]any{
				"aud": "account", "azp": "mcp-client", "typ": "Bearer",
				"scope":              "openid profile email sentinelx:state",
				"preferred_username": "alice", "email": "alice@example.com",
				"realm_access": map[string]any{"roles": []any{"offline_access", "sentinelx:exec"}},
			},
			wantErr: `audience mismatch: got ["account"]`,
		},
		{
			name:       "Keycloak, audience mapper adds the MCP URL",
			issuerPath: "/realms/sentinelx", typ: "JWT",
			audiences: []string{mcpURL},
			claims: map[string]any{
				"aud": []any{mcpURL, "account"}, "azp": "mcp-client", "typ": "Bearer",
				"scope":              "openid profile email sentinelx:state sentinelx:exec",
				"preferred_username": "alice", "email": "alice@example.com",
			},
			wantScopes: []string{"openid", "profile", "email", "sentinelx:state", "sentinelx:exec"},
			wantUser:   idptest.DefaultSubject, wantUsername: "alice",
		},
		{
			name:       "Keycloak, realm roles as scopes (OIDC_SCOPE_CLAIMS=scope,realm_access.roles)",
			issuerPath: "/realms/sentinelx", typ: "JWT",
			audiences: []string{mcpURL}, scopeClaims: []string{"scope", "realm_access.roles"},
			claims: map[string]any{
				"aud": []any{mcpURL, "account"}, "azp": "mcp-client",
				"scope":              "openid profile",
				"preferred_username": "alice",
				"realm_access":       map[string]any{"roles": []any{"default-roles-sentinelx", "sentinelx:exec"}},
			},
			wantScopes: []string{"openid", "profile", "default-roles-sentinelx", "sentinelx:exec"},
			wantUser:   idptest.DefaultSubject, wantUsername: "alice",
		},
		{
			name:       "Keycloak, client-credentials token without sub",
			issuerPath: "/realms/sentinelx", typ: "JWT",
			audiences: []string{mcpURL},
			claims: map[string]any{
				"sub": nil, "aud": []any{mcpURL}, "azp": "ci-bot", "client_id": "ci-bot",
				"scope": "sentinelx:state", "preferred_username": "service-account-ci-bot",
			},
			wantScopes: []string{"sentinelx:state"},
			wantUser:   "client:ci-bot", wantUsername: "service-account-ci-bot",
		},
		{
			name:       "Authentik, issuer with trailing slash, configured with it",
			issuerPath: "/application/o/sentinelx/", typ: "JWT",
			audiences: []string{"sentinelx-client-id"},
			claims: map[string]any{
				"aud": "sentinelx-client-id", "azp": "sentinelx-client-id",
				"scope":              "openid email profile sentinelx:state",
				"preferred_username": "akadmin", "email": "admin@example.com", "nickname": "akadmin",
			},
			wantScopes: []string{"openid", "email", "profile", "sentinelx:state"},
			wantUser:   idptest.DefaultSubject, wantUsername: "akadmin",
		},
		{
			name:       "Authentik, issuer with trailing slash, configured without it",
			issuerPath: "/application/o/sentinelx/", typ: "JWT",
			configIssuer: func(iss string) string { return strings.TrimSuffix(iss, "/") },
			audiences:    []string{"sentinelx-client-id"},
			claims: map[string]any{
				"aud": "sentinelx-client-id", "scope": "openid sentinelx:state", "preferred_username": "akadmin",
			},
			wantScopes: []string{"openid", "sentinelx:state"},
			wantUser:   idptest.DefaultSubject, wantUsername: "akadmin",
		},
		{
			name:       "Auth0, aud array, scope only (RBAC off)",
			issuerPath: "/", typ: "JWT",
			audiences: []string{mcpURL},
			claims: map[string]any{
				"sub": "auth0|65f0c0ffee", "aud": []any{mcpURL, "https://tenant.eu.auth0.com/userinfo"},
				"azp": "AbCdEf123", "scope": "openid profile email sentinelx:state",
			},
			wantScopes: []string{"openid", "profile", "email", "sentinelx:state"},
			wantUser:   "auth0|65f0c0ffee", wantUsername: "",
		},
		{
			name:       "Auth0, RBAC permissions claim (OIDC_SCOPE_CLAIMS=scope,permissions)",
			issuerPath: "/", typ: "JWT",
			audiences: []string{mcpURL}, scopeClaims: []string{"scope", "permissions"},
			claims: map[string]any{
				"sub": "auth0|65f0c0ffee", "aud": []any{mcpURL, "https://tenant.eu.auth0.com/userinfo"},
				"azp": "AbCdEf123", "scope": "openid profile",
				"permissions": []any{"sentinelx:state", "sentinelx:exec"},
			},
			wantScopes: []string{"openid", "profile", "sentinelx:state", "sentinelx:exec"},
			wantUser:   "auth0|65f0c0ffee",
		},
		{
			name:       "Auth0, permissions claim ignored by default",
			issuerPath: "/", typ: "JWT",
			audiences: []string{mcpURL},
			claims: map[string]any{
				"sub": "auth0|65f0c0ffee", "aud": []any{mcpURL}, "scope": "openid",
				"permissions": []any{"sentinelx:exec"},
			},
			wantScopes: []string{"openid"},
			wantUser:   "auth0|65f0c0ffee",
		},
		{
			name:       "Auth0, client-credentials (gty, sub <client>@clients)",
			issuerPath: "/", typ: "JWT",
			audiences: []string{mcpURL}, scopeClaims: []string{"scope", "permissions"},
			claims: map[string]any{
				"sub": "AbCdEf123@clients", "aud": mcpURL, "azp": "AbCdEf123", "gty": "client-credentials",
				"scope": "sentinelx:state", "permissions": []any{"sentinelx:state"},
			},
			wantScopes: []string{"sentinelx:state"},
			wantUser:   "AbCdEf123@clients",
		},
		{
			name:       "Entra v2, delegated (scp string)",
			issuerPath: "/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", typ: "JWT",
			audiences: []string{"api://sentinelx-mcp", "0b4ae1a2-5e2f-4b4c-9b1e-8d7a1c2b3d4e"},
			claims: map[string]any{
				"aud": "0b4ae1a2-5e2f-4b4c-9b1e-8d7a1c2b3d4e", "ver": "2.0", "azp": "c0ffee00-1111-2222-3333-444455556666",
				"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid": "9f1c-oid", "scope": nil,
				"scp": "sentinelx:state sentinelx:exec", "preferred_username": "alice@contoso.com",
			},
			wantScopes: []string{"sentinelx:state", "sentinelx:exec"},
			wantUser:   idptest.DefaultSubject, wantUsername: "alice@contoso.com",
		},
		{
			name:       "Entra v2, app-only token: roles ignored by default",
			issuerPath: "/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", typ: "JWT",
			audiences: []string{"0b4ae1a2-5e2f-4b4c-9b1e-8d7a1c2b3d4e"},
			claims: map[string]any{
				"scope": nil, "aud": "0b4ae1a2-5e2f-4b4c-9b1e-8d7a1c2b3d4e", "ver": "2.0",
				"azp": "c0ffee00-1111-2222-3333-444455556666", "idtyp": "app",
				"roles": []any{"sentinelx:state"},
			},
			wantScopes: nil,
			wantUser:   idptest.DefaultSubject,
		},
		{
			name:       "Entra v2, app-only token (OIDC_SCOPE_CLAIMS=scp,roles)",
			issuerPath: "/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", typ: "JWT",
			audiences: []string{"0b4ae1a2-5e2f-4b4c-9b1e-8d7a1c2b3d4e"}, scopeClaims: []string{"scp", "roles"},
			claims: map[string]any{
				"scope": nil, "aud": "0b4ae1a2-5e2f-4b4c-9b1e-8d7a1c2b3d4e", "ver": "2.0",
				"azp": "c0ffee00-1111-2222-3333-444455556666", "idtyp": "app",
				"roles": []any{"sentinelx:state", "sentinelx:exec"},
			},
			wantScopes: []string{"sentinelx:state", "sentinelx:exec"},
			wantUser:   idptest.DefaultSubject,
		},
		{
			name:       "Entra v1 token (sts.windows.net issuer) against a v2 OIDC_ISSUER",
			issuerPath: "/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", typ: "JWT",
			audiences: []string{"api://sentinelx-mcp"},
			claims: map[string]any{
				"iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/", "ver": "1.0",
				"aud": "api://sentinelx-mcp", "scp": "sentinelx:state",
			},
			wantErr: "issuer mismatch",
		},
		{
			name: "Zitadel, JWT with project roles object (OIDC_SCOPE_CLAIMS=scope,urn:zitadel:iam:org:project:roles)",
			typ:  "JWT", audiences: []string{"270561811284066307"},
			scopeClaims: []string{"scope", "urn:zitadel:iam:org:project:roles"},
			claims: map[string]any{
				"aud": []any{"270561811284066307", "270561922373124099@sentinelx"}, "client_id": "270561922373124099@sentinelx",
				"scope": nil,
				"urn:zitadel:iam:org:project:roles": map[string]any{
					"sentinelx:state": map[string]any{"270561700000000001": "acme.zitadel.cloud"},
					"sentinelx:exec":  map[string]any{"270561700000000001": "acme.zitadel.cloud"},
				},
				"preferred_username": "alice@acme",
			},
			wantScopes: []string{"sentinelx:exec", "sentinelx:state"},
			wantUser:   idptest.DefaultSubject, wantUsername: "alice@acme",
		},
		{
			name: "Zitadel, roles object is not read from scope",
			typ:  "JWT", audiences: []string{"270561811284066307"},
			claims: map[string]any{
				"aud":   []any{"270561811284066307"},
				"scope": map[string]any{"sentinelx:exec": map[string]any{}},
			},
			wantScopes: nil,
			wantUser:   idptest.DefaultSubject,
		},
		{
			name:      "Zitadel, opaque token through introspection",
			audiences: []string{"270561811284066307"}, opaque: true,
			scopeClaims: []string{"scope", "urn:zitadel:iam:org:project:roles"},
			claims: map[string]any{
				"active": true, "token_type": "Bearer", "client_id": "270561922373124099@sentinelx",
				"aud":      []any{"270561811284066307", "270561922373124099@sentinelx"},
				"scope":    "openid profile",
				"username": "alice@acme",
				"urn:zitadel:iam:org:project:roles": map[string]any{
					"sentinelx:state": map[string]any{"270561700000000001": "acme.zitadel.cloud"},
				},
			},
			wantScopes: []string{"openid", "profile", "sentinelx:state"},
			wantUser:   idptest.DefaultSubject, wantUsername: "alice@acme",
		},
		{
			name:      "Zitadel, opaque token, introspection says inactive",
			audiences: []string{"270561811284066307"}, opaque: true,
			claims:  map[string]any{"active": false},
			wantErr: "inactive token",
		},
		{
			name:       "Okta custom AS, scp array, default audience",
			issuerPath: "/oauth2/default", typ: "",
			audiences: []string{"api://default"},
			claims: map[string]any{
				"sub": "alice@example.com", "aud": "api://default", "cid": "0oa1b2c3d4", "uid": "00u1b2c3d4", "ver": 1,
				"scope": nil, "scp": []any{"openid", "sentinelx:state"},
			},
			wantScopes: []string{"openid", "sentinelx:state"},
			wantUser:   "alice@example.com",
		},
		{
			name:       "Okta, typ application/okta-internal-at+jwt",
			issuerPath: "/oauth2/default", typ: "application/okta-internal-at+jwt",
			audiences: []string{mcpURL},
			claims: map[string]any{
				"sub": "alice@example.com", "aud": mcpURL, "cid": "0oa1b2c3d4",
				"scope": nil, "scp": []any{"sentinelx:state"},
			},
			wantScopes: []string{"sentinelx:state"},
			wantUser:   "alice@example.com",
		},
		{
			name:       "Okta, typ application/okta-internal-at+jwt with OIDC_REQUIRE_AT_JWT=true",
			issuerPath: "/oauth2/default", typ: "application/okta-internal-at+jwt", strict: true,
			audiences: []string{mcpURL},
			claims:    map[string]any{"aud": mcpURL, "scope": nil, "scp": []any{"sentinelx:state"}},
			wantErr:   "at+jwt required",
		},
	}

	type row struct{ name, result string }
	var rows []row
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			idp := idptest.New(t, idptest.WithIssuerPath(s.issuerPath))
			issuer := idp.Issuer
			if s.configIssuer != nil {
				issuer = s.configIssuer(issuer)
			}
			cfg := Config{Issuer: issuer, Audiences: s.audiences, ScopeClaims: s.scopeClaims, RequireATJWT: s.strict}
			var token string
			if s.opaque {
				// Zitadel answers introspection with the token's claims;
				// the introspecting API authenticates with basic auth.
				answer := map[string]any{"iss": idp.Issuer, "sub": idptest.DefaultSubject, "exp": time.Now().Add(time.Hour).Unix()}
				for k, v := range s.claims {
					answer[k] = v
				}
				intro := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if id, secret, ok := r.BasicAuth(); !ok || id != "sentinelx-api" || secret != "s3cret" {
						http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					_ = json.NewEncoder(w).Encode(answer)
				}))
				t.Cleanup(intro.Close)
				cfg.IntrospectionURL, cfg.ClientID, cfg.ClientSecret = intro.URL, "sentinelx-api", "s3cret"
				token = "Bp3xq0Ojq5Vd2kO3xT0zqkZb9Jc4JHfOSr2TeCMH9V4bHeDwQ2yFNYZ" // Zitadel opaque tokens are base64url
			} else {
				token = idp.Mint(s.claims, idptest.WithTyp(s.typ))
			}
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !s.opaque {
				if err := v.load(context.Background(), false); err != nil {
					t.Fatalf("discovery from %s: %v", issuer, err)
				}
			}
			info, err := v.Verify(context.Background(), token, nil)
			result := "accepted"
			switch {
			case s.wantErr != "":
				result = "rejected"
				if err == nil || !strings.Contains(err.Error(), s.wantErr) {
					t.Errorf("want rejection containing %q, got %v", s.wantErr, err)
					result = "**UNEXPECTED: accepted**"
				}
			case err != nil:
				t.Errorf("rejected: %v", err)
				result = "**UNEXPECTED: rejected**"
			default:
				if !slices.Equal(info.Scopes, s.wantScopes) {
					t.Errorf("scopes = %q, want %q", info.Scopes, s.wantScopes)
				}
				if info.UserID != s.wantUser {
					t.Errorf("UserID = %q, want %q", info.UserID, s.wantUser)
				}
				if got, _ := info.Extra["username"].(string); got != s.wantUsername {
					t.Errorf("username = %q, want %q", got, s.wantUsername)
				}
				result = fmt.Sprintf("accepted, scopes %q", info.Scopes)
			}
			if t.Failed() {
				result = "FAIL: " + result
			}
			rows = append(rows, row{s.name, result})
		})
	}
	var b strings.Builder
	b.WriteString("\n| IdP shape | result |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r.name, r.result)
	}
	t.Log(b.String())
}

// TestVerifyScopesClaims covers OIDC_SCOPE_CLAIMS value shapes directly.
func TestVerifyScopesClaims(t *testing.T) {
	claims := map[string]any{
		"scope":       "a b",
		"scp":         []any{"b", "c", 7},
		"permissions": []any{"p1", "p2"},
		"roles":       "r1 r2",
		"obj":         map[string]any{"k2": true, "k1": map[string]any{}},
		"nested":      map[string]any{"inner": map[string]any{"roles": []any{"n1"}}},
		"with.dot":    "d1",
		"num":         5,
	}
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{nil, []string{"a", "b", "c"}},
		{[]string{"scope", "scp"}, []string{"a", "b", "c"}},
		{[]string{"permissions"}, []string{"p1", "p2"}},
		{[]string{"roles", "scope"}, []string{"r1", "r2", "a", "b"}},
		{[]string{"obj"}, []string{"k1", "k2"}},
		{[]string{"nested.inner.roles"}, []string{"n1"}},
		{[]string{"with.dot"}, []string{"d1"}},
		{[]string{"nested.missing.roles", "num", "absent", "scope.x"}, nil},
	} {
		if got := scopesOf(claims, tc.names...); !slices.Equal(got, tc.want) {
			t.Errorf("scopesOf(%q) = %q, want %q", tc.names, got, tc.want)
		}
	}
	if got := scopesOf(map[string]any{"scope": map[string]any{"x": 1}, "scp": map[string]any{"y": 1}}); got != nil {
		t.Errorf("objects in scope/scp grant %q, want nothing", got)
	}
}
