package server_test

// What a caller sees of many hosts: the host argument, fan-out, per-host
// policy, uploads bound to their host.

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

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
