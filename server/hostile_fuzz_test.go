package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/httplog/v2"

	"github.com/pensados/sentinelx-mcp/server"
)

// FuzzPRMPath fuzzes RESOURCE_URL and the path a client asks for. Whatever
// RESOURCE_URL the configuration accepts, the metadata served at the RFC
// 9728 location derived from the MCP URL names exactly that URL (§3.3),
// the root document names the base URL, every other 200 under the
// well-known prefix names one of the two, and nothing panics. Seeds run in
// every `go test`; fuzz with
// `go test ./server -run '^$' -fuzz FuzzPRMPath -fuzztime 30s`.
func FuzzPRMPath(f *testing.F) {
	for _, s := range [][2]string{
		{"https://sentinelx.example.com", "/.well-known/oauth-protected-resource/mcp"},
		{"https://sentinelx.example.com/mcp", "/.well-known/oauth-protected-resource"},
		{"https://sentinelx.example.com/", "/.well-known/oauth-protected-resource/"},
		{"https://h.example/tenant/a", "/.well-known/oauth-protected-resource/tenant/a/mcp"},
		{"https://h.example/a%2Fb", "/.well-known/oauth-protected-resource/a%2Fb/mcp"},
		{"https://h.example/p%20q", "/.well-known/oauth-protected-resource/p q/mcp"},
		{"https://h.example/%C3%BC", "/.well-known/oauth-protected-resource/ü/mcp"},
		{"https://h.example:8443/x/mcp", "/.well-known/oauth-protected-resource/x/mcp"},
		{"https://h.example/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/.well-known/oauth-protected-resource/mcp"},
		{"https://h.example/%2e%2e/mcp", "/.well-known/oauth-protected-resource/../mcp"},
		{"https://h.example/mcp?x=1", "/.well-known/oauth-protected-resource/mcp"},
		{"https://h.example/mcp#frag", "/.well-known/oauth-protected-resource/mcp"},
		{"http://127.0.0.1:8099", "/.well-known/oauth-protected-resource//mcp"},
		{"https://[::1]:8443", "/.well-known/oauth-protected-resource/mcp/"},
		{"https://h.example/*", "/.well-known/oauth-protected-resource/*/mcp"},
		{"https://h.example/{id}", "/.well-known/oauth-protected-resource/{id}/mcp"},
		{"https://user@h.example", "/.well-known/oauth-protected-resource"},
		{"not a url", "/"},
	} {
		f.Add(s[0], s[1])
	}
	logger := httplog.NewLogger("fuzz", httplog.Options{Writer: io.Discard, LogLevel: slog.LevelError})
	f.Fuzz(func(t *testing.T, resource, reqPath string) {
		env := map[string]string{
			"SENTINELX_TOKEN": "t", "OIDC_ISSUER": "http://127.0.0.1:1", "RESOURCE_URL": resource,
		}
		cfg, err := server.LoadConfig(func(k string) string { return env[k] })
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var h http.Handler
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("server.New panics for RESOURCE_URL %q instead of a ConfigError: %v", resource, p)
				}
			}()
			h, err = server.New(ctx, cfg, server.Deps{Logger: logger, Version: "fuzz"})
		}()
		if err != nil {
			return
		}
		// get sends p as the request-target, parsed as net/http does.
		get := func(p string) (int, string) {
			u, err := url.ParseRequestURI(p)
			if err != nil {
				return 0, ""
			}
			req := (&http.Request{Method: http.MethodGet, URL: u, RequestURI: p, Host: "h.example", Header: http.Header{}}).WithContext(ctx)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				return rec.Code, ""
			}
			var doc struct {
				Resource string `json:"resource"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatalf("GET %q: 200 with a body that is not JSON: %q", p, rec.Body.String())
			}
			return rec.Code, doc.Resource
		}
		mcpURL, baseURL := cfg.MCPURL(), cfg.BaseURL()
		u, err := url.Parse(mcpURL)
		if err != nil {
			t.Fatalf("accepted RESOURCE_URL %q gives an MCP URL %q that does not parse", resource, mcpURL)
		}
		// RFC 9728 §3.1: insert the well-known segment between host and path.
		derived := "/.well-known/oauth-protected-resource" + strings.TrimSuffix(u.EscapedPath(), "/")
		if code, got := get(derived); code != http.StatusOK || got != mcpURL {
			t.Fatalf("RESOURCE_URL %q: GET %q = %d resource %q, want 200 %q", resource, derived, code, got, mcpURL)
		}
		if code, got := get("/.well-known/oauth-protected-resource"); code != http.StatusOK || got != baseURL {
			t.Fatalf("RESOURCE_URL %q: root PRM = %d resource %q, want 200 %q", resource, code, got, baseURL)
		}
		if code, got := get(reqPath); code == http.StatusOK && strings.HasPrefix(reqPath, "/.well-known/oauth-protected-resource") &&
			got != mcpURL && got != baseURL {
			t.Fatalf("RESOURCE_URL %q: GET %q served resource %q, neither %q nor %q", resource, reqPath, got, mcpURL, baseURL)
		}
	})
}
