package policy_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// Hosts of the tests below, as the tools layer describes them.
var (
	web1     = on("web-1", "role", "web", "env", "prod")
	web2     = on("web-2", "role", "web", "env", "prod")
	db1      = on("db-1", "role", "db", "env", "prod")
	staging1 = on("staging-1", "role", "web", "env", "staging")
	bare     = on("bare-1")
)

// on is a single-host target with labels given as key, value pairs.
func on(host string, kv ...string) policy.Target {
	labels := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	return policy.Target{Host: host, Labels: labels, Hosts: []string{host}}
}

// fanout makes t one target of a fan-out over hosts; explicit as the
// tools layer sets it for sentinel_exec and non-status sentinel_service.
func fanout(t policy.Target, explicit bool, hosts ...string) policy.Target {
	t.Fanout, t.Hosts, t.ExplicitFanout = true, hosts, explicit
	return t
}

// hostCase is a policy of rules, and what it decides for alice's call to
// target.
type hostCase struct {
	name, rules string
	target      policy.Target
	allow       bool
	rule        string
}

// checkHostCases runs alice's call of tool with args under each case.
func checkHostCases(t *testing.T, tool string, args map[string]any, cases []hostCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, "rules: ["+tt.rules+"]").DecideFor(alice, tool, maps.Clone(args), tt.target)
			if d.Allow != tt.allow || d.Rule != tt.rule {
				t.Fatalf("DecideFor = %+v, want allow=%v rule=%q", d, tt.allow, tt.rule)
			}
		})
	}
}

func TestHostMatchers(t *testing.T) {
	checkHostCases(t, "sentinel_state", nil, []hostCase{
		{"name", `{name: r, effect: allow, tools: [sentinel_state], hosts: [web-1]}`, web1, true, "r"},
		{"other name", `{name: r, effect: allow, tools: [sentinel_state], hosts: [web-1]}`, web2, false, policy.DefaultRule},
		{"glob", `{name: r, effect: allow, tools: [sentinel_state], hosts: ["web-*"]}`, web2, true, "r"},
		{"glob misses", `{name: r, effect: allow, tools: [sentinel_state], hosts: ["web-*"]}`, db1, false, policy.DefaultRule},
		{"any of the names", `{name: r, effect: allow, tools: [sentinel_state], hosts: [db-1, "web-?"]}`, db1, true, "r"},
		{"char class", `{name: r, effect: allow, tools: [sentinel_state], hosts: ["web-[2-9]"]}`, web1, false, policy.DefaultRule},
		{"label", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {role: web}}`, staging1, true, "r"},
		{"label differs", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {role: web}}`, db1, false, policy.DefaultRule},
		{"every label must match", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {role: web, env: prod}}`, staging1, false, policy.DefaultRule},
		{"every label matches", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {role: web, env: prod}}`, web2, true, "r"},
		{"label value glob", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {env: "prod*"}}`, db1, true, "r"},
		{"missing label", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {env: "*"}}`, bare, false, policy.DefaultRule},
		{"present label, any value", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {env: "*"}}`, staging1, true, "r"},
		{"nil labels", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {env: "*"}}`, policy.Target{Host: "x"}, false, policy.DefaultRule},
		{"names and labels", `{name: r, effect: allow, tools: [sentinel_state], hosts: ["web-*"], host_labels: {env: prod}}`, web1, true, "r"},
		{"names but not labels", `{name: r, effect: allow, tools: [sentinel_state], hosts: ["*-1"], host_labels: {env: prod}}`, staging1, false, policy.DefaultRule},
		{"deny on some hosts", `{name: d, effect: deny, hosts: ["db-*"]}, {name: a, effect: allow, tools: [sentinel_state]}`, db1, false, "d"},
		{"deny elsewhere", `{name: d, effect: deny, hosts: ["db-*"]}, {name: a, effect: allow, tools: [sentinel_state]}`, web1, true, "a"},
		{"no matchers: every host", `{name: a, effect: allow, tools: [sentinel_state]}`, bare, true, "a"},
		// Fail closed: a rule about some hosts says nothing about a call
		// whose host is unknown, even "*".
		{"zero target, allow", `{name: r, effect: allow, tools: [sentinel_state], hosts: ["*"]}`, policy.Target{}, false, policy.DefaultRule},
		{"zero target, labels", `{name: r, effect: allow, tools: [sentinel_state], host_labels: {role: web}}`,
			policy.Target{Labels: map[string]string{"role": "web"}}, false, policy.DefaultRule},
		{"zero target, deny does not apply", `{name: d, effect: deny, hosts: ["*"]}, {name: a, effect: allow, tools: [sentinel_state]}`, policy.Target{}, true, "a"},
	})
}

