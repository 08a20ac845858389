package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// TestScopesResolvedOncePerRequest: the scope gate and the rate limit act
// on the same protected calls, looked up in the tool table once per
// message and carried in the request context, not once per gate.
func TestScopesResolvedOncePerRequest(t *testing.T) {
	lookups := 0
	scopeOf := func(tool string) string {
		lookups++
		if tool == "sentinel_state" {
			return "sentinelx:state"
		}
		return ""
	}
	ch := Challenger{ResourceMetadataURL: "http://127.0.0.1/.well-known/oauth-protected-resource/mcp"}
	verify := func(context.Context, string, *http.Request) (*auth.TokenInfo, error) {
		return &auth.TokenInfo{UserID: "alice", Scopes: []string{"sentinelx:state"}}, nil
	}
	reached := 0
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ })
	h := ReadBody(1 << 20)(Bearer(BearerOptions{Verify: verify, Challenger: ch})(
		Scopes(scopeOf, ch, nil)(RateLimit(RateLimitOptions{Rate: 100, ScopeOf: scopeOf})(final))))

	body := "[" + callBody(1, "sentinel_state") + "," + callBody(2, "ping") + "]"
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer good")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || reached != 1 {
		t.Fatalf("status %d, reached %d: %s", rec.Code, reached, rec.Body)
	}
	if lookups != 2 {
		t.Fatalf("%d scope lookups for a batch of 2 calls through the scope gate and the rate limit, want 2 (one per call)", lookups)
	}
}
