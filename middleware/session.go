package middleware

import (
	"iter"
	"net/http"
	"sync"
	"time"

	chimw "github.com/go-chi/chi/v5/middleware"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// SessionOptions configures [BindSessions].
type SessionOptions struct {
	// Live lists the ids of the MCP sessions go-sdk holds open. An owner is
	// kept exactly as long as its session is listed: go-sdk's idle timer
	// restarts when a request ends, so no clock here could match it. Owners
	// of sessions no longer listed are swept out when a claim comes a minute
	// or more after the last sweep, or finds the table full (then at most
	// once a second). Nil means every session is live (owners then go only
	// on DELETE or a 404).
	Live func() iter.Seq[string]
	// Max bounds how many owned sessions are remembered; 0 means 10,000.
	// A live session's owner is never dropped to make room: when the table
	// is full of live sessions, a request that would claim another one is
	// refused with 503 until a session ends.
	Max int
	// Now is the clock for the sweep interval; nil means time.Now.
	Now func() time.Time
	// Challenger answers anonymous use of an owned session with a 401, so
	// the client knows to authenticate.
	Challenger Challenger
}

// BindSessions ties a stateful MCP session to the first authenticated
// subject that uses it, for the session's whole life. go-sdk binds a
// session to the user who created it, but clients commonly initialize
// anonymously, get a 401 on their first protected call and retry with a
// token on the same Mcp-Session-Id — and a session created anonymously is
// open to anyone in go-sdk. Here, once a token has been used on a session,
// every later request on it must carry a token for the same subject:
// anonymous use of an owned session gets 401 (authenticate), use by another
// subject gets 403.
func BindSessions(opts SessionOptions) func(http.Handler) http.Handler {
	b := &sessionOwners{live: opts.Live, max: opts.Max, now: opts.Now, owners: map[string]string{}}
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
			claimed := false
			if subject != "" && len(sid) <= maxSessionIDLen {
				var full bool
				if claimed, full = b.claim(sid, subject); full {
					w.Header().Set("Retry-After", "60")
					WriteRPCError(w, http.StatusServiceUnavailable, firstID(r.Context()), CodeInvalidRequest,
						"Too many MCP sessions in use on this server; retry later or end unused sessions")
					return
				}
			}
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

// sessionSweepEvery bounds how long the owner of an ended session is
// remembered when the table is not full. Ids are never reused, so a late
// sweep only costs memory.
const sessionSweepEvery = time.Minute

// fullSweepEvery bounds the sweeps a full table triggers, so claims hammered
// at a full table cost a map lookup each, not a walk of every session.
const fullSweepEvery = time.Second

type sessionVerdict int

const (
	sessionOK sessionVerdict = iota
	sessionAnonymousOnOwned
	sessionOtherOwner
)

// sessionOwners is a bounded map, but not a bounded.Map: an owner's life
// is its session's, which only go-sdk knows (Live), not a TTL or a
// deadline; and when the table is full no owner may be evicted, since
// that would open a live session to anyone, so a new claim is refused.
type sessionOwners struct {
	live func() iter.Seq[string]
	max  int
	now  func() time.Time

	mu        sync.Mutex        // guards the fields below
	owners    map[string]string // session id → subject
	lastSweep time.Time
}

// check reports whether subject may use sid. It changes nothing.
func (b *sessionOwners) check(sid, subject string) sessionVerdict {
	b.mu.Lock()
	defer b.mu.Unlock()
	owner, ok := b.owners[sid]
	switch {
	case !ok:
		return sessionOK // not owned yet: go-sdk's own rules apply
	case owner == subject:
		return sessionOK
	case subject == "":
		return sessionAnonymousOnOwned
	}
	return sessionOtherOwner
}

// claim records subject as the owner of sid unless it has one, and
// reports whether this call made the claim, or that the table is full of
// live sessions and nothing was recorded.
func (b *sessionOwners) claim(sid, subject string) (claimed, full bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.owners[sid]; ok {
		return false, false
	}
	since := now.Sub(b.lastSweep)
	if since >= sessionSweepEvery || (len(b.owners) >= b.max && since >= fullSweepEvery) {
		b.sweep(now)
	}
	if len(b.owners) >= b.max {
		return false, true
	}
	b.owners[sid] = subject
	return true, false
}

// sweep forgets the owners of sessions go-sdk no longer holds.
func (b *sessionOwners) sweep(now time.Time) {
	b.lastSweep = now
	if b.live == nil {
		return
	}
	live := make(map[string]struct{}, len(b.owners))
	for sid := range b.live() {
		if _, ok := b.owners[sid]; ok {
			live[sid] = struct{}{}
		}
	}
	for sid := range b.owners {
		if _, ok := live[sid]; !ok {
			delete(b.owners, sid)
		}
	}
}

func (b *sessionOwners) forget(sid string) {
	b.mu.Lock()
	delete(b.owners, sid)
	b.mu.Unlock()
}
