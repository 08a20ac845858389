// Package server assembles sentinelx-mcp: configuration, the chi router
// with every route (routes.go), the MCP server and its tools, token
// verification, the Prometheus metrics, and the listener lifecycle.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/go-chi/httplog/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/pensados/sentinelx-mcp/handlers"
	"github.com/pensados/sentinelx-mcp/middleware"
	"github.com/pensados/sentinelx-mcp/middleware/oidcverify"
	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/tools/policy"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

// Deps are the collaborators [New] does not build from Config.
type Deps struct {
	// Logger writes the request log and server events.
	Logger *httplog.Logger
	// Audit receives one line per tool call; nil means Logger's.
	Audit *slog.Logger
	// Version is reported by /healthz, ping and the MCP handshake.
	Version string
	// IdPClient talks to the identity provider (discovery, JWKS,
	// introspection); nil means a client with a 10 s timeout.
	IdPClient *http.Client
	// Upstream overrides the agent client built from Config (tests).
	Upstream *upstream.Client
	// Metrics collects the Prometheus metrics; nil means New builds its
	// own. It is served on /metrics unless METRICS_ADDR is set, in which
	// case the caller serves [Metrics.Handler] there.
	Metrics *Metrics
	// PolicyPoll is how often POLICY_FILE is checked for changes; 0 means
	// every 2 s.
	PolicyPoll time.Duration
	// Reload, when non-nil, delivers reload requests (main wires SIGHUP to
	// it): POLICY_FILE and AGENTS_FILE are read again on each. Signals stay
	// main's business.
	Reload <-chan os.Signal
	// FlushLogs, when non-nil, writes out the log lines Logger and Audit
	// buffered (internal/logsink); it is called as each request ends,
	// before the answer is released.
	FlushLogs func()
}

// app holds what the routes are built from.
type app struct {
	cfg       Config
	log       *slog.Logger
	reqLog    *httplog.Logger
	flushLogs func() // Deps.FlushLogs
	version   string
	started   time.Time
	table     *tools.Table
	verifier  *oidcverify.Verifier
	up        *upstream.Client
	hosts     *fleet.Store // AGENTS_FILE, or the one agent of up
	mcp       *mcp.Server
	prm       *oauthex.ProtectedResourceMetadata // path form: resource = MCP URL
	rootPRM   *oauthex.ProtectedResourceMetadata // root form: resource = base URL
	prmURL    string                             // where prm is served; challenges point here
	prmPath   string
	metrics   *Metrics
	policy    *policy.Store // nil without POLICY_FILE

	probe *probeCache    // the agent probe shared by /readyz and the status page
	build handlers.Build // read once: the binary's build info does not change

	// streams is cancelled when the HTTP server begins shutting down, to
	// end idle GET streams; in-flight calls are not affected.
	streams      context.Context
	closeStreams context.CancelFunc
}

// handler is what New returns: the routes, and a hook [Run] calls when
// shutdown begins.
type handler struct {
	http.Handler
	closeStreams context.CancelFunc
}

// CloseStreams ends open GET streams so a graceful shutdown only waits for
// calls in flight.
func (h *handler) CloseStreams() { h.closeStreams() }

