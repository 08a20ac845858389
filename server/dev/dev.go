// Package dev is `sentinelx-mcp dev`: the bridge of package server, an
// OAuth authorization server (devidp) that approves every sign-in, and the
// sandboxed agent, all on loopback, so the whole OAuth + MCP path can be
// tried on one machine. It imports server; production packages never
// import it.
package dev

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/go-chi/httplog/v2"

	"github.com/pensados/sentinelx-mcp/middleware"
	"github.com/pensados/sentinelx-mcp/server"
	"github.com/pensados/sentinelx-mcp/server/dev/devidp"
	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// Dev mode defaults (DESIGN.md "Dev mode"): the seed's local port, and the
// authorization server right next to it.
const (
	DefaultPort = 8099
	defaultTTL  = time.Hour
	// noAgentURL is where --no-agent points the bridge when SENTINELX_URL
	// is unset: the agent's usual address.
	noAgentURL = "http://127.0.0.1:8091"
)

// Options configures [Run].
type Options struct {
	// Host is the loopback address to bind; "" means 127.0.0.1. Anything
	// that is not loopback is refused: the authorization server approves
	// every request.
	Host string
	// Port is the bridge's port; 0 picks a free one (tests).
	Port int
	// IdPPort is the authorization server's port; 0 means Port+1, or a
	// free one when Port is 0.
	IdPPort int
	// NoAgent skips the embedded sandboxed agent.
	NoAgent bool
	// Hosts, when more than 1, starts that many sandboxed agents behind
	// one bridge (AGENTS_FILE) with a sample per-host policy, unless
	// POLICY_FILE names one.
	Hosts int
	// AllowScripts lets the embedded agent run sentinel_script_run for
	// real: bash or python3 as the developer's user, which no allowlist
	// confines. Off by default: any local process can get a dev token.
	AllowScripts bool
	// TokenTTL is the lifetime of the printed token and of issued access
	// tokens; 0 means one hour.
	TokenTTL time.Duration
	// Getenv reads the environment: SENTINELX_URL and SENTINELX_TOKEN pick
	// a real agent, and the bridge's other settings (LOG_LEVEL,
	// MCP_STATEFUL, …) apply. Nil means an empty environment.
	Getenv func(string) string
	// Version is reported by /healthz and ping.
	Version string
	// LibraryLog, when set, is given the handler for what libraries log
	// through the process-wide slog default (zitadel/oidc's op logs six
	// "registered route" lines while the authorization server is built):
	// Run's own handler with Info and below lowered to Debug, so that the
	// banner is the first thing a user sees. The program installs it with
	// slog.SetDefault; Run itself changes no process-wide state.
	LibraryLog func(slog.Handler)
}

