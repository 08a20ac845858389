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
	"strings"
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
	DefaultPort   = 8099
	devDefaultTTL = time.Hour
	// devNoAgentURL is where --no-agent points the bridge when SENTINELX_URL
	// is unset: the agent's usual address.
	devNoAgentURL = "http://127.0.0.1:8091"
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
	// Dev's own handler with Info and below lowered to Debug, so that the
	// banner is the first thing a user sees. The program installs it with
	// slog.SetDefault; Dev itself changes no process-wide state.
	LibraryLog func(slog.Handler)
}

// devSetup is what Dev prints in its banner.
type devSetup struct {
	mcpURL, prmURL, issuer  string
	token                   string
	expires                 time.Time
	clientID, clientSecret  string
	agent                   string // how the upstream is provided, for people
	tokenEndpoint, resource string
}

// Dev runs the bridge, an embedded OAuth authorization server and (unless
// SENTINELX_URL is set or NoAgent) a sandboxed agent, all on loopback,
// prints a banner with a ready token to stdout, and serves until ctx ends.
// Logs go to stderr.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if !middleware.IsLoopback(host) {
		return fmt.Errorf("dev: --host %q is not a loopback address; dev mode approves every sign-in, so it only listens on 127.0.0.1, ::1 or localhost", host)
	}
	if o.Port < 0 || o.Port > 65535 || o.IdPPort < 0 || o.IdPPort > 65535 {
		return errors.New("dev: ports must be between 0 and 65535")
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = devDefaultTTL
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	upURL, upToken := getenv("SENTINELX_URL"), getenv("SENTINELX_TOKEN")
	if upToken == "" {
		upToken = getenv("SENTINEL_TOKEN")
	}
	if upURL != "" && upToken == "" {
		return errors.New("dev: SENTINELX_URL is set, so SENTINELX_TOKEN (the agent's bearer token) is required too")
	}

	idpPort := o.IdPPort
	if idpPort == 0 && o.Port != 0 {
		idpPort = o.Port + 1
	}
	bridgeLn, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(o.Port)))
	if err != nil {
		return fmt.Errorf("dev: bridge: %w (pick another with --port)", err)
	}
	defer bridgeLn.Close()
	idpLn, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(idpPort)))
	if err != nil {
		return fmt.Errorf("dev: authorization server: %w (pick another with --idp-port)", err)
	}
	defer idpLn.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	running := 0

	agentDesc := "SENTINELX_URL " + upURL
	switch {
	case upURL != "":
	case o.NoAgent:
		upURL, upToken = devNoAgentURL, "no-agent"
		agentDesc = "none (--no-agent): tool calls go to " + devNoAgentURL + "; set SENTINELX_URL and SENTINELX_TOKEN for a real agent"
	default:
		upToken = rand.Text()
		a, err := sandbox.New(sandbox.Options{Token: upToken, DisableScripts: !o.AllowScripts})
		if err != nil {
			return fmt.Errorf("dev: agent: %w", err)
		}
		defer a.Close()
		aln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("dev: agent: %w", err)
		}
		upURL = "http://" + aln.Addr().String()
		agentDesc = "embedded sandbox " + a.Dir() + " at " + upURL + " (allowlisted commands, no shell, simulated services; "
		if o.AllowScripts {
			agentDesc += "scripts run for real as your user: --allow-scripts)"
		} else {
			agentDesc += "scripts refused unless --allow-scripts)"
		}
		running++
		go func() { errc <- a.Serve(ctx, aln) }()
	}

	base := "http://" + bridgeLn.Addr().String()
	issuer := "http://" + idpLn.Addr().String()
	forced := map[string]string{
		"MCP_HOST": host, "MCP_PORT": strconv.Itoa(bridgeLn.Addr().(*net.TCPAddr).Port),
		// Both resources this bridge publishes: the path-form PRM's (the MCP
		// URL) and the root PRM's (the base URL, RFC 9728 §3.3), which
		// clients that fall back to the root form send as their RFC 8707
		// resource.
		"RESOURCE_URL": base, "OIDC_ISSUER": issuer, "OIDC_EXPECTED_AUDIENCE": base + "/mcp," + base,
		"SENTINELX_URL": upURL, "SENTINELX_TOKEN": upToken, "SENTINEL_TOKEN": "",
		"OIDC_JWKS_URI": "", "OIDC_INTROSPECTION_URL": "", "OIDC_CLIENT_ID": "", "OIDC_CLIENT_SECRET": "",
		"LOG_FORMAT": "text",
	}
	cfg, err := server.LoadConfig(func(k string) string {
		if v, ok := forced[k]; ok {
			return v
		}
		return getenv(k)
	})
	if err != nil {
		return fmt.Errorf("dev: config: %w", err)
	}
	logger := httplog.NewLogger("sentinelx-mcp", httplog.Options{
		LogLevel: httplog.LevelByName(cfg.LogLevel), Concise: true, Writer: stderr,
	})
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

	running += 2
	go func() { errc <- server.Run(ctx, idpLn, idp.Handler(), logger.Logger) }()
	go func() { errc <- server.Run(ctx, bridgeLn, h, logger.Logger) }()

	id, secret := idp.DevClient()
	writeDevBanner(stdout, devSetup{
		mcpURL: cfg.MCPURL(), prmURL: base + "/.well-known/oauth-protected-resource/mcp", issuer: idp.Issuer(),
		token: tok, expires: exp, clientID: id, clientSecret: secret, agent: agentDesc,
		tokenEndpoint: idp.Issuer() + "/oauth/token", resource: cfg.MCPURL(),
	})

	// The first component to stop (or ctx) stops the others.
	var first error
	for range running {
		err := <-errc
		if err != nil && !errors.Is(err, context.Canceled) && first == nil {
			first = err
		}
		cancel()
	}
	return first
}