// New builds the HTTP handler for cfg. Background work (loading the IdP's
// keys, with retries while it is down) runs until ctx ends.
func New(ctx context.Context, cfg Config, d Deps) (http.Handler, error) {
	if d.Logger == nil {
		return nil, fmt.Errorf("server: Deps.Logger is required")
	}
	a := &app{
		cfg:       cfg,
		log:       d.Logger.Logger,
		reqLog:    d.Logger,
		flushLogs: d.FlushLogs,
		version:   d.Version,
		started:   time.Now(),
		up:        d.Upstream,
		metrics:   d.Metrics,
	}
	if a.metrics == nil {
		a.metrics = NewMetrics(d.Version)
	}
	if a.up == nil {
		up, err := upstream.New(upstream.Options{
			BaseURL: cfg.UpstreamURL,
			Token:   cfg.UpstreamToken,
			Timeout: time.Duration(cfg.UpstreamTimeout),
			Logger:  a.log,
		})
		if err != nil {
			return nil, err
		}
		a.up = up
	}
	v, err := oidcverify.New(oidcverify.Config{
		Issuer:           cfg.Issuer,
		JWKSURI:          cfg.JWKSURI,
		Audiences:        cfg.Audiences,
		IntrospectionURL: cfg.IntrospectionURL,
		ClientID:         cfg.ClientID,
		ClientSecret:     cfg.ClientSecret,
		RequireATJWT:     cfg.RequireATJWT,
		ScopeClaims:      cfg.ScopeClaims,
		HTTPClient:       d.IdPClient,
		Logger:           a.log,
		Debug:            cfg.AuthDebug,
		OnVerify: func(via string, err error) {
			outcome, reason := oidcverify.Outcome(err)
			if err == nil {
				reason = via
			}
			a.metrics.TokenVerified(outcome, reason)
		},
		OnKeysFetch: func(err error) {
			if err != nil {
				a.metrics.KeysFetched("error")
				return
			}
			a.metrics.KeysFetched("ok")
		},
	})
	if err != nil {
		return nil, err
	}
	a.verifier = v

	audit := d.Audit
	if audit == nil {
		audit = a.log.With("log", "audit")
	}
	reloads := splitReload(ctx, d.Reload, 2)
	if err := a.openPolicy(ctx, d.PolicyPoll, reloads[0]); err != nil {
		return nil, err
	}
	if err := a.openHosts(ctx, d.PolicyPoll, reloads[1]); err != nil {
		return nil, err
	}
	td := tools.Deps{
		Hosts: a.hosts, FanoutConcurrency: cfg.FanoutConcurrency, MaxFanoutBytes: cfg.MaxResponseBytes / 3,
		Audit: audit, Version: d.Version,
		UploadURLAllow: cfg.UploadURLAllow, EditUploadLocalDir: cfg.EditUploadLocalDir,
		Slots:         tools.NewConcurrency(cfg.UpstreamMaxConcurrency, cfg.UpstreamMaxPerSubject),
		SlotWait:      time.Duration(cfg.UpstreamTimeout),
		Recorder:      a.metrics,
		RequireScopes: true,
		AuthHint:      a.authHint(),
	}
	if a.policy != nil {
		td.Policy = a.policy.Policy
	}
	a.table = tools.New(td)
	a.mcp = mcp.NewServer(&mcp.Implementation{Name: "sentinelx-mcp", Title: "SentinelX", Version: d.Version}, &mcp.ServerOptions{
		Instructions: "Administer a Linux host through its SentinelX Core agent. Read-only tools: sentinel_state, sentinel_capabilities, sentinel_help. Every other tool changes the host; each needs its own OAuth scope.",
		Logger:       sdkLogger(a.log),
	})
	a.table.Register(a.mcp)
	if cfg.FilterTools {
		a.mcp.AddReceivingMiddleware(a.table.ListFilter())
	}

	if err := a.buildMetadata(); err != nil {
		return nil, err
	}
	// Background work starts only once nothing else can fail.
	v.Start(ctx)
	if len(cfg.Audiences) == 0 {
		a.log.Warn("OIDC_EXPECTED_AUDIENCE is empty: tokens issued for any resource are accepted; set it to " + cfg.MCPURL())
	}
	a.probe = &probeCache{probe: a.up.Probe}
	a.build = handlers.ReadBuild()
	a.streams, a.closeStreams = context.WithCancel(context.WithoutCancel(ctx))
	return &handler{Handler: a.routes(), closeStreams: a.closeStreams}, nil
}

// openPolicy loads POLICY_FILE, if set, and keeps it current: reloaded on
// a reload request (SIGHUP, through Deps.Reload) and when the file changes,
// until ctx ends. A file that does not
// load stops startup; a later bad edit keeps the policy in force.
func (a *app) openPolicy(ctx context.Context, poll time.Duration, reload <-chan os.Signal) error {
	if a.cfg.PolicyFile == "" {
		return nil
	}
	st, err := policy.Open(a.cfg.PolicyFile, tools.PolicyTools(), a.log.With("component", "policy"))
	if err != nil {
		return &ConfigError{"POLICY_FILE", err.Error()}
	}
	a.policy = st
	a.log.Info("policy loaded", "file", a.cfg.PolicyFile, "rules", st.Status().Rules, "digest", st.Status().Digest)
	if poll <= 0 {
		poll = 2 * time.Second
	}
	go st.Watch(ctx, poll, reload)
	return nil
}

// authHint is what ping tells anonymous callers when tools/list is
// filtered (they would otherwise see one tool and no reason why). With
// MCP_AUTH_REQUIRED there are no anonymous callers.
func (a *app) authHint() func() map[string]any {
	if !a.cfg.FilterTools || a.cfg.AuthRequired {
		return nil
	}
	return func() map[string]any {
		return map[string]any{
			"authenticated": false,
			"message": "Every tool but ping needs an OAuth access token: send Authorization: Bearer <token>. " +
				"tools/list shows only the tools your token's scopes allow; the resource metadata names the authorization server and the scopes.",
			"resource_metadata":     a.prmURL,
			"authorization_servers": []string{a.cfg.Issuer},
			"scopes_supported":      a.table.Scopes(),
		}
	}
}

