package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/pensados/sentinelx-mcp/tools/policy"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

// Target is the host argument every agent-reaching tool embeds in its
// input. With one host (no AGENTS_FILE) it is optional; with more it is
// required, and the input schema lists the names as an enum, rebuilt when
// the registry reloads.
type Target struct {
	Host string `json:"host,omitempty" jsonschema:"The host to act on, by name (sentinel_hosts lists them). Required when the bridge fronts more than one host."`
}

// FanTarget is Target plus the fan-out arguments, for the tools that may
// run on many hosts in one call (state, capabilities, exec, service).
type FanTarget struct {
	Target
	Hosts    []string `json:"hosts,omitempty" jsonschema:"Run on several hosts at once: names or globs such as web-*. Not with host."`
	Selector string   `json:"selector,omitempty" jsonschema:"Run on the hosts whose labels match, e.g. role=web,env=prod (also key!=value, or key alone). Not with host; with hosts, both must match."`
}

// targeted is implemented by inputs that embed Target.
type targeted interface{ target() Target }

// fanned is implemented by inputs that embed FanTarget.
type fanned interface{ fan() FanTarget }

func (t Target) target() Target { return t }

func (t FanTarget) fan() FanTarget { return t }

// fanout reports whether the call asks for more than one host.
func (t FanTarget) fanout() bool { return len(t.Hosts) > 0 || t.Selector != "" }

// targetArgs are the argument names of Target and FanTarget: the policy
// sees the host through its own variables (host, host_labels, hosts,
// fanout), not as tool arguments.
func targetArgs() []string { return []string{"host", "hosts", "selector"} }

// hostSchema fits an agent-reaching tool's inferred input schema to reg:
// the host names as an enum, and the fan-out arguments only when there is
// more than one host to fan out to. host is not in the schema's required
// list even with many hosts: go-sdk would then refuse a call without it
// with a bare "missing properties" before [Deps.pickHost] can answer with
// the hosts this caller may use (the description says it is required).
func hostSchema(s *jsonschema.Schema, reg *fleet.Registry) {
	hs, ok := s.Properties["host"]
	if !ok {
		return
	}
	names := reg.Names()
	hs.Enum = make([]any, len(names))
	for i, n := range names {
		hs.Enum[i] = n
	}
	if reg.Single() {
		delete(s.Properties, "hosts")
		delete(s.Properties, "selector")
		return
	}
	if ps := s.Properties["hosts"]; ps != nil {
		ps.MinItems, ps.MaxItems = intp(1), intp(fleet.MaxPatterns)
		if ps.Items != nil {
			ps.Items.MinLength, ps.Items.MaxLength = intp(1), intp(63)
		}
	}
	if ps := s.Properties["selector"]; ps != nil {
		ps.MaxLength = intp(512)
	}
}

func intp(n int) *int { return &n }

type hostKey struct{}

// withHost puts the host a call goes to in ctx; [Deps.agent] reads it.
func withHost(ctx context.Context, h *fleet.Host) context.Context {
	return context.WithValue(ctx, hostKey{}, h)
}

// hostFrom returns the host [handle] chose for this call, or nil.
func hostFrom(ctx context.Context) *fleet.Host {
	h, _ := ctx.Value(hostKey{}).(*fleet.Host)
	return h
}

// hostName is the name of the host this call goes to ("" when none).
func hostName(ctx context.Context) string {
	if h := hostFrom(ctx); h != nil {
		return h.Name
	}
	return ""
}

// agent is the client of the host this call goes to. Tool work calls the
// agent only through it, so no call can reach a host other than the one
// the caller named and the policy approved.
func (d *Deps) agent(ctx context.Context) *upstream.Client {
	if h := hostFrom(ctx); h != nil {
		return h.Client
	}
	return d.Upstream
}

// pickHost resolves the host argument of a single-host call. With one
// host an empty argument means that host; otherwise the error lists the
// hosts this caller may use with this tool.
func (d *Deps) pickHost(reg *fleet.Registry, who caller, tool, name string) (*fleet.Host, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		if reg.Len() == 1 {
			return reg.Hosts()[0], nil
		}
		return nil, inputError(fmt.Sprintf("host is required: this bridge fronts %d hosts; %s", reg.Len(), d.hostChoice(reg, who, tool)))
	}
	h, ok := reg.Lookup(name)
	if !ok {
		return nil, inputError(fmt.Sprintf("unknown host %q; %s", truncate(name, 80), d.hostChoice(reg, who, tool)))
	}
	return h, nil
}

