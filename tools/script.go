package tools

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pensados/sentinelx-mcp/upstream"
)

type scriptInput struct {
	Interpreter string            `json:"interpreter" jsonschema:"bash or python3."`
	Content     string            `json:"content" jsonschema:"The whole script text. It is written to a temporary file on the host and run."`
	Args        []string          `json:"args,omitempty" jsonschema:"Arguments passed to the script."`
	Cwd         *string           `json:"cwd,omitempty" jsonschema:"Working directory on the host (default: the script's temporary directory)."`
	Timeout     int               `json:"timeout,omitempty" jsonschema:"Seconds before the script is killed, 1 to 300 (default 60)."`
	Sudo        bool              `json:"sudo,omitempty" jsonschema:"Run with sudo (default false)."`
	Cleanup     *bool             `json:"cleanup,omitempty" jsonschema:"Delete the temporary script afterwards (default true)."`
	Filename    *string           `json:"filename,omitempty" jsonschema:"File name for the script (default script.sh or script.py)."`
	Env         map[string]string `json:"env,omitempty" jsonschema:"Extra environment variables."`
	Target
}

func scriptTool() tool {
	return newTool(Spec{
		Name:        "sentinel_script_run",
		Scope:       ScopeScript,
		Title:       "Run a script",
		Description: "Run a temporary bash or python3 script on the host and return {ok, output, returncode, duration, command, …}. Use it for multi-step work that single commands cannot express. The call waits up to the script's timeout (1–300 s, default 60).",
	}, map[string]prop{
		"interpreter": {enum: []any{"bash", "python3"}},
		"timeout":     {min: num(1), max: num(300), def: 60},
		"cleanup":     {def: true},
	}, outputSchema[upstream.ScriptResult](),
		func(in scriptInput) []any {
			sum := sha256.Sum256([]byte(in.Content))
			return []any{"interpreter", in.Interpreter, "content_bytes", len(in.Content),
				"content_sha256", hex.EncodeToString(sum[:8]), "args", len(in.Args), "sudo", in.Sudo, "timeout", in.Timeout}
		},
		func(d *Deps) callFunc[scriptInput] {
			return func(ctx context.Context, in scriptInput) (json.RawMessage, error) {
				interp := strings.TrimSpace(in.Interpreter)
				switch {
				case interp == "":
					return nil, inputError("interpreter is required")
				case interp != "bash" && interp != "python3":
					return nil, inputError("interpreter must be bash or python3")
				case in.Content == "":
					return nil, inputError("content is required")
				}
				timeout := in.Timeout
				if timeout == 0 {
					timeout = 60
				}
				if timeout < 1 || timeout > 300 {
					return nil, inputError(fmt.Sprintf("timeout must be between 1 and 300 seconds, got %d", in.Timeout))
				}
				cleanup := true
				if in.Cleanup != nil {
					cleanup = *in.Cleanup
				}
				return agentJSON(d.agent(ctx).ScriptRun(ctx, upstream.ScriptRunRequest{
					Interpreter: interp, Content: in.Content, Args: in.Args, Cwd: trimPtr(in.Cwd),
					Timeout: timeout, Sudo: in.Sudo, Cleanup: &cleanup, Filename: in.Filename, Env: in.Env,
				}))
			}
		})
}
