package tools

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/pensados/sentinelx-mcp/upstream"
)

type execInput struct {
	Cmd string `json:"cmd" jsonschema:"The command line to run, e.g. 'uptime' or 'df -h'. It must start with one of the agent's allowed commands (see sentinel_capabilities: allowed_commands)."`
	FanTarget
}

func execTool() tool {
	return newTool(Spec{
		Name:        "sentinel_exec",
		Scope:       ScopeExec,
		Title:       "Run a command",
		Description: "Run one allowed command on the host through the SentinelX Core agent and return {output, duration, returncode}. A non-zero returncode is still a result; a command outside the agent's allowlist is refused with 'Command not allowed: <cmd>'. Call sentinel_capabilities first to see allowed_commands.",
	}, nil, outputSchema[upstream.ExecResult](),
		func(in execInput) []any { return []any{"cmd", truncate(in.Cmd, 200)} },
		withDeps(runExec))
}

// explicitFanout: running a command on many hosts at once needs a rule
// that allows exactly that.
func (execInput) explicitFanout() bool { return true }

// runExec trims cmd (the agent matches its allowlist on the untrimmed string) and runs it.
func runExec(ctx context.Context, d *Deps, in execInput) (json.RawMessage, error) {
	cmd := strings.TrimSpace(in.Cmd)
	if cmd == "" {
		return nil, inputError("cmd is required")
	}
	return agentJSON(d.agent(ctx).Exec(ctx, upstream.ExecRequest{Cmd: cmd}))
}

type serviceInput struct {
	Service string `json:"service" jsonschema:"A service registered with the agent: sentinelx, nginx or docker (see sentinel_capabilities: service_actions)."`
	Action  string `json:"action" jsonschema:"What to do. Each service allows a subset (nginx also has validate = nginx -t)."`
	FanTarget
}

func serviceTool() tool {
	return newTool(Spec{
		Name:        "sentinel_service",
		Scope:       ScopeService,
		Title:       "Service action",
		Description: "Run status, start, stop, restart, reload or validate for a service in the agent's registry and return the command's output with ok, service, action and the exact command run. An action the service does not allow is refused with the allowed_actions list.",
	}, map[string]prop{"action": {enum: []any{"status", "start", "stop", "restart", "reload", "validate"}}},
		outputSchema[upstream.ServiceResult](),
		func(in serviceInput) []any {
			return []any{"service", truncate(in.Service, 100), "action", truncate(in.Action, 40)}
		},
		withDeps(runService))
}

// explicitFanout: only status is harmless on many hosts at once; any other
// action needs a rule that allows the fan-out.
func (in serviceInput) explicitFanout() bool { return strings.TrimSpace(in.Action) != "status" }

// runService requires both service and action, so the model gets a field-named error instead of the agent's 422.
func runService(ctx context.Context, d *Deps, in serviceInput) (json.RawMessage, error) {
	svc, action := strings.TrimSpace(in.Service), strings.TrimSpace(in.Action)
	if svc == "" {
		return nil, inputError("service is required")
	}
	if action == "" {
		return nil, inputError("action is required")
	}
	return agentJSON(d.agent(ctx).Service(ctx, upstream.ServiceRequest{Service: svc, Action: action}))
}

type restartInput struct {
	Service string `json:"service" jsonschema:"A service registered with the agent: sentinelx, nginx or docker. Restarting sentinelx restarts the agent itself."`
	Target
}

func restartTool() tool {
	return newTool(Spec{
		Name:        "sentinel_restart",
		Scope:       ScopeRestart,
		Title:       "Restart a service",
		Description: "Trigger 'systemctl restart' of a registered service. The agent does not wait for the restart, so {ok: true} means triggered, not succeeded: check with sentinel_service action=status afterwards.",
	}, nil, outputSchema[upstream.RestartResult](),
		func(in restartInput) []any { return []any{"service", truncate(in.Service, 100)} },
		withDeps(runRestart))
}

// runRestart requires a service name; the agent only triggers the restart.
func runRestart(ctx context.Context, d *Deps, in restartInput) (json.RawMessage, error) {
	svc := strings.TrimSpace(in.Service)
	if svc == "" {
		return nil, inputError("service is required")
	}
	return agentJSON(d.agent(ctx).Restart(ctx, upstream.RestartRequest{Service: svc}))
}