func TestHostVariables(t *testing.T) {
	tests := []struct {
		when   string
		target policy.Target
		allow  bool
	}{
		{`host == "web-1"`, web1, true},
		{`host == "web-1"`, web2, false},
		{`host.glob("web-*")`, web2, true},
		{`host_labels.role == "web"`, staging1, true},
		{`host_labels.role == "web"`, db1, false},
		{`"env" in host_labels && host_labels.env == "prod"`, bare, false},
		{`host_labels.size() == 0`, policy.Target{Host: "x"}, true},
		{`!fanout && hosts == [host]`, web1, true},
		{`fanout`, web1, false},
		{`fanout`, fanout(web1, false, "web-1", "web-2"), true},
		{`size(hosts) <= 3`, fanout(web1, false, "web-1", "web-2", "db-1"), true},
		{`size(hosts) <= 3`, fanout(web1, false, "web-1", "web-2", "db-1", "web-3"), false},
		{`"db-1" in hosts`, fanout(web1, false, "web-1", "db-1"), true},
		{`hosts.all(h, h.startsWith("web-"))`, fanout(web1, false, "web-1", "db-1"), false},
		// Decide: no target; the variables are empty.
		{`host == "" && !fanout && size(hosts) == 0 && host_labels.size() == 0`, policy.Target{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			p := mustParse(t, "rules: [{name: r, effect: allow, tools: [sentinel_state], when: '"+strings.ReplaceAll(tt.when, "'", "''")+"'}]")
			if d := p.DecideFor(alice, "sentinel_state", nil, tt.target); d.Allow != tt.allow {
				t.Fatalf("DecideFor = %+v, want allow=%v", d, tt.allow)
			}
		})
	}
	// A missing label is an evaluation error: denied, and the message says so.
	p := mustParse(t, `rules: [{name: r, effect: allow, when: 'host_labels.role == "web"', unconstrained_args: ["*"]}]`)
	if d := p.DecideFor(alice, "sentinel_state", nil, bare); d.Allow || !strings.Contains(d.Message, "could not be evaluated") {
		t.Errorf("missing label: %+v", d)
	}
}

// opsExec is a single-host grant, written before fan-out existed.
const opsExec = `{name: ops-exec, effect: allow, groups: [ops], tools: [sentinel_exec], when: 'args.cmd.commandIn(["uptime", "df -h"])'}`

