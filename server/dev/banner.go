package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// setup is what Run prints in its banner.
type setup struct {
	mcpURL, prmURL, issuer  string
	token                   string
	expires                 time.Time
	clientID, clientSecret  string
	agent                   string // how the upstream is provided, for people
	tokenEndpoint, resource string
	fleet                   fleetSetup // dev --hosts; empty with one agent
}

// writeBanner prints what a newcomer needs, ready to paste: URLs, a
// token, the README's curl smoke test filled in, the MCP Inspector CLI and
// a Claude Desktop (mcp-remote) entry.
func writeBanner(w io.Writer, s setup) {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	agents := "agent"
	if len(s.fleet.hosts) > 0 {
		agents = "agents"
	}
	p("\nsentinelx-mcp dev: bridge, OAuth server and %s on loopback (Ctrl-C stops all)\n\n", agents)
	p("  MCP URL     %s\n", s.mcpURL)
	p("  PRM         %s\n", s.prmURL)
	p("  Issuer      %s   (auto-approves every sign-in: dev only)\n", s.issuer)
	p("  Agent       %s\n", s.agent)
	for _, h := range s.fleet.hosts {
		p("    %-9s %-22s %s\n", h.name, h.Labels(), h.url)
	}
	if s.fleet.policyFile != "" {
		p("  Policy      %s   (per-host rules: docs/fleet.md)\n", s.fleet.policyFile)
	}
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
  -d '{"jsonrpc":"2.0","id":"3","method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"%[3]s}}}' \
  | sed -n 's/^data: //p' | jq
`, s.mcpURL, s.token, s.hostArg())
	if len(s.fleet.hosts) > 0 {
		p(`
# 5. Fan out: uptime on every web host (the sample policy allows it up to 10 hosts)
curl -s -X POST %[1]s \
  -H "Content-Type: application/json" \
  -H "mcp-session-id: $SESSION" \
  -H "Authorization: Bearer %[2]s" \
  -d '{"jsonrpc":"2.0","id":"4","method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime","selector":"role=web"}}}' \
  | sed -n 's/^data: //p' | jq .result.structuredContent.summary
`, s.mcpURL, s.token)
	}
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

// hostArg is the smoke test's host argument: none with one agent, the
// first host with many.
func (s setup) hostArg() string {
	if len(s.fleet.hosts) == 0 {
		return ""
	}
	return `,"host":"` + s.fleet.hosts[0].name + `"`
}

// maxHeld bounds the records [heldLog] keeps; past it they are written at
// once, out of order with the banner but not lost.
const maxHeld = 1000

// heldLog keeps what the bridge logs while dev mode starts (the policy and
// the host registry it loaded, the keys it fetched) and writes it after
// the banner, so the banner is the first thing on the terminal and
// nothing logged before it is lost.
type heldLog struct {
	mu      sync.Mutex // guards the fields below
	done    bool
	records []heldRecord
}

type heldRecord struct {
	h slog.Handler
	r slog.Record
}

// wrap returns h holding its records until release.
func (l *heldLog) wrap(h slog.Handler) slog.Handler { return heldHandler{h, l} }

// release writes the held records, in order, and stops holding.
func (l *heldLog) release() {
	l.mu.Lock()
	recs := l.records
	l.records, l.done = nil, true
	l.mu.Unlock()
	for _, hr := range recs {
		_ = hr.h.Handle(context.Background(), hr.r)
	}
}

type heldHandler struct {
	h slog.Handler
	l *heldLog
}

func (h heldHandler) Enabled(ctx context.Context, lvl slog.Level) bool { return h.h.Enabled(ctx, lvl) }

func (h heldHandler) Handle(ctx context.Context, r slog.Record) error {
	h.l.mu.Lock()
	if !h.l.done && len(h.l.records) < maxHeld {
		h.l.records = append(h.l.records, heldRecord{h.h, r.Clone()})
		h.l.mu.Unlock()
		return nil
	}
	h.l.mu.Unlock()
	return h.h.Handle(ctx, r)
}

func (h heldHandler) WithAttrs(a []slog.Attr) slog.Handler { return heldHandler{h.h.WithAttrs(a), h.l} }
func (h heldHandler) WithGroup(n string) slog.Handler      { return heldHandler{h.h.WithGroup(n), h.l} }
