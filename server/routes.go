package server

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/handlers"
	"github.com/pensados/sentinelx-mcp/middleware"
	"github.com/pensados/sentinelx-mcp/web"
)

// sessionTimeout ends idle stateful sessions.
const sessionTimeout = 30 * time.Minute

func passThrough(h http.Handler) http.Handler { return h }

// refuseGET answers GET (and HEAD) on a stateless /mcp as a bare go-sdk
// stateless server does: 405 with Allow. There is no server-to-client stream
// to open and nothing reaches the agent through it, while a 401 there made
// the TS SDK start a second, parallel sign-in for its GET stream on connect.
func refuseGET(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			w.Header().Set("Allow", "POST")
			http.Error(w, "Method Not Allowed: this server is stateless, so /mcp offers no GET stream; send requests with POST", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// routes is the whole HTTP surface in one place.
func (a *app) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(a.metrics.Instrument)
	r.Use(middleware.Logger(a.reqLog, []string{"/healthz"}, a.flushLogs))

	ch := middleware.Challenger{ResourceMetadataURL: a.prmURL, KnownScopes: a.table.Scopes()}
	var bindSessions func(http.Handler) http.Handler = passThrough
	noStream := refuseGET
	if a.cfg.Stateful {
		bindSessions = middleware.BindSessions(middleware.SessionOptions{Live: a.liveSessions, Challenger: ch})
		noStream = passThrough // GET opens the session's stream: 401 before anything
	}
	mcpChain := chi.Chain(
		middleware.Guard(middleware.GuardOptions{Hosts: a.allowedHosts(), Origins: a.ownOrigins()}),
		noStream,
		middleware.ClientAddr(a.cfg.trustedProxies()),
		middleware.ReadBody(a.cfg.MaxBodyBytes),
		middleware.Bearer(middleware.BearerOptions{
			Verify:     a.verifier.Verify,
			Challenger: ch,
			Required:   a.cfg.AuthRequired,
			Logger:     a.log,
			Debug:      a.cfg.AuthDebug,
		}),
		// After Bearer: a body over 1 MiB is finished only once its token
		// is verified, and the batch cap must see its messages too.
		middleware.MaxBatch(a.cfg.MaxBatch),
		a.anonLimits(),
		middleware.Scopes(a.table.ScopeOf, ch, a.log),
		bindSessions,
		middleware.RateLimit(middleware.RateLimitOptions{
			Rate: a.cfg.RateLimit, ScopeOf: a.table.ScopeOf, OnLimited: a.metrics.RateLimited, Logger: a.log,
		}),
		middleware.BoundResponse(middleware.ResponseOptions{MaxBytes: a.cfg.MaxResponseBytes}),
	)
	r.Handle("/mcp", mcpChain.Handler(a.mcpHandler()))

	prm := handlers.ResourceMetadata(a.prm, a.cfg.MCPURL())
	r.Handle(a.prmPath, prm)
	if a.prmPath != "/.well-known/oauth-protected-resource/mcp" {
		r.Handle("/.well-known/oauth-protected-resource/mcp", prm)
	}
	r.Handle("/.well-known/oauth-protected-resource", handlers.ResourceMetadata(a.rootPRM, a.cfg.MCPURL()))

	// The pages that name internal addresses answer only our own Host
	// names, like /mcp (DNS rebinding); /healthz stays open to any Host for
	// orchestrator probes, which send the pod or container address.
	internal := r.With(middleware.GuardHost(a.allowedHosts()))
	if a.cfg.MetricsAddr == "" {
		// With METRICS_ADDR set, the caller serves them on their own
		// listener and the public port has no /metrics at all.
		internal.Method(http.MethodGet, "/metrics", a.metrics.Handler())
	}
	r.Method(http.MethodGet, "/healthz", handlers.Health(a.version, a.started))
	checks := []handlers.Check{
		{Name: "upstream", Run: a.checkUpstream},
		{Name: "token_keys", Run: a.checkKeys},
	}
	if a.cfg.AgentsFile != "" {
		checks[0] = handlers.Check{Name: "hosts", Run: a.checkHosts}
	}
	if a.policy != nil {
		checks = append(checks, handlers.Check{Name: "policy", Run: a.checkPolicy})
	}
	internal.Method(http.MethodGet, "/readyz", handlers.Ready(5*time.Second, checks...))
	internal.Method(http.MethodGet, "/", handlers.Status(a.statusInfo))
	r.Handle(web.StaticPrefix+"*", web.Static())
	return r
}

// mcpHandler serves MCP over Streamable HTTP with go-sdk. Stateless by
// default (every tool is request/response and upload ids live in the
// arguments), which also serves 2026-07-28 clients. Its Accept handling is
// relaxed for clients seen in the wild: no Accept or */* (curl, the seed's
// smoke test) and text/event-stream alone (claude.ai) get SSE; a client that
// accepts only application/json gets JSON, when stateless.
func (a *app) mcpHandler() http.Handler {
	getServer := func(*http.Request) *mcp.Server { return a.mcp }
	opts := mcp.StreamableHTTPOptions{
		Stateless: !a.cfg.Stateful,
		// Guard checks Host against an explicit list; the SDK's check would
		// refuse the public Host nginx forwards to a loopback listener.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        a.cfg.MaxBodyBytes,
		Logger:                     sdkLogger(a.log),
	}
	if a.cfg.Stateful {
		opts.SessionTimeout = sessionTimeout
	}
	sse := mcp.NewStreamableHTTPHandler(getServer, &opts)
	var jsonOnly http.Handler
	if !a.cfg.Stateful {
		jopts := opts
		jopts.JSONResponse = true
		jsonOnly = mcp.NewStreamableHTTPHandler(getServer, &jopts)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || middleware.IsListen(r) {
			// A GET stream (or a 2026-07-28 subscriptions/listen) is idle by
			// nature; end it when the server shuts down instead of letting
			// it hold the drain for 30 s.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(a.streams, cancel)
			defer stop()
			r = r.WithContext(ctx)
		}
		if r.Method == http.MethodPost {
			wantsJSON, wantsSSE := handlers.MCPAccepts(r.Header)
			r.Header.Set("Accept", "application/json, text/event-stream")
			if wantsJSON && !wantsSSE && jsonOnly != nil {
				jsonOnly.ServeHTTP(w, r)
				return
			}
		}
		sse.ServeHTTP(w, r)
	})
}