func TestExplicitFanout(t *testing.T) {
	uptime := map[string]any{"cmd": "uptime"}
	three := []string{"web-1", "web-2", "db-1"}
	checkHostCases(t, "sentinel_exec", uptime, []hostCase{
		{"single-host grant, single host", opsExec, web1, true, "ops-exec"},
		{"single-host grant does not fan out", opsExec, fanout(web1, true, three...), false, policy.DefaultRule},
		{"not explicit: the grant applies per host", opsExec, fanout(web1, false, three...), true, "ops-exec"},
		{"unconstrained admin grant does not fan out", `{name: a, effect: allow, unconstrained_args: ["*"]}`,
			fanout(web1, true, three...), false, policy.DefaultRule},
		{"host matchers are not fan-out", `{name: w, effect: allow, hosts: ["*"], unconstrained_args: ["*"]}`,
			fanout(web1, true, three...), false, policy.DefaultRule},
		{"fan-out rule", `{name: f, effect: allow, tools: [sentinel_exec], when: 'fanout && size(hosts) <= 3 && args.cmd == "uptime"'}`,
			fanout(web1, true, three...), true, "f"},
		{"fan-out rule, too many hosts", `{name: f, effect: allow, tools: [sentinel_exec], when: 'fanout && size(hosts) <= 3 && args.cmd == "uptime"'}`,
			fanout(web1, true, "web-1", "web-2", "web-3", "db-1"), false, policy.DefaultRule},
		{"reading hosts is enough", `{name: f, effect: allow, tools: [sentinel_exec], when: '"web-1" in hosts && args.cmd == "uptime"'}`,
			fanout(web1, true, three...), true, "f"},
		{"fan-out rule after a single-host one", opsExec + `, {name: f, effect: allow, groups: [ops], tools: [sentinel_exec], when: 'fanout && args.cmd == "uptime"'}`,
			fanout(web1, true, three...), true, "f"},
		{"deny on db wins over a later fan-out allow", `{name: no-db, effect: deny, hosts: ["db-*"]}, {name: f, effect: allow, tools: [sentinel_exec], when: 'fanout && size(hosts) <= 3', unconstrained_args: [cmd]}`,
			fanout(db1, true, three...), false, "no-db"},
		{"same fan-out, a web target", `{name: no-db, effect: deny, hosts: ["db-*"]}, {name: f, effect: allow, tools: [sentinel_exec], when: 'fanout && size(hosts) <= 3', unconstrained_args: [cmd]}`,
			fanout(web1, true, three...), true, "f"},
		{"deny rules still apply", `{name: d, effect: deny, tools: [sentinel_exec]}, {name: f, effect: allow, when: 'fanout', unconstrained_args: ["*"]}`,
			fanout(web1, true, three...), false, "d"},
		// A loop variable that shares the name is not the variable.
		{"shadowed hosts", `{name: s, effect: allow, tools: [sentinel_exec], when: '["uptime"].exists(hosts, hosts == args.cmd)'}`,
			fanout(web1, true, three...), false, policy.DefaultRule},
		{"shadowed, outer read", `{name: s, effect: allow, tools: [sentinel_exec], when: '["uptime"].exists(hosts, hosts == args.cmd && size(.hosts) < 5)'}`,
			fanout(web1, true, three...), true, "s"},
		{"shadowed fanout", `{name: s, effect: allow, tools: [sentinel_exec], when: '[true].exists(fanout, fanout) && args.cmd == "uptime"'}`,
			fanout(web1, true, three...), false, policy.DefaultRule},
	})
	d := mustParse(t, "rules: ["+opsExec+"]").DecideFor(alice, "sentinel_exec", maps.Clone(uptime), fanout(web1, true, three...))
	for _, want := range []string{"fan-out of sentinel_exec needs a rule that allows it explicitly", "fanout", "size(hosts)", "docs/fleet.md", `"alice"`} {
		if !strings.Contains(d.Message, want) {
			t.Errorf("fan-out denial %q does not say %q", d.Message, want)
		}
	}
}

// TestDecideWithoutTarget: Decide is DecideFor with the zero Target, for
// every call of the existing tests' policy.
func TestDecideWithoutTarget(t *testing.T) {
	p := mustParse(t, opsPolicy)
	calls := []struct {
		caller *policy.Caller
		tool   string
		args   map[string]any
	}{
		{alice, "sentinel_service", map[string]any{"service": "nginx", "action": "restart"}},
		{alice, "sentinel_edit", map[string]any{"path": "/etc/ssh/sshd_config"}},
		{alice, "sentinel_edit", map[string]any{"path": "/etc/nginx/x", "mode": "write"}},
		{alice, "sentinel_exec", map[string]any{"cmd": "uptime"}},
		{bob, "sentinel_exec", map[string]any{"cmd": "id"}},
		{root, "sentinel_edit", map[string]any{"path": "etc/x"}},
		{root, "sentinel_script_run", map[string]any{"interpreter": "bash"}},
		{&policy.Caller{}, "ping", nil},
	}
	for _, c := range calls {
		a, b := p.Decide(c.caller, c.tool, maps.Clone(c.args)), p.DecideFor(c.caller, c.tool, maps.Clone(c.args), policy.Target{})
		if a != b {
			t.Errorf("%s %s %v: Decide %+v, DecideFor %+v", c.caller.Subject, c.tool, c.args, a, b)
		}
	}
}

