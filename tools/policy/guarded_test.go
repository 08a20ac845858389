package policy_test

import (
	"strings"
	"testing"

	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// TestGuardedArgsMustBeConstrained: an allow rule covering a tool with
// arguments that run code or pick where files go must read each of them
// or grant it by name; otherwise the file does not load, and the error
// names the rule, the tool and the argument.
func TestGuardedArgsMustBeConstrained(t *testing.T) {
	refused := []struct{ name, rule, want string }{
		{"edit by path only (the old web-config)", `{name: web-config, effect: allow, tools: [sentinel_edit],
        when: 'args.path.under(["/etc/nginx", "/var/www"]) && (args.path.under("/var/www") || args.validator_preset == "nginx")'}`,
			`rule "web-config": allows sentinel_edit without constraining args.backup_dir, args.validator (arguments that run code or pick where files go)`},
		{"catch-all grant", `{name: admins, effect: allow, groups: [admins]}`, `rule "admins": allows sentinel_exec without constraining args.cmd`},
		{"exec without a command test", `{name: e, effect: allow, tools: [sentinel_exec], when: '"ops" in groups'}`, "args.cmd"},
		{"has() is not a constraint", `{name: e, effect: allow, tools: [sentinel_exec], when: 'has(args.cmd)'}`, "args.cmd"},
		{"scripts without a word on content", `{name: s, effect: allow, tools: [sentinel_script_run], when: '!args.sudo'}`,
			"args.content, args.interpreter, args.args, args.env, args.cwd"},
		{"partial grant", `{name: s, effect: allow, tools: [sentinel_script_run], unconstrained_args: [content, interpreter]}`,
			"args.args, args.env, args.cwd"},
		{"upload target", `{name: u, effect: allow, tools: ["sentinel_upload_*"]}`, "sentinel_upload_file without constraining args.target_path"},
		{"edit upload complete", `{name: u, effect: allow, tools: [sentinel_edit_upload_complete], when: 'args.path.under("/var/www")'}`,
			"args.backup_dir, args.validator, args.validator_preset"},
		{"typo in unconstrained_args", `{name: u, effect: allow, tools: [sentinel_edit], unconstrained_args: [validatr]}`,
			`unconstrained_args: "validatr" is not a guarded argument of any tool the rule covers (backup_dir, path, validator, validator_preset)`},
		{"unconstrained_args on a deny", `{name: u, effect: deny, tools: [sentinel_edit], unconstrained_args: ["*"]}`, "only allow rules"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte("rules:\n  - "+tt.rule+"\n"), realTools(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	loads := []string{
		`{name: d, effect: deny, tools: [sentinel_edit]}`,
		`{name: r, effect: allow, tools: [sentinel_state, sentinel_service, sentinel_restart, sentinel_edit_upload_init, sentinel_upload_chunk, sentinel_upload_complete, sentinel_edit_upload_file]}`,
		`{name: e, effect: allow, tools: [sentinel_edit], when: 'args.path.under("/var/www") && args.validator == "" && args.validator_preset == "" && args.backup_dir == ""'}`,
		`{name: e, effect: allow, tools: [sentinel_edit], when: 'args.path.under("/var/www") && args.validator == ""', unconstrained_args: [backup_dir, validator_preset]}`,
		`{name: x, effect: allow, when: '!has(args.cmd) || args.cmd.commandIn(["uptime"])', tools: [sentinel_exec, sentinel_state]}`,
		`{name: a, effect: allow, unconstrained_args: ["*"]}`,
	}
	for _, rule := range loads {
		if _, err := policy.Parse([]byte("rules:\n  - "+rule+"\n"), realTools(t)); err != nil {
			t.Errorf("%s: %v", rule, err)
		}
	}
	// What an unconstrained grant means at call time: any value.
	p := mustParse(t, `rules: [{name: e, effect: allow, tools: [sentinel_edit], when: 'args.path.under("/var/www") && args.validator == ""', unconstrained_args: [backup_dir, validator_preset]}]`)
	for args, want := range map[string]bool{
		"/var/www/x|": true, "/var/www/x|sh -c id": false, "/etc/x|": false,
	} {
		path, validator, _ := strings.Cut(args, "|")
		if d := p.Decide(alice, "sentinel_edit", map[string]any{"path": path, "validator": validator, "backup_dir": "/etc/cron.d"}); d.Allow != want {
			t.Errorf("%s: %+v", args, d)
		}
	}
}

// TestCommandIn: whole command lines, word by word.
func TestCommandIn(t *testing.T) {
	p := mustParse(t, `
rules:
  - name: logs
    effect: allow
    tools: [sentinel_exec]
    when: >
      args.cmd.commandIn([
        "uptime", "nginx -t",
        "journalctl -u /nginx|php[0-9.]*-fpm/ -n /[0-9]{1,4}/ --no-pager",
        "tail -n /[0-9]{1,4}/ /var/log/nginx/*.log",
        "ls /var/log/* /^\\/srv\\/.*$/"
      ]) || args.cmd.commandIn([["cat", "/etc/os-release"], ["echo", "/a b/"]])
`)
	for cmd, want := range map[string]bool{
		"uptime":                               true,
		"  uptime\t":                           true,
		"uptime -p":                            false,
		"uptimex":                              false,
		"nginx -t":                             true,
		"nginx  -t":                            true,
		"nginx -t -c /var/www/html/evil.conf":  false,
		"nginx -T":                             false,
		"journalctl -u nginx -n 50 --no-pager": true,
		"journalctl -u php8.3-fpm -n 5 --no-pager":           true,
		"journalctl -u nginx -n 50":                          false,
		"journalctl -u nginx -n 50 --no-pager -f":            false,
		"journalctl -u nginx -n 50x --no-pager":              false,
		"journalctl -u nginxx -n 5 --no-pager":               false,
		"journalctl -u nginx --vacuum-time=1s -n 5":          false,
		"journalctl --vacuum-time=1s":                        false,
		"tail -n 50 /var/log/nginx/error.log":                true,
		"tail -n 50 /etc/shadow":                             false,
		"tail -n 50 /var/log/nginx/../../../etc/shadow.log":  false,
		"tail -n 50 /var/log/nginx/x/../../../../etc/a.log":  false,
		"tail -n 50 /var/log/nginx/*.log":                    false, // bash would expand it
		"tail -n 50 /var/log/nginx/{a,../../etc/shadow}.log": false,
		"tail -n 50 /var/log/nginx/a.log /etc/shadow":        false,
		"tail -n 50 '/var/log/nginx/a.log'":                  false,
		"tail -n 50 \"/var/log/nginx/a.log\"":                false,
		"tail -n 50 /var/log/nginx/a\\ b.log":                false,
		"tail -n 50 ~root/.ssh/id_rsa":                       false,
		"tail -n 50 /var/log/nginx/a.log # x":                false,
		"ls /var/log/nginx /srv/app":                         true,
		"ls /var/log/nginx/ /srv/app":                        false, // trailing slash
		"ls /var/log/.. /srv/app":                            false,
		"ls /var/log/x /srv/../etc":                          false, // regex word, path not canonical
		"cat /etc/os-release":                                true,
		"cat /etc/os-release /etc/shadow":                    false,
		"LD_PRELOAD=/tmp/x.so uptime":                        false,
		"uptime; reboot":                                     false,
		"uptime\nreboot":                                     false,
		"uptime\x0breboot":                                   false,
		"uptime\u00a0-p":                                     false,
		"":                                                   false,
	} {
		if d := p.Decide(alice, "sentinel_exec", map[string]any{"cmd": cmd}); d.Allow != want {
			t.Errorf("%q: %+v, want allow=%v", cmd, d, want)
		}
	}
	for _, tt := range []struct{ when, want string }{
		{`args.cmd.commandIn(["/usr/bin/.*/ -h"])`, "must be a literal word"},
		{`args.cmd.commandIn(["ta* -n"])`, "must be a literal word"},
		{`args.cmd.commandIn(["tail /[0-9/"])`, `word "/[0-9/"`},
		{`args.cmd.commandIn(["tail /var/[x"])`, "bad glob"},
		{`args.cmd.commandIn(["tail 'x'"])`, "can never match"},
		{`args.cmd.commandIn(["  "])`, "empty command pattern"},
		{`args.cmd.commandIn([["tail", "a;b"]])`, "holds shell operators"},
	} {
		doc := "rules: [{name: a, effect: allow, tools: [sentinel_exec], when: '" + strings.ReplaceAll(tt.when, "'", "''") + "'}]"
		if _, err := policy.Parse([]byte(doc), realTools(t)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse = %v, want %q", tt.when, err, tt.want)
		}
	}
	// A pattern built at run time (from a claim) that does not compile
	// denies the call.
	q := mustParse(t, `rules: [{name: c, effect: allow, tools: [sentinel_exec], when: 'args.cmd.commandIn([claims.cmd])'}]`)
	c := &policy.Caller{Subject: "c", Claims: map[string]any{"cmd": "/x/ y"}}
	if d := q.Decide(c, "sentinel_exec", map[string]any{"cmd": "x y"}); d.Allow || !strings.Contains(d.Message, "could not be evaluated") {
		t.Errorf("runtime pattern error: %+v", d)
	}
	c.Claims["cmd"] = "uptime"
	if d := q.Decide(c, "sentinel_exec", map[string]any{"cmd": "uptime"}); !d.Allow {
		t.Errorf("runtime pattern: %+v", d)
	}
}
