// Package policy is the fine-grained authorization layer on top of scopes:
// an ordered list of allow/deny rules, read from a YAML file (POLICY_FILE),
// matched on who calls (subject, groups, client), on what they ask the
// host to do (the tool and its arguments, in CEL) and on which host
// (its name and labels, see docs/fleet.md). Scopes say which tool a
// token may call; the policy says which commands, services and paths, for
// whom. See docs/policy.md.
//
// A loaded [Policy] is immutable and safe for concurrent use; [Store] holds
// the current one and swaps it on reload.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// DefaultRule names the decision taken when no rule matched: deny.
const DefaultRule = "default-deny"

// RelativePathRule names the built-in denial of a relative host path
// (the file's allow_relative_paths turns it off).
const RelativePathRule = "builtin:relative-path"

// defaultGroupClaims are where Keycloak, Entra, Okta, Authentik and
// oidc-provider put group and role names.
func defaultGroupClaims() []string { return []string{"groups", "roles", "realm_access.roles"} }

// Tool is one tool the policy governs, with the JSON types of its
// arguments ("string", "boolean", "integer", "number", "array", "object").
// Rules may name only these tools and read only these arguments.
type Tool struct {
	Name string
	Args map[string]string
	// Guarded are the arguments that run code or pick where files go
	// (a validator command, a backup directory, a script, a path). An allow
	// rule covering the tool must read each of them in its when, or name it
	// in unconstrained_args: a grant never hands them out by omission.
	Guarded []string
}

// Caller is who makes a call, from the verified token.
type Caller struct {
	Subject  string
	Username string
	ClientID string
	Scopes   []string
	Claims   map[string]any // the token's claims (JWT payload or introspection answer)
}

// Decision is the outcome of [Policy.Decide].
type Decision struct {
	Allow bool
	// Rule names the rule that decided, [DefaultRule], [RelativePathRule]
	// or [NonCanonicalRule].
	Rule string
	// Message explains a denial to the caller; empty when allowed.
	Message string
}

// file is the YAML document.
type file struct {
	// GroupClaims are the claims whose values are the caller's groups
	// (arrays of strings, a space-separated string, or an object whose keys
	// are the names); a dotted name walks into objects. Default: groups,
	// roles, realm_access.roles.
	GroupClaims []string `yaml:"group_claims"`
	// AllowRelativePaths turns off the built-in denial of relative host
	// paths (path, cwd, backup_dir). A relative path is resolved by the
	// agent against its working directory, so no rule can tell where it
	// points; keep this false unless no rule looks at paths.
	AllowRelativePaths bool       `yaml:"allow_relative_paths"`
	Rules              []fileRule `yaml:"rules"`
}

type fileRule struct {
	Name        string   `yaml:"name"`
	Effect      string   `yaml:"effect"` // allow or deny
	Description string   `yaml:"description"`
	Message     string   `yaml:"message"` // shown to a denied caller
	Subjects    []string `yaml:"subjects"`
	Clients     []string `yaml:"clients"`
	Groups      []string `yaml:"groups"`
	Tools       []string `yaml:"tools"` // names or path.Match globs
	// Hosts and HostLabels limit the rule to some hosts of the registry
	// (names or globs; every label must match, its value may be a glob).
	Hosts      []string          `yaml:"hosts"`
	HostLabels map[string]string `yaml:"host_labels"`
	When       string            `yaml:"when"` // CEL, must be bool
	// UnconstrainedArgs are guarded arguments (Tool.Guarded) an allow rule
	// grants with any value, on purpose; "*" names all of them.
	UnconstrainedArgs []string `yaml:"unconstrained_args"`
}

// Policy is a compiled policy file.
type Policy struct {
	rules         []*rule
	groupClaims   [][]string // split on "."
	relativePaths bool
	tools         map[string]*Tool
	// fill lists, per tool, the arguments rules read; an absent one is set
	// to its zero value before evaluation. All of them when a rule looks at
	// args as a whole.
	fill map[string][]string
	// byTool lists, per tool, the rules that can apply to it, in order, so
	// a decision skips the others without looking at them.
	byTool map[string][]*rule
	// ints lists, per tool, its integer arguments (JSON numbers arrive as
	// float64 and are made int64 so rules compare them with int literals).
	ints map[string][]string
	// targetCEL marks the tools with a rule whose when reads the target
	// (host, host_labels, fanout, hosts): only their decisions convert it.
	targetCEL map[string]bool
}

