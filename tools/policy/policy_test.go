package policy_test

import (
	"path"
	"strings"
	"testing"

	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// realTools are the tools of the real table, so the tests exercise the
// argument names and types rules will see in production.
func realTools(t testing.TB) []policy.Tool {
	t.Helper()
	return tools.New(tools.Deps{}).PolicyTools()
}

func mustParse(t testing.TB, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(doc), realTools(t))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

var (
	alice   = &policy.Caller{Subject: "alice", Username: "alice", ClientID: "claude", Claims: map[string]any{"groups": []any{"ops"}}}
	bob     = &policy.Caller{Subject: "bob", ClientID: "cursor", Claims: map[string]any{"groups": []any{"dev"}}}
	auditor = &policy.Caller{Subject: "carol", ClientID: "claude", Claims: map[string]any{"realm_access": map[string]any{"roles": []any{"auditor"}}}}
	root    = &policy.Caller{Subject: "root-admin", ClientID: "ci", Claims: map[string]any{"roles": "admin ops"}}
)

// opsPolicy is the example set, in the order an operator would
// write it: hard denials first, then grants.
const opsPolicy = `
rules:
  - name: no-ssh-edits
    effect: deny
    tools: [sentinel_edit, sentinel_edit_upload_complete]
    when: args.path.under("/etc/ssh")
    message: sshd is managed by Ansible
  - name: admins
    effect: allow
    groups: [admin]
    unconstrained_args: ["*"]
  - name: ops-services
    effect: allow
    groups: [ops]
    tools: [sentinel_service]
    when: args.action in ["status", "restart"] && args.service.glob(["nginx", "php*"])
  - name: ops-restart
    effect: allow
    groups: [ops]
    tools: [sentinel_restart]
    when: args.service == "nginx"
  - name: ops-edit-web
    effect: allow
    groups: [ops]
    tools: [sentinel_edit]
    when: >
      args.path.under(["/etc/nginx", "/var/www"]) && !args.sudo &&
      args.validator == "" && args.validator_preset == "" && args.backup_dir == ""
  - name: ops-exec
    effect: allow
    groups: [ops]
    tools: [sentinel_exec]
    when: >
      args.cmd.commandIn(["systemctl status /^[a-z0-9][a-z0-9@._-]*$/", "journalctl -u /^[a-z0-9][a-z0-9@._-]*$/",
                          "df", "df -h", "uptime"])
  - name: scripts-alice-only
    effect: allow
    subjects: [alice]
    tools: [sentinel_script_run]
    unconstrained_args: [content, interpreter, args, env, cwd]
  - name: readers
    effect: allow
    groups: [ops, dev, auditor]
    tools: [sentinel_state, sentinel_capabilities, sentinel_help]
`

func TestDecide(t *testing.T) {
	p := mustParse(t, opsPolicy)
	tests := []struct {
		name   string
		caller *policy.Caller
		tool   string
		args   map[string]any
		allow  bool
		rule   string
	}{
		{"ops restarts nginx via service", alice, "sentinel_service", map[string]any{"service": "nginx", "action": "restart"}, true, "ops-services"},
		{"ops php-fpm status (glob)", alice, "sentinel_service", map[string]any{"service": "php8.3-fpm", "action": "status"}, true, "ops-services"},
		{"ops may not stop nginx", alice, "sentinel_service", map[string]any{"service": "nginx", "action": "stop"}, false, policy.DefaultRule},
		{"ops may not touch docker", alice, "sentinel_service", map[string]any{"service": "docker", "action": "status"}, false, policy.DefaultRule},
		{"service names are trimmed", alice, "sentinel_service", map[string]any{"service": "  nginx ", "action": " restart"}, true, "ops-services"},
		{"ops restart tool", alice, "sentinel_restart", map[string]any{"service": "nginx"}, true, "ops-restart"},
		{"ops restart other service", alice, "sentinel_restart", map[string]any{"service": "sentinelx"}, false, policy.DefaultRule},
		{"dev cannot restart", bob, "sentinel_restart", map[string]any{"service": "nginx"}, false, policy.DefaultRule},

		{"ops edits nginx config", alice, "sentinel_edit", map[string]any{"path": "/etc/nginx/sites-enabled/x", "mode": "write"}, true, "ops-edit-web"},
		{"ops edit with sudo refused", alice, "sentinel_edit", map[string]any{"path": "/etc/nginx/nginx.conf", "mode": "write", "sudo": true}, false, policy.DefaultRule},
		{"ssh edit denied, even for ops", alice, "sentinel_edit", map[string]any{"path": "/etc/ssh/sshd_config", "mode": "write"}, false, "no-ssh-edits"},
		{"ssh edit denied before the admin grant (order)", root, "sentinel_edit", map[string]any{"path": "/etc/ssh/sshd_config"}, false, "no-ssh-edits"},
		{"admin edits elsewhere", root, "sentinel_edit", map[string]any{"path": "/etc/hosts"}, true, "admins"},
		{"ssh edit via upload complete", root, "sentinel_edit_upload_complete", map[string]any{"path": "/etc/ssh/sshd_config", "upload_id": "x"}, false, "no-ssh-edits"},
		{"dot segment refused", alice, "sentinel_edit", map[string]any{"path": "/etc/./ssh/sshd_config"}, false, policy.NonCanonicalRule},
		{"dot-dot refused", alice, "sentinel_edit", map[string]any{"path": "/etc/foo/../ssh/sshd_config"}, false, policy.NonCanonicalRule},
		// /var/run → /run on systemd hosts: the kernel reads /etc/ssh/sshd_config,
		// path.Clean reads /var/etc/ssh/sshd_config, and no-ssh-edits would not apply.
		{"symlink + dot-dot refused", root, "sentinel_edit", map[string]any{"path": "/var/run/../etc/ssh/sshd_config"}, false, policy.NonCanonicalRule},
		{"double slash refused", alice, "sentinel_edit", map[string]any{"path": "//etc//ssh/x"}, false, policy.NonCanonicalRule},
		{"trailing slash refused", alice, "sentinel_edit", map[string]any{"path": "/etc/ssh/"}, false, policy.NonCanonicalRule},
		{"backup_dir dot-dot refused", root, "sentinel_edit", map[string]any{"path": "/etc/hosts", "backup_dir": "/tmp/../etc/cron.d"}, false, policy.NonCanonicalRule},
		{"cwd dot-dot refused", alice, "sentinel_script_run", map[string]any{"cwd": "/tmp/.."}, false, policy.NonCanonicalRule},
		{"target_path dot-dot refused", root, "sentinel_upload_init", map[string]any{"target_path": "www/../../etc/x"}, false, policy.NonCanonicalRule},
		{"padding cannot dodge", alice, "sentinel_edit", map[string]any{"path": " /etc/ssh/sshd_config "}, false, "no-ssh-edits"},
		{"climbing out of an allowed dir", alice, "sentinel_edit", map[string]any{"path": "/var/www/../../etc/shadow"}, false, policy.NonCanonicalRule},
		{"sibling prefix is not under", alice, "sentinel_edit", map[string]any{"path": "/etc/nginx-evil/x"}, false, policy.DefaultRule},
		{"/etc/sshd is not /etc/ssh", root, "sentinel_edit", map[string]any{"path": "/etc/sshd"}, true, "admins"},
		{"relative path refused", root, "sentinel_edit", map[string]any{"path": "ssh/sshd_config"}, false, policy.RelativePathRule},
		{"relative backup_dir refused", root, "sentinel_edit", map[string]any{"path": "/etc/hosts", "backup_dir": "bk"}, false, policy.RelativePathRule},
		{"relative cwd refused", alice, "sentinel_script_run", map[string]any{"cwd": "tmp"}, false, policy.RelativePathRule},

		{"ops exec allowed prefix", alice, "sentinel_exec", map[string]any{"cmd": "systemctl status nginx"}, true, "ops-exec"},
		{"ops exec word prefix only", alice, "sentinel_exec", map[string]any{"cmd": "dfx"}, false, policy.DefaultRule},
		{"ops exec chained command", alice, "sentinel_exec", map[string]any{"cmd": "systemctl status nginx; rm -rf /"}, false, policy.DefaultRule},
		{"ops exec substitution", alice, "sentinel_exec", map[string]any{"cmd": "journalctl -u $(id)"}, false, policy.DefaultRule},
		{"ops exec pipe", alice, "sentinel_exec", map[string]any{"cmd": "df | sh"}, false, policy.DefaultRule},
		{"ops exec newline", alice, "sentinel_exec", map[string]any{"cmd": "uptime\nreboot"}, false, policy.DefaultRule},
		{"ops exec other command", alice, "sentinel_exec", map[string]any{"cmd": "systemctl restart nginx"}, false, policy.DefaultRule},
		{"exec trimmed like the tool", alice, "sentinel_exec", map[string]any{"cmd": "  uptime  "}, true, "ops-exec"},

		{"script for alice", alice, "sentinel_script_run", map[string]any{"interpreter": "bash", "content": "id"}, true, "scripts-alice-only"},
		{"script not for root (not listed)", root, "sentinel_script_run", map[string]any{"interpreter": "bash"}, true, "admins"},
		{"script not for bob", bob, "sentinel_script_run", map[string]any{"interpreter": "bash"}, false, policy.DefaultRule},
		{"auditor reads via realm_access.roles", auditor, "sentinel_state", nil, true, "readers"},
		{"auditor cannot exec", auditor, "sentinel_exec", map[string]any{"cmd": "uptime"}, false, policy.DefaultRule},
		{"anonymous denied by default", &policy.Caller{}, "sentinel_state", nil, false, policy.DefaultRule},
		{"ungoverned tool (ping) is allowed", &policy.Caller{}, "ping", nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.caller, tt.tool, tt.args)
			if d.Allow != tt.allow || d.Rule != tt.rule {
				t.Fatalf("Decide = %+v, want allow=%v rule=%q", d, tt.allow, tt.rule)
			}
			if !d.Allow && !strings.Contains(d.Message, tt.rule) && !strings.HasPrefix(tt.rule, "builtin:") {
				t.Errorf("denial message %q does not name rule %q", d.Message, tt.rule)
			}
		})
	}
}

