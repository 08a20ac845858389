package policy_test

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// docExample is one ```yaml block of a page in docs/, as written there.
type docExample struct {
	text  string
	rules []struct {
		Name              string   `yaml:"name"`
		Groups            []string `yaml:"groups"`
		Subjects          []string `yaml:"subjects"`
		Clients           []string `yaml:"clients"`
		UnconstrainedArgs []string `yaml:"unconstrained_args"`
	}
}

// docExamples extracts every YAML example from docs/policy.md, so the
// tests below run on exactly what operators copy.
func docExamples(t *testing.T) []docExample { return docExamplesIn(t, "policy.md", 5) }

// docExamplesIn extracts the YAML examples of docs/page, at least least of
// them (so that a broken fence does not quietly test nothing).
func docExamplesIn(t *testing.T, page string, least int) []docExample {
	t.Helper()
	b, err := os.ReadFile("../../docs/" + page)
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(b, -1)
	if len(blocks) < least {
		t.Fatalf("%s: found %d yaml examples", page, len(blocks))
	}
	var out []docExample
	for i, m := range blocks {
		var doc struct {
			Rules any `yaml:"rules"`
			Hosts any `yaml:"hosts"`
		}
		if err := yaml.Unmarshal(m[1], &doc); err != nil {
			t.Fatalf("example %d: %v", i+1, err)
		}
		if doc.Rules == nil && doc.Hosts != nil {
			continue // an AGENTS_FILE example (docs/fleet.md), not a policy
		}
		ex := docExample{text: string(m[1])}
		rb, _ := yaml.Marshal(doc.Rules)
		if err := yaml.Unmarshal(rb, &ex.rules); err != nil {
			t.Fatalf("example %d rules: %v", i+1, err)
		}
		out = append(out, ex)
	}
	if len(out) < least {
		t.Fatalf("%s: found %d policy examples", page, len(out))
	}
	return out
}

// TestDocsExamplesLoad keeps docs/policy.md honest: every YAML example in it
// is a policy that loads.
func TestDocsExamplesLoad(t *testing.T) {
	for i, ex := range docExamples(t) {
		if _, err := policy.Parse([]byte(ex.text), realTools(t)); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, ex.text)
		}
	}
}

// callersOf are the callers an example is about: a member of each group
// it names, each subject, each client, and one caller holding every group,
// the claims its conditions compare (tid, tier) and the scopes they test,
// so that every allow rule in it applies to someone.
func callersOf(ex docExample) []*policy.Caller {
	var groups []string
	var out []*policy.Caller
	client := "claude-connector"
	if m := regexp.MustCompile(`client_id [!=]= "([^"]+)"`).FindStringSubmatch(ex.text); m != nil {
		client = m[1]
	}
	for _, r := range ex.rules {
		for _, g := range r.Groups {
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
				out = append(out, &policy.Caller{Subject: "member-of-" + g, ClientID: client,
					Claims: map[string]any{"groups": []any{g}}})
			}
		}
		for _, s := range r.Subjects {
			out = append(out, &policy.Caller{Subject: s, ClientID: client})
		}
		for _, c := range r.Clients {
			out = append(out, &policy.Caller{Subject: "via-" + c, ClientID: c})
		}
	}
	claims := map[string]any{"groups": toAny(groups)}
	for _, m := range regexp.MustCompile(`claims\.(\w+) == "([^"]*)"`).FindAllStringSubmatch(ex.text, -1) {
		claims[m[1]] = m[2]
	}
	for _, m := range regexp.MustCompile(`claims\.(\w+) >= ([0-9]+)`).FindAllStringSubmatch(ex.text, -1) {
		n, _ := strconv.Atoi(m[2])
		claims[m[1]] = float64(n + 1)
	}
	var scopes []string
	for _, m := range regexp.MustCompile(`"([a-z]+:[a-z_]+)" in scopes`).FindAllStringSubmatch(ex.text, -1) {
		scopes = append(scopes, m[1])
	}
	out = append(out, &policy.Caller{Subject: "holds-everything", ClientID: client, Scopes: scopes, Claims: claims},
		&policy.Caller{Subject: "stranger", ClientID: "other-client"})
	return out
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// attack is a call that takes over the host (or escapes what a grant
// seems to say) unless the rule that allows it grants via, its guarded
// argument, on purpose (unconstrained_args). via "" means no rule may
// allow it at all.
type attack struct {
	name, tool, via string
	args            map[string]any
}

