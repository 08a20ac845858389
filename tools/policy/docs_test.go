package policy_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// TestDocsExamplesLoad keeps docs/policy.md honest: every YAML example in it
// is a policy that loads.
func TestDocsExamplesLoad(t *testing.T) {
	b, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	if len(blocks) < 5 {
		t.Fatalf("found %d yaml examples", len(blocks))
	}
	for i, m := range blocks {
		if _, err := policy.Parse(m[1], realTools(t)); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, m[1])
		}
	}
}

// TestDocsExamplesDecide checks what the worked examples claim.
func TestDocsExamplesDecide(t *testing.T) {
	b, _ := os.ReadFile("../../docs/policy.md")
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	find := func(name string) *policy.Policy {
		for _, m := range blocks {
			if regexp.MustCompile(`name: ` + name + `\b`).Match(m[1]) {
				return mustParse(t, string(m[1]))
			}
		}
		t.Fatalf("no example with rule %s", name)
		return nil
	}
	auditor := &policy.Caller{Subject: "a", Claims: map[string]any{"groups": []any{"auditor"}}}
	web := &policy.Caller{Subject: "w", Claims: map[string]any{"groups": []any{"web-ops"}}}
	admin := &policy.Caller{Subject: "x", Claims: map[string]any{"groups": []any{"sentinelx-admins"}}}
	listed := &policy.Caller{Subject: "8f14e45f-ceea-467f-a0e6-1b4a3e2a1c11"}
	tiered := &policy.Caller{Subject: "t", ClientID: "claude-connector", Claims: map[string]any{"tier": float64(2)}}
	tests := []struct {
		rule   string
		caller *policy.Caller
		tool   string
		args   map[string]any
		allow  bool
	}{
		{"auditor-read", auditor, "sentinel_state", nil, true},
		{"auditor-read", auditor, "sentinel_service", map[string]any{"service": "nginx", "action": "status"}, true},
		{"auditor-read", auditor, "sentinel_service", map[string]any{"service": "nginx", "action": "restart"}, false},
		{"auditor-read", auditor, "sentinel_exec", map[string]any{"cmd": "journalctl -u nginx -n 50"}, true},
		{"auditor-read", auditor, "sentinel_exec", map[string]any{"cmd": "journalctl -u nginx | mail x"}, false},
		{"auditor-read", auditor, "sentinel_edit", map[string]any{"path": "/tmp/x"}, false},
		{"web-services", web, "sentinel_service", map[string]any{"service": "php8.3-fpm", "action": "reload"}, true},
		{"web-services", web, "sentinel_service", map[string]any{"service": "docker", "action": "reload"}, false},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/etc/nginx/nginx.conf", "validator_preset": "nginx"}, true},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/etc/nginx/nginx.conf"}, false},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/var/www/site/index.html"}, true},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/var/www/x", "sudo": true}, false},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/root/.ssh/authorized_keys"}, false},
		{"web-services", web, "sentinel_upload_init", map[string]any{"target_path": "www/site.tgz", "total_size": float64(3)}, true},
		{"web-services", web, "sentinel_upload_init", map[string]any{"target_path": "etc/x"}, false},
		{"web-services", web, "sentinel_upload_chunk", map[string]any{"upload_id": "u", "index": float64(0)}, true},
		{"nobody-edits-ssh", admin, "sentinel_edit", map[string]any{"path": "/home/bob/.ssh/authorized_keys"}, false},
		{"nobody-edits-ssh", admin, "sentinel_edit", map[string]any{"path": "/etc/hosts"}, true},
		// /var/run → /run: the kernel opens /etc/ssh/sshd_config.
		{"nobody-edits-ssh", admin, "sentinel_edit", map[string]any{"path": "/var/run/../etc/ssh/sshd_config"}, false},
		{"nobody-edits-ssh", admin, "sentinel_restart", map[string]any{"service": "sentinelx"}, false},
		{"nobody-edits-ssh", admin, "sentinel_script_run", map[string]any{"interpreter": "bash"}, false},
		{"nobody-edits-ssh", listed, "sentinel_script_run", map[string]any{"interpreter": "bash"}, true},
		{"short-scripts", tiered, "sentinel_script_run", map[string]any{"timeout": float64(60)}, true},
		{"short-scripts", tiered, "sentinel_script_run", map[string]any{"timeout": float64(300)}, false},
	}
	for _, tt := range tests {
		if d := find(tt.rule).Decide(tt.caller, tt.tool, tt.args); d.Allow != tt.allow {
			t.Errorf("%s example: %s %s %v = %+v, want allow=%v", tt.rule, tt.caller.Subject, tt.tool, tt.args, d, tt.allow)
		}
	}
	if p := find("auditor-read"); !p.MayCall(auditor, "sentinel_exec") || p.MayCall(auditor, "sentinel_edit") {
		t.Error("auditor tools/list differs from the docs")
	}
	if p := find("nobody-edits-ssh"); p.MayCall(admin, "sentinel_script_run") || !p.MayCall(listed, "sentinel_script_run") {
		t.Error("admin tools/list differs from the docs")
	}
}
