package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/server"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// everyScope is every scope a tool needs.
const everyScope = "sentinelx:state sentinelx:exec sentinelx:service sentinelx:restart sentinelx:edit sentinelx:upload sentinelx:script sentinelx:capabilities"

// fleetHost is one host of a test fleet.
type fleetHost struct {
	name    string
	labels  map[string]string
	down    bool                            // the registry points at a closed port
	timeout string                          // the registry's timeout for it, if any
	wrap    func(http.Handler) http.Handler // fakes misbehaviour
}

// fleetAgent is a sandboxed agent that records every request it gets,
// with the bearer token it came with.
type fleetAgent struct {
	name, token string
	agent       *sandbox.Agent
	mu          sync.Mutex
	seen        []string // "METHOD /path token", every request
	calls       []string // the same, for requests made on behalf of a caller (not probes)
}

// requests are the agent requests tool calls made (probes carry no
// caller headers).
func (a *fleetAgent) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// everything is every request, probes included.
func (a *fleetAgent) everything() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// fleet is a bridge in front of several sandboxed agents.
type fleet struct {
	*testServer
	agents map[string]*fleetAgent
	file   string // AGENTS_FILE
	policy string // POLICY_FILE, when a policy was given
	dir    string
}

// startFleet writes an AGENTS_FILE for hosts (each agent with its own
// token, from a token_file) and a POLICY_FILE when doc is not empty, and
// starts a bridge on them.
func startFleet(t *testing.T, hosts []fleetHost, doc string, env map[string]string) *fleet {
	t.Helper()
	f := &fleet{agents: map[string]*fleetAgent{}, dir: t.TempDir()}
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range hosts {
		url := closedPortURL(t)
		token := "agent-token-" + h.name + "-5c1d"
		if !h.down {
			fa := &fleetAgent{name: h.name, token: token}
			ag, err := sandbox.New(sandbox.Options{Token: token})
			if err != nil {
				t.Fatal(err)
			}
			fa.agent = ag
			var agH http.Handler = ag
			if h.wrap != nil {
				agH = h.wrap(ag)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				line := r.Method + " " + r.URL.Path + " " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				fa.mu.Lock()
				fa.seen = append(fa.seen, line)
				if r.Header.Get("X-SentinelX-Subject") != "" {
					fa.calls = append(fa.calls, line)
				}
				fa.mu.Unlock()
				agH.ServeHTTP(w, r)
			}))
			t.Cleanup(func() { srv.Close(); _ = ag.Close() })
			url = srv.URL
			f.agents[h.name] = fa
		}
		tokFile := filepath.Join(f.dir, h.name+".token")
		if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    token_file: %s\n", h.name, url, tokFile)
		if h.timeout != "" {
			fmt.Fprintf(&b, "    timeout: %s\n", h.timeout)
		}
		if len(h.labels) > 0 {
			b.WriteString("    labels:\n")
			for k, v := range h.labels {
				fmt.Fprintf(&b, "      %s: %s\n", k, v)
			}
		}
	}
	f.file = filepath.Join(f.dir, "agents.yaml")
	if err := os.WriteFile(f.file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e := map[string]string{"AGENTS_FILE": f.file, "SENTINELX_TOKEN": "", "RATE_LIMIT": "0", "AGENT_PROBE_INTERVAL": "200ms", "AGENT_DOWN_AFTER": "1"}
	if doc != "" {
		f.policy = filepath.Join(f.dir, "policy.yaml")
		if err := os.WriteFile(f.policy, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		e["POLICY_FILE"] = f.policy
	}
	for k, v := range env {
		e[k] = v
	}
	f.testServer = startServerWith(t, setup{env: e})
	for _, a := range f.agents {
		f.secret(a.token)
	}
	return f
}

// writeWithout writes doc (an AGENTS_FILE as startFleet writes it) to
// the registry file without the host named name.
func (f *fleet) writeWithout(t *testing.T, doc, name string) {
	t.Helper()
	var kept []string
	for _, block := range strings.Split(doc, "\n  - ") {
		if !strings.Contains(block, "name: "+name+"\n") {
			kept = append(kept, block)
		}
	}
	if err := os.WriteFile(f.file, []byte(strings.Join(kept, "\n  - ")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// threeHosts is the dev fleet's shape.
func threeHosts() []fleetHost {
	return []fleetHost{
		{name: "web-1", labels: map[string]string{"role": "web", "env": "prod"}},
		{name: "web-2", labels: map[string]string{"role": "web", "env": "staging"}},
		{name: "db-1", labels: map[string]string{"role": "db", "env": "prod"}},
	}
}

// fanResult is a fan-out's structuredContent.
type fanResult struct {
	Results []struct {
		Host       string          `json:"host"`
		OK         bool            `json:"ok"`
		Outcome    string          `json:"outcome"`
		Result     json.RawMessage `json:"result"`
		Error      string          `json:"error"`
		PolicyRule string          `json:"policy_rule"`
	} `json:"results"`
	Summary map[string]int `json:"summary"`
}

func decodeFan(t *testing.T, r toolResult) fanResult {
	t.Helper()
	var f fanResult
	if err := json.Unmarshal(r.StructuredContent, &f); err != nil {
		t.Fatalf("fan-out result: %v in %s", err, r.StructuredContent)
	}
	return f
}

func (f fanResult) outcomes() map[string]string {
	out := map[string]string{}
	for _, r := range f.Results {
		out[r.Host] = r.Outcome
	}
	return out
}

// assertOwnTokens checks that every agent only ever saw its own token.
func (f *fleet) assertOwnTokens(t *testing.T) {
	t.Helper()
	for name, a := range f.agents {
		for _, r := range a.everything() {
			if !strings.HasSuffix(r, " "+a.token) {
				t.Errorf("agent %s got a request with another token: %q", name, r)
			}
		}
	}
}

func (f *fleet) toolsList(t *testing.T, tok string) map[string]map[string]any {
	t.Helper()
	r := f.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, rpcOpts{token: tok, version: "2025-06-18"})
	var m struct {
		Tools []struct {
			Name        string         `json:"name"`
			InputSchema map[string]any `json:"inputSchema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(r.rpc(t).Result, &m); err != nil {
		t.Fatalf("tools/list: %v: %s", err, r.body)
	}
	out := map[string]map[string]any{}
	for _, tl := range m.Tools {
		out[tl.Name] = tl.InputSchema
	}
	return out
}

func hostEnum(schema map[string]any) []string {
	props, _ := schema["properties"].(map[string]any)
	host, _ := props["host"].(map[string]any)
	var out []string
	for _, v := range host["enum"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

func required(schema map[string]any, name string) bool {
	req, _ := schema["required"].([]any)
	return slices.Contains(req, any(name))
}

func TestFleetHostArgument(t *testing.T) {
	f := startFleet(t, threeHosts(), "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})

	tools := f.toolsList(t, tok)
	if _, ok := tools["sentinel_hosts"]; !ok {
		t.Fatal("tools/list has no sentinel_hosts with three hosts")
	}
	for name, schema := range tools {
		if name == "ping" || name == "sentinel_hosts" {
			continue
		}
		if got := hostEnum(schema); !slices.Equal(got, []string{"db-1", "web-1", "web-2"}) {
			t.Errorf("%s: host enum %v", name, got)
		}
		if required(schema, "host") {
			t.Errorf("%s: host in required (the tool's own check lists the hosts instead)", name)
		}
	}

	bound := 10 * time.Second
	for tool, args := range map[string]map[string]any{"sentinel_state": {}, "sentinel_restart": {"service": "nginx"}} {
		r := f.callTool(t, tok, tool, args, bound)
		if !r.IsError || !strings.Contains(r.text(), "host is required") || !strings.Contains(r.text(), "db-1, web-1, web-2") {
			t.Errorf("%s without host: %v %q", tool, r.IsError, r.text())
		}
	}
	r := f.callTool(t, tok, "sentinel_state", map[string]any{"host": "web-9"}, bound)
	if !r.IsError {
		t.Errorf("unknown host: not an error: %s", r.text())
	}
	r = f.callTool(t, tok, "sentinel_state", map[string]any{"host": "web-2"}, bound)
	if r.IsError {
		t.Fatalf("web-2: %s", r.text())
	}
	if n := len(f.agents["web-2"].requests()); n != 1 {
		t.Errorf("web-2 got %d requests, want 1", n)
	}
	for _, other := range []string{"web-1", "db-1"} {
		if n := len(f.agents[other].requests()); n != 0 {
			t.Errorf("%s got %d requests for a call to web-2", other, n)
		}
	}

	r = f.callTool(t, tok, "sentinel_hosts", map[string]any{}, bound)
	var hosts struct {
		Hosts []struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(r.StructuredContent, &hosts); err != nil || len(hosts.Hosts) != 3 || hosts.Hosts[0].Labels["role"] != "db" {
		t.Errorf("sentinel_hosts: %v %s", err, r.StructuredContent)
	}
	if strings.Contains(string(r.StructuredContent), "127.0.0.1") {
		t.Errorf("sentinel_hosts shows an agent address: %s", r.StructuredContent)
	}
	f.assertOwnTokens(t)
	f.assertNoSecretsLogged()
}

func TestFleetFanout(t *testing.T) {
	hosts := append(threeHosts(), fleetHost{name: "web-3", labels: map[string]string{"role": "web"}, down: true})
	f := startFleet(t, hosts, "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	bound := 20 * time.Second

	r := f.callTool(t, tok, "sentinel_state", map[string]any{"hosts": []string{"web-*"}}, bound)
	fr := decodeFan(t, r)
	got := fr.outcomes()
	if len(got) != 3 || got["web-1"] != "ok" || got["web-2"] != "ok" || got["web-3"] != "unreachable" {
		t.Errorf("hosts web-*: %v", got)
	}
	if r.IsError || fr.Summary["ok"] != 2 || fr.Summary["unreachable"] != 1 || fr.Summary["hosts"] != 3 {
		t.Errorf("summary %v isError %v", fr.Summary, r.IsError)
	}

	r = f.callTool(t, tok, "sentinel_capabilities", map[string]any{"selector": "role=db"}, bound)
	if got := decodeFan(t, r).outcomes(); len(got) != 1 || got["db-1"] != "ok" {
		t.Errorf("selector role=db: %v", got)
	}
	r = f.callTool(t, tok, "sentinel_state", map[string]any{"hosts": []string{"web-*"}, "selector": "env=prod"}, bound)
	if got := decodeFan(t, r).outcomes(); len(got) != 1 || got["web-1"] != "ok" {
		t.Errorf("web-* and env=prod: %v", got)
	}

	for _, bad := range []map[string]any{
		{"host": "web-1", "hosts": []string{"web-2"}},
		{"selector": "role==web"},
		{"selector": "role=cache"},
		{"hosts": []string{"nosuch"}},
		{"hosts": []string{"web-["}},
	} {
		r := f.callTool(t, tok, "sentinel_state", bad, bound)
		if !r.IsError || r.text() == "" {
			t.Errorf("%v: want a clear error, got %v %q", bad, r.IsError, r.text())
		}
	}
	f.assertOwnTokens(t)
}

func TestFleetExecFanoutNeedsExplicitRule(t *testing.T) {
	const doc = `
rules:
  - name: ops-exec
    effect: allow
    tools: [sentinel_exec]
    unconstrained_args: [cmd]
  - name: readers
    effect: allow
    tools: [sentinel_state, sentinel_capabilities, sentinel_service]
    when: args.action == "status" || !has(args.action)
`
	f := startFleet(t, threeHosts(), doc, nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	bound := 20 * time.Second

	r := f.callTool(t, tok, "sentinel_exec", map[string]any{"host": "web-1", "cmd": "uptime"}, bound)
	if r.IsError {
		t.Fatalf("single-host exec under ops-exec: %s", r.text())
	}
	before := len(f.agents["web-2"].requests())
	r = f.callTool(t, tok, "sentinel_exec", map[string]any{"hosts": []string{"web-*"}, "cmd": "uptime"}, bound)
	fr := decodeFan(t, r)
	if !r.IsError || fr.Summary["denied"] != 2 {
		t.Errorf("exec fan-out under a single-host grant: %v %s", r.IsError, r.StructuredContent)
	}
	if len(f.agents["web-2"].requests()) != before {
		t.Error("a denied fan-out reached an agent")
	}
	r = f.callTool(t, tok, "sentinel_service", map[string]any{"selector": "role=web", "service": "nginx", "action": "status"}, bound)
	if fr := decodeFan(t, r); r.IsError || fr.Summary["ok"] != 2 {
		t.Errorf("service status fan-out: %s", r.StructuredContent)
	}
}

func TestFleetPerHostPolicy(t *testing.T) {
	const doc = `
rules:
  - name: web-restarts
    effect: allow
    tools: [sentinel_service]
    host_labels: {role: web}
    when: args.service == "nginx" && args.action in ["status", "restart"]
  - name: fleet-restarts
    effect: allow
    tools: [sentinel_service]
    host_labels: {role: web}
    when: fanout && size(hosts) <= 2 && args.service == "nginx" && args.action == "restart"
`
	f := startFleet(t, threeHosts(), doc, nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	bound := 20 * time.Second

	r := f.callTool(t, tok, "sentinel_service", map[string]any{"host": "web-1", "service": "nginx", "action": "restart"}, bound)
	if r.IsError {
		t.Errorf("web-1 restart: %s", r.text())
	}
	r = f.callTool(t, tok, "sentinel_service", map[string]any{"host": "db-1", "service": "nginx", "action": "restart"}, bound)
	if !r.IsError || !strings.Contains(r.text(), "denied") {
		t.Errorf("db-1 restart: %v %s", r.IsError, r.text())
	}
	if n := len(f.agents["db-1"].requests()); n != 0 {
		t.Errorf("db-1 got %d requests", n)
	}
	r = f.callTool(t, tok, "sentinel_service", map[string]any{"hosts": []string{"*"}, "service": "nginx", "action": "restart"}, bound)
	got := decodeFan(t, r).outcomes()
	// Three targets: size(hosts) <= 2 fails, so no rule allows it anywhere.
	if got["web-1"] != "policy_denied" || got["db-1"] != "policy_denied" {
		t.Errorf("restart on all three: %v", got)
	}
	r = f.callTool(t, tok, "sentinel_service", map[string]any{"selector": "role=web", "service": "nginx", "action": "restart"}, bound)
	if got := decodeFan(t, r).outcomes(); got["web-1"] != "ok" || got["web-2"] != "ok" {
		t.Errorf("restart on role=web: %v", got)
	}
}

func TestFleetUploadBoundToHost(t *testing.T) {
	f := startFleet(t, threeHosts(), "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	bound := 20 * time.Second

	r := f.callTool(t, tok, "sentinel_upload_init", map[string]any{"host": "web-1", "target_path": "big.bin", "total_size": 3}, bound)
	if r.IsError {
		t.Fatalf("init: %s", r.text())
	}
	var init struct {
		UploadID string `json:"upload_id"`
	}
	_ = json.Unmarshal(r.StructuredContent, &init)
	for _, tool := range []string{"sentinel_upload_chunk", "sentinel_upload_complete"} {
		args := map[string]any{"host": "web-2", "upload_id": init.UploadID, "index": 0, "chunk_base64": "YWJj"}
		if tool == "sentinel_upload_complete" {
			args = map[string]any{"host": "web-2", "upload_id": init.UploadID}
		}
		r = f.callTool(t, tok, tool, args, bound)
		if !r.IsError || !strings.Contains(r.text(), `started on host "web-1"`) {
			t.Errorf("%s to web-2: %v %s", tool, r.IsError, r.text())
		}
	}
	if n := len(f.agents["web-2"].requests()); n != 0 {
		t.Errorf("web-2 got %d requests for web-1's upload", n)
	}
	r = f.callTool(t, tok, "sentinel_upload_chunk", map[string]any{"host": "web-1", "upload_id": init.UploadID, "index": 0, "chunk_base64": "YWJj"}, bound)
	if r.IsError {
		t.Errorf("chunk to web-1: %s", r.text())
	}
	r = f.callTool(t, tok, "sentinel_upload_complete", map[string]any{"host": "web-1", "upload_id": init.UploadID}, bound)
	if r.IsError {
		t.Errorf("complete on web-1: %s", r.text())
	}

	// Large edits are bound the same way.
	r = f.callTool(t, tok, "sentinel_edit_upload_init", map[string]any{"host": "db-1"}, bound)
	if r.IsError {
		t.Fatalf("edit init: %s", r.text())
	}
	_ = json.Unmarshal(r.StructuredContent, &init)
	for tool, args := range map[string]map[string]any{
		"sentinel_edit_upload_file":     {"host": "web-1", "upload_id": init.UploadID, "role": "new", "content_base64": "aGk="},
		"sentinel_edit_upload_complete": {"host": "web-1", "upload_id": init.UploadID, "path": "/etc/motd", "mode": "write"},
	} {
		r = f.callTool(t, tok, tool, args, bound)
		if !r.IsError || !strings.Contains(r.text(), `started on host "db-1"`) {
			t.Errorf("%s to web-1: %v %s", tool, r.IsError, r.text())
		}
	}
	for _, a := range []string{"web-1", "web-2"} {
		for _, req := range f.agents[a].requests() {
			if strings.Contains(req, "/edit") {
				t.Errorf("%s got %q for db-1's edit upload", a, req)
			}
		}
	}
}

func TestFleetReadyAndReload(t *testing.T) {
	hosts := append(threeHosts(), fleetHost{name: "web-3", down: true})
	f := startFleet(t, hosts, "", map[string]string{"READY_MIN_HOSTS": "4"})
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})

	var body readyBody
	poll.Until(t, "readyz to report three reachable hosts", func() bool {
		_, body = f.readyz()
		d := body.Checks["hosts"].Detail
		return d != nil && d["reachable"] == float64(3)
	})
	code, body := f.readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body.Checks["hosts"].Error, "3 of 4 hosts reachable") {
		t.Errorf("READY_MIN_HOSTS=4 with one down: %d %+v", code, body.Checks["hosts"])
	}

	// A bad edit keeps the hosts in force and says why.
	good, _ := os.ReadFile(f.file)
	if err := os.WriteFile(f.file, append(good, []byte("  - name: Bad_Name\n    url: http://127.0.0.1:1\n    token_env: NOPE\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "readyz to report the failed reload", func() bool {
		_, body = f.readyz()
		d := body.Checks["hosts"].Detail
		return d != nil && d["reload_error"] != nil
	})
	if got := hostEnum(f.toolsList(t, tok)["sentinel_restart"]); len(got) != 4 {
		t.Errorf("after a bad reload: hosts %v", got)
	}

	// Removing the dead host: the enum follows the file.
	f.writeWithout(t, string(good), "web-3")
	poll.Until(t, "tools/list to follow the edited file", func() bool {
		return len(hostEnum(f.toolsList(t, tok)["sentinel_restart"])) == 3
	})
	poll.Until(t, "readyz to count three hosts, short of READY_MIN_HOSTS=4", func() bool {
		code, body := f.readyz()
		d := body.Checks["hosts"].Detail
		return code == http.StatusServiceUnavailable && d["total"] == float64(3) && d["reachable"] == float64(3)
	})
}

// TestFleetReloadNotifiesSessions: a stateful session hears
// notifications/tools/list_changed when the registry changes, and the next
// tools/list carries the new host enum.
func TestFleetReloadNotifiesSessions(t *testing.T) {
	f := startFleet(t, threeHosts(), "", map[string]string{"MCP_STATEFUL": "true"})
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	changed := make(chan struct{}, 8)
	c := mcp.NewClient(&mcp.Implementation{Name: "fleet-test", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   f.MCPURL,
		HTTPClient: &http.Client{Transport: bearerTransport{token: tok, base: http.DefaultTransport}},
		MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	doc, _ := os.ReadFile(f.file)
	moved := strings.Replace(string(doc), "name: db-1", "name: db-2", 1)
	if err := os.WriteFile(f.file, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	// Each notification is followed by a tools/list, as a client does; the
	// new enum must show up (go-sdk may send more than one notification).
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("no tools/list with the reloaded hosts after notifications/tools/list_changed")
		}
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var schema string
		for _, tl := range res.Tools {
			if tl.Name == "sentinel_restart" {
				b, _ := json.Marshal(tl.InputSchema)
				schema = string(b)
			}
		}
		if strings.Contains(schema, `"db-2"`) && !strings.Contains(schema, `"db-1"`) {
			return
		}
	}
}

// onCall makes an agent misbehave on tool calls only (probes, which carry
// no caller headers, get the real agent, so the host is not marked down).
func onCall(bad http.HandlerFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-SentinelX-Subject") == "" {
				next.ServeHTTP(w, r)
				return
			}
			bad(w, r)
		})
	}
}

// TestFleetFanoutFaults: a slow, a 500, a garbage and a resetting host in
// one fan-out; each says what went wrong and the healthy host is served.
func TestFleetFanoutFaults(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hosts := []fleetHost{
		{name: "ok-1"},
		{name: "slow-1", timeout: "1s", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})},
		{name: "err-1", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"detail":"boom"}`, http.StatusInternalServerError)
		})},
		{name: "junk-1", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("<html>not json"))
		})},
		{name: "reset-1", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = c.Close()
			}
		})},
	}
	f := startFleet(t, hosts, "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	r := f.callTool(t, tok, "sentinel_state", map[string]any{"hosts": []string{"*"}}, 30*time.Second)
	fr := decodeFan(t, r)
	want := map[string]string{"ok-1": "ok", "slow-1": "timeout", "err-1": "http", "junk-1": "bad_response", "reset-1": "unreachable"}
	if got := fr.outcomes(); !maps.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	for _, res := range fr.Results {
		if !res.OK && res.Error == "" {
			t.Errorf("%s: no error text", res.Host)
		}
		if strings.Contains(res.Error, "127.0.0.1") {
			t.Errorf("%s: error names the agent's address: %s", res.Host, res.Error)
		}
	}
	if r.IsError || fr.Summary["ok"] != 1 || fr.Summary["hosts"] != 5 {
		t.Errorf("summary %v isError %v", fr.Summary, r.IsError)
	}
	f.assertNoSecretsLogged()
}

