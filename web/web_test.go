package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func serve(t *testing.T, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Static().ServeHTTP(rec, req)
	return rec
}

func TestStatic(t *testing.T) {
	versioned := AssetURL("style.css")
	if !strings.HasPrefix(versioned, "/static/style.css?v=") || len(versioned) <= len("/static/style.css?v=") {
		t.Fatalf("AssetURL = %q", versioned)
	}
	tests := []struct {
		name, method, target string
		hdr                  map[string]string
		code                 int
		cache                string
	}{
		{"current version: cached a year", http.MethodGet, versioned, nil, 200, "public, max-age=31536000, immutable"},
		{"HEAD", http.MethodHead, versioned, nil, 200, "public, max-age=31536000, immutable"},
		{"no version: revalidate", http.MethodGet, "/static/style.css", nil, 200, "no-cache"},
		{"old version: revalidate", http.MethodGet, "/static/style.css?v=0000", nil, 200, "no-cache"},
		{"revalidation", http.MethodGet, "/static/style.css", map[string]string{"If-None-Match": `"` + assetVersions()["style.css"] + `"`}, 304, "no-cache"},
		{"unknown file", http.MethodGet, "/static/nope.css", nil, 404, ""},
		{"traversal", http.MethodGet, "/static/../templates/status.html", nil, 404, ""},
		{"directory", http.MethodGet, "/static/", nil, 404, ""},
		{"POST", http.MethodPost, versioned, nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, tt.method, tt.target, tt.hdr)
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d", rec.Code, tt.code)
			}
			if tt.code == 404 {
				return
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.cache)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if tt.code == 200 {
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
					t.Errorf("Content-Type = %q", ct)
				}
				if tt.method == http.MethodGet && !strings.Contains(rec.Body.String(), "prefers-color-scheme: dark") {
					t.Error("stylesheet has no dark theme")
				}
			}
		})
	}
}

func TestRenderFailureWritesNoPartialPage(t *testing.T) {
	rec := httptest.NewRecorder()
	Render(rec, http.StatusOK, "no-such-page.html", nil)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "<html") {
		t.Errorf("status %d body %q", rec.Code, rec.Body)
	}
}

func TestRenderKeepsCallerCacheControl(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Cache-Control", "public, max-age=60")
	Render(rec, http.StatusOK, "layout.html", nil)
	if got := rec.Header().Get("Cache-Control"); got != "public, max-age=60" {
		t.Errorf("Cache-Control = %q", got)
	}
}
