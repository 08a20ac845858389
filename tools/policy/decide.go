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
func (p *Policy) Decide(c *Caller, tool string, args map[string]any) Decision {
	t, ok := p.tools[tool]
	if !ok {
		return Decision{Allow: true}
	}
	if args == nil {
		args = map[string]any{}
	}
	if d := normalize(t, p.fill[tool], p.ints[tool], args, p.relativePaths); d != nil {
		return *d
	}
	act := p.activation(c, tool, args)
	for _, r := range p.byTool[tool] {
		if !r.matches(c, act.groups) {
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
	return Decision{Rule: DefaultRule, Message: fmt.Sprintf(
		"denied by policy (%s): no rule allows %s for %q; ask an administrator", DefaultRule, tool, who)}
}

// MayCall reports whether some arguments could make a call of tool by c
// allowed: rules are evaluated with the arguments unknown, a rule that
// allows for some arguments makes the tool visible, one that denies only for
// some arguments does not hide it. tools/list uses it.
func (p *Policy) MayCall(c *Caller, tool string) bool {
	if !p.Governs(tool) {
		return true
	}
	act := p.activation(c, tool, nil)
	var partial cel.Activation
	for _, r := range p.byTool[tool] {
		if !r.matches(c, act.groups) {
			continue
		}
		if r.prg != nil {
			prg, in := r.prg, cel.Activation(act)
			if r.partial != nil {
				if partial == nil {
					partial, _ = cel.PartialVars(act, cel.AttributePattern("args"))
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
