package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

func TestBucketsTake(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	b := newBuckets(RateLimitOptions{Rate: 2, Now: clock}) // burst 4
	if b.burst != 4 {
		t.Fatalf("burst = %d, want 4 (twice the rate)", b.burst)
	}
	for i := range 4 {
		if _, ok := b.take("a", 1); !ok {
			t.Fatalf("call %d within the burst refused", i)
		}
	}
	wait, ok := b.take("a", 1)
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("5th call: ok=%v wait=%v, want refused with a wait of at most 0.5 s", ok, wait)
	}
	if _, ok := b.take("b", 1); !ok {
		t.Fatal("another subject was refused")
	}
	now = now.Add(500 * time.Millisecond)
	if _, ok := b.take("a", 1); !ok {
		t.Fatal("a refilled token was refused")
	}
	if wait, ok := b.take("a", 5); ok || wait != 2*time.Second {
		t.Fatalf("batch larger than the burst: ok=%v wait=%v, want refused with 2s", ok, wait)
	}
}

func TestBucketsBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	b := newBuckets(RateLimitOptions{Rate: 1, MaxSubjects: 3, Now: func() time.Time { return now }})
	for i := range 10 {
		b.take("s"+strconv.Itoa(i), 1)
		now = now.Add(time.Millisecond)
	}
	if n := b.len(); n > 3 {
		t.Fatalf("%d buckets kept, want at most 3", n)
	}
	// Once idle long enough to refill, buckets are swept without pressure.
	now = now.Add(sweepEvery + time.Minute)
	b.take("fresh", 1)
	if n := b.len(); n != 1 {
		t.Fatalf("%d buckets after the idle sweep, want 1", n)
	}
}

// rateChain is the /mcp gate order: body, bearer, scopes, rate limit.
func rateChain(t *testing.T, opts RateLimitOptions, tokens map[string]*auth.TokenInfo) (http.Handler, *atomic.Int64) {
	t.Helper()
	var reached atomic.Int64
	ch := Challenger{ResourceMetadataURL: "http://127.0.0.1/.well-known/oauth-protected-resource/mcp"}
	verify := func(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		if ti, ok := tokens[tok]; ok {
			c := *ti
			return &c, nil
		}
		return nil, auth.ErrInvalidToken
	}
	scopeOf := func(tool string) string {
		if tool == "sentinel_state" {
			return "sentinelx:state"
		}
		return ""
	}
	opts.ScopeOf = scopeOf
	final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.WriteHeader(http.StatusOK)
	})
	h := ReadBody(1 << 20)(Bearer(BearerOptions{Verify: verify, Challenger: ch})(Scopes(scopeOf, ch, nil)(RateLimit(opts)(final))))
	return h, &reached
}

func callBody(id int, tool string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool)
}

func TestRateLimitMiddleware(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	tokens := map[string]*auth.TokenInfo{
		"tok-a":      {UserID: "alice", Scopes: []string{"sentinelx:state"}, Expiration: exp},
		"tok-b":      {UserID: "bob", Scopes: []string{"sentinelx:state"}, Expiration: exp},
		"tok-client": {Scopes: []string{"sentinelx:state"}, Expiration: exp, Extra: map[string]any{"client_id": "svc"}},
	}
	now := time.Unix(1_700_000_000, 0)
	var limited atomic.Int64
	h, reached := rateChain(t, RateLimitOptions{Rate: 1, Burst: 2, Now: func() time.Time { return now }, OnLimited: func() { limited.Add(1) }}, tokens)

	send := func(token, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	steps := []struct {
		name, token, body string
		want              int
	}{
		{"alice 1", "tok-a", callBody(1, "sentinel_state"), 200},
		{"alice 2", "tok-a", callBody(2, "sentinel_state"), 200},
		{"alice 3 over burst", "tok-a", callBody(3, "sentinel_state"), 429},
		{"alice public tool not counted", "tok-a", callBody(4, "ping"), 200},
		{"alice tools/list not counted", "tok-a", `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`, 200},
		{"bob unaffected", "tok-b", callBody(6, "sentinel_state"), 200},
		{"anonymous ping unaffected", "", callBody(7, "ping"), 200},
		{"client-only token has its own bucket", "tok-client", callBody(8, "sentinel_state"), 200},
		{"bob batch of 2 exceeds what is left", "tok-b", "[" + callBody(9, "sentinel_state") + "," + callBody(10, "sentinel_state") + "]", 429},
	}
	for _, s := range steps {
		rec := send(s.token, s.body)
		if rec.Code != s.want {
			t.Fatalf("%s: status %d, want %d; body %s", s.name, rec.Code, s.want, rec.Body)
		}
		if s.want != 429 {
			continue
		}
		ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
		if err != nil || ra < 1 {
			t.Fatalf("%s: Retry-After %q, want whole seconds >= 1", s.name, rec.Header().Get("Retry-After"))
		}
		var body struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: body %q: %v", s.name, rec.Body, err)
		}
		if body.JSONRPC != "2.0" || body.Error.Code != CodeRateLimited || !strings.Contains(body.Error.Message, "Rate limit") || len(body.ID) == 0 || string(body.ID) == "null" {
			t.Fatalf("%s: body %s, want a JSON-RPC rate-limit error carrying the request id", s.name, rec.Body)
		}
	}
	if got := limited.Load(); got != 2 {
		t.Fatalf("OnLimited called %d times, want 2", got)
	}
	if got := reached.Load(); got != 7 {
		t.Fatalf("%d requests reached the handler, want 7", got)
	}
	now = now.Add(time.Second)
	if rec := send("tok-a", callBody(11, "sentinel_state")); rec.Code != 200 {
		t.Fatalf("after a second alice is refused: %d", rec.Code)
	}
}

func TestRateLimitDisabled(t *testing.T) {
	tokens := map[string]*auth.TokenInfo{"tok": {UserID: "u", Scopes: []string{"sentinelx:state"}, Expiration: time.Now().Add(time.Hour)}}
	h, reached := rateChain(t, RateLimitOptions{Rate: 0}, tokens)
	for i := range 100 {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(callBody(i, "sentinel_state")))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("call %d: %d with RATE_LIMIT=0", i, rec.Code)
		}
	}
	if reached.Load() != 100 {
		t.Fatalf("reached %d, want 100", reached.Load())
	}
}