type rule struct {
	name, message string
	allow         bool
	subjects      []string
	clients       []string
	groups        []string
	tools         map[string]bool // nil: every governed tool
	host          *hostMatch      // nil: every host
	target        hostRefs        // what when reads of the target
	prg           cel.Program     // nil: no when
	partial       cel.Program     // when depends on args or the target: evaluated with them unknown
}

// Parse compiles a policy document. Every problem is an error naming the
// rule: unknown keys, a tool that does not exist, a CEL expression that
// does not compile, is not boolean, or reads an argument that a tool the
// rule applies to does not have, an empty or malformed hosts: or
// host_labels: entry.
func Parse(data []byte, tools []Tool) (*Policy, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty policy: want a rules: list")
		}
		return nil, fmt.Errorf("yaml: %w", err)
	}
	if len(f.Rules) == 0 {
		return nil, errors.New("no rules: with a policy file every call is denied unless a rule allows it")
	}
	p := &Policy{relativePaths: f.AllowRelativePaths, tools: map[string]*Tool{}}
	names := make([]string, 0, len(tools))
	for i := range tools {
		p.tools[tools[i].Name] = &tools[i]
		names = append(names, tools[i].Name)
	}
	claims := f.GroupClaims
	if len(claims) == 0 {
		claims = defaultGroupClaims()
	}
	for _, c := range claims {
		p.groupClaims = append(p.groupClaims, strings.Split(c, "."))
	}
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	read, whole := map[string]bool{}, false
	for i, fr := range f.Rules {
		label := fmt.Sprintf("rule %d", i+1)
		if fr.Name != "" {
			label = fmt.Sprintf("rule %q", fr.Name)
		}
		r, refs, err := p.compileRule(env, fr, names)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		whole = whole || refs.whole
		for _, a := range refs.read {
			read[a] = true
		}
		if seen[r.name] {
			return nil, fmt.Errorf("%s: duplicate name", label)
		}
		seen[r.name] = true
		p.rules = append(p.rules, r)
	}
	p.fill, p.byTool, p.ints, p.targetCEL = map[string][]string{}, map[string][]*rule{}, map[string][]string{}, map[string]bool{}
	for _, t := range tools {
		for a, typ := range t.Args {
			if whole || read[a] {
				p.fill[t.Name] = append(p.fill[t.Name], a)
			}
			if typ == "integer" {
				p.ints[t.Name] = append(p.ints[t.Name], a)
			}
		}
		for _, r := range p.rules {
			if r.tools == nil || r.tools[t.Name] {
				p.byTool[t.Name] = append(p.byTool[t.Name], r)
				p.targetCEL[t.Name] = p.targetCEL[t.Name] || r.target.any
			}
		}
	}
	return p, nil
}

