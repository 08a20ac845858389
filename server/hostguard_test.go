package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostGuardInternalPages: the pages that name internal addresses (the
// status page, /readyz with the agent and IdP URLs, /metrics) refuse a
// foreign Host like /mcp does, so a DNS-rebinding page cannot read them;
// /healthz (version and uptime only) answers any Host for orchestrator
// probes, and the RFC 9728 metadata (public by design) too.
func TestHostGuardInternalPages(t *testing.T) {
	const public = "https://sentinelx.example.com"
	ts := startServerWith(t, setup{env: map[string]string{
		"RESOURCE_URL":           public,
		"OIDC_EXPECTED_AUDIENCE": public + "/mcp",
		"MCP_ALLOWED_HOSTS":      "mcp.internal.example",
	}})
	internal := []string{ts.Cfg.UpstreamURL, ts.IdP.Issuer}
	tests := []struct {
		path, host string
		want       int // 0: anything but 403
	}{
		{"/", "evil.example", 403},
		{"/readyz", "evil.example", 403},
		{"/metrics", "evil.example", 403},
		{"/", "sentinelx.example.com.evil.example", 403},
		{"/readyz", "localhost.evil.example", 403},
		{"/", "sentinelx.example.com", 200},
		{"/readyz", "sentinelx.example.com:443", 200},
		{"/metrics", "mcp.internal.example", 200},
		{"/", "", 200}, // the listener's loopback address
		{"/readyz", "localhost", 200},
		{"/metrics", "[::1]:9", 200},
		{"/healthz", "evil.example", 200},
		{"/healthz", "10.1.2.3:8098", 200}, // an orchestrator probing the pod address
		{"/.well-known/oauth-protected-resource/mcp", "evil.example", 200},
	}
	for _, tt := range tests {
		t.Run(tt.path+" Host "+tt.host, func(t *testing.T) {
			req := ts.request(http.MethodGet, tt.path, nil)
			if tt.host != "" {
				req.Host = tt.host
			}
			r := ts.do(req)
			if r.StatusCode != tt.want {
				t.Fatalf("status %d, want %d; body %.200s", r.StatusCode, tt.want, r.body)
			}
			if tt.want != http.StatusForbidden {
				return
			}
			for _, s := range internal {
				if strings.Contains(string(r.body), s) {
					t.Errorf("403 body names %s: %s", s, r.body)
				}
			}
		})
	}
}
