package handlers

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/web"
)

var (
	testNow     = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	testStarted = testNow.Add(-(26*time.Hour + 4*time.Minute + 5*time.Second))
)

func fixedClock() time.Time { return testNow }

func testTools() []ToolInfo {
	return []ToolInfo{
		{Name: "ping", Title: "Ping", Description: "Check that the bridge is up.", ReadOnly: true},
		{Name: "sentinel_state", Scope: "sentinelx:state", Title: "Agent state", Description: "Read the agent's state.", ReadOnly: true},
		{Name: "sentinel_exec", Scope: "sentinelx:exec", Title: "Run a command", Description: "Run one allowed command <b>as is</b>."},
	}
}

// healthyStatus is a bridge with everything working.
func healthyStatus() StatusInfo {
	return StatusInfo{
		Version: "1.4.0",
		Build: Build{GoVersion: "go1.26.8", Revision: "0123456789abcdef0123456789abcdef01234567",
			RevisionTime: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		Started:     testStarted,
		MCPURL:      "https://sentinelx.example.com/mcp",
		PRMPath:     "/.well-known/oauth-protected-resource/mcp",
		RootPRMPath: "/.well-known/oauth-protected-resource",
		MetricsPath: "/metrics",
		Upstream:    UpstreamInfo{URL: "http://127.0.0.1:8091", Reachable: true, Latency: 1234 * time.Microsecond},
		Auth: AuthInfo{
			Issuer: "https://auth.example.com/realms/sentinelx", JWKSURI: "https://auth.example.com/realms/sentinelx/protocol/openid-connect/certs",
			Keys: 2, KeysFetchedAt: testNow.Add(-7 * time.Minute), AudienceCheck: true,
			Audiences: []string{"https://sentinelx.example.com/mcp", "https://sentinelx.example.com"},
		},
		Tools: testTools(),
	}
}

// degradedStatus is a fresh install gone wrong: audience check off, agent
// down, no keys, stateful, metrics elsewhere, no VCS stamp.
func degradedStatus() StatusInfo {
	return StatusInfo{
		Version:      "dev",
		Build:        Build{GoVersion: "go1.26.8"},
		Started:      testNow.Add(-42 * time.Second),
		Stateful:     true,
		AuthRequired: true,
		MCPURL:       "http://127.0.0.1:8099/mcp",
		PRMPath:      "/.well-known/oauth-protected-resource/mcp",
		RootPRMPath:  "/.well-known/oauth-protected-resource",
		Upstream:     UpstreamInfo{URL: "http://127.0.0.1:8091", Error: "cannot reach SENTINELX_URL: connection refused; check SENTINELX_URL and that the SentinelX Core agent is running"},
		Auth: AuthInfo{
			Issuer: "https://auth.example.com/", LastError: "JWKS https://auth.example.com/jwks: HTTP 503",
			Introspection: true, RequireATJWT: true,
		},
		Tools: testTools(),
	}
}

// fleetStatus is a bridge with AGENTS_FILE: one host up, one down.
func fleetStatus() StatusInfo {
	st := healthyStatus()
	st.Upstream = UpstreamInfo{}
	st.Hosts = &HostsInfo{File: "/etc/sentinelx-mcp/agents.yaml", LoadedAt: testNow.Add(-time.Hour), Hosts: []HostInfo{
		{Name: "web-1", Labels: map[string]string{"role": "web", "env": "prod"}, Reachable: true, Latency: 1200 * time.Microsecond, AgentVersion: "0.3.5"},
		{Name: "web-3", Labels: map[string]string{"role": "web"}, Down: true, DownSince: testNow.Add(-time.Minute), LastError: "connection refused"},
	}}
	return st
}

func statusHandler(st StatusInfo) http.Handler {
	return statusPage(func(context.Context) StatusInfo { return st }, fixedClock)
}

func TestStatusPageGolden(t *testing.T) {
	tests := []struct {
		name   string
		st     StatusInfo
		golden string
		want   []string
		absent []string
	}{
		{"healthy", healthyStatus(), "status_healthy.html",
			[]string{`id="version">1.4.0<`, "1d 2h", `href="/metrics"`, "1.2ms", "2</span> fetched 7m ago",
				`<code class="tool-name">sentinel_exec</code>`, "<b>as is</b>" /* escaped below */},
			[]string{`id="audience-warning"`, `id="upstream-warning"`, `id="keys-warning"`}},
		{"degraded", degradedStatus(), "status_degraded.html",
			[]string{`id="audience-warning"`, "Audience check is OFF", `id="upstream-warning"`, `id="keys-warning"`,
				"connection refused", "HTTP 503", "stateful", "not stamped", "42s"},
			[]string{`href="/metrics"`}},
		{"fleet", fleetStatus(), "status_fleet.html",
			[]string{`id="h-hosts"`, "<code>web-1</code>", "<code>role=web</code>", ">down<", "connection refused", "0.3.5", "1 of 2", `id="h-host-table"`, "1.2ms"},
			[]string{`id="h-upstream"`, `id="upstream-warning"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, statusHandler(tt.st), "/", "")
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			body := rec.Body.String()
			checkGolden(t, tt.golden, rec.Body.Bytes())
			for _, w := range tt.want {
				if w == "<b>as is</b>" {
					w = "&lt;b&gt;as is&lt;/b&gt;"
				}
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(body, a) {
					t.Errorf("page has %q", a)
				}
			}
		})
	}
}

func TestStatusPageOnlyAtRoot(t *testing.T) {
	if rec := get(t, statusHandler(healthyStatus()), "/nope", "text/html"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", rec.Code)
	}
}

// allPages renders every page from data stuffed with secret-looking values
// in every place a configuration value can reach.
func allPages(st StatusInfo, checks []Check) map[string]http.Handler {
	md := testPRM("https://sentinelx.example.com/mcp")
	return map[string]http.Handler{
		"/":        statusHandler(st),
		"/healthz": health("1.4.0", testStarted, fixedClock),
		"/readyz":  ready(time.Second, fixedClock, checks...),
		"/.well-known/oauth-protected-resource/mcp": ResourceMetadata(md, md.Resource),
		"/.well-known/oauth-protected-resource":     ResourceMetadata(testPRM("https://sentinelx.example.com"), md.Resource),
	}
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"

// TestPagesShowNoSecrets: credentials an operator put into URLs (userinfo,
// query keys) never reach a page.
func TestPagesShowNoSecrets(t *testing.T) {
	secrets := []string{"UPSTREAM-PASS-s3cr3t", "ISSUER-PASS-s3cr3t", "JWKS-KEY-s3cr3t", "READY-PASS-s3cr3t"}
	st := degradedStatus()
	st.Upstream.URL = "http://agent:UPSTREAM-PASS-s3cr3t@127.0.0.1:8091/"
	st.Auth.Issuer = "https://user:ISSUER-PASS-s3cr3t@auth.example.com/"
	st.Auth.JWKSURI = "https://auth.example.com/jwks?api_key=JWKS-KEY-s3cr3t#frag"
	checks := []Check{{Name: "upstream", Run: func(context.Context) (map[string]any, error) {
		return map[string]any{"url": "http://agent:READY-PASS-s3cr3t@127.0.0.1:8091"}, nil
	}}}
	for path, h := range allPages(st, checks) {
		rec := get(t, h, path, browserAccept)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("%s: Content-Type %q, want the HTML page", path, ct)
		}
		for _, s := range secrets {
			if strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s shows %s", path, s)
			}
		}
	}
	if got := redactURL(st.Upstream.URL); got != "http://127.0.0.1:8091/" {
		t.Errorf("redactURL = %q", got)
	}
	if got := redactURL(st.Auth.JWKSURI); got != "https://auth.example.com/jwks?…" {
		t.Errorf("redactURL = %q", got)
	}
}

// TestPagesHeadersAndSelfContained: every page is HTML under the strict
// CSP, varies on Accept, and loads nothing but its own stylesheet: no
// script, no inline style, nothing from another origin.
func TestPagesHeadersAndSelfContained(t *testing.T) {
	attrURL := regexp.MustCompile(`(?i)\s(?:src|href)="([^"]*)"`)
	for path, h := range allPages(healthyStatus(), testReadyChecks()) {
		t.Run(path, func(t *testing.T) {
			rec := get(t, h, path, browserAccept)
			hd := rec.Header()
			for k, want := range map[string]string{
				"Content-Type":            "text/html; charset=utf-8",
				"Content-Security-Policy": web.CSP,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := hd.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if path != "/" && !strings.Contains(hd.Get("Vary"), "Accept") {
				t.Errorf("Vary = %q, want Accept", hd.Get("Vary"))
			}
			body := rec.Body.String()
			for _, bad := range []string{"<script", " style=", "<style", "@import", "//fonts."} {
				if strings.Contains(strings.ToLower(body), bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			for _, m := range attrURL.FindAllStringSubmatch(body, -1) {
				u := m[1]
				if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") || strings.HasPrefix(u, "data:image/") ||
					strings.HasPrefix(u, "https://www.rfc-editor.org/") { // a link, never loaded
					continue
				}
				t.Errorf("reference to %q", u)
			}
			if !strings.Contains(body, `<link rel="stylesheet" href="`+web.AssetURL("style.css")+`">`) {
				t.Error("no versioned stylesheet link")
			}
		})
	}
}

// TestStatusPageIgnoresAccept: "/" is a page for people whatever the
// Accept header says.
func TestStatusPageIgnoresAccept(t *testing.T) {
	for _, accept := range []string{"", "*/*", "application/json"} {
		rec := get(t, statusHandler(healthyStatus()), "/", accept)
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Accept %q: Content-Type %q", accept, ct)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 400 * time.Millisecond: "0s", 42 * time.Second: "42s", 90 * time.Second: "1m 30s",
		time.Hour: "1h", 26*time.Hour + 4*time.Minute + 5*time.Second: "1d 2h", -time.Second: "0s",
		3*time.Hour + 5*time.Second: "3h", 3*time.Hour + 5*time.Minute: "3h 5m",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// The root PRM says resource = the base URL; when the audience check does
// not accept it, a client that signs in through the root form gets a token
// this server refuses, and the page says so.
func TestStatusPageRootAudienceWarning(t *testing.T) {
	tests := []struct {
		name      string
		audiences []string
		check     bool
		root      string
		warn      bool
	}{
		{"both audiences", []string{"https://sentinelx.example.com/mcp", "https://sentinelx.example.com"}, true, "https://sentinelx.example.com", false},
		{"MCP URL only", []string{"https://sentinelx.example.com/mcp"}, true, "https://sentinelx.example.com", true},
		{"audience check off", nil, false, "https://sentinelx.example.com", false},
		{"no root PRM", []string{"https://sentinelx.example.com/mcp"}, true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := healthyStatus()
			st.Auth.Audiences, st.Auth.AudienceCheck, st.RootResource = tt.audiences, tt.check, tt.root
			body := get(t, statusHandler(st), "/", "").Body.String()
			if got := strings.Contains(body, `id="root-audience-warning"`); got != tt.warn {
				t.Fatalf("warning shown = %v, want %v", got, tt.warn)
			}
			if tt.warn && !strings.Contains(body, "OIDC_EXPECTED_AUDIENCE=https://sentinelx.example.com/mcp,https://sentinelx.example.com") {
				t.Error("the warning does not name the setting to use")
			}
		})
	}
}
