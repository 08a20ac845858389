// Package tools is the MCP tool table: each tool's name, scope, typed input
// and handler, and their registration on a go-sdk server. Handlers talk to
// the agent only through package upstream.
package tools

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/tools/policy"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

// Scopes of the seed bridge, one per tool family.
const (
	ScopeState        = "sentinelx:state"
	ScopeExec         = "sentinelx:exec"
	ScopeService      = "sentinelx:service"
	ScopeRestart      = "sentinelx:restart"
	ScopeEdit         = "sentinelx:edit"
	ScopeUpload       = "sentinelx:upload"
	ScopeScript       = "sentinelx:script"
	ScopeCapabilities = "sentinelx:capabilities"
)

// Spec describes one tool for the scope gate, the metadata document and the
// status page.
type Spec struct {
	Name        string
	Scope       string // "" for public tools
	Title       string
	Description string
	ReadOnly    bool // true: reads only; false: changes the host
	// Local tools reach no agent (sentinel_hosts): the policy does not
	// govern them; what they show is already filtered by it.
	Local bool
}

// Deps are what tool handlers need.
type Deps struct {
	// Upstream is the one agent of SENTINELX_URL. It is used when Hosts
	// is nil (New then makes a single-host registry of it).
	Upstream *upstream.Client
	// Hosts is the host registry (AGENTS_FILE). With more than one host,
	// every agent-reaching tool takes a host argument and the fan-out
	// tools take hosts/selector.
	Hosts *fleet.Store
	// FanoutConcurrency bounds the hosts one fan-out call works on at
	// once (FANOUT_CONCURRENCY); 0 means 8.
	FanoutConcurrency int
	// MaxFanoutBytes bounds the hosts' results in one fan-out answer
	// (the server gives a third of MCP_MAX_RESPONSE_BYTES); 0 means a
	// third of that variable's default. A host's result over its share
	// is replaced by a note saying to call that host alone.
	MaxFanoutBytes int64
	// Audit receives one line per tool call. If nil, nothing is logged.
	Audit *slog.Logger
	// Version is reported by ping.
	Version string
	// UploadURLAllow lists the https URL prefixes file_url may name
	// (UPLOAD_URL_ALLOW); empty disables file_url.
	UploadURLAllow []string
	// EditUploadLocalDir is the only directory input_file may read from
	// (EDIT_UPLOAD_LOCAL_DIR); empty disables input_file.
	EditUploadLocalDir string
	// Fetcher downloads file_url; nil means NewFetcher(UploadURLAllow).
	Fetcher *Fetcher
	// MaxInline caps decoded base64 content; 0 means 64 MiB.
	MaxInline int64
	// Slots, when set, caps the calls in flight to the agent
	// (UPSTREAM_MAX_CONCURRENCY and each subject's share): a tool that
	// calls the agent takes one before its work, waiting at most SlotWait
	// (0: as long as the caller's context lasts), or ends as an isError
	// result saying why it is busy.
	Slots    *Concurrency
	SlotWait time.Duration
	// Recorder, when set, is told about each finished call and each agent
	// slot taken, for metrics.
	Recorder Recorder
	// Policy, when set, returns the authorization policy in force
	// (POLICY_FILE; nil means none): every call of a tool that has a scope
	// is checked against it before anything else happens. The server hands
	// over its policy store's Policy method.
	Policy func() *policy.Policy
	// AuthHint, when set, returns what ping tells an anonymous caller about
	// authenticating (MCP_FILTER_TOOLS hides every other tool from them).
	AuthHint func() map[string]any
	// RequireScopes makes every protected tool check the caller's token
	// for its scope itself, behind the HTTP scope gate. The server sets
	// it; in-memory tests without tokens leave it off.
	RequireScopes bool

	ledger   *chunkLedger
	governed []string // names of the tools with a scope, for usableHosts
}

// Recorder is what tools report for metrics; the server's Prometheus
// collectors implement it. A tool package that declares it keeps the
// control flow one-way: tools never call back into the server.
type Recorder interface {
	// ToolCall records one finished call: its outcome (the audit log's),
	// its duration, and whether the tool called the agent.
	ToolCall(tool, outcome string, d time.Duration, agent bool)
	// UpstreamSlot records that a call took an agent slot; done is called
	// when it gives the slot back.
	UpstreamSlot() (done func())
}

func (d *Deps) fetcher() *Fetcher { return d.Fetcher }

// ledger is built by New; see chunkLedger.
func (d *Deps) chunks() *chunkLedger { return d.ledger }

func (d *Deps) maxInline() int64 {
	if d.MaxInline > 0 {
		return d.MaxInline
	}
	return defaultMaxInline
}

// Table is the list of tools in the seed's order (the status page shows
// them so); go-sdk's tools/list sorts them by name.
type Table struct {
	tools []tool
	deps  Deps
}

type tool struct {
	Spec
	args map[string]string // argument name → JSON type, for the policy
	// fleetOnly tools exist only with more than one host (sentinel_hosts).
	fleetOnly bool
	// targeted: the input embeds Target, so handle resolves a host.
	targeted bool
	// build fills t's schemas for reg and returns the handler to
	// register it with.
	build func(t *mcp.Tool, d *Deps, reg *fleet.Registry) mcp.ToolHandler
}

