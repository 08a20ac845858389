package server_test

import (
	"net/http"
	"slices"
	"testing"
)

// TestScopeClaimsConfig runs OIDC_SCOPE_CLAIMS through the whole server:
// where the scopes come from decides between the tool result and the 403
// step-up (docs/idps.md: Auth0 permissions, Zitadel project roles).
func TestScopeClaimsConfig(t *testing.T) {
	const call = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_state","arguments":{}}}`
	zitadelRoles := map[string]any{"sentinelx:state": map[string]any{"270561700000000001": "acme.zitadel.cloud"}}
	for _, tc := range []struct {
		name   string
		env    string // OIDC_SCOPE_CLAIMS; "" = default
		claims map[string]any
		want   int
	}{
		{"default, scope", "", map[string]any{"scope": "sentinelx:state"}, http.StatusOK},
		{"default, Okta scp array", "", map[string]any{"scope": nil, "scp": []any{"sentinelx:state"}}, http.StatusOK},
		{"default ignores Auth0 permissions", "", map[string]any{"scope": "openid", "permissions": []any{"sentinelx:state"}}, http.StatusForbidden},
		{"scope,permissions", "scope,permissions", map[string]any{"scope": "openid", "permissions": []any{"sentinelx:state"}}, http.StatusOK},
		{"Zitadel roles object", "scope, urn:zitadel:iam:org:project:roles", map[string]any{"scope": nil, "urn:zitadel:iam:org:project:roles": zitadelRoles}, http.StatusOK},
		{"Entra app roles need roles", "scp", map[string]any{"scope": nil, "roles": []any{"sentinelx:state"}}, http.StatusForbidden},
		{"Entra app roles", "scp,roles", map[string]any{"scope": nil, "roles": []any{"sentinelx:state"}}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServerWith(t, setup{env: map[string]string{"OIDC_SCOPE_CLAIMS": tc.env}})
			if tc.env == "" && !slices.Equal(ts.Cfg.ScopeClaims, []string{"scope", "scp"}) {
				t.Errorf("default ScopeClaims = %q", ts.Cfg.ScopeClaims)
			}
			r := ts.post(call, rpcOpts{token: ts.mint(tc.claims), version: "2025-11-25"})
			if r.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tc.want, r.body)
			}
			if tc.want == http.StatusForbidden {
				if got := r.Header.Get("WWW-Authenticate"); got == "" {
					t.Error("403 without a challenge")
				}
			}
		})
	}
}
