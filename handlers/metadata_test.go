package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

func testPRM(resource string) *oauthex.ProtectedResourceMetadata {
	return &oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   []string{"https://idp.example.com/realms/sentinelx/"},
		ScopesSupported:        []string{"sentinelx:state", "sentinelx:exec"},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "SentinelX MCP",
		ResourceDocumentation:  "https://sentinelx.example.com/",
	}
}

// TestResourceMetadataJSONGolden pins the RFC 9728 JSON for non-browser
// clients: MCP clients and curl must see exactly what they saw before.
func TestResourceMetadataJSONGolden(t *testing.T) {
	h := ResourceMetadata(testPRM("https://sentinelx.example.com/mcp"), "https://sentinelx.example.com/mcp")
	for _, accept := range jsonAccepts {
		t.Run("accept="+accept, func(t *testing.T) {
			rec := get(t, h, "/.well-known/oauth-protected-resource/mcp", accept)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin = %q", got)
			}
			checkGolden(t, "prm.json", rec.Body.Bytes())
		})
	}
}

func TestResourceMetadataHTMLGolden(t *testing.T) {
	const mcpURL = "https://sentinelx.example.com/mcp"
	tests := []struct {
		name, resource, path, golden string
		want                         []string
	}{
		{"path form", mcpURL, "/.well-known/oauth-protected-resource/mcp", "prm_path.html",
			[]string{`id="mcp-url">https://sentinelx.example.com/mcp<`, "<strong>path form</strong>",
				"curl https://sentinelx.example.com/.well-known/oauth-protected-resource/mcp", "RFC 8707 resource parameter"}},
		{"root form", "https://sentinelx.example.com", "/.well-known/oauth-protected-resource", "prm_root.html",
			[]string{`id="mcp-url">https://sentinelx.example.com/mcp<`, "<strong>root form</strong>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, ResourceMetadata(testPRM(tt.resource), mcpURL), tt.path, browserAccept)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			h := rec.Header()
			if h.Get("Vary") != "Accept" || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Cache-Control") != "public, max-age=3600" {
				t.Errorf("headers %v", h)
			}
			checkGolden(t, tt.golden, rec.Body.Bytes())
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("page lacks %q", w)
				}
			}
			// Every field of the document is explained.
			for _, f := range metadataFields([]byte(mustJSON(t, testPRM(tt.resource)))) {
				if f.Meaning == "" {
					t.Errorf("field %s has no explanation", f.Name)
				}
			}
		})
	}
}

func TestResourceMetadataHEADAndOptions(t *testing.T) {
	h := ResourceMetadata(testPRM("https://x.example/mcp"), "https://x.example/mcp")
	for _, accept := range []string{"*/*", browserAccept} {
		req := httptest.NewRequest(http.MethodOptions, "/", nil)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			t.Errorf("OPTIONS (Accept %s) = %d", accept, rec.Code)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := encodeJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
