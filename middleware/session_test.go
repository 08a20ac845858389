package middleware

import (
	"context"
	"iter"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// sessionHarness runs BindSessions with a settable clock and set of live
// sessions; the handler behind it can advance the clock (a long call).
type sessionHarness struct {
	now  time.Time
	live map[string]bool
	h    http.Handler
}

func newSessionHarness(max int, serve func(sh *sessionHarness, r *http.Request)) *sessionHarness {
	sh := &sessionHarness{now: time.Unix(1000, 0), live: map[string]bool{}}
	sh.h = BindSessions(SessionOptions{
		Max: max,
		Now: func() time.Time { return sh.now },
		Live: func() iter.Seq[string] {
			return func(yield func(string) bool) {
				for sid := range sh.live {
					if !yield(sid) {
						return
					}
				}
			}
		},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serve != nil {
			serve(sh, r)
		}
	}))
	return sh
}

// do sends one request on sid, anonymously when subject is empty; header
// holds extra name, value pairs.
func (sh *sessionHarness) do(method, sid, subject string, header ...string) int {
	r := httptest.NewRequest(method, "/mcp", nil)
	if sid != "" {
		r.Header.Set("Mcp-Session-Id", sid)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	if subject == "" {
		sh.h.ServeHTTP(rec, r)
		return rec.Code
	}
	// The identity reaches the context the way production puts it
	// there: through go-sdk's middleware.
	r.Header.Set("Authorization", "Bearer x")
	verify := func(context.Context, string, *http.Request) (*auth.TokenInfo, error) {
		return &auth.TokenInfo{UserID: subject, Expiration: sh.now.Add(time.Hour)}, nil
	}
	auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ClockSkew: 1 << 62})(sh.h).ServeHTTP(rec, r)
	return rec.Code
}

func TestBindSessions(t *testing.T) {
	sh := newSessionHarness(3, nil)
	sh.live["s1"], sh.live["s2"] = true, true
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
		if got := sh.do(s.method, s.sid, s.subject); got != s.want {
			t.Fatalf("%s: status %d, want %d", s.name, got, s.want)
		}
	}
	sh.now = sh.now.Add(24 * time.Hour)
	if got := sh.do("POST", "s1", ""); got != 401 {
		t.Errorf("a day later, with the session still live, anonymous use: %d, want 401 (owner kept)", got)
	}
	delete(sh.live, "s1")
	sh.live["s3"] = true
	sh.do("POST", "s3", "carol") // a claim a minute or more after the last sweep sweeps
	if got := sh.do("POST", "s1", "bob"); got != 200 {
		t.Errorf("after the session ended, its owner must be forgotten; got %d", got)
	}
}

// TestSessionOwnerOutlivesLongCall: go-sdk's 30 min idle timer restarts
// when a request ends, so a session whose last call ran 5 minutes is alive
// 35 minutes after that call started; its owner must be too.
func TestSessionOwnerOutlivesLongCall(t *testing.T) {
	sh := newSessionHarness(0, func(sh *sessionHarness, r *http.Request) {
		if r.Header.Get("X-Long") != "" {
			sh.now = sh.now.Add(315 * time.Second) // a script run at its longest
		}
	})
	sh.live["s1"] = true
	if got := sh.do("POST", "s1", "alice", "X-Long", "1"); got != 200 {
		t.Fatalf("alice's long call: %d", got)
	}
	sh.now = sh.now.Add(29 * time.Minute) // go-sdk: 1 minute of idle time left
	if got := sh.do("POST", "s1", ""); got != 401 {
		t.Fatalf("anonymous use of alice's live session 29 min after her long call ended: %d, want 401", got)
	}
	if got := sh.do("POST", "s1", "bob"); got != 403 {
		t.Fatalf("bob on alice's live session: %d, want 403", got)
	}
}

// TestSessionOwnersNotEvicted: with the table full of live sessions, a new
// claim is refused (503) rather than dropping a live session's owner; once
// a session ends, its place is free again.
func TestSessionOwnersNotEvicted(t *testing.T) {
	sh := newSessionHarness(2, nil)
	for _, sid := range []string{"a", "b", "c"} {
		sh.live[sid] = true
	}
	sh.do("POST", "a", "alice")
	sh.do("POST", "b", "bob")
	if got := sh.do("POST", "c", "carol"); got != http.StatusServiceUnavailable {
		t.Fatalf("claim with the table full of live sessions: %d, want 503", got)
	}
	for _, sid := range []string{"a", "b"} {
		if got := sh.do("POST", sid, ""); got != 401 {
			t.Fatalf("anonymous on live session %s after a refused claim: %d, want 401 (owner kept)", sid, got)
		}
	}
	delete(sh.live, "a")
	if got := sh.do("POST", "c", "carol"); got != http.StatusServiceUnavailable {
		t.Fatalf("claim right after a refused one: %d, want 503 (a full table is swept at most once a second)", got)
	}
	sh.now = sh.now.Add(fullSweepEvery)
	if got := sh.do("POST", "c", "carol"); got != 200 {
		t.Fatalf("claim after a session ended: %d, want 200", got)
	}
	if got := sh.do("POST", "c", ""); got != 401 {
		t.Fatalf("anonymous on carol's session: %d, want 401", got)
	}
	if got := sh.do("POST", "b", "carol"); got != 403 {
		t.Fatalf("carol on bob's session: %d, want 403", got)
	}
}
