// Package doctor checks a sentinelx-mcp configuration against the real
// world before it is served: the configuration loads as `serve` would load
// it, the IdP answers with the right issuer and usable keys, the agent takes
// the token, files and ports are usable. Optionally it explains why one
// access token would be accepted or refused.
//
// It reuses the server's configuration loader and the middleware's token
// verifier, so a verdict here is the verdict `serve` would reach. Every
// check runs under its own timeout; no secret is printed, only lengths and
// fingerprints.
package doctor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify"
	"github.com/pensados/sentinelx-mcp/server"
	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/upstream"
)

// Status is a check's outcome. Only StatusFail makes the report fail:
// StatusWarn is something `serve` accepts but an operator should look at.
type Status string

// The outcomes of a check.
const (
	StatusPass Status = "pass"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Check is one line of the report.
type Check struct {
	Name   string   `json:"name"`
	Status Status   `json:"status"`
	Detail string   `json:"detail"`
	Fix    string   `json:"fix,omitempty"`
	Notes  []string `json:"notes,omitempty"`
}

// Report is the whole result. OK is false when any check failed.
type Report struct {
	OK      bool    `json:"ok"`
	Version string  `json:"version"`
	Source  string  `json:"source"`
	Checks  []Check `json:"checks"`
}

// DefaultTimeout bounds each network check when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Options say what to check.
type Options struct {
	// Getenv is the configuration source, the same one serve would read.
	Getenv func(string) string
	// Source names it in the report, e.g. the env file's path.
	Source string
	// Unknown lists variables in the source that sentinelx-mcp does not
	// read (likely typos); each becomes a warning.
	Unknown []string
	// Token, when set, is explained: accepted or refused, and why.
	Token string
	// Timeout bounds each check on its own; 0 means DefaultTimeout.
	Timeout time.Duration
	// Version is the running binary's version, for the report.
	Version string
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
}

// run carries what the checks share.
type run struct {
	o       Options
	cfg     server.Config
	hc      *http.Client
	table   *tools.Table
	disc    *discovery // nil until the discovery check loaded it
	ver     *oidcverify.Verifier
	checks  []Check
	timeout time.Duration
}

// Run performs every check and returns the report; it never panics on bad
// input and returns once every check has ended or timed out.
func Run(ctx context.Context, o Options) Report {
	r := &run{o: o, timeout: o.Timeout}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.o.Now == nil {
		r.o.Now = time.Now
	}
	r.hc = &http.Client{Timeout: r.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cfg, err := server.LoadConfig(o.Getenv)
	if err != nil {
		r.add(Check{Name: "config", Status: StatusFail, Detail: err.Error(), Fix: "edit the variable named above in " + o.Source + "; `sentinelx-mcp help` lists every variable"})
		r.add(Check{Name: "remaining checks", Status: StatusSkip, Detail: "they need a configuration that loads"})
		return r.report()
	}
	r.cfg = cfg
	r.table = tools.New(tools.Deps{})
	r.add(r.checkConfig())
	for _, name := range o.Unknown {
		r.add(Check{Name: "config", Status: StatusWarn, Detail: name + " is not a sentinelx-mcp variable; it is ignored", Fix: "check the spelling against `sentinelx-mcp help`, or remove it"})
	}
	r.add(r.checkResourceURL())
	r.add(r.checkAudience())
	r.add(r.timed(ctx, "issuer discovery", r.checkDiscovery))
	r.add(r.timed(ctx, "signing keys (JWKS)", r.checkJWKS))
	r.add(r.timed(ctx, "introspection", r.checkIntrospection))
	if cfg.AgentsFile == "" {
		r.add(r.timed(ctx, "agent", r.checkAgent))
		r.add(r.timed(ctx, "agent refuses anonymous", r.checkAgentRefusesAnonymous))
		r.add(Check{Name: "agents file", Status: StatusSkip, Detail: "AGENTS_FILE not set: SENTINELX_URL is the one agent"})
	} else {
		r.checks = append(r.checks, r.checkAgentsFile(ctx)...)
	}
	r.add(r.checkPolicy())
	r.add(r.checkUploadAllow())
	r.add(r.checkEditDir())
	r.add(r.timed(ctx, "listen", func(ctx context.Context) Check {
		return r.checkListen(ctx, "listen", "MCP_HOST, MCP_PORT", hostPort(cfg.Host, cfg.Port))
	}))
	if cfg.MetricsAddr != "" {
		r.add(r.timed(ctx, "metrics listen", func(ctx context.Context) Check {
			return r.checkListen(ctx, "metrics listen", "METRICS_ADDR", cfg.MetricsAddr)
		}))
	}
	if o.Token != "" {
		r.add(r.timed(ctx, "token", r.checkToken))
	}
	return r.report()
}

func (r *run) add(c Check) { r.checks = append(r.checks, c) }

func (r *run) report() Report {
	ok := true
	for _, c := range r.checks {
		if c.Status == StatusFail {
			ok = false
		}
	}
	return Report{OK: ok, Version: r.o.Version, Source: r.o.Source, Checks: r.checks}
}

// timed runs one check under its own deadline. A check that does not
// return by then (it should, its I/O has the same deadline) is reported as
// timed out and left behind: a dead IdP never hangs doctor.
func (r *run) timed(ctx context.Context, name string, f func(context.Context) Check) Check {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	done := make(chan Check, 1)
	go func() { done <- f(ctx) }()
	select {
	case c := <-done:
		return c
	case <-ctx.Done():
		// The checks' own errors name what timed out; this is the backstop.
		select {
		case c := <-done:
			return c
		case <-time.After(r.timeout / 5):
		}
		return Check{Name: name, Status: StatusFail, Detail: fmt.Sprintf("did not finish within %s", r.timeout), Fix: "raise --timeout if the network is slow"}
	}
}

// Fingerprint identifies a secret without revealing it: its length and
// the first 12 hex digits of its SHA-256.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return fmt.Sprintf("%d chars, sha256 %s…", len(secret), hex.EncodeToString(sum[:6]))
}

// WriteText prints the report for a person: ✓ ✗ ! - per check, the fix
// indented below a failure or warning.
func (rep Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "sentinelx-mcp doctor %s — configuration from %s\n\n", rep.Version, rep.Source)
	mark := map[Status]string{StatusPass: "✓", StatusFail: "✗", StatusWarn: "!", StatusSkip: "-"}
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "%s %s: %s\n", mark[c.Status], c.Name, c.Detail)
		for _, n := range c.Notes {
			fmt.Fprintf(w, "    %s\n", n)
		}
		if c.Fix != "" && (c.Status == StatusFail || c.Status == StatusWarn) {
			fmt.Fprintf(w, "    fix: %s\n", c.Fix)
		}
	}
	if rep.OK {
		fmt.Fprintln(w, "\nready to serve")
	} else {
		fmt.Fprintln(w, "\nnot ready: fix the ✗ lines above and run doctor again")
	}
}