// Run runs the bridge, an embedded OAuth authorization server and (unless
// SENTINELX_URL is set or NoAgent) a sandboxed agent, all on loopback,
// prints a banner with a ready token to stdout, and serves until ctx ends.
// Logs go to stderr.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	host, getenv, err := o.check()
	if err != nil {
		return err
	}
	upURL, upToken, err := agentFromEnv(getenv)
	if err != nil {
		return err
	}
	bridgeLn, idpLn, err := listen(host, o.Port, o.IdPPort)
	if err != nil {
		return err
	}
	defer bridgeLn.Close()
	defer idpLn.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &group{errc: make(chan error, 3+max(o.Hosts, 1))}
	var up agent
	var fl fleetSetup
	if o.Hosts > 1 {
		fl.hosts, fl.agentsFile, fl.policyFile, up.close, err = startFleet(ctx, g, o, o.Hosts)
		if getenv("POLICY_FILE") != "" {
			fl.policyFile = getenv("POLICY_FILE")
		}
		up.desc = fmt.Sprintf("%d embedded sandboxes (--hosts %d), registry %s", o.Hosts, o.Hosts, fl.agentsFile)
	} else {
		up, err = startAgent(ctx, g, o, upURL, upToken)
	}
	if err != nil {
		return err
	}
	defer up.close()

	base := "http://" + bridgeLn.Addr().String()
	issuer := "http://" + idpLn.Addr().String()
	cfg, err := bridgeConfig(host, bridgeLn.Addr(), issuer, up, fl, getenv)
	if err != nil {
		return err
	}
	logger := httplog.NewLogger("sentinelx-mcp", httplog.Options{
		LogLevel: httplog.LevelByName(cfg.LogLevel), Concise: true, Writer: stderr,
	})
	held := &heldLog{}
	logger.Logger = slog.New(held.wrap(logger.Logger.Handler()))
	defer held.release() // a start that fails before the banner still shows what it logged
	if o.LibraryLog != nil {
		o.LibraryLog(quietLibrary{logger.Logger.Handler()})
	}
	idp, err := devidp.New(devidp.Options{
		Issuer:    issuer,
		Resources: []string{cfg.MCPURL(), cfg.BaseURL()},
		Scopes:    tools.New(tools.Deps{}).Scopes(),
		TokenTTL:  o.TokenTTL,
		Logger:    logger.Logger,
	})
	if err != nil {
		return err
	}
	h, err := server.New(ctx, cfg, server.Deps{Logger: logger, Version: o.Version})
	if err != nil {
		return err
	}
	tok, exp, err := idp.Token(o.TokenTTL)
	if err != nil {
		return fmt.Errorf("dev: minting the banner token: %w", err)
	}

	g.start(func() error { return server.Run(ctx, idpLn, idp.Handler(), logger.Logger) })
	g.start(func() error { return server.Run(ctx, bridgeLn, h, logger.Logger) })

	id, secret := idp.DevClient()
	writeBanner(stdout, setup{
		mcpURL: cfg.MCPURL(), prmURL: base + "/.well-known/oauth-protected-resource/mcp", issuer: idp.Issuer(),
		token: tok, expires: exp, clientID: id, clientSecret: secret, agent: up.desc,
		tokenEndpoint: idp.Issuer() + "/oauth/token", resource: cfg.MCPURL(), fleet: fl,
	})
	held.release()
	return g.wait(cancel)
}

// check validates o and fills in its defaults. It returns the host to bind
// and the environment to read.
func (o *Options) check() (host string, getenv func(string) string, err error) {
	host = o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if !middleware.IsLoopback(host) {
		return "", nil, fmt.Errorf("dev: --host %q is not a loopback address; dev mode approves every sign-in, so it only listens on 127.0.0.1, ::1 or localhost", host)
	}
	if o.Port < 0 || o.Port > 65535 || o.IdPPort < 0 || o.IdPPort > 65535 {
		return "", nil, errors.New("dev: ports must be between 0 and 65535")
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = defaultTTL
	}
	getenv = o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	switch {
	case o.Hosts < 0 || o.Hosts > maxDevHosts:
		return "", nil, fmt.Errorf("dev: --hosts %d: want 1 to %d sandboxed agents", o.Hosts, maxDevHosts)
	case o.Hosts > 1 && o.NoAgent:
		return "", nil, errors.New("dev: --hosts starts sandboxed agents; it does not go with --no-agent")
	case o.Hosts > 1 && getenv("SENTINELX_URL") != "":
		return "", nil, errors.New("dev: --hosts starts sandboxed agents; unset SENTINELX_URL (or write an AGENTS_FILE for real agents and run serve)")
	}
	return host, getenv, nil
}

// agentFromEnv reads the real agent the developer named, if any: its URL
// is useless without its token.
func agentFromEnv(getenv func(string) string) (url, token string, err error) {
	url, token = getenv("SENTINELX_URL"), getenv("SENTINELX_TOKEN")
	if token == "" {
		token = getenv("SENTINEL_TOKEN")
	}
	if url != "" && token == "" {
		return "", "", errors.New("dev: SENTINELX_URL is set, so SENTINELX_TOKEN (the agent's bearer token) is required too")
	}
	return url, token, nil
}

// listen opens the bridge's and the authorization server's listeners, the
// latter on idpPort, or next to the bridge when that is 0.
func listen(host string, port, idpPort int) (bridge, idp net.Listener, err error) {
	if idpPort == 0 && port != 0 {
		idpPort = port + 1
	}
	bridge, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, nil, fmt.Errorf("dev: bridge: %w (pick another with --port)", err)
	}
	idp, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(idpPort)))
	if err != nil {
		bridge.Close()
		return nil, nil, fmt.Errorf("dev: authorization server: %w (pick another with --idp-port)", err)
	}
	return bridge, idp, nil
}