var hexID = strings.Repeat("ab", 16)

func attacks() []attack {
	shell := "sh -c 'id > /tmp/pwned' {file}"
	exec := func(name, cmd string) attack {
		return attack{name, "sentinel_exec", "cmd", map[string]any{"cmd": cmd}}
	}
	return []attack{
		{"validator runs a shell", "sentinel_edit", "validator",
			map[string]any{"path": "/var/www/html/index.html", "mode": "write", "new_text": "x", "validator": shell}},
		{"validator on nginx.conf", "sentinel_edit", "validator",
			map[string]any{"path": "/etc/nginx/nginx.conf", "mode": "write", "new_text": "x", "validator": shell}},
		{"validator via edit upload", "sentinel_edit_upload_complete", "validator",
			map[string]any{"upload_id": hexID, "path": "/var/www/html/index.html", "mode": "write", "validator": shell}},
		{"backup into cron", "sentinel_edit", "backup_dir",
			map[string]any{"path": "/var/www/html/index.html", "mode": "write", "new_text": "* * * * * root id\n", "backup_dir": "/etc/cron.d"}},
		{"validator preset", "sentinel_edit", "validator_preset",
			map[string]any{"path": "/var/www/html/index.html", "mode": "write", "new_text": "x", "validator_preset": "nginx"}},
		{"write a cron job", "sentinel_edit", "path",
			map[string]any{"path": "/etc/cron.d/pwn", "mode": "write", "new_text": "* * * * * root id\n", "create": true}},
		{"ssh config", "sentinel_edit", "path", map[string]any{"path": "/etc/ssh/sshd_config", "mode": "write", "new_text": "x"}},
		{"symlink + dot-dot to ssh", "sentinel_edit", "",
			map[string]any{"path": "/var/run/../etc/ssh/sshd_config", "mode": "write", "new_text": "x"}},
		{"dot-dot out of the web root", "sentinel_edit", "",
			map[string]any{"path": "/var/www/../../etc/cron.d/pwn", "mode": "write", "new_text": "x"}},
		exec("nginx loads a config of the caller's", "nginx -t -c /var/www/html/evil.conf"),
		exec("tail /etc/shadow", "tail -n 50 /etc/shadow"),
		exec("tail /etc/shadow through ..", "tail -n 50 /var/log/nginx/../../../etc/shadow"),
		exec("tail two files", "tail -n 50 /var/log/nginx/access.log /etc/shadow"),
		exec("vacuum the journal", "journalctl --vacuum-time=1s"),
		exec("vacuum behind a unit", "journalctl -u nginx --vacuum-time=1s"),
		exec("option as unit", "journalctl -u --vacuum-time=1s -n 5 --no-pager"),
		exec("follow forever", "journalctl -u nginx -f"),
		exec("chained command", "systemctl status nginx; reboot"),
		exec("and-list", "uptime && reboot"),
		exec("substitution", "journalctl -u $(reboot) -n 5 --no-pager"),
		exec("brace expansion", "tail -n 50 /var/log/nginx/{access,../../../etc/shadow}.log"),
		exec("quoted path", "tail -n 50 '/etc/shadow'"),
		exec("glob expansion", "tail -n 50 /var/log/nginx/*"),
		exec("environment assignment", "LD_PRELOAD=/var/www/x.so uptime"),
		exec("newline", "uptime\nreboot"),
		{"any script", "sentinel_script_run", "content", map[string]any{"interpreter": "bash", "content": "id > /tmp/pwned"}},
		{"upload into the agent's temp dir", "sentinel_upload_file", "target_path",
			map[string]any{"target_path": ".sentinelx_uploads/" + hexID + "/meta.json", "content_base64": "eA=="}},
		{"upload dot-dot", "sentinel_upload_init", "", map[string]any{"target_path": "www/../../../../etc/cron.d/x", "total_size": 1}},
	}
}

