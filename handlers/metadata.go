package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/pensados/sentinelx-mcp/web"
)

// ResourceMetadata serves an RFC 9728 protected resource metadata document.
// The JSON is encoded once: it never changes while the process runs. It is
// public (clients fetch it before they have a token), so any origin may
// read it, and caches may keep it for an hour. A browser gets the same
// document as a page explaining each field, with mcpURL ready to copy.
func ResourceMetadata(md *oauthex.ProtectedResourceMetadata, mcpURL string) http.Handler {
	body, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		panic("handlers: protected resource metadata does not encode: " + err.Error())
	}
	body = append(body, '\n')
	fields := metadataFields(body)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, MCP-Protocol-Version")
		switch r.Method {
		case http.MethodOptions:
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		case http.MethodGet, http.MethodHead:
		default:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Add("Vary", "Accept")
		h.Set("Cache-Control", "public, max-age=3600")
		if prefersHTML(r.Header) {
			web.Render(w, http.StatusOK, "metadata.html", metadataView{
				page:     page{Title: "Resource metadata", Current: "metadata"},
				PathForm: md.Resource == mcpURL,
				MCPURL:   mcpURL,
				URL:      documentURL(md.Resource, r.URL.Path),
				Fields:   fields,
				JSON:     string(body),
			})
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	})
}

// documentURL is where this document lives publicly: the resource's
// origin (RESOURCE_URL's, not the request's Host) and the request path.
func documentURL(resource, path string) string {
	u, err := url.Parse(resource)
	if err != nil {
		return path
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: path}).String()
}
