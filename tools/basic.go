package tools

import (
	"context"
	"encoding/json"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream"
)

type noInput struct{}

// fanInput is the input of the read-only tools that take no arguments but
// the host(s).
type fanInput struct{ FanTarget }

// hostInput is the input of a tool that takes no arguments but the host.
type hostInput struct{ Target }

func pingTool() tool {
	return newTool(Spec{
		Name:        "ping",
		Title:       "Ping",
		Description: "Check that the SentinelX MCP bridge is up. Needs no token and does not contact the host agent; returns {ok, service, version, time}.",
		ReadOnly:    true,
	}, nil, nil, nil,
		func(d *Deps) callFunc[noInput] {
			return func(ctx context.Context, _ noInput) (json.RawMessage, error) {
				out := map[string]any{
					"ok":      true,
					"service": proxyName,
					"version": d.Version,
					"time":    time.Now().UTC().Format(time.RFC3339),
				}
				if hint := d.authHint(ctx); hint != nil {
					out["auth"] = hint
				}
				return json.Marshal(out)
			}
		})
}

func stateTool() tool {
	return newTool(Spec{
		Name:        "sentinel_state",
		Scope:       ScopeState,
		Title:       "Agent state",
		Description: "Read the SentinelX Core agent's runtime state: uptime, the last command run with its output (first 200 characters) and status (ok, blocked or error), and counters of executions, blocked and failed calls. Read-only.",
		ReadOnly:    true,
	}, nil, outputSchema[upstream.State](), nil,
		func(d *Deps) callFunc[fanInput] {
			return func(ctx context.Context, _ fanInput) (json.RawMessage, error) {
				return agentJSON(d.agent(ctx).State(ctx))
			}
		})
}

func capabilitiesTool() tool {
	return newTool(Spec{
		Name:        "sentinel_capabilities",
		Scope:       ScopeCapabilities,
		Title:       "Agent capabilities",
		Description: "Describe what the agent allows: allowed_commands (prefixes for sentinel_exec), service_actions (services and their actions), upload and edit limits, script interpreters, well-known locations and diagnostic playbooks. Call it before sentinel_exec or sentinel_service. Read-only.",
		ReadOnly:    true,
	}, nil, nil, nil,
		func(d *Deps) callFunc[fanInput] {
			return func(ctx context.Context, _ fanInput) (json.RawMessage, error) {
				return agentJSON(d.agent(ctx).Capabilities(ctx))
			}
		})
}

func helpTool() tool {
	return newTool(Spec{
		Name:        "sentinel_help",
		Scope:       ScopeCapabilities,
		Title:       "Agent help",
		Description: "The agent's embedded help texts (safe_edit, upload, edit, script), as {help: {…}}. Read-only.",
		ReadOnly:    true,
	}, nil, nil, nil,
		func(d *Deps) callFunc[hostInput] {
			return func(ctx context.Context, _ hostInput) (json.RawMessage, error) {
				c, err := d.agent(ctx).Capabilities(ctx)
				if err != nil {
					return nil, err
				}
				help := c.Help
				if help == nil {
					help = map[string]string{}
				}
				return json.Marshal(map[string]any{"help": help})
			}
		})
}