// WriteJSON prints the report as one JSON document.
func (rep Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func (r *run) checkConfig() Check {
	cfg := r.cfg
	notes := []string{"SENTINELX_TOKEN: " + Fingerprint(cfg.UpstreamToken)}
	if cfg.ClientSecret != "" {
		notes = append(notes, "OIDC_CLIENT_SECRET: "+Fingerprint(cfg.ClientSecret))
	}
	return Check{Name: "config", Status: StatusPass, Detail: "every variable parses", Notes: notes}
}

func (r *run) checkResourceURL() Check {
	detail := "MCP URL " + r.cfg.MCPURL()
	if strings.HasPrefix(r.cfg.ResourceURL, "http://") {
		return Check{Name: "resource url", Status: StatusWarn, Detail: detail + " is plain http (allowed for loopback only)", Fix: "serve it behind TLS and set RESOURCE_URL to the https URL clients use"}
	}
	return Check{Name: "resource url", Status: StatusPass, Detail: detail}
}

func (r *run) checkAudience() Check {
	mcpURL, base := r.cfg.MCPURL(), r.cfg.BaseURL()
	auds := r.cfg.Audiences
	has := func(s string) bool {
		for _, a := range auds {
			if strings.TrimSuffix(a, "/") == strings.TrimSuffix(s, "/") {
				return true
			}
		}
		return false
	}
	switch {
	case len(auds) == 0:
		return Check{Name: "audience", Status: StatusWarn, Detail: "OIDC_EXPECTED_AUDIENCE is empty: tokens issued for any resource are accepted", Fix: "set OIDC_EXPECTED_AUDIENCE=" + mcpURL}
	case !has(mcpURL):
		return Check{Name: "audience", Status: StatusFail, Detail: fmt.Sprintf("OIDC_EXPECTED_AUDIENCE %q does not contain the MCP URL %s, which clients ask tokens for (RFC 8707)", strings.Join(auds, ","), mcpURL), Fix: "add " + mcpURL + " to OIDC_EXPECTED_AUDIENCE"}
	case base != mcpURL && !has(base):
		return Check{Name: "audience", Status: StatusWarn, Detail: "contains the MCP URL; the root metadata (/.well-known/oauth-protected-resource) names " + base + ", which some clients use as the resource", Fix: "add " + base + " to OIDC_EXPECTED_AUDIENCE if such clients are refused"}
	}
	return Check{Name: "audience", Status: StatusPass, Detail: "contains the MCP URL " + mcpURL}
}

// newUpstream builds the agent client exactly as serve does.
func (r *run) newUpstream() (*upstream.Client, error) {
	return upstream.New(upstream.Options{BaseURL: r.cfg.UpstreamURL, Token: r.cfg.UpstreamToken, Timeout: min(time.Duration(r.cfg.UpstreamTimeout), r.timeout)})
}
