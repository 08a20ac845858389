package handlers

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/ golden files")

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./handlers -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (go test ./handlers -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func get(t *testing.T, h http.Handler, path, accept string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// jsonAccepts are Accept values that must keep getting the JSON documents
// exactly as before the HTML views existed.
var jsonAccepts = [...]string{"", "*/*", "application/json", "text/html;q=0.1, application/json"}

func testReadyChecks() []Check {
	return []Check{
		{Name: "upstream", Run: func(context.Context) (map[string]any, error) {
			return map[string]any{"url": "http://127.0.0.1:8091", "latency_ms": 1.25}, nil
		}},
		{Name: "token_keys", Run: func(context.Context) (map[string]any, error) {
			return map[string]any{"issuer": "https://idp.example.com/realms/x", "keys": 0, "audience_check": false},
				errors.New("verification keys not loaded yet")
		}},
	}
}

// TestHealthJSONGolden pins /healthz's JSON body for non-browser clients.
func TestHealthJSONGolden(t *testing.T) {
	h := Health("1.2.3", time.Now().Add(-90*time.Minute))
	for _, accept := range jsonAccepts {
		t.Run("accept="+accept, func(t *testing.T) {
			rec := get(t, h, "/healthz", accept)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			checkGolden(t, "healthz.json", rec.Body.Bytes())
		})
	}
}

// TestReadyJSONGolden pins /readyz's JSON body (ready and not ready).
func TestReadyJSONGolden(t *testing.T) {
	checks := testReadyChecks()
	tests := []struct {
		name   string
		checks []Check
		code   int
		golden string
	}{
		{"ready", checks[:1], http.StatusOK, "readyz_ready.json"},
		{"not ready", checks, http.StatusServiceUnavailable, "readyz_not_ready.json"},
	}
	for _, tt := range tests {
		for _, accept := range jsonAccepts {
			t.Run(tt.name+"/accept="+accept, func(t *testing.T) {
				rec := get(t, Ready(time.Second, tt.checks...), "/readyz", accept)
				if rec.Code != tt.code {
					t.Fatalf("status %d, want %d", rec.Code, tt.code)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				checkGolden(t, tt.golden, rec.Body.Bytes())
			})
		}
	}
}

// TestHealthReadyHTMLGolden: browsers get pages with the same facts.
func TestHealthReadyHTMLGolden(t *testing.T) {
	checks := testReadyChecks()
	tests := []struct {
		name   string
		h      http.Handler
		code   int
		golden string
		want   []string
	}{
		{"healthz", health("1.4.0", testStarted, fixedClock), http.StatusOK, "healthz.html",
			[]string{`id="version">1.4.0<`, `id="uptime">1d 2h<`, `&#34;uptime&#34;: &#34;26h4m5s&#34;`}},
		{"readyz ready", ready(time.Second, fixedClock, checks[:1]...), http.StatusOK, "readyz_ready.html",
			[]string{`id="status">ready<`, "Upstream agent", "HTTP 200"}},
		{"readyz not ready", ready(time.Second, fixedClock, checks...), http.StatusServiceUnavailable, "readyz_not_ready.html",
			[]string{`id="status">not ready<`, "verification keys not loaded yet", "HTTP 503", "Token verification keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, tt.h, "/x", browserAccept)
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d", rec.Code, tt.code)
			}
			if got := rec.Header().Get("Vary"); got != "Accept" {
				t.Errorf("Vary = %q", got)
			}
			checkGolden(t, tt.golden, rec.Body.Bytes())
			for _, w := range tt.want {
				if !bytes.Contains(rec.Body.Bytes(), []byte(w)) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}

// TestNegotiatedJSONVaries: caches must keep the JSON and the page apart.
func TestNegotiatedJSONVaries(t *testing.T) {
	for name, h := range map[string]http.Handler{
		"healthz": Health("1", time.Now()),
		"readyz":  Ready(time.Second),
		"prm":     ResourceMetadata(testPRM("https://x.example/mcp"), "https://x.example/mcp"),
	} {
		if got := get(t, h, "/", "*/*").Header().Get("Vary"); got != "Accept" {
			t.Errorf("%s: Vary = %q, want Accept", name, got)
		}
	}
}

// TestDetailValueNested: the hosts check's per-host results read as
// "name: {key: value}" on the readiness page, not as Go map syntax.
func TestDetailValueNested(t *testing.T) {
	got := detailValue(map[string]any{
		"web-1": map[string]any{"reachable": true, "latency_ms": 2},
		"db-1":  map[string]any{"reachable": false, "error": "connection refused"},
	})
	want := "db-1: {error: connection refused, reachable: false}, web-1: {latency_ms: 2, reachable: true}"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := detailValue(3); got != "3" {
		t.Errorf("scalar: %q", got)
	}
}
