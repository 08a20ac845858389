package middleware

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// ScopeFunc returns the scope a tool needs, or "" for a public tool or a
// name that is not a tool (go-sdk answers those with its own error).
type ScopeFunc func(tool string) string

// Scopes gates tools/call on the caller's scopes before go-sdk runs, so a
// call that is not allowed never reaches a tool handler or the agent. Every
// message of a batch counts: the request needs the union of their scopes.
// A protected call without a token gets 401 with the scope to ask for; a
// token without the scope gets 403 insufficient_scope (step-up).
func Scopes(scopeOf ScopeFunc, ch Challenger, logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _, needed := protectedCalls(r.Context(), scopeOf)
			if len(needed) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			ti := auth.TokenInfoFromContext(r.Context())
			if ti == nil {
				ch.Missing(w, id, needed)
				return
			}
			var missing []string
			for _, s := range needed {
				if !slices.Contains(ti.Scopes, s) {
					missing = append(missing, s)
				}
			}
			if len(missing) > 0 {
				logger.Info("scope denied", "subject", ti.UserID, "needed", needed, "missing", missing)
				ch.InsufficientScope(w, id, ch.StepUpScope(r.Header.Get("MCP-Protocol-Version"), ti.Scopes, needed), missing)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// protected is the part of a request the scope gate and the rate limit
// act on: its tools/call messages whose tool needs a scope.
type protected struct {
	id     json.RawMessage // the first one's id, for error bodies
	n      int             // how many there are
	scopes []string        // the distinct scopes they need, in order
}

// protectedCalls returns the protected calls of the request in ctx,
// resolving them with scopeOf on first use and keeping the result in the
// request's parsed body, so each tool name is looked up once per request
// whichever gates ask. The scope gate and the rate limit must agree on
// what counts; both are given the tool table's ScopeOf.
func protectedCalls(ctx context.Context, scopeOf ScopeFunc) (id json.RawMessage, n int, scopes []string) {
	p, _ := ctx.Value(messagesKey{}).(*parsed)
	if p == nil {
		return nil, 0, nil
	}
	if !p.resolved {
		p.calls, p.resolved = resolve(p.msgs, scopeOf), true
	}
	return p.calls.id, p.calls.n, p.calls.scopes
}

func resolve(msgs []Message, scopeOf ScopeFunc) (c protected) {
	for _, m := range msgs {
		if m.Method != "tools/call" {
			continue
		}
		s := scopeOf(m.Tool)
		if s == "" {
			continue
		}
		if c.n == 0 {
			c.id = m.ID
		}
		c.n++
		if !slices.Contains(c.scopes, s) {
			c.scopes = append(c.scopes, s)
		}
	}
	return c
}