func TestMayCallOn(t *testing.T) {
	p := mustParse(t, `
rules:
  - {name: no-scripts-in-prod, effect: deny, tools: [sentinel_script_run], host_labels: {env: prod}}
  - {name: no-exec-on-db, effect: deny, tools: [sentinel_exec], when: 'host.startsWith("db-")'}
  - {name: web-restart, effect: allow, groups: [ops], tools: [sentinel_restart], host_labels: {role: web}}
  - {name: web-1-only, effect: allow, groups: [ops], tools: [sentinel_service], when: 'host == "web-1" && args.action == "status"'}
  - {name: fleet-uptime, effect: allow, groups: [ops], tools: [sentinel_exec], when: 'fanout && args.cmd == "uptime"'}
  - {name: scripts, effect: allow, groups: [ops], tools: [sentinel_script_run], unconstrained_args: ["*"]}
`)
	tests := []struct {
		tool   string
		target *policy.Target // nil: MayCall, host unknown
		want   bool
	}{
		{"sentinel_restart", nil, true}, // allowed on some hosts
		{"sentinel_restart", &web1, true},
		{"sentinel_restart", &db1, false},
		{"sentinel_restart", &bare, false},
		{"sentinel_service", nil, true}, // when on host, unknown
		{"sentinel_service", &web1, true},
		{"sentinel_service", &web2, false},
		{"sentinel_script_run", nil, true}, // denied on some hosts only
		{"sentinel_script_run", &web1, false},
		{"sentinel_script_run", &staging1, true},
		{"sentinel_script_run", &bare, true},
		{"sentinel_exec", nil, true}, // allowed in fan-outs, whether or not this is one
		{"sentinel_exec", &web1, true},
		{"sentinel_exec", &db1, false},
		{"sentinel_state", nil, false},
		{"sentinel_state", &web1, false},
		{"ping", &web1, true},
	}
	for _, tt := range tests {
		got, where := p.MayCall(alice, tt.tool), "anywhere"
		if tt.target != nil {
			got, where = p.MayCallOn(alice, tt.tool, tt.target.Host, tt.target.Labels), tt.target.Host
		}
		if got != tt.want {
			t.Errorf("may %s call %s on %s = %v, want %v", alice.Subject, tt.tool, where, got, tt.want)
		}
	}
	if p.MayCall(bob, "sentinel_restart") || p.MayCallOn(bob, "sentinel_restart", "web-1", web1.Labels) {
		t.Error("a host rule showed a tool to a caller it does not name")
	}
	if p.MayCallOn(alice, "sentinel_restart", "", map[string]string{"role": "web"}) {
		t.Error("a host rule applied to an unnamed host")
	}
}

func TestHostParseErrors(t *testing.T) {
	tests := []struct{ name, rule, want string }{
		{"empty host entry", `{name: a, effect: allow, hosts: [web-1, ""]}`, `rule "a": hosts: empty entry`},
		{"blank host entry", `{name: a, effect: allow, hosts: [" "]}`, `rule "a": hosts: empty entry`},
		{"bad host glob", `{name: a, effect: allow, hosts: ["web-["]}`, `rule "a": hosts: bad pattern "web-["`},
		{"empty label name", `{name: a, effect: allow, host_labels: {"": web}}`, `rule "a": host_labels: empty label name`},
		{"empty label value", `{name: a, effect: allow, host_labels: {role: ""}}`, `rule "a": host_labels: role: empty value`},
		{"null label value", `{name: a, effect: allow, host_labels: {role: }}`, `host_labels: role: empty value`},
		{"bad label glob", `{name: a, effect: allow, host_labels: {role: "[web"}}`, `rule "a": host_labels: role: bad pattern "[web"`},
		{"labels as a list", `{name: a, effect: allow, host_labels: [role]}`, "cannot unmarshal"},
		{"typo", `{name: a, effect: allow, host: [web-1]}`, "field host not found"},
		{"unknown variable", `{name: a, effect: allow, when: 'hostname == "x"'}`, "undeclared reference to 'hostname'"},
		{"labels are strings", `{name: a, effect: allow, when: 'host_labels.tier > 2'}`, "no matching overload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte("rules:\n  - "+tt.rule+"\n"), realTools(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
