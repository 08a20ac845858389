// Package tools is the MCP tool table: each tool's name, scope, typed input
// and handler, and their registration on a go-sdk server. Handlers talk to
// the agent only through package upstream.
package tools

import (
	"log/slog"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/upstream"
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
}

// Deps are what tool handlers need.
type Deps struct {
	Upstream *upstream.Client
	// Audit receives one line per tool call. If nil, nothing is logged.
	Audit *slog.Logger
	// Version is reported by ping.
	Version string
}

// Table is the ordered list of tools. tools/list follows this order.
type Table struct {
	tools []tool
	deps  Deps
}

type tool struct {
	Spec
	add func(s *mcp.Server, t *mcp.Tool, d *Deps)
}

// New builds the tool table.
func New(d Deps) *Table {
	if d.Audit == nil {
		d.Audit = slog.New(slog.DiscardHandler)
	}
	t := &Table{deps: d}
	t.tools = append(t.tools, pingTool(), stateTool())
	return t
}

// Specs returns the tools in tools/list order.
func (t *Table) Specs() []Spec {
	out := make([]Spec, len(t.tools))
	for i, tl := range t.tools {
		out[i] = tl.Spec
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

// Register adds every tool to s.
func (t *Table) Register(s *mcp.Server) {
	for _, tl := range t.tools {
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
		tl.add(s, mt, &t.deps)
	}
}
