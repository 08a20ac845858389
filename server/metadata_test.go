package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProtectedResourceMetadata: both RFC 9728 documents, public, cacheable
// and readable from any origin (DESIGN "Routes").
func TestProtectedResourceMetadata(t *testing.T) {
	ts := startServer(t, nil)
	tests := []struct {
		name         string
		path         string
		wantResource string
		golden       string
	}{
		{name: "path form", path: "/.well-known/oauth-protected-resource/mcp", wantResource: ts.MCPURL, golden: "prm_path.json"},
		{name: "root form", path: "/.well-known/oauth-protected-resource", wantResource: ts.URL, golden: "prm_root.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ts.request(http.MethodGet, tt.path, nil)
			req.Header.Set("Origin", "https://some-client.example")
			r := ts.do(req)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status = %d; body %s", r.StatusCode, r.body)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
				t.Errorf("Cache-Control = %q, want max-age", cc)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
			}
			var doc struct {
				Resource               string   `json:"resource"`
				AuthorizationServers   []string `json:"authorization_servers"`
				ScopesSupported        []string `json:"scopes_supported"`
				BearerMethodsSupported []string `json:"bearer_methods_supported"`
			}
			if err := json.Unmarshal(r.body, &doc); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if doc.Resource != tt.wantResource {
				t.Errorf("resource = %q, want %q", doc.Resource, tt.wantResource)
			}
			if len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != ts.IdP.Issuer {
				t.Errorf("authorization_servers = %q, want [%q]", doc.AuthorizationServers, ts.IdP.Issuer)
			}
			if !contains(doc.ScopesSupported, "sentinelx:state") || contains(doc.ScopesSupported, "") {
				t.Errorf("scopes_supported = %q", doc.ScopesSupported)
			}
			if len(doc.BearerMethodsSupported) != 1 || doc.BearerMethodsSupported[0] != "header" {
				t.Errorf("bearer_methods_supported = %q", doc.BearerMethodsSupported)
			}
			checkGolden(t, tt.golden, []byte(ts.normalize(string(r.body))))

			pre := ts.request(http.MethodOptions, tt.path, nil)
			pre.Header.Set("Origin", "https://some-client.example")
			pre.Header.Set("Access-Control-Request-Method", "GET")
			if p := ts.do(pre); p.StatusCode != http.StatusNoContent || p.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("OPTIONS = %d, ACAO %q; want 204 and *", p.StatusCode, p.Header.Get("Access-Control-Allow-Origin"))
			}
		})
	}
}

// TestPRMIssuerVerbatim: authorization_servers carries OIDC_ISSUER exactly,
// trailing slash and path included (the old bridge broke Authentik).
func TestPRMIssuerVerbatim(t *testing.T) {
	ts := startServerWith(t, setup{idp: idptestIssuerPath("/application/o/sentinelx/")})
	r := ts.do(ts.request(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", nil))
	var doc struct {
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ts.IdP.Issuer, "/") || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != ts.IdP.Issuer {
		t.Errorf("authorization_servers = %q, want [%q]", doc.AuthorizationServers, ts.IdP.Issuer)
	}
	// Tokens from that issuer, with or without the slash, are accepted.
	for _, iss := range []string{ts.IdP.Issuer, strings.TrimSuffix(ts.IdP.Issuer, "/")} {
		if r := ts.post(callState, rpcOpts{token: ts.mint(map[string]any{"iss": iss})}); r.StatusCode != http.StatusOK {
			t.Errorf("iss %q: status %d", iss, r.StatusCode)
		}
	}
	ts.assertNoSecretsLogged()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestHealth: /healthz is liveness only and never calls the agent.
func TestHealth(t *testing.T) {
	ts := startServer(t, nil)
	before := ts.AgentCalls()
	r := ts.do(ts.request(http.MethodGet, "/healthz", nil))
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("/healthz = %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	var h map[string]any
	if err := json.Unmarshal(r.body, &h); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	for _, k := range []string{"status", "version", "uptime"} {
		if _, ok := h[k]; !ok {
			t.Errorf("/healthz lacks %q: %s", k, r.body)
		}
	}
	if h["status"] != "ok" || h["version"] != "test" {
		t.Errorf("/healthz = %s", r.body)
	}
	if ts.AgentCalls() != before {
		t.Errorf("/healthz called the agent")
	}
}

// TestReady: /readyz names the failing dependency.
func TestReady(t *testing.T) {
	t.Run("all up", func(t *testing.T) {
		ts := startServer(t, nil)
		code, rb := ts.readyz()
		if code != http.StatusOK || !rb.Checks["upstream"].OK || !rb.Checks["token_keys"].OK {
			t.Errorf("/readyz = %d %+v", code, rb)
		}
	})
	t.Run("agent down", func(t *testing.T) {
		ts := startServerWith(t, setup{agentDown: true})
		code, rb := ts.readyz()
		if code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d, want 503", code)
		}
		if up := rb.Checks["upstream"]; up.OK || up.Error == "" {
			t.Errorf("upstream check = %+v, want failed with an error", up)
		}
		if !rb.Checks["token_keys"].OK {
			t.Errorf("token_keys check failed: %+v", rb.Checks["token_keys"])
		}
		if strings.Contains(rb.Checks["upstream"].Error, agentToken) {
			t.Errorf("readyz shows the agent token")
		}
		// A tool call says what happened instead of hanging.
		r := ts.post(callState, rpcOpts{token: ts.mint(nil)})
		if r.StatusCode != http.StatusOK || !strings.Contains(string(r.body), `"isError":true`) {
			t.Errorf("sentinel_state with the agent down: %d %s", r.StatusCode, r.body)
		}
		ts.assertNoSecretsLogged()
	})
	t.Run("IdP down at start", func(t *testing.T) {
		ts := startServerWith(t, setup{idpDown: true, noWait: true})
		code, rb := ts.readyz()
		if code != http.StatusServiceUnavailable {
			t.Fatalf("/readyz = %d, want 503", code)
		}
		if k := rb.Checks["token_keys"]; k.OK || k.Error == "" {
			t.Errorf("token_keys check = %+v, want failed with an error", k)
		}
		if !rb.Checks["upstream"].OK {
			t.Errorf("upstream check failed: %+v", rb.Checks["upstream"])
		}
		// Fail closed while no keys are loaded.
		if r := ts.post(callState, rpcOpts{token: ts.mint(nil)}); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("call with no keys loaded: %d, want 401", r.StatusCode)
		}
		// And recover when the IdP comes back (the retry backoff starts at 1 s).
		ts.IdP.SetDown(false)
		deadline := time.Now().Add(8 * time.Second)
		for {
			if code, _ := ts.readyz(); code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz not 200 after the IdP came back")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r := ts.post(callState, rpcOpts{token: ts.mint(nil)}); r.StatusCode != http.StatusOK {
			t.Errorf("call after the IdP came back: %d", r.StatusCode)
		}
		ts.assertNoSecretsLogged()
	})
}