// TestFleetHostRemovedMidCall: a call in flight when its host leaves the
// registry finishes on the host it started with; the next call is refused.
func TestFleetHostRemovedMidCall(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	hosts := []fleetHost{
		{name: "web-1"},
		{name: "web-2", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-release
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"uptime":"1 day","total_executions":7,"blocked_count":0,"error_count":0}`))
		})},
	}
	f := startFleet(t, hosts, "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	done := make(chan toolResult, 1)
	go func() { done <- f.callTool(t, tok, "sentinel_state", map[string]any{"host": "web-2"}, 30*time.Second) }()
	<-entered

	doc, _ := os.ReadFile(f.file)
	f.writeWithout(t, string(doc), "web-2")
	poll.Until(t, "web-2 to leave tools/list", func() bool {
		return len(hostEnum(f.toolsList(t, tok)["sentinel_restart"])) == 1
	})
	close(release)
	if r := <-done; r.IsError || !strings.Contains(string(r.StructuredContent), `"total_executions":7`) {
		t.Errorf("the call in flight: %v %s", r.IsError, r.text())
	}
	r := f.callTool(t, tok, "sentinel_state", map[string]any{"host": "web-2"}, 10*time.Second)
	// The input schema's enum (the registry's names) refuses it first.
	if !r.IsError || !strings.Contains(r.text(), "web-2") || !strings.Contains(r.text(), "[web-1]") {
		t.Errorf("after removal: %v %s", r.IsError, r.text())
	}
}

// TestFleetMetricsPerHost: each host of a fan-out is one sample of
// sentinelx_host_calls_total under its registry name, and a host removed
// from the registry loses its series.
func TestFleetMetricsPerHost(t *testing.T) {
	f := startFleet(t, threeHosts(), "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	f.callTool(t, tok, "sentinel_state", map[string]any{"hosts": []string{"web-*"}}, 20*time.Second)
	f.callTool(t, tok, "sentinel_state", map[string]any{"host": "db-1"}, 20*time.Second)
	fams := scrapeMetrics(t, f.URL)
	for host, want := range map[string]float64{"web-1": 1, "web-2": 1, "db-1": 1} {
		if got := server.MetricSample(fams, "sentinelx_host_calls_total", map[string]string{"host": host, "outcome": "ok"}); got != want {
			t.Errorf("host_calls_total{host=%q} = %v, want %v", host, got, want)
		}
	}
	if got := server.MetricSample(fams, "sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_state", "outcome": "ok"}); got != 3 {
		t.Errorf("tool_calls_total{sentinel_state} = %v, want 3 (one per host)", got)
	}

	doc, _ := os.ReadFile(f.file)
	f.writeWithout(t, string(doc), "web-2")
	poll.Until(t, "web-2's series to be dropped", func() bool {
		fams := scrapeMetrics(t, f.URL)
		return server.MetricSample(fams, "sentinelx_host_calls_total", map[string]string{"host": "web-2", "outcome": "ok"}) == -1 &&
			server.MetricSample(fams, "sentinelx_host_calls_total", map[string]string{"host": "web-1", "outcome": "ok"}) == 1
	})
}

// TestFleetFanoutAnswerIsBounded: hosts whose answers together exceed a
// fan-out's share of MCP_MAX_RESPONSE_BYTES are each replaced by a note
// saying to call that host alone; the caller gets every host's outcome
// instead of a response-cap error after every host ran the call.
func TestFleetFanoutAnswerIsBounded(t *testing.T) {
	big := `{"uptime":"` + strings.Repeat("x", 200<<10) + `","total_executions":1,"blocked_count":0,"error_count":0}`
	wrap := onCall(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(big))
	})
	hosts := []fleetHost{{name: "a-1", wrap: wrap}, {name: "a-2", wrap: wrap}, {name: "a-3", wrap: wrap}, {name: "a-4", wrap: wrap}}
	f := startFleet(t, hosts, "", map[string]string{"MCP_MAX_RESPONSE_BYTES": "1048576"})
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	r := f.callTool(t, tok, "sentinel_state", map[string]any{"hosts": []string{"*"}}, 30*time.Second)
	fr := decodeFan(t, r)
	if r.IsError || fr.Summary["ok"] != 4 {
		t.Fatalf("summary %v isError %v", fr.Summary, r.IsError)
	}
	for _, res := range fr.Results {
		if !strings.Contains(string(res.Result), `"truncated":true`) || !strings.Contains(string(res.Result), `host \"`+res.Host+`\"`) {
			t.Errorf("%s: %.200s", res.Host, res.Result)
		}
	}
	// One host alone still gets its whole answer.
	r = f.callTool(t, tok, "sentinel_state", map[string]any{"host": "a-1"}, 30*time.Second)
	if r.IsError || len(r.StructuredContent) < 200<<10 {
		t.Errorf("a-1 alone: %v, %d bytes", r.IsError, len(r.StructuredContent))
	}
}
