package middleware

import (
	"net/http"
	"sync"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// SessionOptions configures [BindSessions].
type SessionOptions struct {
	// IdleTTL forgets an owner after this long without a request on the
	// session; set it to at least the MCP session timeout.
	IdleTTL time.Duration
	// Max bounds how many sessions are remembered; the least recently
	// used is forgotten first. 0 means 10,000.
	Max int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Challenger answers anonymous use of an owned session with a 401, so
	// the client knows to authenticate.
	Challenger Challenger
}

// BindSessions ties a stateful MCP session to the first authenticated
// subject that uses it. go-sdk binds a session to the user who created it,
// but clients commonly initialize anonymously, get a 401 on their first
// protected call and retry with a token on the same Mcp-Session-Id — and a
// session created anonymously is open to anyone in go-sdk. Here, once a
// token has been used on a session, every later request on it must carry
// a token for the same subject: anonymous use of an owned session gets 401
// (authenticate), use by another subject gets 403.
func BindSessions(opts SessionOptions) func(http.Handler) http.Handler {
	b := &sessionOwners{ttl: opts.IdleTTL, max: opts.Max, now: opts.Now, owners: map[string]*sessionOwner{}}
	if b.max <= 0 {
		b.max = 10000
	}
	if b.now == nil {
		b.now = time.Now
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sid := r.Header.Get("Mcp-Session-Id")
			if sid == "" {
				next.ServeHTTP(w, r)
				return
			}
			subject := ""
			if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
				subject = ti.UserID
			}
			switch b.check(sid, subject) {
			case sessionAnonymousOnOwned:
				opts.Challenger.Missing(w, firstID(r.Context()), nil)
				return
			case sessionOtherOwner:
				WriteRPCError(w, http.StatusForbidden, firstID(r.Context()), CodeForbidden,
					"This MCP session belongs to another user; initialize a new session")
				return
			}
			// Claim before serving, so nobody else can use the session while
			// a long first call or stream runs; undo it if go-sdk refuses the
			// session, so unknown ids cannot fill the table.
			claimed := subject != "" && len(sid) <= maxSessionIDLen && b.claim(sid, subject)
			ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			if status := ww.Status(); r.Method == http.MethodDelete || status == http.StatusNotFound || (claimed && status >= 400) {
				b.forget(sid)
			}
		})
	}
}

// maxSessionIDLen bounds remembered ids; go-sdk's are 26 characters.
const maxSessionIDLen = 128

type sessionVerdict int

const (
	sessionOK sessionVerdict = iota
	sessionAnonymousOnOwned
	sessionOtherOwner
)

type sessionOwner struct {
	subject  string
	lastSeen time.Time
}

type sessionOwners struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu     sync.Mutex // guards owners
	owners map[string]*sessionOwner
}

// check reports whether subject may use sid. It changes nothing but the
// entry's last use.
func (b *sessionOwners) check(sid, subject string) sessionVerdict {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.owners[sid]
	if ok && b.ttl > 0 && now.Sub(o.lastSeen) > b.ttl {
		delete(b.owners, sid)
		return sessionOK
	}
	switch {
	case !ok:
		return sessionOK // not owned yet: go-sdk's own rules apply
	case o.subject == subject:
		o.lastSeen = now
		return sessionOK
	case subject == "":
		return sessionAnonymousOnOwned
	}
	return sessionOtherOwner
}

// claim records subject as the owner of sid unless it has one, and
// reports whether this call made the claim.
func (b *sessionOwners) claim(sid, subject string) bool {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if o, ok := b.owners[sid]; ok {
		o.lastSeen = now
		return false
	}
	if len(b.owners) >= b.max {
		b.evictOldest()
	}
	b.owners[sid] = &sessionOwner{subject: subject, lastSeen: now}
	return true
}

func (b *sessionOwners) forget(sid string) {
	b.mu.Lock()
	delete(b.owners, sid)
	b.mu.Unlock()
}

// evictOldest drops the least recently used entry. O(n), but it runs only
// when the map is full, which takes max sessions to happen.
func (b *sessionOwners) evictOldest() {
	var oldest string
	var at time.Time
	for sid, o := range b.owners {
		if oldest == "" || o.lastSeen.Before(at) {
			oldest, at = sid, o.lastSeen
		}
	}
	delete(b.owners, oldest)
}
