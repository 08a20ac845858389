package policy_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// fiftyRules is a 50-rule policy where the call below is decided by the
// last rule. worst makes every rule apply to the caller and the tool, so
// all 50 CEL expressions run; otherwise rules spread over groups and tools
// as a real file would, and the cheap subject/group/tool filters skip most.
func fiftyRules(worst bool) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	tools := []string{"sentinel_exec", "sentinel_service", "sentinel_edit", "sentinel_restart", "sentinel_state"}
	for i := range 49 {
		group, tool := fmt.Sprintf("team%d", i), tools[i%len(tools)]
		if worst {
			group, tool = "ops", "sentinel_edit"
		}
		when := map[string]string{
			"sentinel_exec":    `args.cmd.commandIn(["journalctl -u /^[a-z0-9@._-]+$/", "systemctl status /^[a-z0-9@._-]+$/"])`,
			"sentinel_service": `args.action in ["status", "reload"] && args.service.glob(["nginx", "php*"])`,
			"sentinel_edit":    fmt.Sprintf(`args.path.under("/srv/app%d") && !args.sudo && args.validator == "" && args.validator_preset == "" && args.backup_dir == ""`, i),
			"sentinel_restart": `args.service == "nginx"`,
			"sentinel_state":   `"sentinelx:state" in scopes`,
		}[tool]
		fmt.Fprintf(&b, "  - {name: r%d, effect: allow, groups: [%s], tools: [%s], when: '%s'}\n", i, group, tool, when)
	}
	b.WriteString(`  - {name: ops-web, effect: allow, groups: [ops], tools: [sentinel_edit], when: 'args.path.under(["/etc/nginx", "/var/www"]) && !args.sudo && args.validator == "" && args.validator_preset == "" && args.backup_dir == ""'}` + "\n")
	return b.String()
}

// benchDecide decides the call with Decide, or with DecideFor and target
// when it is not nil.
func benchDecide(b *testing.B, worst bool, target *policy.Target) {
	p := mustParse(b, fiftyRules(worst))
	if p.Rules() != 50 {
		b.Fatalf("%d rules", p.Rules())
	}
	c := &policy.Caller{Subject: "alice", ClientID: "claude", Scopes: []string{"sentinelx:edit"},
		Claims: map[string]any{"sub": "alice", "groups": []any{"ops", "web"}}}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		// A fresh map per call, as the tool handler builds one.
		args := map[string]any{"path": "/etc/nginx/conf.d/site.conf", "mode": "replace", "sudo": false}
		var d policy.Decision
		if target == nil {
			d = p.Decide(c, "sentinel_edit", args)
		} else {
			d = p.DecideFor(c, "sentinel_edit", args, *target)
		}
		if !d.Allow || d.Rule != "ops-web" {
			b.Fatalf("%+v", d)
		}
	}
	// CPU time of this process per decision: unlike ns/op (wall time) it
	// does not grow when other processes share the machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecide50Rules is the budget: under 5 µs per call for 50
// rules.
func BenchmarkDecide50Rules(b *testing.B)      { benchDecide(b, false, nil) }
func BenchmarkDecide50RulesWorst(b *testing.B) { benchDecide(b, true, nil) }

// BenchmarkDecideFor50Rules is the same call to a host of a registry, with
// rules that say nothing about hosts: it must cost what Decide does.
func BenchmarkDecideFor50Rules(b *testing.B) {
	t := policy.Target{Host: "web-1", Labels: map[string]string{"role": "web"}, Hosts: []string{"web-1"}}
	benchDecide(b, false, &t)
}