// TestDocsExamplesAttacked loads every example of docs/policy.md and runs
// every attack in attacks() as every caller the example names. An attack
// may only be allowed by a rule that grants its argument explicitly
// (unconstrained_args) — the full-administrator rule, by design.
func TestDocsExamplesAttacked(t *testing.T) {
	// Each attack is a well-formed call that a blanket grant does allow
	// (except those refused before any rule runs), so a denial below is
	// the examples' doing, not a malformed call.
	all := mustParse(t, "rules: [{name: all, effect: allow, unconstrained_args: ['*']}]")
	for _, a := range attacks() {
		d := all.Decide(&policy.Caller{Subject: "x"}, a.tool, maps.Clone(a.args))
		if want := a.via != ""; d.Allow != want || !want && !strings.HasPrefix(d.Rule, "builtin:") {
			t.Errorf("attack %q under a blanket grant: %+v", a.name, d)
		}
	}
	decisions, granted := 0, 0
	for i, ex := range docExamples(t) {
		p, err := policy.Parse([]byte(ex.text), realTools(t))
		if err != nil {
			t.Fatalf("example %d: %v", i+1, err)
		}
		n, g := attackExample(t, fmt.Sprintf("example %d", i+1), ex, func(c *policy.Caller, a attack) policy.Decision {
			return p.Decide(c, a.tool, maps.Clone(a.args))
		})
		decisions, granted = decisions+n, granted+g
	}
	t.Logf("%d decisions, %d allowed by an explicit unconstrained_args grant", decisions, granted)
	if granted == 0 {
		t.Error("no example grants anything explicitly; the admin example should")
	}
}

// attackExample runs every attack as every caller ex names, decided by
// decide, and reports each one allowed by a rule that does not grant the
// attack's argument explicitly. It returns how many decisions it made and
// how many an explicit grant allowed.
func attackExample(t *testing.T, label string, ex docExample, decide func(*policy.Caller, attack) policy.Decision) (decisions, granted int) {
	t.Helper()
	for _, c := range callersOf(ex) {
		for _, a := range attacks() {
			decisions++
			d := decide(c, a)
			if !d.Allow {
				continue
			}
			var grants []string
			for _, r := range ex.rules {
				if r.Name == d.Rule {
					grants = r.UnconstrainedArgs
				}
			}
			if a.via == "" || !slices.Contains(grants, a.via) && !slices.Contains(grants, "*") {
				t.Errorf("%s allows %q to %s by rule %q, which does not grant %q explicitly",
					label, a.name, c.Subject, d.Rule, a.via)
				continue
			}
			granted++
		}
	}
	return decisions, granted
}

// exampleWith loads the example among examples that has a rule called name.
func exampleWith(t *testing.T, examples []docExample, name string) *policy.Policy {
	t.Helper()
	for _, ex := range examples {
		if regexp.MustCompile(`name: ` + name + `\b`).MatchString(ex.text) {
			return mustParse(t, ex.text)
		}
	}
	t.Fatalf("no example with rule %s", name)
	return nil
}