func TestDenialMessages(t *testing.T) {
	p := mustParse(t, opsPolicy)
	d := p.Decide(alice, "sentinel_edit", map[string]any{"path": "/etc/ssh/sshd_config"})
	if want := `denied by policy rule "no-ssh-edits": sshd is managed by Ansible`; d.Message != want {
		t.Errorf("message = %q, want %q", d.Message, want)
	}
	d = p.Decide(bob, "sentinel_exec", map[string]any{"cmd": "id"})
	if !strings.Contains(d.Message, `no rule allows sentinel_exec for "bob"`) {
		t.Errorf("default message = %q", d.Message)
	}
	d = p.Decide(root, "sentinel_edit", map[string]any{"path": "etc/x"})
	if !strings.Contains(d.Message, "path must be an absolute path") {
		t.Errorf("relative message = %q", d.Message)
	}
}

func TestRuleOrder(t *testing.T) {
	allowFirst := mustParse(t, `
rules:
  - {name: ops-all, effect: allow, groups: [ops], unconstrained_args: ["*"]}
  - {name: no-exec, effect: deny, tools: [sentinel_exec]}
`)
	denyFirst := mustParse(t, `
rules:
  - {name: no-exec, effect: deny, tools: [sentinel_exec]}
  - {name: ops-all, effect: allow, groups: [ops], unconstrained_args: ["*"]}
`)
	exec := map[string]any{"cmd": "uptime"}
	if d := allowFirst.Decide(alice, "sentinel_exec", exec); !d.Allow || d.Rule != "ops-all" {
		t.Errorf("allow first: %+v", d)
	}
	if d := denyFirst.Decide(alice, "sentinel_exec", exec); d.Allow || d.Rule != "no-exec" {
		t.Errorf("deny first: %+v", d)
	}
}

