package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/httplog/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/server"
)

const serverPolicy = `
rules:
  - name: no-ssh-edits
    effect: deny
    tools: [sentinel_edit, sentinel_edit_upload_complete]
    when: args.path.under("/etc/ssh")
  - name: ops-web
    effect: allow
    groups: [ops]
    tools: [sentinel_service, sentinel_restart, sentinel_state]
    when: '!has(args.service) || args.service == "nginx"'
  - name: ops-edit
    effect: allow
    groups: [ops]
    tools: [sentinel_edit]
    when: args.validator == "" && args.validator_preset == "" && args.backup_dir == ""
    unconstrained_args: [path]
`

func writePolicy(t *testing.T, body string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestPolicyFileMustLoadAtStartup(t *testing.T) {
	env := map[string]string{
		"SENTINELX_TOKEN": "x", "OIDC_ISSUER": "http://127.0.0.1:1", "RESOURCE_URL": "http://127.0.0.1:8098",
		"POLICY_FILE": writePolicy(t, "rules:\n  - {name: typo, effect: allow, tools: [sentinel_exce]}\n"),
	}
	cfg, err := server.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = server.New(ctx, cfg, server.Deps{Logger: httplog.NewLogger("t", httplog.Options{Writer: io.Discard}), Version: "test"})
	var ce *server.ConfigError
	if !errors.As(err, &ce) || ce.Var != "POLICY_FILE" || !strings.Contains(ce.Want, `rule "typo"`) || !strings.Contains(ce.Want, "sentinel_exce") {
		t.Fatalf("New = %v, want a POLICY_FILE config error naming the rule", err)
	}
}

func TestPolicyThroughServer(t *testing.T) {
	file := writePolicy(t, serverPolicy)
	ts := startServerWith(t, setup{env: map[string]string{"POLICY_FILE": file, "MCP_FILTER_TOOLS": "true"}})
	ops := ts.mint(map[string]any{"sub": "alice", "groups": []string{"ops"},
		"scope": "sentinelx:service sentinelx:restart sentinelx:edit sentinelx:state sentinelx:exec"})
	dev := ts.mint(map[string]any{"sub": "bob", "groups": []string{"dev"}, "scope": "sentinelx:state sentinelx:exec"})
	ctx := context.Background()

	names := func(cs *mcp.ClientSession) []string {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tl := range res.Tools {
			out = append(out, tl.Name)
		}
		return out
	}
	opsCS, devCS, anon := ts.connect(ctx, ops, ""), ts.connect(ctx, dev, ""), ts.connect(ctx, "", "")
	if got, want := names(opsCS), []string{"ping", "sentinel_edit", "sentinel_restart", "sentinel_service", "sentinel_state"}; !slices.Equal(got, want) {
		t.Errorf("ops lists %v, want %v", got, want)
	}
	if got, want := names(devCS), []string{"ping"}; !slices.Equal(got, want) {
		t.Errorf("dev lists %v, want %v", got, want)
	}
	if got := names(anon); !slices.Equal(got, []string{"ping"}) {
		t.Errorf("anonymous lists %v", got)
	}
	res, err := anon.CallTool(ctx, &mcp.CallToolParams{Name: "ping"})
	if err != nil || !strings.Contains(textOf(res), ts.URL+"/.well-known/oauth-protected-resource/mcp") {
		t.Errorf("anonymous ping has no hint pointing at the metadata: %v %s", err, textOf(res))
	}

	res, err = opsCS.CallTool(ctx, &mcp.CallToolParams{Name: "sentinel_restart", Arguments: map[string]any{"service": "nginx"}})
	if err != nil || res.IsError {
		t.Fatalf("ops restart nginx: %v %s", err, textOf(res))
	}
	before := ts.AgentCalls()
	res, err = opsCS.CallTool(ctx, &mcp.CallToolParams{Name: "sentinel_edit",
		Arguments: map[string]any{"path": "/etc/ssh/sshd_config", "mode": "write", "new_text": "x"}})
	if err != nil || !res.IsError || !strings.Contains(textOf(res), `"no-ssh-edits"`) {
		t.Fatalf("ops edit sshd_config: %v isError=%v %s", err, res.IsError, textOf(res))
	}
	// A path the kernel could resolve elsewhere (/var/run → /run) is
	// refused before any rule runs.
	res, err = opsCS.CallTool(ctx, &mcp.CallToolParams{Name: "sentinel_edit",
		Arguments: map[string]any{"path": "/var/run/../etc/ssh/sshd_config", "mode": "write", "new_text": "x"}})
	if err != nil || !res.IsError || !strings.Contains(textOf(res), "give the canonical absolute path") {
		t.Fatalf("ops edit /var/run/../etc/ssh/sshd_config: %v isError=%v %s", err, res.IsError, textOf(res))
	}
	// A grant of edits does not hand out the validator (a shell command
	// the edit helper runs) or the backup directory.
	for _, extra := range []map[string]any{{"validator": "sh -c id {file}"}, {"backup_dir": "/etc/cron.d"}} {
		args := map[string]any{"path": "/etc/nginx/nginx.conf", "mode": "write", "new_text": "x"}
		for k, v := range extra {
			args[k] = v
		}
		res, err = opsCS.CallTool(ctx, &mcp.CallToolParams{Name: "sentinel_edit", Arguments: args})
		if err != nil || !res.IsError || !strings.Contains(textOf(res), "default-deny") {
			t.Fatalf("ops edit with %v: %v isError=%v %s", extra, err, res.IsError, textOf(res))
		}
	}
	if ts.AgentCalls() != before {
		t.Error("a denied call reached the agent")
	}
	if !strings.Contains(ts.Logs.String(), `"policy_rule":"no-ssh-edits"`) {
		t.Error("the audit line has no policy_rule")
	}

	code, rb := ts.readyz()
	pc := rb.Checks["policy"]
	if code != http.StatusOK || !pc.OK || pc.Detail["rules"] != float64(3) || pc.Detail["file"] != file || pc.Detail["last_error"] != nil {
		t.Fatalf("/readyz %d policy check %+v", code, pc)
	}
	page := string(ts.do(ts.request(http.MethodGet, "/", nil)).body)
	for _, want := range []string{`id="h-policy"`, file, `<span class="badge ok">3</span>`, `id="filter-tools"`} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}

	// A broken edit keeps the policy in force and shows up everywhere.
	if err := os.WriteFile(file, []byte("rules:\n  - {name: x, effect: maybe}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, rb = ts.readyz()
		if rb.Checks["policy"].Detail["last_error"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the broken file was not reported on /readyz")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pc := rb.Checks["policy"]; !pc.OK || pc.Detail["rules"] != float64(3) || !strings.Contains(pc.Detail["last_error"].(string), "effect must be allow or deny") {
		t.Errorf("policy check after a bad reload: %+v", pc)
	}
	page = string(ts.do(ts.request(http.MethodGet, "/", nil)).body)
	if !strings.Contains(page, "effect must be allow or deny") {
		t.Error("the status page does not show the reload error")
	}
	res, err = opsCS.CallTool(ctx, &mcp.CallToolParams{Name: "sentinel_restart", Arguments: map[string]any{"service": "nginx"}})
	if err != nil || res.IsError {
		t.Fatalf("the old policy is no longer in force: %v %s", err, textOf(res))
	}
}

func textOf(res *mcp.CallToolResult) string {
	if res == nil {
		return ""
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
