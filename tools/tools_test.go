package tools_test

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// connect registers the table on a server and returns a client session
// talking to it in memory.
func connect(t *testing.T, up *upstream.Client) (*mcp.ClientSession, *tools.Table) {
	t.Helper()
	table := tools.New(tools.Deps{Upstream: up, Version: "test"})
	srv := mcp.NewServer(&mcp.Implementation{Name: "sentinelx-mcp", Version: "test"}, nil)
	table.Register(srv)
	return tools.ConnectInMemory(t, srv), table
}

func newUpstream(t *testing.T, baseURL, token string) *upstream.Client {
	t.Helper()
	up, err := upstream.New(upstream.Options{BaseURL: baseURL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func TestListTools(t *testing.T) {
	agent := sandbox.Start(t, sandbox.Options{Token: "agent-secret"})
	cs, table := connect(t, newUpstream(t, agent.URL, "agent-secret"))
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]tools.Spec{}
	for _, s := range table.Specs() {
		specs[s.Name] = s
	}
	if len(res.Tools) != 16 || len(specs) != 16 {
		t.Fatalf("listed %d tools, table has %d; the seed has 16", len(res.Tools), len(specs))
	}
	// go-sdk lists tools sorted by name: deterministic, whatever the
	// registration order.
	if !slices.IsSortedFunc(res.Tools, func(a, b *mcp.Tool) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("tools/list is not in a deterministic (name) order")
	}
	for _, tl := range res.Tools {
		spec, ok := specs[tl.Name]
		if !ok {
			t.Errorf("listed %q is not in the table", tl.Name)
			continue
		}
		if strings.TrimSpace(tl.Description) == "" {
			t.Errorf("%s has no description", tl.Name)
		}
		if tl.Annotations == nil || tl.Annotations.ReadOnlyHint != spec.ReadOnly ||
			tl.Annotations.DestructiveHint == nil || *tl.Annotations.DestructiveHint == spec.ReadOnly {
			t.Errorf("%s annotations %+v do not match ReadOnly=%v", tl.Name, tl.Annotations, spec.ReadOnly)
		}
		if tl.InputSchema == nil {
			t.Errorf("%s has no input schema", tl.Name)
		}
	}
	wantScopes := map[string]string{
		"ping": "", "sentinel_state": "sentinelx:state", "sentinel_exec": "sentinelx:exec",
		"sentinel_service": "sentinelx:service", "sentinel_restart": "sentinelx:restart",
		"sentinel_edit": "sentinelx:edit", "sentinel_edit_upload_init": "sentinelx:edit",
		"sentinel_edit_upload_file": "sentinelx:edit", "sentinel_edit_upload_complete": "sentinelx:edit",
		"sentinel_upload_file": "sentinelx:upload", "sentinel_upload_init": "sentinelx:upload",
		"sentinel_upload_chunk": "sentinelx:upload", "sentinel_upload_complete": "sentinelx:upload",
		"sentinel_script_run": "sentinelx:script", "sentinel_capabilities": "sentinelx:capabilities",
		"sentinel_help": "sentinelx:capabilities",
	}
	for name, scope := range wantScopes {
		if got := table.ScopeOf(name); got != scope {
			t.Errorf("ScopeOf(%s) = %q, want the seed's %q", name, got, scope)
		}
	}
	if got := table.ScopeOf("sentinel_state"); got != tools.ScopeState {
		t.Errorf("ScopeOf(sentinel_state) = %q", got)
	}
	if got := table.ScopeOf("ping"); got != "" {
		t.Errorf("ping must be public, has scope %q", got)
	}
	if got := table.ScopeOf("no_such_tool"); got != "" {
		t.Errorf("unknown tools have no scope (go-sdk answers them), got %q", got)
	}
}

func TestPing(t *testing.T) {
	cs, _ := connect(t, newUpstream(t, "http://127.0.0.1:1", "x"))
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ping", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("ping failed: %v", text(res))
	}
	var body struct {
		OK      bool   `json:"ok"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(text(res)), &body); err != nil || !body.OK || body.Version != "test" {
		t.Errorf("ping text = %s", text(res))
	}
	if res.Meta["proxy"] != "sentinelx-mcp" {
		t.Errorf("_meta = %v", res.Meta)
	}
}

func TestState(t *testing.T) {
	agent := sandbox.Start(t, sandbox.Options{Token: "agent-secret"})
	cs, _ := connect(t, newUpstream(t, agent.URL, "agent-secret"))
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sentinel_state", Arguments: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("sentinel_state failed: %s", text(res))
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(text(res)), &st); err != nil {
		t.Fatalf("text is not the agent's JSON: %v", err)
	}
	for _, k := range []string{"uptime", "last_command", "total_executions", "blocked_count", "error_count"} {
		if _, ok := st[k]; !ok {
			t.Errorf("state lacks %q: %s", k, text(res))
		}
	}
	sc, _ := json.Marshal(res.StructuredContent)
	var sst map[string]any
	if err := json.Unmarshal(sc, &sst); err != nil || len(sst) != len(st) {
		t.Errorf("structuredContent %s differs from text %s", sc, text(res))
	}
	for _, k := range []string{"proxy", "ms", "subject", "preferred_username"} {
		if _, ok := res.Meta[k]; !ok {
			t.Errorf("_meta lacks %q: %v", k, res.Meta)
		}
	}
}

func TestStateUpstreamFailures(t *testing.T) {
	agent := sandbox.Start(t, sandbox.Options{Token: "agent-secret"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		name, url, token, want string
	}{
		{"wrong agent token", agent.URL, "not-the-token", "Invalid token"},
		{"agent down", closed, "agent-secret", "cannot reach SENTINELX_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, _ := connect(t, newUpstream(t, tt.url, tt.token))
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "sentinel_state", Arguments: map[string]any{}})
			if err != nil {
				t.Fatalf("an agent failure must be a tool result, not a protocol error: %v", err)
			}
			if !res.IsError || !strings.Contains(text(res), tt.want) {
				t.Errorf("isError=%v text=%q, want isError and %q", res.IsError, text(res), tt.want)
			}
			if strings.Contains(text(res), "agent-secret") {
				t.Error("the agent token leaked into the result")
			}
			if res.Meta["proxy"] != "sentinelx-mcp" {
				t.Errorf("error results carry _meta too, got %v", res.Meta)
			}
		})
	}
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
