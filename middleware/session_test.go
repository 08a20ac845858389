package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

func TestBindSessions(t *testing.T) {
	now := time.Unix(1000, 0)
	h := BindSessions(SessionOptions{IdleTTL: time.Minute, Max: 2, Now: func() time.Time { return now }})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	do := func(method, sid, subject string) int {
		r := httptest.NewRequest(method, "/mcp", nil)
		if sid != "" {
			r.Header.Set("Mcp-Session-Id", sid)
		}
		rec := httptest.NewRecorder()
		if subject == "" {
			h.ServeHTTP(rec, r)
			return rec.Code
		}
		// The identity reaches the context the way production puts it
		// there: through go-sdk's middleware.
		r.Header.Set("Authorization", "Bearer x")
		verify := func(context.Context, string, *http.Request) (*auth.TokenInfo, error) {
			return &auth.TokenInfo{UserID: subject, Expiration: now.Add(time.Hour)}, nil
		}
		auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ClockSkew: 1 << 62})(h).ServeHTTP(rec, r)
		return rec.Code
	}
	steps := []struct {
		name, method, sid, subject string
		want                       int
	}{
		{"anonymous use of a new session", "POST", "s1", "", 200},
		{"first token binds it", "POST", "s1", "alice", 200},
		{"same subject again", "POST", "s1", "alice", 200},
		{"another subject", "POST", "s1", "bob", 403},
		{"anonymous after binding", "POST", "s1", "", 401},
		{"no session header", "POST", "", "bob", 200},
		{"bob's own session", "POST", "s2", "bob", 200},
		{"alice on bob's", "GET", "s2", "alice", 403},
		{"delete by owner", "DELETE", "s2", "bob", 200},
		{"forgotten after delete", "POST", "s2", "alice", 200},
	}
	for _, s := range steps {
		if got := do(s.method, s.sid, s.subject); got != s.want {
			t.Fatalf("%s: status %d, want %d", s.name, got, s.want)
		}
	}
	now = now.Add(2 * time.Minute)
	if got := do("POST", "s1", "bob"); got != 200 {
		t.Errorf("an idle-expired binding must be forgotten, got %d", got)
	}
}

func TestSessionOwnersBounded(t *testing.T) {
	now := time.Unix(0, 0)
	b := &sessionOwners{max: 2, now: func() time.Time { now = now.Add(time.Second); return now }, owners: map[string]*sessionOwner{}}
	for _, sid := range []string{"a", "b", "c", "d"} {
		b.claim(sid, "user-"+sid)
	}
	if len(b.owners) != 2 || b.owners["c"] == nil || b.owners["d"] == nil {
		t.Errorf("owners = %v, want the two most recent", b.owners)
	}
}
