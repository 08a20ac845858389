package dev

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// maxDevHosts bounds --hosts: each host is a sandboxed agent with its own
// directory and listener.
const maxDevHosts = 50

// devHost is one sandboxed agent of `dev --hosts N`.
type devHost struct {
	name   string
	labels map[string]string
	url    string
	token  string
}

// Labels formats the host's labels as "k=v" in key order.
func (h devHost) Labels() string {
	var out []string
	for k, v := range h.labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// devFleetShape names and labels n hosts: web-1 … web-(n-1) with role=web
// and db-1 with role=db; web-1 and db-1 are env=prod, the other web hosts
// env=staging, so the sample policy has something to tell apart.
func devFleetShape(n int) []devHost {
	out := make([]devHost, 0, n)
	for i := 1; i < n; i++ {
		env := "staging"
		if i == 1 {
			env = "prod"
		}
		out = append(out, devHost{name: fmt.Sprintf("web-%d", i), labels: map[string]string{"role": "web", "env": env}})
	}
	return append(out, devHost{name: "db-1", labels: map[string]string{"role": "db", "env": "prod"}})
}

// samplePolicy is the policy `dev --hosts` starts with (when POLICY_FILE
// is not set): read-only fan-out for everyone, nginx on the web hosts only,
// no scripts on env=prod, and everything else one host at a time.
const samplePolicy = `# Sample policy of sentinelx-mcp dev --hosts (docs/fleet.md, docs/policy.md).
rules:
  - name: no-scripts-on-prod
    effect: deny
    tools: [sentinel_script_run]
    host_labels: {env: prod}
    message: scripts never run on production hosts
  - name: readers
    effect: allow
    tools: [sentinel_state, sentinel_capabilities, sentinel_help]
  - name: service-status-anywhere
    effect: allow
    tools: [sentinel_service]
    when: args.action == "status"
  - name: nginx-on-web-hosts
    effect: allow
    tools: [sentinel_service, sentinel_restart]
    host_labels: {role: web}
    when: args.service == "nginx" && (!fanout || size(hosts) <= 3)
  - name: fleet-uptime
    effect: allow
    tools: [sentinel_exec]
    when: fanout && size(hosts) <= 10 && args.cmd.commandIn(["uptime", "df -h", "free -m"])
  - name: one-host-at-a-time
    effect: allow
    tools: [sentinel_exec, sentinel_edit, sentinel_edit_upload_init, sentinel_edit_upload_file,
            sentinel_edit_upload_complete, sentinel_upload_file, sentinel_upload_init,
            sentinel_upload_chunk, sentinel_upload_complete, sentinel_script_run]
    unconstrained_args: ["*"]
`

// startFleet starts n sandboxed agents in g and writes, in a private
// temporary directory, the AGENTS_FILE naming them (inline tokens: the
// file is readable by its owner only) and, unless the developer set
// POLICY_FILE, the sample policy. cleanup removes the directory and the
// agents' sandboxes.
func startFleet(ctx context.Context, g *group, o Options, n int) (hosts []devHost, agentsFile, policyFile string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "sentinelx-dev-fleet-")
	if err != nil {
		return nil, "", "", nil, fmt.Errorf("dev: fleet: %w", err)
	}
	var closers []func()
	cleanup = func() {
		for _, c := range closers {
			c()
		}
		os.RemoveAll(dir)
	}
	hosts = devFleetShape(n)
	var b strings.Builder
	b.WriteString("# AGENTS_FILE of sentinelx-mcp dev --hosts: sandboxed agents on loopback.\nhosts:\n")
	for i := range hosts {
		h := &hosts[i]
		h.token = rand.Text()
		a, err := sandbox.New(sandbox.Options{Token: h.token, DisableScripts: !o.AllowScripts})
		if err != nil {
			cleanup()
			return nil, "", "", nil, fmt.Errorf("dev: agent %s: %w", h.name, err)
		}
		closers = append(closers, func() { a.Close() })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cleanup()
			return nil, "", "", nil, fmt.Errorf("dev: agent %s: %w", h.name, err)
		}
		h.url = "http://" + ln.Addr().String()
		g.start(func() error { return a.Serve(ctx, ln) })
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    token: %s\n    labels: {role: %s, env: %s}\n",
			h.name, h.url, h.token, h.labels["role"], h.labels["env"])
	}
	agentsFile = filepath.Join(dir, "agents.yaml")
	if err := os.WriteFile(agentsFile, []byte(b.String()), 0o600); err != nil {
		cleanup()
		return nil, "", "", nil, fmt.Errorf("dev: fleet: %w", err)
	}
	policyFile = filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(samplePolicy), 0o600); err != nil {
		cleanup()
		return nil, "", "", nil, fmt.Errorf("dev: fleet: %w", err)
	}
	return hosts, agentsFile, policyFile, cleanup, nil
}