func TestCELEnvironment(t *testing.T) {
	tests := []struct {
		when  string
		tool  string
		args  map[string]any
		allow bool
	}{
		{`subject == "alice" && username == "alice" && client_id == "claude"`, "sentinel_state", nil, true},
		{`"ops" in groups`, "sentinel_state", nil, true},
		{`"sentinelx:state" in scopes`, "sentinel_state", nil, true},
		{`claims.groups.exists(g, g == "ops")`, "sentinel_state", nil, true},
		{`has(claims.email)`, "sentinel_state", nil, false},
		{`tool.startsWith("sentinel_")`, "sentinel_state", nil, true},
		{`args.timeout <= 60`, "sentinel_script_run", map[string]any{"timeout": float64(30)}, true},
		{`args.timeout <= 60`, "sentinel_script_run", map[string]any{"timeout": float64(300)}, false},
		{`args.args.size() == 0`, "sentinel_script_run", nil, true}, // absent → zero value
		{`args.env.size() == 0 && args.cwd == ""`, "sentinel_script_run", nil, true},
		{`args["path"] == "/etc/hosts"`, "sentinel_edit", map[string]any{"path": " /etc/hosts\n"}, true},
		{`clean("/a/b/../c") == "/a/c"`, "sentinel_state", nil, true},
		{`args.target_path.under("/www")`, "sentinel_upload_file", map[string]any{"target_path": "www/site/index.html"}, true},
		{`args.target_path == "/www/x"`, "sentinel_upload_init", map[string]any{"target_path": " www/x"}, true},
		{`args.target_path == "/www/x"`, "sentinel_upload_init", map[string]any{"target_path": "/www/x"}, true},
		{`args.target_path.under("/www")`, "sentinel_upload_file", map[string]any{"target_path": "www/../etc/passwd"}, false},
		{`args.cmd.isSimpleCommand()`, "sentinel_exec", map[string]any{"cmd": "ls -la /tmp"}, true},
		{`args.cmd.isSimpleCommand()`, "sentinel_exec", map[string]any{"cmd": "ls `id`"}, false},
		{`args.service.matches("^nginx$")`, "sentinel_restart", map[string]any{"service": "nginx"}, true},
		{`args.path.lowerAscii().endsWith(".conf")`, "sentinel_edit", map[string]any{"path": "/etc/X.CONF"}, true},
	}
	c := &policy.Caller{Subject: "alice", Username: "alice", ClientID: "claude", Scopes: []string{"sentinelx:state"},
		Claims: map[string]any{"groups": []any{"ops"}}}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			p := mustParse(t, "rules:\n  - name: r\n    effect: allow\n    tools: ["+tt.tool+"]\n    unconstrained_args: ['*']\n    when: '"+strings.ReplaceAll(tt.when, "'", "''")+"'\n")
			if d := p.Decide(c, tt.tool, tt.args); d.Allow != tt.allow {
				t.Fatalf("Decide = %+v, want allow=%v", d, tt.allow)
			}
		})
	}
}