func (a *app) checkUpstream(ctx context.Context) (map[string]any, error) {
	d, err := a.probe.Probe(ctx)
	detail := map[string]any{"url": a.cfg.UpstreamURL, "latency_ms": float64(d.Microseconds()) / 1000}
	return detail, err
}

func (a *app) checkKeys(context.Context) (map[string]any, error) {
	st := a.verifier.Status()
	detail := map[string]any{
		"issuer": st.Issuer, "jwks_uri": st.JWKSURI, "keys": st.Keys,
		"introspection": st.Introspection, "audience_check": st.AudienceCheck,
	}
	if !st.KeysFetchedAt.IsZero() {
		detail["keys_fetched_at"] = st.KeysFetchedAt.UTC().Format(time.RFC3339)
	}
	if st.Ready {
		return detail, nil
	}
	if st.LastError != "" {
		return detail, errors.New(st.LastError)
	}
	return detail, errors.New("verification keys not loaded yet")
}

// checkPolicy reports the policy's load state. It never fails readiness: a
// policy is always in force (startup needs a good file, and a bad edit
// keeps the last good one), so a failed reload is shown, not fatal.
func (a *app) checkPolicy(context.Context) (map[string]any, error) {
	st := a.policy.Status()
	detail := map[string]any{
		"file": st.File, "rules": st.Rules, "digest": st.Digest,
		"loaded_at": st.LoadedAt.UTC().Format(time.RFC3339),
	}
	if st.LastError != "" {
		detail["last_error"] = st.LastError
		detail["last_error_at"] = st.LastErrorAt.UTC().Format(time.RFC3339)
	}
	return detail, nil
}

// liveSessions lists the ids of the stateful sessions go-sdk holds open, so
// that a session's owner is kept for exactly the session's life.
func (a *app) liveSessions() iter.Seq[string] {
	return func(yield func(string) bool) {
		for ss := range a.mcp.Sessions() {
			if !yield(ss.ID()) {
				return
			}
		}
	}
}
