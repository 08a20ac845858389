package fleet

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// MaxListed bounds the host names an error lists: the message reaches a
// model's context, and a thousand names help nobody.
const MaxListed = 50

// Bounds on what a caller may ask Select for: matching costs patterns ×
// hosts glob matches, and a caller needs only a few globs or a selector.
const (
	MaxPatterns = 64  // host names or globs in one call
	maxPattern  = 63  // characters in one; a host name is at most 63
	maxSelector = 512 // characters in a selector
)

// Select resolves a fan-out target: patterns are host names or
// path.Match globs ("web-*"), selector is a label selector
// ("role=web,env=prod"). With both, a host must match some pattern and
// the selector. The result is sorted by name, without duplicates, and
// never empty: an empty match is an error, so a typo never becomes a
// silent no-op.
func (r *Registry) Select(patterns []string, selector string) ([]*Host, error) {
	switch {
	case len(patterns) == 0 && selector == "":
		return nil, errors.New("no hosts chosen: give host names or globs, a label selector, or both")
	case len(patterns) > MaxPatterns:
		return nil, fmt.Errorf("%d host names or globs; at most %d (a glob or a selector covers many hosts)", len(patterns), MaxPatterns)
	case len(selector) > maxSelector:
		return nil, fmt.Errorf("selector of %d characters; at most %d", len(selector), maxSelector)
	}
	for _, p := range patterns {
		if len(p) > maxPattern {
			return nil, fmt.Errorf("host name or glob of %d characters; at most %d", len(p), maxPattern)
		}
	}
	patterns = slices.Compact(slices.Sorted(slices.Values(patterns)))
	var sel Selector
	if selector != "" {
		var err error
		if sel, err = ParseSelector(selector); err != nil {
			return nil, err
		}
	}
	for _, p := range patterns {
		switch {
		case p == "":
			return nil, errors.New("empty host name in the list")
		case !isGlob(p):
			if _, ok := r.byName[p]; !ok {
				return nil, fmt.Errorf("unknown host %q; hosts: %s", p, r.listNames())
			}
		default:
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("host pattern %q is not a valid glob (%v): use * ? [a-z] and \\ to escape", p, err)
			}
		}
	}
	var out []*Host
	for _, h := range r.hosts {
		if (len(patterns) == 0 || matchAny(patterns, h.Name)) && sel.Matches(h.Labels) {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		var what []string
		if len(patterns) > 0 {
			shown := patterns[:min(len(patterns), 5)]
			w := fmt.Sprintf("hosts %q", shown)
			if len(patterns) > len(shown) {
				w = fmt.Sprintf("hosts %q and %d more", shown, len(patterns)-len(shown))
			}
			what = append(what, w)
		}
		if selector != "" {
			what = append(what, fmt.Sprintf("selector %q", sel.String()))
		}
		return nil, fmt.Errorf("no host matches %s", strings.Join(what, " and "))
	}
	return out, nil
}

// isGlob reports whether p uses path.Match syntax; a plain name must
// exist, a glob may match nothing on its own.
func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// matchAny reports whether name matches one of the (validated) patterns.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// listNames is the registry's names as [ListNames] words them.
func (r *Registry) listNames() string { return ListNames(r.Names()) }

// ListNames is "a, b, c", cut after MaxListed names ("… and 12 more").
func ListNames(names []string) string {
	if len(names) <= MaxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:MaxListed], ", "), len(names)-MaxListed)
}

// Selector is a parsed label selector: terms joined by ',' that must all
// hold. The zero Selector matches every host.
type Selector struct {
	terms []term
}

type term struct {
	key, value string
	op         selOp
}

type selOp int

const (
	opEq     selOp = iota // key=value
	opNe                  // key!=value: also true when the label is absent
	opHas                 // key
	opHasNot              // !key
)

// ParseSelector parses "role=web,env=prod". A term is key=value,
// key!=value, key (the label is present) or !key (it is absent); keys
// and values follow the label rules of the file.
func ParseSelector(s string) (Selector, error) {
	if strings.TrimSpace(s) == "" {
		return Selector{}, errors.New("empty selector: want terms such as role=web,env=prod")
	}
	var sel Selector
	for i, raw := range strings.Split(s, ",") {
		t, err := parseTerm(strings.TrimSpace(raw))
		if err != nil {
			return Selector{}, fmt.Errorf("selector %q: term %d %q: %w", s, i+1, strings.TrimSpace(raw), err)
		}
		sel.terms = append(sel.terms, t)
	}
	return sel, nil
}

func parseTerm(s string) (term, error) {
	var t term
	switch {
	case s == "":
		return t, errors.New("empty; want key=value, key!=value, key or !key")
	case strings.Contains(s, "!="):
		t.op = opNe
		t.key, t.value, _ = strings.Cut(s, "!=")
	case strings.Contains(s, "="):
		t.op = opEq
		t.key, t.value, _ = strings.Cut(s, "=")
	case strings.HasPrefix(s, "!"):
		t.op, t.key = opHasNot, s[1:]
	default:
		t.op, t.key = opHas, s
	}
	t.key, t.value = strings.TrimSpace(t.key), strings.TrimSpace(t.value)
	if !labelRE.MatchString(t.key) {
		return t, fmt.Errorf("key %q: %s", t.key, labelRule)
	}
	if (t.op == opEq || t.op == opNe) && !labelRE.MatchString(t.value) {
		return t, fmt.Errorf("value %q: %s", t.value, labelRule)
	}
	return t, nil
}

// Matches reports whether labels satisfy every term.
func (s Selector) Matches(labels map[string]string) bool {
	for _, t := range s.terms {
		v, ok := labels[t.key]
		switch t.op {
		case opEq:
			ok = ok && v == t.value
		case opNe:
			ok = !ok || v != t.value
		case opHasNot:
			ok = !ok
		}
		if !ok {
			return false
		}
	}
	return true
}

// String is the selector in canonical form, terms in the order given.
func (s Selector) String() string {
	parts := make([]string, len(s.terms))
	for i, t := range s.terms {
		switch t.op {
		case opEq:
			parts[i] = t.key + "=" + t.value
		case opNe:
			parts[i] = t.key + "!=" + t.value
		case opHas:
			parts[i] = t.key
		case opHasNot:
			parts[i] = "!" + t.key
		}
	}
	return strings.Join(parts, ",")
}