// New builds the tool table.
func New(d Deps) *Table {
	if d.Audit == nil {
		d.Audit = slog.New(slog.DiscardHandler)
	}
	if d.Fetcher == nil {
		d.Fetcher = NewFetcher(d.UploadURLAllow)
	}
	if d.Hosts == nil {
		d.Hosts = fleet.NewSingle(d.Upstream)
	}
	d.ledger = newChunkLedger()
	t := &Table{deps: d, tools: allTools()}
	for _, tl := range t.tools {
		if tl.Scope != "" && !tl.Local {
			t.deps.governed = append(t.deps.governed, tl.Name)
		}
	}
	return t
}

// allTools is the table's content; it needs no Deps (each tool gets them
// when it is registered).
func allTools() []tool {
	return []tool{
		pingTool(), stateTool(), execTool(), serviceTool(), restartTool(),
		editTool(), editUploadInitTool(), editUploadFileTool(), editUploadCompleteTool(),
		uploadFileTool(), uploadInitTool(), uploadChunkTool(), uploadCompleteTool(),
		scriptTool(), capabilitiesTool(), helpTool(), hostsTool(),
	}
}

// Specs returns the tools in table order.
func (t *Table) Specs() []Spec {
	var out []Spec
	for _, tl := range t.active(t.deps.Hosts.Registry()) {
		out = append(out, tl.Spec)
	}
	return out
}

// active are the tools registered with reg: all but the fleet-only ones
// when there is a single host.
func (t *Table) active(reg *fleet.Registry) []tool {
	if !reg.Single() {
		return t.tools
	}
	var out []tool
	for _, tl := range t.tools {
		if !tl.fleetOnly {
			out = append(out, tl)
		}
	}
	return out
}

// ScopeOf returns the scope name needs, or "" for a public tool or an
// unknown name.
func (t *Table) ScopeOf(name string) string {
	for _, tl := range t.tools {
		if tl.Name == name {
			return tl.Scope
		}
	}
	return ""
}

// Scopes lists every distinct scope in table order, for scopes_supported.
func (t *Table) Scopes() []string {
	var out []string
	for _, tl := range t.tools {
		if tl.Scope != "" && !slices.Contains(out, tl.Scope) {
			out = append(out, tl.Scope)
		}
	}
	return out
}

// Register adds every tool to s, with input schemas fitted to the host
// registry in force, and adds them again whenever the registry reloads:
// the host enum follows the file, and go-sdk tells stateful sessions with
// notifications/tools/list_changed.
func (t *Table) Register(s *mcp.Server) {
	// Subscribed first, so a reload between the two lines is not missed
	// (the registry's watcher already runs).
	t.deps.Hosts.OnChange(func(reg *fleet.Registry) { t.register(s, reg) })
	t.register(s, t.deps.Hosts.Registry())
}

// register adds the tools for reg. Every schema is built before the first
// AddTool, so the changes land within go-sdk's 10 ms notification delay
// and a session re-listing on tools/list_changed sees them all at once.
func (t *Table) register(s *mcp.Server, reg *fleet.Registry) {
	type built struct {
		t *mcp.Tool
		h mcp.ToolHandler
	}
	active := t.active(reg)
	ready := make([]built, 0, len(active))
	for _, tl := range active {
		destructive := !tl.ReadOnly
		mt := &mcp.Tool{
			Name:        tl.Name,
			Title:       tl.Title,
			Description: tl.Description,
			Annotations: &mcp.ToolAnnotations{
				Title:           tl.Title,
				ReadOnlyHint:    tl.ReadOnly,
				DestructiveHint: &destructive,
				IdempotentHint:  tl.ReadOnly,
				OpenWorldHint:   new(bool),
			},
		}
		if tl.Scope != "" {
			mt.Meta = mcp.Meta{"sentinelx/scope": tl.Scope}
		}
		ready = append(ready, built{mt, tl.build(mt, &t.deps, reg)})
	}
	for _, b := range ready {
		s.AddTool(b.t, b.h)
	}
}

// newTool builds a table entry for a typed tool: its input schema is
// inferred from In and refined, out documents the agent's answer, and the
// handler gets the shared result/audit wrapping. It is registered as
// mcp.AddTool would register it, through typedHandler, which decodes each
// call's arguments once where go-sdk's Decoder would take a 32 KiB buffer
// twice.
func newTool[In any](spec Spec, refine map[string]prop, out *jsonschema.Schema, summarize summaryFunc[In], run func(d *Deps) callFunc[In]) tool {
	_, targets := any(*new(In)).(targeted)
	return tool{Spec: spec, args: argTypes(inputSchema[In](refine)), targeted: targets, build: func(t *mcp.Tool, d *Deps, reg *fleet.Registry) mcp.ToolHandler {
		in := inputSchema[In](refine)
		hostSchema(in, reg)
		t.InputSchema = in
		if out != nil {
			t.OutputSchema = out
		}
		// Resolved as mcp.AddTool resolves them (and it panics too on a
		// schema that does not resolve); the output schema is
		// documentation, never checked against a result (handlers return
		// their result themselves, so go-sdk would not check it either).
		rs, err := in.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
		if err != nil {
			panic(fmt.Sprintf("AddTool: tool %q: input schema: %v", t.Name, err))
		}
		if out != nil {
			if _, err := out.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true}); err != nil {
				panic(fmt.Sprintf("AddTool: tool %q: output schema: %v", t.Name, err))
			}
		}
		return typedHandler(rs, handle(d, spec, summarize, run(d)))
	}}
}

// inputError is a problem with the caller's arguments, found before
// anything is sent to the agent. Its text says what to fix.
type inputError string

func (e inputError) Error() string { return string(e) }

// truncate bounds strings that go to the audit log.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
