// Package server assembles sentinelx-mcp: configuration, the chi router
// with every route (routes.go), the MCP server and its tools, token
// verification, and the listener lifecycle.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/httplog/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/pensados/sentinelx-mcp/middleware"
	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/upstream"
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
}

// app holds what the routes are built from.
type app struct {
	cfg      Config
	log      *slog.Logger
	reqLog   *httplog.Logger
	version  string
	started  time.Time
	table    *tools.Table
	verifier *middleware.Verifier
	up       *upstream.Client
	mcp      *mcp.Server
	prm      *oauthex.ProtectedResourceMetadata // path form: resource = MCP URL
	rootPRM  *oauthex.ProtectedResourceMetadata // root form: resource = base URL
	prmURL   string                             // where prm is served; challenges point here
	prmPath  string
}

// New builds the HTTP handler for cfg. Background work (loading the IdP's
// keys, with retries while it is down) runs until ctx ends.
func New(ctx context.Context, cfg Config, d Deps) (http.Handler, error) {
	if d.Logger == nil {
		return nil, fmt.Errorf("server: Deps.Logger is required")
	}
	a := &app{
		cfg:     cfg,
		log:     d.Logger.Logger,
		reqLog:  d.Logger,
		version: d.Version,
		started: time.Now(),
		up:      d.Upstream,
	}
	if a.up == nil {
		up, err := upstream.New(upstream.Options{
			BaseURL: cfg.UpstreamURL,
			Token:   cfg.UpstreamToken,
			Timeout: time.Duration(cfg.UpstreamTimeout),
		})
		if err != nil {
			return nil, err
		}
		a.up = up
	}
	v, err := middleware.NewVerifier(middleware.VerifierConfig{
		Issuer:           cfg.Issuer,
		JWKSURI:          cfg.JWKSURI,
		Audiences:        cfg.Audiences,
		IntrospectionURL: cfg.IntrospectionURL,
		ClientID:         cfg.ClientID,
		ClientSecret:     cfg.ClientSecret,
		RequireATJWT:     cfg.RequireATJWT,
		HTTPClient:       d.IdPClient,
		Logger:           a.log,
		Debug:            cfg.AuthDebug,
	})
	if err != nil {
		return nil, err
	}
	v.Start(ctx)
	a.verifier = v
	if len(cfg.Audiences) == 0 {
		a.log.Warn("OIDC_EXPECTED_AUDIENCE is empty: tokens issued for any resource are accepted; set it to " + cfg.MCPURL())
	}

	audit := d.Audit
	if audit == nil {
		audit = a.log.With("log", "audit")
	}
	a.table = tools.New(tools.Deps{
		Upstream: a.up, Audit: audit, Version: d.Version,
		UploadURLAllow: cfg.UploadURLAllow, EditUploadLocalDir: cfg.EditUploadLocalDir,
	})
	a.mcp = mcp.NewServer(&mcp.Implementation{Name: "sentinelx-mcp", Title: "SentinelX", Version: d.Version}, &mcp.ServerOptions{
		Instructions: "Administer a Linux host through its SentinelX Core agent. Read-only tools: sentinel_state, sentinel_capabilities, sentinel_help. Every other tool changes the host; each needs its own OAuth scope.",
		Logger:       sdkLogger(a.log),
	})
	a.table.Register(a.mcp)

	if err := a.buildMetadata(); err != nil {
		return nil, err
	}
	return a.routes(), nil
}

// buildMetadata derives both RFC 9728 documents from RESOURCE_URL. The
// path form is where challenges point (its resource is exactly the MCP URL
// clients configure, which VS Code and others compare byte for byte).
func (a *app) buildMetadata() error {
	mcpURL, err := url.Parse(a.cfg.MCPURL())
	if err != nil {
		return &ConfigError{"RESOURCE_URL", err.Error()}
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
	if ip := net.ParseIP(a.cfg.Host); ip != nil && ip.IsLoopback() || a.cfg.Host == "localhost" {
		p := strconv.Itoa(a.cfg.Port)
		out = append(out, "http://127.0.0.1:"+p, "http://localhost:"+p, "http://[::1]:"+p)
	}
	return append(out, a.cfg.AllowedOrigins...)
}

func (a *app) allowedHosts() []string {
	u, _ := url.Parse(a.cfg.ResourceURL)
	return append([]string{u.Hostname()}, a.cfg.AllowedHosts...)
}
