package policy

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Target is the host a call goes to, and whether it is part of a fan-out.
// The tools layer builds one per host a call reaches; the zero Target is a
// call whose host is not known ([Policy.Decide]).
type Target struct {
	Host   string            // registry name ("default" for the single SENTINELX_URL agent)
	Labels map[string]string // the host's labels; nil = none
	Fanout bool              // this call is one target of a multi-host call (hosts/selector)
	Hosts  []string          // every target of the fan-out (just [Host] when not a fan-out)
	// ExplicitFanout: the tool and arguments need an allow rule that mentions
	// fan-out on purpose (its when reads fanout or hosts), so that a grant
	// written for one host never silently becomes a fleet-wide one. The tools
	// layer sets it for sentinel_exec and non-status sentinel_service fan-outs.
	ExplicitFanout bool
}

// hostMatch is a rule's hosts: and host_labels: matchers. A nil
// *hostMatch (no matchers) holds on every host, known or not.
type hostMatch struct {
	names  []string          // path.Match patterns; empty: any name
	labels map[string]string // label → path.Match pattern of its value; all must hold
}

// compileHostMatch checks the matchers when the file loads: a pattern that
// can never match (empty, a bad glob) or a label without a key is a
// mistake the author should hear about, not a rule that silently never
// applies.
func compileHostMatch(names []string, labels map[string]string) (*hostMatch, error) {
	if len(names) == 0 && len(labels) == 0 {
		return nil, nil
	}
	for _, pat := range names {
		if strings.TrimSpace(pat) == "" {
			return nil, errors.New("hosts: empty entry")
		}
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("hosts: bad pattern %q", pat)
		}
	}
	for k, pat := range labels {
		if strings.TrimSpace(k) == "" {
			return nil, errors.New("host_labels: empty label name")
		}
		if pat == "" {
			return nil, fmt.Errorf(`host_labels: %s: empty value (write "*" for any value)`, k)
		}
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("host_labels: %s: bad pattern %q", k, pat)
		}
	}
	return &hostMatch{names: names, labels: labels}, nil
}

// holds reports whether the matchers hold for t. A target without a host
// matches no matcher: a rule about some hosts says nothing about a call
// whose host is unknown, so an allow rule fails closed (and so, note, does
// a deny rule — the tools layer always names the host).
func (m *hostMatch) holds(t *Target) bool {
	if m == nil {
		return true
	}
	if t.Host == "" {
		return false
	}
	if len(m.names) > 0 && !slices.ContainsFunc(m.names, func(p string) bool { ok, _ := path.Match(p, t.Host); return ok }) {
		return false
	}
	for k, pat := range m.labels {
		v, ok := t.Labels[k]
		if !ok {
			return false
		}
		if ok, _ := path.Match(pat, v); !ok {
			return false
		}
	}
	return true
}

// hostVars are the CEL variables of the target, converted once per
// decision. A decision allocates them only when a rule for the tool reads
// one, so policies that say nothing about hosts cost what they did.
type hostVars struct {
	t               Target
	labelsV, hostsV ref.Val
}

// hostVarNames are the CEL variables a [Target] provides.
var hostVarNames = [...]string{"host", "host_labels", "fanout", "hosts"}

// resolve returns the value of one of hostVarNames.
func (h *hostVars) resolve(name string) (any, bool) {
	switch name {
	case "host":
		return types.String(h.t.Host), true
	case "host_labels":
		if h.labelsV == nil {
			// A nil map reads as an empty one.
			h.labelsV = types.NewStringStringMap(types.DefaultTypeAdapter, h.t.Labels)
		}
		return h.labelsV, true
	case "fanout":
		return types.Bool(h.t.Fanout), true
	case "hosts":
		if h.hostsV == nil {
			h.hostsV = types.NewStringList(types.DefaultTypeAdapter, h.t.Hosts)
		}
		return h.hostsV, true
	}
	return nil, false
}

// hostRefs is what an expression reads of the target: any of its
// variables (then a decision provides them, and tools/list evaluates the
// rule with them unknown), and fanout or hosts in particular (then the
// rule was written with fan-out in mind, see [Target.ExplicitFanout]).
type hostRefs struct {
	any, fanout bool
}

func targetRefs(a *cel.Ast) hostRefs {
	e := a.NativeRep().Expr()
	var r hostRefs
	for _, name := range hostVarNames {
		if readsVar(e, name, false) {
			r.any = true
			r.fanout = r.fanout || name == "fanout" || name == "hosts"
		}
	}
	return r
}

// readsVar reports whether the checked expression e reads the declared
// variable name. A comprehension may bind the same name
// (xs.exists(hosts, …)): inside it the bare name is the local, and the
// checker spells the variable ".hosts". Telling the two apart matters for
// fanout and hosts: a rule must not pass for fan-out-aware because a loop
// variable happens to share their name.
func readsVar(e ast.Expr, name string, shadowed bool) bool {
	switch e.Kind() {
	case ast.IdentKind:
		id := e.AsIdent()
		return id == "."+name || id == name && !shadowed
	case ast.SelectKind:
		return readsVar(e.AsSelect().Operand(), name, shadowed)
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() && readsVar(c.Target(), name, shadowed) {
			return true
		}
		return slices.ContainsFunc(c.Args(), func(a ast.Expr) bool { return readsVar(a, name, shadowed) })
	case ast.ListKind:
		return slices.ContainsFunc(e.AsList().Elements(), func(a ast.Expr) bool { return readsVar(a, name, shadowed) })
	case ast.MapKind:
		return slices.ContainsFunc(e.AsMap().Entries(), func(en ast.EntryExpr) bool {
			m := en.AsMapEntry()
			return readsVar(m.Key(), name, shadowed) || readsVar(m.Value(), name, shadowed)
		})
	case ast.StructKind:
		return slices.ContainsFunc(e.AsStruct().Fields(), func(en ast.EntryExpr) bool {
			return readsVar(en.AsStructField().Value(), name, shadowed)
		})
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		if readsVar(c.IterRange(), name, shadowed) || readsVar(c.AccuInit(), name, shadowed) {
			return true
		}
		inLoop := shadowed || c.IterVar() == name || c.HasIterVar2() && c.IterVar2() == name || c.AccuVar() == name
		return readsVar(c.LoopCondition(), name, inLoop) || readsVar(c.LoopStep(), name, inLoop) ||
			readsVar(c.Result(), name, shadowed || c.AccuVar() == name)
	}
	return false
}