// hostChoice words the hosts who may use tool on, for error messages.
func (d *Deps) hostChoice(reg *fleet.Registry, who caller, tool string) string {
	names := d.usableHosts(reg, who, tool)
	if len(names) == 0 {
		return "the policy lets you use " + tool + " on none of them"
	}
	list := "hosts you may use: " + fleet.ListNames(names)
	if len(names) > fleet.MaxListed {
		list += " (sentinel_hosts lists them)"
	}
	return list
}

// usableHosts are the hosts on which the policy could let who call tool
// (every host without a policy). tool "" means any governed tool.
func (d *Deps) usableHosts(reg *fleet.Registry, who caller, tool string) []string {
	p := d.policy()
	var out []string
	for _, h := range reg.Hosts() {
		if p == nil || d.mayUse(p, who, tool, h) {
			out = append(out, h.Name)
		}
	}
	return out
}

func (d *Deps) mayUse(p *policy.Policy, who caller, tool string, h *fleet.Host) bool {
	pc := who.policyCaller()
	if tool != "" {
		return p.MayCallOn(pc, tool, h.Name, h.Labels)
	}
	return slices.ContainsFunc(d.governed, func(t string) bool { return p.MayCallOn(pc, t, h.Name, h.Labels) })
}

// policy returns the policy in force, or nil.
func (d *Deps) policy() *policy.Policy {
	if d.Policy == nil {
		return nil
	}
	return d.Policy()
}

// hostEntry is one host as sentinel_hosts shows it: what a caller needs to
// pick a host, never its address or token.
type hostEntry struct {
	Name         string            `json:"name"`
	Labels       map[string]string `json:"labels"`
	Reachable    bool              `json:"reachable"`
	LatencyMS    *float64          `json:"latency_ms"`
	AgentVersion string            `json:"agent_version,omitempty"`
	LastError    string            `json:"last_error,omitempty"`
	DownSince    string            `json:"down_since,omitempty"`
	CheckedAt    string            `json:"checked_at,omitempty"`
}

func hostsTool() tool {
	t := newTool(Spec{
		Name:        "sentinel_hosts",
		Scope:       ScopeState,
		Title:       "Hosts",
		Description: "List the hosts this bridge fronts that you may use: name, labels, whether the agent is reachable, its latency and version, and its last error. Pass a name as host to any other tool, or several as hosts (names or globs) or a selector (labels, e.g. role=web) to sentinel_state, sentinel_capabilities, sentinel_exec and sentinel_service. Read-only.",
		ReadOnly:    true,
		Local:       true,
	}, nil, nil, nil, withDeps(runHosts))
	t.fleetOnly = true
	return t
}

// runHosts lists the hosts of the registry in force that the policy could
// let the caller use, with their last probe.
func runHosts(ctx context.Context, d *Deps, _ noInput) (json.RawMessage, error) {
	reg := d.Hosts.Registry()
	who := callerFrom(ctx)
	usable := d.usableHosts(reg, who, "")
	out := make([]hostEntry, 0, len(usable))
	for _, name := range usable {
		h, _ := reg.Lookup(name)
		st := h.Status()
		e := hostEntry{Name: h.Name, Labels: h.Labels, Reachable: st.Up(),
			AgentVersion: st.AgentVersion, LastError: st.LastError}
		if st.Latency > 0 {
			ms := float64(st.Latency.Microseconds()) / 1000
			e.LatencyMS = &ms
		}
		if st.Down {
			e.DownSince = st.DownSince.UTC().Format(time.RFC3339)
		}
		if !st.CheckedAt.IsZero() {
			e.CheckedAt = st.CheckedAt.UTC().Format(time.RFC3339)
		}
		out = append(out, e)
	}
	return json.Marshal(map[string]any{"hosts": out, "count": len(out)})
}