// writeDevBanner prints what a newcomer needs, ready to paste: URLs, a
// token, the README's curl smoke test filled in, the MCP Inspector CLI and
// a Claude Desktop (mcp-remote) entry.
func writeDevBanner(w io.Writer, s devSetup) {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("\nsentinelx-mcp dev: bridge, OAuth server and agent on loopback (Ctrl-C stops all)\n\n")
	p("  MCP URL     %s\n", s.mcpURL)
	p("  PRM         %s\n", s.prmURL)
	p("  Issuer      %s   (auto-approves every sign-in: dev only)\n", s.issuer)
	p("  Agent       %s\n", s.agent)
	p("  Client      %s / %s   (client_credentials, every scope)\n\n", s.clientID, s.clientSecret)
	p("Access token (every scope, aud %s, expires %s):\n\n%s\n\n", s.resource, s.expires.Format("15:04:05 MST"), s.token)
	p("New token:\n  curl -s -u %s:%s -d grant_type=client_credentials --data-urlencode resource=%s %s | jq -r .access_token\n\n",
		s.clientID, s.clientSecret, s.resource, s.tokenEndpoint)
	p("--- MCP smoke test (curl) ---\n\n")
	p("# 1. Initialize\n")
	p(`SESSION=$(curl -si -X POST %[1]s \
  -H "Accept: application/json, text/event-stream" \
  -H "Content-Type: application/json" \
  -d '{
    "jsonrpc":"2.0","id":"1","method":"initialize",
    "params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"curl","version":"0.1"}}
  }' | grep -i mcp-session-id | awk '{print $2}' | tr -d '\r')

# 2. Notify initialized
curl -s -X POST %[1]s \
  -H "Content-Type: application/json" \
  -H "mcp-session-id: $SESSION" \
  -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'

# 3. Call ping (public)
curl -s -X POST %[1]s \
  -H "Content-Type: application/json" \
  -H "mcp-session-id: $SESSION" \
  -d '{"jsonrpc":"2.0","id":"2","method":"tools/call","params":{"name":"ping","arguments":{}}}' \
  | sed -n 's/^data: //p' | jq

# 4. Call a protected tool
curl -s -X POST %[1]s \
  -H "Content-Type: application/json" \
  -H "mcp-session-id: $SESSION" \
  -H "Authorization: Bearer %[2]s" \
  -d '{"jsonrpc":"2.0","id":"3","method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"}}}' \
  | sed -n 's/^data: //p' | jq
`, s.mcpURL, s.token)
	p("--- end of smoke test ---\n\n")
	p("MCP Inspector (CLI):\n  npx @modelcontextprotocol/inspector@1.0.3 --cli %s --transport http --header \"Authorization: Bearer %s\" --method tools/list\n\n", s.mcpURL, s.token)
	p("MCP Inspector (UI, does the OAuth flow itself): npx @modelcontextprotocol/inspector@1.0.3, then connect to %s (Streamable HTTP)\n\n", s.mcpURL)
	p("Claude Desktop (claude_desktop_config.json), through mcp-remote, which signs in with OAuth itself:\n")
	p(`  {
    "mcpServers": {
      "sentinelx-dev": {
        "command": "npx",
        "args": ["-y", "mcp-remote@0.15.1", "%s", "--allow-http"]
      }
    }
  }
`, s.mcpURL)
	p("\n")
	_, _ = io.WriteString(w, b.String())
}

// quietLibrary lowers records at Info and below to Debug: start-up chatter
// of libraries stays available with LOG_LEVEL=debug, warnings stay warnings.
type quietLibrary struct{ h slog.Handler }

func (q quietLibrary) Enabled(ctx context.Context, l slog.Level) bool {
	return q.h.Enabled(ctx, lowered(l))
}

func (q quietLibrary) Handle(ctx context.Context, r slog.Record) error {
	r.Level = lowered(r.Level)
	return q.h.Handle(ctx, r)
}

func (q quietLibrary) WithAttrs(a []slog.Attr) slog.Handler { return quietLibrary{q.h.WithAttrs(a)} }
func (q quietLibrary) WithGroup(n string) slog.Handler      { return quietLibrary{q.h.WithGroup(n)} }

func lowered(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return slog.LevelDebug
	}
	return l
}
