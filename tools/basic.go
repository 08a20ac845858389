package tools

import (
	"context"
	"encoding/json"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type pingInput struct{}

func pingTool() tool {
	return tool{
		Spec: Spec{
			Name:        "ping",
			Title:       "Ping",
			Description: "Check that the SentinelX MCP bridge is up. Needs no token and does not contact the host agent; returns {\"ok\":true,\"service\":\"sentinelx-mcp\",\"version\":…,\"time\":…}.",
			ReadOnly:    true,
		},
		add: func(s *mcp.Server, t *mcp.Tool, d *Deps) {
			mcp.AddTool(s, t, handle(d, t.Name, nil, func(ctx context.Context, _ pingInput) (json.RawMessage, error) {
				return json.Marshal(map[string]any{
					"ok":      true,
					"service": proxyName,
					"version": d.Version,
					"time":    time.Now().UTC().Format(time.RFC3339),
				})
			}))
		},
	}
}

type stateInput struct{}

func stateTool() tool {
	return tool{
		Spec: Spec{
			Name:        "sentinel_state",
			Scope:       ScopeState,
			Title:       "Agent state",
			Description: "Read the SentinelX Core agent's runtime state: uptime, the last command run with its output (first 200 characters) and status (ok, blocked or error), and counters of executions, blocked and failed calls. Read-only.",
			ReadOnly:    true,
		},
		add: func(s *mcp.Server, t *mcp.Tool, d *Deps) {
			mcp.AddTool(s, t, handle(d, t.Name, nil, func(ctx context.Context, _ stateInput) (json.RawMessage, error) {
				st, err := d.Upstream.State(ctx)
				if err != nil {
					return nil, err
				}
				return st.Raw, nil
			}))
		},
	}
}