func (p *Policy) compileRule(env *cel.Env, fr fileRule, names []string) (*rule, refs, error) {
	if fr.Name == "" {
		return nil, refs{}, errors.New("name is required (denials and the audit log cite it)")
	}
	r := &rule{
		name: fr.Name, message: strings.TrimSpace(fr.Message),
		subjects: fr.Subjects, clients: fr.Clients, groups: fr.Groups,
	}
	if r.message == "" {
		r.message = strings.TrimSpace(fr.Description)
	}
	switch strings.ToLower(fr.Effect) {
	case "allow":
		r.allow = true
	case "deny":
	default:
		return nil, refs{}, fmt.Errorf("effect must be allow or deny, got %q", fr.Effect)
	}
	host, err := compileHostMatch(fr.Hosts, fr.HostLabels)
	if err != nil {
		return nil, refs{}, err
	}
	r.host = host
	applies := names
	if len(fr.Tools) > 0 {
		r.tools = map[string]bool{}
		for _, pat := range fr.Tools {
			if _, err := path.Match(pat, ""); err != nil {
				return nil, refs{}, fmt.Errorf("tools: bad pattern %q", pat)
			}
			n := 0
			for _, name := range names {
				if ok, _ := path.Match(pat, name); ok {
					r.tools[name] = true
					n++
				}
			}
			if n == 0 {
				return nil, refs{}, fmt.Errorf("tools: %q names no tool the policy governs (%s)", pat, strings.Join(names, ", "))
			}
		}
		applies = applies[:0:0]
		for _, name := range names {
			if r.tools[name] {
				applies = append(applies, name)
			}
		}
	}
	if strings.TrimSpace(fr.When) == "" {
		return r, refs{}, p.checkGuarded(fr, applies, refs{})
	}
	ast, iss := env.Compile(fr.When)
	if iss.Err() != nil {
		return nil, refs{}, fmt.Errorf("when: %w", iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, refs{}, fmt.Errorf("when: must be a boolean expression, is %s", ast.OutputType())
	}
	ar := argRefs(ast)
	for _, a := range ar.fields {
		var missing []string
		for _, name := range applies {
			if _, ok := p.tools[name].Args[a]; !ok {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return nil, refs{}, fmt.Errorf("when: args.%s: not an argument of %s (list the rule's tools:, or test has(args.%s))",
				a, strings.Join(missing, ", "), a)
		}
	}
	if err := checkConstants(ast); err != nil {
		return nil, refs{}, fmt.Errorf("when: %w", err)
	}
	if err := p.checkGuarded(fr, applies, ar); err != nil {
		return nil, refs{}, err
	}
	// The cost limit bounds an operator's rule that ranges over a large
	// argument (macros over a 16 MiB string): such a call is denied, not
	// allowed to pin a CPU.
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(celCostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, refs{}, fmt.Errorf("when: %w", err)
	}
	r.prg = prg
	r.target = targetRefs(ast)
	if ar.any || r.target.any {
		if r.partial, err = env.Program(ast, cel.EvalOptions(cel.OptPartialEval), cel.CostLimit(celCostLimit)); err != nil {
			return nil, refs{}, fmt.Errorf("when: %w", err)
		}
	}
	return r, ar, nil
}

// checkGuarded refuses an allow rule that would grant a guarded argument
// (one that runs code or picks where files go) without saying so: each
// must be read in when — the rule then decides on its value — or be named
// in unconstrained_args. Deny rules take nothing away by omission and are
// not checked.
func (p *Policy) checkGuarded(fr fileRule, applies []string, ar refs) error {
	all := slices.Contains(fr.UnconstrainedArgs, "*")
	guarded := map[string]bool{}
	for _, name := range applies {
		for _, a := range p.tools[name].Guarded {
			guarded[a] = true
		}
	}
	if len(fr.UnconstrainedArgs) > 0 && !strings.EqualFold(fr.Effect, "allow") {
		return errors.New("unconstrained_args: only allow rules grant arguments")
	}
	for _, a := range fr.UnconstrainedArgs {
		if a != "*" && !guarded[a] {
			return fmt.Errorf("unconstrained_args: %q is not a guarded argument of any tool the rule covers (%s)",
				a, strings.Join(slices.Sorted(maps.Keys(guarded)), ", "))
		}
	}
	if all || !strings.EqualFold(fr.Effect, "allow") {
		return nil
	}
	for _, name := range applies {
		var open []string
		for _, a := range p.tools[name].Guarded {
			if !slices.Contains(ar.values, a) && !slices.Contains(fr.UnconstrainedArgs, a) {
				open = append(open, "args."+a)
			}
		}
		if len(open) > 0 {
			return fmt.Errorf("allows %s without constraining %s (arguments that run code or pick where files go): "+
				"test each in when (e.g. %s == \"\"), or name it in unconstrained_args to grant any value on purpose",
				name, strings.Join(open, ", "), open[0])
		}
	}
	return nil
}

// Rules is the number of rules.
func (p *Policy) Rules() int { return len(p.rules) }

// Governs reports whether tool is subject to the policy. Public tools
// (ping) are not: they never reach the agent.
func (p *Policy) Governs(tool string) bool { _, ok := p.tools[tool]; return ok }

// groupsOf collects the caller's groups from the configured claims.
func (p *Policy) groupsOf(claims map[string]any) []string {
	var out []string
	for _, parts := range p.groupClaims {
		var v any = claims
		for _, k := range parts {
			m, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = m[k]
		}
		switch v := v.(type) {
		case string:
			out = append(out, strings.Fields(v)...)
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
		case []string:
			out = append(out, v...)
		case map[string]any:
			for k := range v {
				out = append(out, k)
			}
		}
	}
	return out
}

// celCostLimit is CEL's abstract cost units per evaluation: orders of
// magnitude above any rule in docs/policy.md.
const celCostLimit = 1_000_000
