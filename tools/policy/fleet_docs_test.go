package policy_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// explicitFanout is what the tools layer asks of a fan-out: sentinel_exec
// and sentinel_service other than status need a rule that allows fan-out
// on purpose.
func explicitFanout(tool string, args map[string]any) bool {
	return tool == "sentinel_exec" || tool == "sentinel_service" && args["action"] != "status"
}

// spread is the target of a fan-out over hosts that goes to t, marked as
// the tools layer would mark it for tool and args.
func spread(t policy.Target, tool string, args map[string]any, hosts ...string) policy.Target {
	return fanout(t, explicitFanout(tool, args), hosts...)
}

// webHosts are n web hosts, web-1 first.
func webHosts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("web-%d", i+1)
	}
	return out
}

// TestFleetDocsExamplesLoad keeps docs/fleet.md honest: every YAML example
// in it is a policy that loads with the real tools.
func TestFleetDocsExamplesLoad(t *testing.T) {
	for i, ex := range docExamplesIn(t, "fleet.md", 3) {
		if _, err := policy.Parse([]byte(ex.text), realTools(t)); err != nil {
			t.Errorf("fleet example %d: %v\n%s", i+1, err, ex.text)
		}
	}
}

// TestFleetDocsExamplesAttacked runs the attacks of docs/policy.md against
// the examples of docs/fleet.md, on single hosts and as one target of a
// fan-out: a host rule must not let any of them through either.
func TestFleetDocsExamplesAttacked(t *testing.T) {
	targets := map[string]func(tool string, args map[string]any) policy.Target{
		"web-1":      func(string, map[string]any) policy.Target { return web1 },
		"db-1":       func(string, map[string]any) policy.Target { return db1 },
		"staging-1":  func(string, map[string]any) policy.Target { return staging1 },
		"unlabelled": func(string, map[string]any) policy.Target { return bare },
		"fan-out": func(tool string, args map[string]any) policy.Target {
			return spread(web1, tool, args, "web-1", "web-2", "db-1")
		},
	}
	decisions, granted := 0, 0
	for i, ex := range docExamplesIn(t, "fleet.md", 3) {
		p := mustParse(t, ex.text)
		for where, target := range targets {
			n, g := attackExample(t, fmt.Sprintf("fleet example %d on %s", i+1, where), ex,
				func(c *policy.Caller, a attack) policy.Decision {
					return p.DecideFor(c, a.tool, maps.Clone(a.args), target(a.tool, a.args))
				})
			decisions, granted = decisions+n, granted+g
		}
	}
	t.Logf("%d decisions, %d allowed by an explicit unconstrained_args grant", decisions, granted)
}