func TestEvalErrorFailsClosed(t *testing.T) {
	p := mustParse(t, `
rules:
  - name: bad-claim
    effect: deny
    when: claims.department == "x"
  - name: all
    effect: allow
    unconstrained_args: ["*"]
`)
	d := p.Decide(alice, "sentinel_state", nil)
	if d.Allow || d.Rule != "bad-claim" || !strings.Contains(d.Message, "could not be evaluated") {
		t.Fatalf("Decide = %+v, want a fail-closed denial by bad-claim", d)
	}
}

func TestAllowRelativePaths(t *testing.T) {
	p := mustParse(t, "allow_relative_paths: true\nrules: [{name: all, effect: allow, unconstrained_args: ['*']}]\n")
	if d := p.Decide(alice, "sentinel_edit", map[string]any{"path": "x"}); !d.Allow {
		t.Fatalf("Decide = %+v", d)
	}
}

func TestGroupClaims(t *testing.T) {
	p := mustParse(t, `
group_claims: [team, "urn:zitadel:iam:org:project:roles"]
rules:
  - {name: ops, effect: allow, groups: [ops], unconstrained_args: ["*"]}
`)
	for _, claims := range []map[string]any{
		{"team": []any{"x", "ops"}},
		{"team": "x ops"},
		{"urn:zitadel:iam:org:project:roles": map[string]any{"ops": map[string]any{"1": "org"}}},
	} {
		if d := p.Decide(&policy.Caller{Subject: "s", Claims: claims}, "sentinel_state", nil); !d.Allow {
			t.Errorf("claims %v: %+v", claims, d)
		}
	}
	// The default claims are replaced, not extended.
	if d := p.Decide(alice, "sentinel_state", nil); d.Allow {
		t.Errorf("groups claim still read: %+v", d)
	}
}