// fleetSetup is what `dev --hosts` started: the hosts, the registry file
// and the policy in force.
type fleetSetup struct {
	hosts                  []devHost
	agentsFile, policyFile string
}

// agent is the upstream the bridge talks to in dev mode, and how the
// banner describes it to people.
type agent struct {
	url, token, desc string
	close            func()
}

// startAgent picks the upstream: the real agent from the environment, none
// (--no-agent), or a sandboxed agent started in g on a free loopback port.
func startAgent(ctx context.Context, g *group, o Options, url, token string) (agent, error) {
	switch {
	case url != "":
		return agent{url: url, token: token, desc: "SENTINELX_URL " + url, close: func() {}}, nil
	case o.NoAgent:
		return agent{url: noAgentURL, token: "no-agent", close: func() {},
			desc: "none (--no-agent): tool calls go to " + noAgentURL + "; set SENTINELX_URL and SENTINELX_TOKEN for a real agent"}, nil
	}
	token = rand.Text()
	a, err := sandbox.New(sandbox.Options{Token: token, DisableScripts: !o.AllowScripts})
	if err != nil {
		return agent{}, fmt.Errorf("dev: agent: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		return agent{}, fmt.Errorf("dev: agent: %w", err)
	}
	url = "http://" + ln.Addr().String()
	desc := "embedded sandbox " + a.Dir() + " at " + url + " (allowlisted commands, no shell, simulated services; "
	if o.AllowScripts {
		desc += "scripts run for real as your user: --allow-scripts)"
	} else {
		desc += "scripts refused unless --allow-scripts)"
	}
	g.start(func() error { return a.Serve(ctx, ln) })
	return agent{url: url, token: token, desc: desc, close: func() { a.Close() }}, nil
}

// bridgeConfig is the bridge's configuration: the developer's environment,
// except what dev mode decides (addresses, issuer, audiences, agent).
func bridgeConfig(host string, bridge net.Addr, issuer string, up agent, fl fleetSetup, getenv func(string) string) (server.Config, error) {
	base := "http://" + bridge.String()
	forced := map[string]string{
		"MCP_HOST": host, "MCP_PORT": strconv.Itoa(bridge.(*net.TCPAddr).Port),
		// Both resources this bridge publishes: the path-form PRM's (the MCP
		// URL) and the root PRM's (the base URL, RFC 9728 §3.3), which
		// clients that fall back to the root form send as their RFC 8707
		// resource.
		"RESOURCE_URL": base, "OIDC_ISSUER": issuer, "OIDC_EXPECTED_AUDIENCE": base + "/mcp," + base,
		"SENTINELX_URL": up.url, "SENTINELX_TOKEN": up.token, "SENTINEL_TOKEN": "",
		"OIDC_JWKS_URI": "", "OIDC_INTROSPECTION_URL": "", "OIDC_CLIENT_ID": "", "OIDC_CLIENT_SECRET": "",
		"LOG_FORMAT": "text",
	}
	if fl.agentsFile != "" {
		forced["AGENTS_FILE"], forced["POLICY_FILE"] = fl.agentsFile, fl.policyFile
		forced["SENTINELX_URL"], forced["SENTINELX_TOKEN"] = "", ""
	}
	cfg, err := server.LoadConfig(func(k string) string {
		if v, ok := forced[k]; ok {
			return v
		}
		return getenv(k)
	})
	if err != nil {
		return cfg, fmt.Errorf("dev: config: %w", err)
	}
	return cfg, nil
}

// group runs dev mode's components (agent, authorization server, bridge).
type group struct {
	errc    chan error // buffered for every component, so none blocks
	running int
}

func (g *group) start(serve func() error) {
	g.running++
	go func() { g.errc <- serve() }()
}

// wait returns when every component has stopped: the first to stop (or
// ctx) stops the others. It reports the first failure, if any.
func (g *group) wait(cancel context.CancelFunc) error {
	var first error
	for range g.running {
		err := <-g.errc
		if err != nil && !errors.Is(err, context.Canceled) && first == nil {
			first = err
		}
		cancel()
	}
	return first
}