// TestFleetDocsExamplesDecide checks what the worked examples of
// docs/fleet.md claim.
func TestFleetDocsExamplesDecide(t *testing.T) {
	examples := docExamplesIn(t, "fleet.md", 3)
	webTeam := &policy.Caller{Subject: "w", Claims: map[string]any{"groups": []any{"web-team"}}}
	admin := &policy.Caller{Subject: "x", Claims: map[string]any{"groups": []any{"sentinelx-admins"}}}
	reader := &policy.Caller{Subject: "r", Scopes: []string{"sentinelx:state", "sentinelx:exec", "sentinelx:service"}}
	noState := &policy.Caller{Subject: "n", Scopes: []string{"sentinelx:exec", "sentinelx:service"}}
	svc := func(service, action string) map[string]any {
		return map[string]any{"service": service, "action": action}
	}
	restart, reload, status := svc("nginx", "restart"), svc("nginx", "reload"), svc("nginx", "status")
	exec := func(cmd string) map[string]any { return map[string]any{"cmd": cmd} }
	script := map[string]any{"interpreter": "bash", "content": "uptime"}
	mixed := []string{"web-1", "web-2", "db-1"}
	tests := []struct {
		example string // a rule of the example
		caller  *policy.Caller
		tool    string
		args    map[string]any
		target  policy.Target
		allow   bool
		rule    string // "" when any
	}{
		{"web-team-nginx", webTeam, "sentinel_service", restart, web1, true, "web-team-nginx"},
		{"web-team-nginx", webTeam, "sentinel_service", restart, staging1, true, "web-team-nginx"},
		{"web-team-nginx", webTeam, "sentinel_service", restart, db1, false, policy.DefaultRule},
		{"web-team-nginx", webTeam, "sentinel_service", svc("docker", "restart"), web1, false, policy.DefaultRule},
		{"web-team-nginx", webTeam, "sentinel_service", svc("nginx", "stop"), web1, false, policy.DefaultRule},
		{"web-team-nginx", webTeam, "sentinel_restart", map[string]any{"service": "nginx"}, web2, true, "web-team-restart-nginx"},
		{"web-team-nginx", webTeam, "sentinel_restart", map[string]any{"service": "nginx"}, db1, false, policy.DefaultRule},
		{"web-team-nginx", webTeam, "sentinel_restart", map[string]any{"service": "php8.3-fpm"}, web1, false, policy.DefaultRule},
		{"web-team-nginx", webTeam, "sentinel_service", restart, spread(web1, "sentinel_service", restart, webHosts(4)...), true, "web-team-nginx"},
		{"web-team-nginx", webTeam, "sentinel_service", reload, spread(web2, "sentinel_service", reload, webHosts(4)...), true, "web-team-nginx"},
		{"web-team-nginx", webTeam, "sentinel_service", restart, spread(web1, "sentinel_service", restart, webHosts(6)...), false, policy.DefaultRule},
		{"web-team-nginx", webTeam, "sentinel_service", restart, spread(web1, "sentinel_service", restart, mixed...), true, "web-team-nginx"},
		{"web-team-nginx", webTeam, "sentinel_service", restart, spread(db1, "sentinel_service", restart, mixed...), false, policy.DefaultRule},
		{"web-team-nginx", admin, "sentinel_service", restart, web1, false, policy.DefaultRule},

		{"no-scripts-in-prod", admin, "sentinel_script_run", script, staging1, true, "admins"},
		{"no-scripts-in-prod", admin, "sentinel_script_run", script, web1, false, "no-scripts-in-prod"},
		{"no-scripts-in-prod", admin, "sentinel_script_run", script, db1, false, "no-scripts-in-prod"},
		{"no-scripts-in-prod", admin, "sentinel_script_run", script, bare, true, "admins"}, // the label was forgotten
		{"no-scripts-in-prod", admin, "sentinel_exec", exec("systemctl restart nginx"), web1, true, "admins"},
		{"no-scripts-in-prod", admin, "sentinel_exec", exec("uptime"), spread(web1, "sentinel_exec", nil, mixed...), true, "admins-fan-out"},
		{"no-scripts-in-prod", admin, "sentinel_exec", exec("uptime"), spread(web1, "sentinel_exec", nil, webHosts(21)...), false, policy.DefaultRule},
		{"no-scripts-in-prod", admin, "sentinel_service", restart, spread(db1, "sentinel_service", restart, mixed...), true, "admins-fan-out"},
		{"no-scripts-in-prod", webTeam, "sentinel_exec", exec("uptime"), web1, false, policy.DefaultRule},

		{"fleet-read", reader, "sentinel_state", nil, spread(web1, "sentinel_state", nil, webHosts(200)...), true, "fleet-read"},
		{"fleet-read", reader, "sentinel_capabilities", nil, db1, true, "fleet-read"},
		{"fleet-read", reader, "sentinel_service", status, spread(db1, "sentinel_service", status, webHosts(200)...), true, "fleet-service-status"},
		{"fleet-read", reader, "sentinel_service", restart, web1, false, policy.DefaultRule},
		{"fleet-read", reader, "sentinel_service", restart, spread(web1, "sentinel_service", restart, mixed...), false, policy.DefaultRule},
		{"fleet-read", reader, "sentinel_exec", exec("uptime"), web1, true, "fleet-uptime"},
		{"fleet-read", reader, "sentinel_exec", exec("df -h"), spread(web1, "sentinel_exec", nil, webHosts(50)...), true, "fleet-uptime"},
		{"fleet-read", reader, "sentinel_exec", exec("uptime"), spread(web1, "sentinel_exec", nil, webHosts(51)...), false, policy.DefaultRule},
		{"fleet-read", reader, "sentinel_exec", exec("cat /etc/shadow"), spread(web1, "sentinel_exec", nil, mixed...), false, policy.DefaultRule},
		{"fleet-read", noState, "sentinel_state", nil, web1, false, policy.DefaultRule},
		{"fleet-read", noState, "sentinel_exec", exec("uptime"), web1, false, policy.DefaultRule},
	}
	for _, tt := range tests {
		d := exampleWith(t, examples, tt.example).DecideFor(tt.caller, tt.tool, maps.Clone(tt.args), tt.target)
		if d.Allow != tt.allow || tt.rule != "" && d.Rule != tt.rule {
			t.Errorf("%s example: %s %s %v on %s (fan-out of %d) = %+v, want allow=%v rule=%q",
				tt.example, tt.caller.Subject, tt.tool, tt.args, tt.target.Host, len(tt.target.Hosts), d, tt.allow, tt.rule)
		}
	}
	// What tools/list and the host list show.
	p := exampleWith(t, examples, "web-team-nginx")
	if !p.MayCall(webTeam, "sentinel_restart") || !p.MayCallOn(webTeam, "sentinel_restart", "web-1", web1.Labels) ||
		p.MayCallOn(webTeam, "sentinel_restart", "db-1", db1.Labels) {
		t.Error("web team's tools and hosts differ from the docs")
	}
	if p := exampleWith(t, examples, "no-scripts-in-prod"); !p.MayCall(admin, "sentinel_script_run") ||
		p.MayCallOn(admin, "sentinel_script_run", "web-1", web1.Labels) ||
		!p.MayCallOn(admin, "sentinel_script_run", "staging-1", staging1.Labels) {
		t.Error("admin scripts per host differ from the docs")
	}
}
