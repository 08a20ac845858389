package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// TestAnonLimit: per client address, every message of a batch counts, a
// global ceiling holds across addresses, token holders are not counted.
// The clock is frozen, so nothing refills.
func TestAnonLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	limited := AnonLimit(AnonLimitOptions{Rate: 1, Now: func() time.Time { return now }})(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	anonymous := ClientAddr(nil)(ReadBody(1 << 20)(limited))
	verified := ClientAddr(nil)(ReadBody(1 << 20)(auth.RequireBearerToken(
		func(context.Context, string, *http.Request) (*auth.TokenInfo, error) {
			return &auth.TokenInfo{UserID: "alice", Expiration: time.Now().Add(time.Hour)}, nil
		}, nil)(limited)))
	send := func(peer, body string, withToken bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = peer + ":1234"
		h := anonymous
		if withToken {
			req.Header.Set("Authorization", "Bearer t")
			h = verified
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	three := "[" + ping + "," + ping + "," + ping + "]"

	if rec := send("192.0.2.1", three, false); rec.Code != http.StatusTooManyRequests {
		t.Errorf("batch of 3 with a burst of 2: %d, want 429", rec.Code)
	}
	// Rate 1 → burst 2 per address; global 10/s, burst 20.
	for i := range 10 {
		peer := "192.0.2." + strconv.Itoa(10+i)
		for j := range 2 {
			if rec := send(peer, ping, false); rec.Code != http.StatusOK {
				t.Fatalf("address %d call %d: %d, want 200", i, j, rec.Code)
			}
		}
		if rec := send(peer, ping, false); rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "from your address") {
			t.Fatalf("address %d third call: %d %s, want 429 for the address", i, rec.Code, rec.Body.String())
		}
	}
	rec := send("192.0.2.99", ping, false)
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), "all addresses together") || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a new address past the global ceiling: %d %s, want 429 naming the global limit", rec.Code, rec.Body.String())
	}
	if rec := send("192.0.2.10", ping, true); rec.Code != http.StatusOK {
		t.Errorf("token holder from a limited address: %d, want 200", rec.Code)
	}
}