// TestDocsExamplesDecide checks what the worked examples claim.
func TestDocsExamplesDecide(t *testing.T) {
	examples := docExamples(t)
	find := func(name string) *policy.Policy { return exampleWith(t, examples, name) }
	auditor := &policy.Caller{Subject: "a", Claims: map[string]any{"groups": []any{"auditor"}}}
	web := &policy.Caller{Subject: "w", Claims: map[string]any{"groups": []any{"web-ops"}}}
	admin := &policy.Caller{Subject: "x", Claims: map[string]any{"groups": []any{"sentinelx-admins"}}}
	listed := &policy.Caller{Subject: "8f14e45f-ceea-467f-a0e6-1b4a3e2a1c11"}
	tiered := &policy.Caller{Subject: "t", ClientID: "claude-connector", Claims: map[string]any{"tier": float64(2)}}
	script := func(extra map[string]any) map[string]any {
		m := map[string]any{"interpreter": "bash", "content": "uptime"}
		maps.Copy(m, extra)
		return m
	}
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
		{"auditor-read", auditor, "sentinel_exec", map[string]any{"cmd": "journalctl -u nginx -n 50 --no-pager"}, true},
		{"auditor-read", auditor, "sentinel_exec", map[string]any{"cmd": "journalctl -u php8.3-fpm --since today --no-pager"}, true},
		{"auditor-read", auditor, "sentinel_exec", map[string]any{"cmd": "tail -n 200 /var/log/nginx/error.log"}, true},
		{"auditor-read", auditor, "sentinel_exec", map[string]any{"cmd": "df -h"}, true},
		{"auditor-read", auditor, "sentinel_exec", map[string]any{"cmd": "journalctl -u nginx -n 50"}, false},
		{"auditor-read", auditor, "sentinel_exec", map[string]any{"cmd": "journalctl -u nginx | mail x"}, false},
		{"auditor-read", auditor, "sentinel_edit", map[string]any{"path": "/tmp/x"}, false},
		{"web-services", web, "sentinel_service", map[string]any{"service": "php8.3-fpm", "action": "reload"}, true},
		{"web-services", web, "sentinel_service", map[string]any{"service": "docker", "action": "reload"}, false},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/var/www/site/index.html", "mode": "write"}, true},
		{"web-services", web, "sentinel_edit_upload_complete", map[string]any{"upload_id": hexID, "path": "/var/www/site/a.css"}, true},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/etc/nginx/nginx.conf", "validator_preset": "nginx"}, false},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/var/www/x", "sudo": true}, false},
		{"web-services", web, "sentinel_edit", map[string]any{"path": "/root/.ssh/authorized_keys"}, false},
		{"web-services", web, "sentinel_edit_upload_file", map[string]any{"upload_id": hexID, "role": "new"}, true},
		{"web-services", web, "sentinel_upload_init", map[string]any{"target_path": "www/site.tgz", "total_size": float64(3)}, true},
		{"web-services", web, "sentinel_upload_init", map[string]any{"target_path": "etc/x"}, false},
		{"web-services", web, "sentinel_upload_chunk", map[string]any{"upload_id": hexID, "index": float64(0)}, true},
		{"web-services", web, "sentinel_exec", map[string]any{"cmd": "nginx -t"}, true},
		{"web-services", web, "sentinel_exec", map[string]any{"cmd": "tail -n 50 /var/log/nginx/access.log"}, true},
		{"web-services", web, "sentinel_exec", map[string]any{"cmd": "systemctl status php8.3-fpm"}, true},
		{"web-services", web, "sentinel_exec", map[string]any{"cmd": "systemctl status sshd"}, false},
		{"nobody-edits-ssh", admin, "sentinel_edit", map[string]any{"path": "/home/bob/.ssh/authorized_keys"}, false},
		{"nobody-edits-ssh", admin, "sentinel_edit", map[string]any{"path": "/etc/hosts"}, true},
		// /var/run → /run: the kernel opens /etc/ssh/sshd_config.
		{"nobody-edits-ssh", admin, "sentinel_edit", map[string]any{"path": "/var/run/../etc/ssh/sshd_config"}, false},
		{"nobody-edits-ssh", admin, "sentinel_edit", map[string]any{"path": "/etc/hosts", "validator": "true"}, true},
		{"nobody-edits-ssh", admin, "sentinel_restart", map[string]any{"service": "sentinelx"}, false},
		{"nobody-edits-ssh", admin, "sentinel_script_run", script(nil), false},
		{"nobody-edits-ssh", listed, "sentinel_script_run", script(nil), true},
		{"short-scripts", tiered, "sentinel_script_run", script(map[string]any{"timeout": float64(60)}), true},
		{"short-scripts", tiered, "sentinel_script_run", script(map[string]any{"timeout": float64(300)}), false},
		{"short-scripts", tiered, "sentinel_script_run", script(map[string]any{"env": map[string]any{"LD_PRELOAD": "/tmp/x.so"}}), false},
		{"short-scripts", tiered, "sentinel_script_run", script(map[string]any{"cwd": "/etc"}), false},
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