func TestMayCall(t *testing.T) {
	p := mustParse(t, opsPolicy)
	tests := []struct {
		caller *policy.Caller
		tool   string
		want   bool
	}{
		{alice, "sentinel_service", true},      // allowed for some arguments
		{alice, "sentinel_edit", true},         // denied for some paths, allowed for others
		{alice, "sentinel_script_run", true},   // subject rule
		{alice, "sentinel_upload_file", false}, // no rule
		{bob, "sentinel_script_run", false},    // subject rule does not match
		{bob, "sentinel_state", true},          // readers
		{auditor, "sentinel_exec", false},      // no rule
		{root, "sentinel_exec", true},          // admins
		{&policy.Caller{}, "ping", true},       // ungoverned
		{&policy.Caller{}, "sentinel_state", false},
	}
	for _, tt := range tests {
		if got := p.MayCall(tt.caller, tt.tool); got != tt.want {
			t.Errorf("MayCall(%s, %s) = %v, want %v", tt.caller.Subject, tt.tool, got, tt.want)
		}
	}
	// A deny that does not depend on arguments hides the tool; one decided
	// by the caller alone is evaluated, not assumed.
	q := mustParse(t, `
rules:
  - {name: no-scripts-for-dev, effect: deny, tools: [sentinel_script_run], when: '"dev" in groups'}
  - {name: all, effect: allow, unconstrained_args: ["*"]}
`)
	if q.MayCall(bob, "sentinel_script_run") {
		t.Error("a caller-only deny did not hide the tool")
	}
	if !q.MayCall(alice, "sentinel_script_run") {
		t.Error("a caller-only deny hid the tool from someone it does not match")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty", "", "empty policy"},
		{"no rules", "rules: []", "no rules"},
		{"unknown key", "rules: [{name: a, effect: allow, tool: [x]}]", "field tool not found"},
		{"typo top-level", "rule: []", "field rule not found"},
		{"bad effect", "rules: [{name: a, effect: permit}]", `rule "a": effect must be allow or deny`},
		{"no name", "rules: [{effect: allow}]", "rule 1: name is required"},
		{"duplicate", "rules: [{name: a, effect: deny}, {name: a, effect: deny}]", `rule "a": duplicate name`},
		{"unknown tool", "rules: [{name: a, effect: allow, tools: [sentinel_exce]}]", `rule "a": tools: "sentinel_exce" names no tool`},
		{"ping is not governed", "rules: [{name: a, effect: allow, tools: [ping]}]", `"ping" names no tool`},
		{"bad glob", "rules: [{name: a, effect: allow, tools: ['sentinel_[']}]", "bad pattern"},
		{"cel syntax", "rules: [{name: a, effect: allow, when: 'args.path ==='}]", `rule "a": when: ERROR`},
		{"cel not bool", "rules: [{name: a, effect: allow, when: 'subject'}]", "must be a boolean expression"},
		{"cel unknown var", "rules: [{name: a, effect: allow, when: 'user == \"x\"'}]", "undeclared reference to 'user'"},
		{"unknown arg", "rules: [{name: a, effect: allow, tools: [sentinel_edit], when: 'args.pth == \"/\"'}]", "args.pth: not an argument of sentinel_edit"},
		{"arg missing on some tools", "rules: [{name: a, effect: deny, when: 'args.path.under(\"/etc\")'}]", "args.path: not an argument of sentinel_state"},
		{"relative under", "rules: [{name: a, effect: deny, tools: [sentinel_edit], when: 'args.path.under(\"etc\")'}]", `under: "etc" is not an absolute path`},
		{"bad glob literal", "rules: [{name: a, effect: allow, tools: [sentinel_restart], when: 'args.service.glob(\"[\")'}]", "glob: bad pattern"},
		{"shell in prefix", "rules: [{name: a, effect: allow, tools: [sentinel_exec], when: 'args.cmd.commandIn([\"a;b\"])'}]", "holds shell operators"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tt.doc), realTools(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// has() is how a rule asks about an argument some tools lack.
	mustParse(t, "rules: [{name: a, effect: deny, when: 'has(args.path) && args.path.under(\"/etc/ssh\")'}, {name: b, effect: allow, unconstrained_args: ['*']}]")
}

func TestCleanPathFastPath(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/b", "a", "a/b", "..", ".", "/..", "/.", "//", "/a/", "a//b", "/a/./b", "/a/../b",
		"./a", "../a", "/a/..", "/a/.", "...", "/.a/b..", "a/.../b", "//a", "/a//"} {
		want := p
		if c := cleanRef(p); c != p {
			want = c
		}
		if got := policy.CleanPath(p); got != want {
			t.Errorf("CleanPath(%q) = %q, want %q", p, got, want)
		}
	}
}

func cleanRef(p string) string { return path.Clean(p) }

func TestPathProblem(t *testing.T) {
	for p, want := range map[string]string{
		"": "", "/": "", "/etc/ssh/sshd_config": "", "etc/x": "", "/.ssh": "", "/a/..b/c...": "",
		"/var/run/../etc/ssh/sshd_config": `".."`, "/etc/./ssh": `"."`, "./x": `"."`, "..": `".."`,
		"//etc": "empty segment", "/etc//ssh": "empty segment", "/etc/ssh/": "slash", "a/": "slash", "/..": `".."`,
	} {
		got := policy.PathProblem(p)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("PathProblem(%q) = %q, want %q", p, got, want)
		}
		// A canonical absolute path is its own path.Clean: rules that
		// compare it lexically see what the kernel is asked for, up to
		// symlinks.
		if got == "" && strings.HasPrefix(p, "/") && path.Clean(p) != p {
			t.Errorf("%q passes but cleans to %q", p, path.Clean(p))
		}
	}
}
