package middleware

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestGuardHost: the Host half of Guard, for pages that name internal
// addresses: configured names and loopback pass, port ignored; anything
// else, lookalikes included, gets 403 before the page runs.
func TestGuardHost(t *testing.T) {
	h := GuardHost([]string{"sentinelx.example.com", " MCP.Internal.Example "})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	for host, want := range map[string]int{
		"sentinelx.example.com":              200,
		"SentinelX.Example.com:443":          200,
		"mcp.internal.example":               200,
		"localhost:8098":                     200,
		"127.0.0.2":                          200,
		"[::1]:8098":                         200,
		"evil.example":                       403,
		"sentinelx.example.com.evil.example": 403,
		"localhost.evil.example":             403,
		"127.0.0.1.nip.io":                   403,
		"":                                   403,
	} {
		r := httptest.NewRequest(http.MethodGet, "/readyz", nil)
		r.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
	}
}
