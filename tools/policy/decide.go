package policy

import (
	"fmt"
	"slices"

	"cel.dev/cel-go/cel"
)

// Decide runs the rules in order for a call of tool with args (the call's
// arguments as JSON-decoded values; normalised in place, see docs/policy.md)
// and returns the first matching rule's effect, or a default denial. A rule
// whose expression fails to evaluate denies the call (fail closed) and the
// message says why.
//
// Decide knows no host: rules with hosts: or host_labels: do not apply.
// It is [Policy.DecideFor] with the zero [Target].
func (p *Policy) Decide(c *Caller, tool string, args map[string]any) Decision {
	return p.DecideFor(c, tool, args, Target{})
}

// DecideFor is [Policy.Decide] for a call that goes to the host of t: rules
// whose hosts: or host_labels: do not match it are skipped, and when reads
// the target as host, host_labels, fanout and hosts. A fan-out calls it
// once per target. With t.ExplicitFanout, allow rules whose when does not
// read fanout or hosts are skipped too (deny rules still apply).
func (p *Policy) DecideFor(c *Caller, tool string, args map[string]any, t Target) Decision {
	tl, ok := p.tools[tool]
	if !ok {
		return Decision{Allow: true}
	}
	if args == nil {
		args = map[string]any{}
	}
	if d := normalize(tl, p.fill[tool], p.ints[tool], args, p.relativePaths); d != nil {
		return *d
	}
	act := p.activation(c, tool, args)
	if p.targetCEL[tool] {
		act.host = &hostVars{t: t}
	}
	for _, r := range p.byTool[tool] {
		if !r.matches(c, act.groups) || !r.host.holds(&t) || t.ExplicitFanout && r.allow && !r.target.fanout {
			continue
		}
		if r.prg != nil {
			out, _, err := r.prg.Eval(act)
			if err != nil {
				return Decision{Rule: r.name, Message: fmt.Sprintf("policy rule %q could not be evaluated (%v); denied", r.name, err)}
			}
			if b, _ := out.Value().(bool); !b {
				continue
			}
		}
		if r.allow {
			return Decision{Allow: true, Rule: r.name}
		}
		msg := fmt.Sprintf("denied by policy rule %q", r.name)
		if r.message != "" {
			msg += ": " + r.message
		}
		return Decision{Rule: r.name, Message: msg}
	}
	who := c.Subject
	if who == "" {
		who = "anonymous"
	}
	if t.ExplicitFanout {
		return Decision{Rule: DefaultRule, Message: fmt.Sprintf(
			"denied by policy (%s): fan-out of %s needs a rule that allows it explicitly (its when reads fanout or hosts, "+
				"e.g. fanout && size(hosts) <= 5, see docs/fleet.md); no rule allows it for %q; ask an administrator",
			DefaultRule, tool, who)}
	}
	return Decision{Rule: DefaultRule, Message: fmt.Sprintf(
		"denied by policy (%s): no rule allows %s for %q; ask an administrator", DefaultRule, tool, who)}
}

// MayCall reports whether some arguments could make a call of tool by c
// allowed: rules are evaluated with the arguments unknown, a rule that
// allows for some arguments makes the tool visible, one that denies only for
// some arguments does not hide it. tools/list uses it.
//
// The host is unknown too: an allow rule for some hosts (hosts:,
// host_labels:, or a when on host) makes the tool visible, a deny rule for
// some hosts does not hide it.
func (p *Policy) MayCall(c *Caller, tool string) bool { return p.mayCall(c, tool, nil) }

// MayCallOn is [Policy.MayCall] for one host: its name and labels are
// known, the arguments are not, and neither is whether the call would be a
// fan-out (fanout, hosts), so a rule that allows only fan-outs still
// counts. The tools layer uses it to list the hosts a caller may use.
func (p *Policy) MayCallOn(c *Caller, tool string, host string, labels map[string]string) bool {
	return p.mayCall(c, tool, &Target{Host: host, Labels: labels, Hosts: []string{host}})
}

// mayCall is MayCall with t nil (host unknown) and MayCallOn with t set.
func (p *Policy) mayCall(c *Caller, tool string, t *Target) bool {
	if !p.Governs(tool) {
		return true
	}
	act := p.activation(c, tool, nil)
	unknown := []*cel.AttributePatternType{
		cel.AttributePattern("args"), cel.AttributePattern("fanout"), cel.AttributePattern("hosts")}
	if t == nil {
		unknown = append(unknown, cel.AttributePattern("host"), cel.AttributePattern("host_labels"))
	} else {
		act.host = &hostVars{t: *t}
	}
	var partial cel.Activation
	for _, r := range p.byTool[tool] {
		if !r.matches(c, act.groups) {
			continue
		}
		if r.host != nil {
			if t == nil && !r.allow || t != nil && !r.host.holds(t) {
				continue
			}
		}
		if r.prg != nil {
			prg, in := r.prg, cel.Activation(act)
			if r.partial != nil {
				if partial == nil {
					partial, _ = cel.PartialVars(act, unknown...)
				}
				prg, in = r.partial, partial
			}
			out, _, err := prg.Eval(in)
			switch {
			case err != nil:
				continue
			case isUnknown(out):
				if r.allow {
					return true
				}
				continue
			}
			if b, _ := out.Value().(bool); !b {
				continue
			}
		}
		return r.allow
	}
	return false
}

// matches checks the rule's caller conditions; byTool already chose the
// rules for the tool.
func (r *rule) matches(c *Caller, groups []string) bool {
	if len(r.subjects) > 0 && !slices.Contains(r.subjects, c.Subject) {
		return false
	}
	if len(r.clients) > 0 && !slices.Contains(r.clients, c.ClientID) {
		return false
	}
	if len(r.groups) > 0 && !slices.ContainsFunc(r.groups, func(g string) bool { return slices.Contains(groups, g) }) {
		return false
	}
	return true
}
