package handlers

import (
	"context"
	"net/http"
	"runtime/debug"
	"slices"
	"time"

	"github.com/pensados/sentinelx-mcp/web"
)

// StatusInfo is everything the status page shows. It is plain data so that
// this package needs neither middleware nor tools: server fills it from the
// verifier, the upstream client, the tool table and its Config. Nothing in
// it may be secret; the page is public.
type StatusInfo struct {
	Version  string
	Build    Build
	Started  time.Time
	Stateful bool // MCP_STATEFUL: sessions and the GET stream
	// AuthRequired is MCP_AUTH_REQUIRED: a token on every /mcp request,
	// not only on tool calls that reach the agent.
	AuthRequired bool
	MCPURL       string // "https://sentinelx.example.com/mcp"
	PRMPath      string // path form, "/.well-known/oauth-protected-resource/mcp"
	RootPRMPath  string // root form, "/.well-known/oauth-protected-resource"
	// RootResource is the root PRM's resource, the base URL (RFC 9728
	// §3.3); empty when no root PRM is served.
	RootResource string
	// MetricsPath is where Prometheus metrics are served on this listener;
	// empty when they are not (no link is shown then).
	MetricsPath string
	Upstream    UpstreamInfo
	Auth        AuthInfo
	Tools       []ToolInfo
	// FilterTools is MCP_FILTER_TOOLS: tools/list per caller.
	FilterTools bool
	// Policy is the authorization policy's load state; nil without
	// POLICY_FILE.
	Policy *PolicyInfo
	// Hosts is the host registry (AGENTS_FILE); nil with the one agent of
	// SENTINELX_URL, shown under Upstream as before.
	Hosts *HostsInfo
}

// HostsInfo is the load state of AGENTS_FILE and each host's last probe.
type HostsInfo struct {
	File        string
	LoadedAt    time.Time
	LastError   string
	LastErrorAt time.Time
	Hosts       []HostInfo
}

// HostInfo is one host of the registry as the status page shows it (the
// page is for operators and answers only the bridge's own Host names).
type HostInfo struct {
	Name         string
	Labels       map[string]string
	Reachable    bool
	Down         bool
	DownSince    time.Time
	Latency      time.Duration
	AgentVersion string
	LastError    string
	InFlight     int
	CheckedAt    time.Time // zero until the first probe
}

// LatencyText is the last probe's round trip, rounded for people.
func (h HostInfo) LatencyText() string { return humanLatency(h.Latency) }

// LabelList is the labels as "k=v" in key order, for the page.
func (h HostInfo) LabelList() []string {
	out := make([]string, 0, len(h.Labels))
	for k, v := range h.Labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// PolicyInfo is the load state of POLICY_FILE.
type PolicyInfo struct {
	File        string
	Rules       int
	Digest      string    // first 12 hex digits of the file's SHA-256
	LoadedAt    time.Time // when the policy in force was loaded
	LastError   string    // why the last reload failed; empty after a good one
	LastErrorAt time.Time
}

// Build describes the binary, from [ReadBuild].
type Build struct {
	GoVersion    string    // "go1.26.8"
	Revision     string    // VCS commit; empty when built outside a checkout
	RevisionTime time.Time // commit time
	Modified     bool      // built from a tree with uncommitted changes
}

// ReadBuild reads the Go version and VCS stamp the toolchain embedded in
// the binary.
func ReadBuild() Build {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Build{}
	}
	b := Build{GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.RevisionTime, _ = time.Parse(time.RFC3339, s.Value)
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// UpstreamInfo is the result of probing the SentinelX Core agent.
type UpstreamInfo struct {
	URL       string // SENTINELX_URL; userinfo is never shown
	Reachable bool
	Latency   time.Duration
	Error     string // why the probe failed; empty when it succeeded
}

// AuthInfo is the token verifier's state.
type AuthInfo struct {
	Issuer        string
	JWKSURI       string // empty until discovered
	Keys          int
	KeysFetchedAt time.Time
	LastError     string // last discovery or JWKS failure; empty after a success
	Introspection bool   // opaque tokens are introspected (RFC 7662)
	AudienceCheck bool
	Audiences     []string // OIDC_EXPECTED_AUDIENCE
	RequireATJWT  bool     // OIDC_REQUIRE_AT_JWT
}

// ToolInfo is one row of the tool table.
type ToolInfo struct {
	Name        string
	Scope       string // empty for public tools
	Title       string
	Description string
	ReadOnly    bool
}

// Status serves the HTML status page at "/". provide is called on every
// request (it probes the agent, so it should bound its own time).
func Status(provide func(ctx context.Context) StatusInfo) http.Handler {
	return statusPage(provide, time.Now)
}

func statusPage(provide func(ctx context.Context) StatusInfo, now func() time.Time) http.Handler {
	type view struct {
		page
		StatusInfo
		Uptime, StartedAt, KeysAge, KeysFetchedAt string
		BuildTime, Latency                        string
		UpstreamURL, Issuer, JWKSURI              string
		ReadOnly, Destructive                     int
		HostsUp                                   int // reachable hosts, with AGENTS_FILE
		PolicyAge, PolicyLoadedAt, PolicyErrorAt  string
		// RootAudienceMissing: the root PRM names a resource the audience
		// check refuses, so a client that signs in through it gets a token
		// this server will not accept.
		RootAudienceMissing bool
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		t := now()
		st := provide(r.Context())
		v := view{
			page:          page{Title: "Status", Current: "status", Now: stamp(t)},
			StatusInfo:    st,
			Uptime:        humanDuration(t.Sub(st.Started)),
			StartedAt:     stamp(st.Started),
			KeysFetchedAt: stamp(st.Auth.KeysFetchedAt),
			BuildTime:     stamp(st.Build.RevisionTime),
			UpstreamURL:   redactURL(st.Upstream.URL),
			Issuer:        redactURL(st.Auth.Issuer),
			JWKSURI:       redactURL(st.Auth.JWKSURI),
		}
		v.RootAudienceMissing = st.Auth.AudienceCheck && st.RootResource != "" && !slices.Contains(st.Auth.Audiences, st.RootResource)
		if !st.Auth.KeysFetchedAt.IsZero() {
			v.KeysAge = humanDuration(t.Sub(st.Auth.KeysFetchedAt))
		}
		if st.Upstream.Reachable {
			v.Latency = humanLatency(st.Upstream.Latency)
		}
		if p := st.Policy; p != nil {
			v.PolicyAge, v.PolicyLoadedAt = humanDuration(t.Sub(p.LoadedAt)), stamp(p.LoadedAt)
			v.PolicyErrorAt = stamp(p.LastErrorAt)
		}
		if st.Hosts != nil {
			for _, h := range st.Hosts.Hosts {
				if h.Reachable {
					v.HostsUp++
				}
			}
		}
		for _, tl := range st.Tools {
			if tl.ReadOnly {
				v.ReadOnly++
			} else {
				v.Destructive++
			}
		}
		web.Render(w, http.StatusOK, "status.html", v)
	})
}
