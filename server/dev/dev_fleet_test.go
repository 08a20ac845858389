package dev

import (
	"strings"
	"testing"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// TestDevFleet runs `dev --hosts 3` and drives what its banner promises:
// the hosts with their labels, a call to one host, a fan-out, and the
// sample policy's per-host rules.
func TestDevFleet(t *testing.T) {
	r := startDev(t, Options{Hosts: 3, Getenv: func(k string) string {
		return map[string]string{"RATE_LIMIT": "0"}[k]
	}})
	for _, want := range []string{"web-1     env=prod,role=web", "web-2     env=staging,role=web", "db-1      env=prod,role=db", "Policy ", `"host":"web-1"`, `"selector":"role=web"`} {
		if !strings.Contains(r.banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, r.banner)
		}
	}

	// Held until after the banner, not lost.
	for _, want := range []string{"agents file loaded", "policy loaded"} {
		poll.Until(t, "stderr to show "+want, func() bool { return strings.Contains(r.stderr.String(), want) })
	}

	res := callTool(t, r.mcpURL, r.token, "sentinel_exec", map[string]any{"cmd": "uptime", "host": "web-1"})
	if res["isError"] == true {
		t.Errorf("exec on web-1: %v", res)
	}
	res = callTool(t, r.mcpURL, r.token, "sentinel_exec", map[string]any{"cmd": "uptime", "selector": "role=web"})
	sum, _ := res["structuredContent"].(map[string]any)["summary"].(map[string]any)
	if res["isError"] == true || sum["ok"] != float64(2) {
		t.Errorf("uptime on role=web: %v", res["structuredContent"])
	}
	res = callTool(t, r.mcpURL, r.token, "sentinel_service", map[string]any{"service": "nginx", "action": "restart", "host": "db-1"})
	if res["isError"] != true {
		t.Errorf("nginx restart on db-1 allowed by the sample policy: %v", res)
	}
	res = callTool(t, r.mcpURL, r.token, "sentinel_script_run", map[string]any{"interpreter": "bash", "content": "id", "host": "db-1"})
	if res["isError"] != true || !strings.Contains(textOf(res), "no-scripts-on-prod") {
		t.Errorf("script on db-1: %v", res)
	}
}

// TestDevSamplePolicyLoads keeps the sample policy loadable with the
// real tool table as both evolve.
func TestDevSamplePolicyLoads(t *testing.T) {
	if _, err := policy.Parse([]byte(samplePolicy), tools.PolicyTools()); err != nil {
		t.Fatal(err)
	}
}

func TestDevFleetRefusals(t *testing.T) {
	for _, o := range []Options{
		{Hosts: 3, NoAgent: true},
		{Hosts: 3, Getenv: func(k string) string {
			return map[string]string{"SENTINELX_URL": "http://127.0.0.1:8091", "SENTINELX_TOKEN": "x"}[k]
		}},
		{Hosts: maxDevHosts + 1},
		{Hosts: -1},
	} {
		if _, _, err := o.check(); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func textOf(res map[string]any) string {
	var b strings.Builder
	content, _ := res["content"].([]any)
	for _, c := range content {
		if m, ok := c.(map[string]any); ok {
			s, _ := m["text"].(string)
			b.WriteString(s)
		}
	}
	return b.String()
}
