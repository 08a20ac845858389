package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/pensados/sentinelx-mcp/handlers"
)

// BenchmarkResourceMetadata is GET of the RFC 9728 document as a client
// fetches it after a 401 (JSON; the body is encoded once at startup).
func BenchmarkResourceMetadata(b *testing.B) {
	md := &oauthex.ProtectedResourceMetadata{
		Resource:               "https://sentinelx.example.com/mcp",
		AuthorizationServers:   []string{"https://idp.example.com/realms/main"},
		ScopesSupported:        []string{"sentinelx:state", "sentinelx:exec", "sentinelx:service", "sentinelx:restart", "sentinelx:edit", "sentinelx:upload", "sentinelx:script", "sentinelx:capabilities"},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "SentinelX MCP",
		ResourceDocumentation:  "https://sentinelx.example.com/",
	}
	h := handlers.ResourceMetadata(md, md.Resource)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/.well-known/oauth-protected-resource/mcp", nil)
		req.Header.Set("Accept", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