// buildMetadata derives both RFC 9728 documents from RESOURCE_URL. The
// path form is where challenges point (its resource is exactly the MCP URL
// clients configure, which VS Code and others compare byte for byte).
func (a *app) buildMetadata() error {
	mcpURL, err := url.Parse(a.cfg.MCPURL())
	if err != nil {
		return &ConfigError{"RESOURCE_URL", err.Error()}
	}
	if !plainPath(mcpURL.Path) {
		return &ConfigError{"RESOURCE_URL", "the path may hold only letters, digits and - . _ ~ /"}
	}
	origin := mcpURL.Scheme + "://" + mcpURL.Host
	a.prmPath = "/.well-known/oauth-protected-resource" + mcpURL.EscapedPath()
	a.prmURL = origin + a.prmPath
	doc := func(resource string) *oauthex.ProtectedResourceMetadata {
		return &oauthex.ProtectedResourceMetadata{
			Resource:               resource,
			AuthorizationServers:   []string{a.cfg.Issuer},
			ScopesSupported:        a.table.Scopes(),
			BearerMethodsSupported: []string{"header"},
			ResourceName:           "SentinelX MCP",
			ResourceDocumentation:  a.cfg.BaseURL() + "/",
		}
	}
	a.prm = doc(a.cfg.MCPURL())
	a.rootPRM = doc(a.cfg.BaseURL())
	return nil
}

// ownOrigins are the browser origins of the server itself, always allowed
// on /mcp.
func (a *app) ownOrigins() []string {
	u, _ := url.Parse(a.cfg.ResourceURL)
	out := []string{u.Scheme + "://" + u.Host}
	if middleware.IsLoopback(a.cfg.Host) {
		p := strconv.Itoa(a.cfg.Port)
		out = append(out, "http://127.0.0.1:"+p, "http://localhost:"+p, "http://[::1]:"+p)
	}
	return append(out, a.cfg.AllowedOrigins...)
}

func (a *app) allowedHosts() []string {
	u, _ := url.Parse(a.cfg.ResourceURL)
	return append([]string{u.Hostname()}, a.cfg.AllowedHosts...)
}

// statusInfo gathers what the status page shows. It probes the agent, so
// it is bounded like a readiness check; it reads nothing secret.
func (a *app) statusInfo(ctx context.Context) handlers.StatusInfo {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var up handlers.UpstreamInfo
	if a.cfg.AgentsFile == "" { // with AGENTS_FILE the hosts table shows the probes' results
		lat, err := a.probe.Probe(ctx)
		up = handlers.UpstreamInfo{URL: a.cfg.UpstreamURL, Reachable: err == nil, Latency: lat}
		if err != nil {
			up.Error = err.Error()
		}
	}
	st := a.verifier.Status()
	info := handlers.StatusInfo{
		Version:      a.version,
		Build:        a.build,
		Started:      a.started,
		Stateful:     a.cfg.Stateful,
		AuthRequired: a.cfg.AuthRequired,
		MCPURL:       a.cfg.MCPURL(),
		PRMPath:      a.prmPath,
		RootPRMPath:  "/.well-known/oauth-protected-resource",
		RootResource: a.rootPRM.Resource,
		Upstream:     up,
		Auth: handlers.AuthInfo{
			Issuer: st.Issuer, JWKSURI: st.JWKSURI, Keys: st.Keys, KeysFetchedAt: st.KeysFetchedAt,
			LastError: st.LastError, Introspection: st.Introspection, AudienceCheck: st.AudienceCheck,
			Audiences: a.cfg.Audiences, RequireATJWT: a.cfg.RequireATJWT,
		},
	}
	if a.cfg.MetricsAddr == "" {
		info.MetricsPath = "/metrics"
	}
	info.FilterTools = a.cfg.FilterTools
	info.Hosts = a.hostsInfo()
	if a.policy != nil {
		ps := a.policy.Status()
		info.Policy = &handlers.PolicyInfo{
			File: ps.File, Rules: ps.Rules, Digest: ps.Digest, LoadedAt: ps.LoadedAt,
			LastError: ps.LastError, LastErrorAt: ps.LastErrorAt,
		}
	}
	for _, s := range a.table.Specs() {
		info.Tools = append(info.Tools, handlers.ToolInfo{
			Name: s.Name, Scope: s.Scope, Title: s.Title, Description: s.Description, ReadOnly: s.ReadOnly,
		})
	}
	return info
}
