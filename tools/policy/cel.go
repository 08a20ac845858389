package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
)

// newEnv is the typed environment every `when` is compiled in: the
// variables below and helpers for this domain (host paths, service names,
// command lines), on top of CEL's standard library and ext.Strings.
func newEnv() (*cel.Env, error) {
	str, list := cel.StringType, cel.ListType(cel.StringType)
	cache := &patternCache{}
	return cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("tool", cel.StringType),
		cel.Variable("args", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("subject", cel.StringType),
		cel.Variable("username", cel.StringType),
		cel.Variable("client_id", cel.StringType),
		cel.Variable("scopes", list),
		cel.Variable("groups", list),
		cel.Variable("host", str),
		cel.Variable("host_labels", cel.MapType(str, str)),
		cel.Variable("fanout", cel.BoolType),
		cel.Variable("hosts", list),
		ext.Strings(),
		cel.Function("under",
			cel.MemberOverload("string_under_string", []*cel.Type{str, str}, cel.BoolType,
				cel.BinaryBinding(func(p, dir ref.Val) ref.Val {
					return types.Bool(under(string(p.(types.String)), string(dir.(types.String))))
				})),
			cel.MemberOverload("string_under_list", []*cel.Type{str, list}, cel.BoolType,
				cel.BinaryBinding(func(p, dirs ref.Val) ref.Val {
					s := string(p.(types.String))
					return anyString(dirs, func(d string) bool { return under(s, d) })
				}))),
		cel.Function("clean",
			cel.Overload("clean_string", []*cel.Type{str}, str,
				cel.UnaryBinding(func(p ref.Val) ref.Val { return types.String(cleanPath(string(p.(types.String)))) }))),
		cel.Function("glob",
			cel.MemberOverload("string_glob_string", []*cel.Type{str, str}, cel.BoolType,
				cel.BinaryBinding(func(s, pat ref.Val) ref.Val {
					ok, err := path.Match(string(pat.(types.String)), string(s.(types.String)))
					if err != nil {
						return types.NewErr("glob: bad pattern %q", pat)
					}
					return types.Bool(ok)
				})),
			cel.MemberOverload("string_glob_list", []*cel.Type{str, list}, cel.BoolType,
				cel.BinaryBinding(func(s, pats ref.Val) ref.Val {
					v := string(s.(types.String))
					return anyString(pats, func(p string) bool { ok, _ := path.Match(p, v); return ok })
				}))),
		cel.Function("commandIn",
			cel.MemberOverload("string_commandIn_list", []*cel.Type{str, list}, cel.BoolType,
				cel.BinaryBinding(func(s, entries ref.Val) ref.Val {
					return commandIn(cache, s, entries, func(e ref.Val) ([]string, bool) {
						w, ok := e.(types.String)
						return strings.Fields(string(w)), ok
					})
				})),
			cel.MemberOverload("string_commandIn_list_list", []*cel.Type{str, cel.ListType(list)}, cel.BoolType,
				cel.BinaryBinding(func(s, entries ref.Val) ref.Val {
					return commandIn(cache, s, entries, stringsOf)
				}))),
		cel.Function("isSimpleCommand",
			cel.MemberOverload("string_isSimpleCommand", []*cel.Type{str}, cel.BoolType,
				cel.UnaryBinding(func(s ref.Val) ref.Val {
					_, ok := splitCommand(string(s.(types.String)))
					return types.Bool(ok)
				}))),
	)
}

// anyString reports whether f holds for an element of the CEL list l.
func anyString(l ref.Val, f func(string) bool) ref.Val {
	lister, ok := l.(traits.Lister)
	if !ok {
		return types.NewErr("want a list of strings")
	}
	n, _ := lister.Size().(types.Int)
	for i := types.Int(0); i < n; i++ {
		s, ok := lister.Get(i).(types.String)
		if !ok {
			return types.NewErr("want a list of strings")
		}
		if f(string(s)) {
			return types.True
		}
	}
	return types.False
}

// cleanPath is path.Clean that leaves "" alone (Clean would make it ".")
// and does not allocate for a path that is already clean, which is every
// path argument by the time a rule sees it.
func cleanPath(p string) string {
	if p == "" || isClean(p) {
		return p
	}
	return path.Clean(p)
}

// isClean reports whether path.Clean(p) == p for a non-empty p.
func isClean(p string) bool {
	if p == "/" {
		return true
	}
	if p[len(p)-1] == '/' {
		return false
	}
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch p[start:i] {
		case ".", "..":
			return false
		case "":
			if start > 0 || i == len(p) {
				return false
			}
		}
		start = i + 1
	}
	return true
}

// under reports whether p is dir or inside it, comparing whole path
// elements of cleaned, absolute paths: "/etc/sshd" is not under "/etc/ssh",
// and a relative p is under nothing.
func under(p, dir string) bool {
	p, dir = cleanPath(p), cleanPath(dir)
	if !strings.HasPrefix(p, "/") || !strings.HasPrefix(dir, "/") {
		return false
	}
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// commandIn reports whether cmd is one of the entries, each a whole
// command line pattern (see argvPattern). words turns an entry into its
// words; a malformed entry is an evaluation error (the call is denied).
func commandIn(cache *patternCache, cmd, entries ref.Val, words func(ref.Val) ([]string, bool)) ref.Val {
	argv, ok := splitCommand(string(cmd.(types.String)))
	if !ok {
		return types.False
	}
	lister, ok := entries.(traits.Lister)
	if !ok {
		return types.NewErr("commandIn: want a list")
	}
	n, _ := lister.Size().(types.Int)
	for i := types.Int(0); i < n; i++ {
		w, ok := words(lister.Get(i))
		if !ok {
			return types.NewErr("commandIn: want a list of strings or of lists of strings")
		}
		p, err := cache.get(w)
		if err != nil {
			return types.NewErr("commandIn: %v", err)
		}
		if p.match(argv) {
			return types.True
		}
	}
	return types.False
}

// stringsOf converts a CEL list of strings.
func stringsOf(v ref.Val) ([]string, bool) {
	l, ok := v.(traits.Lister)
	if !ok {
		return nil, false
	}
	n, _ := l.Size().(types.Int)
	out := make([]string, 0, int(n))
	for i := types.Int(0); i < n; i++ {
		s, ok := l.Get(i).(types.String)
		if !ok {
			return nil, false
		}
		out = append(out, string(s))
	}
	return out, true
}

// activation resolves the variables of one evaluation. Values are
// converted to CEL once per decision, not once per rule, and only when an
// expression asks for them.
type activation struct {
	c      *Caller
	tool   string
	args   map[string]any // nil: unknown (tools/list)
	groups []string
	// host is the target, set only when a rule for the tool reads one of
	// its variables: the struct stays in the size class it had before hosts.
	host *hostVars // nil: unknown (tools/list without a host)

	claimsV, argsV, scopesV, groupsV ref.Val
}

func (p *Policy) activation(c *Caller, tool string, args map[string]any) *activation {
	return &activation{c: c, tool: tool, args: args, groups: p.groupsOf(c.Claims)}
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "claims":
		if a.claimsV == nil {
			m := a.c.Claims
			if m == nil {
				m = map[string]any{}
			}
			a.claimsV = types.NewStringInterfaceMap(types.DefaultTypeAdapter, m)
		}
		return a.claimsV, true
	case "tool":
		return types.String(a.tool), true
	case "args":
		if a.args == nil {
			return nil, false
		}
		if a.argsV == nil {
			a.argsV = types.NewStringInterfaceMap(types.DefaultTypeAdapter, a.args)
		}
		return a.argsV, true
	case "subject":
		return types.String(a.c.Subject), true
	case "username":
		return types.String(a.c.Username), true
	case "client_id":
		return types.String(a.c.ClientID), true
	case "scopes":
		if a.scopesV == nil {
			a.scopesV = types.NewStringList(types.DefaultTypeAdapter, a.c.Scopes)
		}
		return a.scopesV, true
	case "groups":
		if a.groupsV == nil {
			a.groupsV = types.NewStringList(types.DefaultTypeAdapter, a.groups)
		}
		return a.groupsV, true
	}
	if a.host != nil {
		return a.host.resolve(name)
	}
	return nil, false
}

func (a *activation) Parent() cel.Activation { return nil }

func isUnknown(v ref.Val) bool { return types.IsUnknown(v) }

// refs is what an expression reads of args: whether it reads it at all,
// and which named arguments (args.x and args["x"]). An argument the
// expression also tests with has(args.x) is left out: that is how a rule
// spanning several tools asks whether this one has it (and a read that
// still misses fails closed at run time).
type refs struct {
	any    bool
	whole  bool // args used other than as args.x / args["x"] (e.g. args.size())
	fields []string
	read   []string // fields and those only tested with has()
	values []string // read as values (args.x, args["x"]), whether or not also tested
}

func argRefs(a *cel.Ast) refs {
	var r refs
	tested := map[string]bool{}
	idents, named := 0, 0
	isArgs := func(e ast.Expr) bool { return e.Kind() == ast.IdentKind && e.AsIdent() == "args" }
	add := func(f string) {
		if !slices.Contains(r.fields, f) {
			r.fields = append(r.fields, f)
		}
	}
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.IdentKind:
			if isArgs(e) {
				r.any = true
				idents++
			}
		case ast.SelectKind:
			if s := e.AsSelect(); isArgs(s.Operand()) {
				named++
				if s.IsTestOnly() {
					tested[s.FieldName()] = true
				} else {
					add(s.FieldName())
				}
			}
		case ast.CallKind:
			c := e.AsCall()
			if c.FunctionName() == operators.Index && len(c.Args()) == 2 && isArgs(c.Args()[0]) &&
				c.Args()[1].Kind() == ast.LiteralKind {
				if s, ok := c.Args()[1].AsLiteral().(types.String); ok {
					named++
					add(string(s))
				}
			}
		}
	}))
	r.whole = idents > named
	r.read = slices.Clone(r.fields)
	r.values = slices.Clone(r.fields)
	for f := range tested {
		if !slices.Contains(r.read, f) {
			r.read = append(r.read, f)
		}
	}
	r.fields = slices.DeleteFunc(r.fields, func(f string) bool { return tested[f] })
	return r
}

// checkConstants finds mistakes in literal helper arguments at load time
// rather than as a denial at call time: bad glob patterns, relative
// directories for under(), empty command prefixes.
func checkConstants(a *cel.Ast) error {
	var err error
	ast.PostOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if err != nil || e.Kind() != ast.CallKind {
			return
		}
		c := e.AsCall()
		if !c.IsMemberFunction() || len(c.Args()) != 1 {
			return
		}
		for _, s := range literalStrings(c.Args()[0]) {
			switch c.FunctionName() {
			case "glob":
				if _, perr := path.Match(s, ""); perr != nil {
					err = fmt.Errorf("glob: bad pattern %q", s)
				}
			case "under":
				if !strings.HasPrefix(s, "/") {
					err = fmt.Errorf("under: %q is not an absolute path", s)
				}
			}
		}
		if c.FunctionName() == "commandIn" {
			for _, words := range literalCommands(c.Args()[0]) {
				if _, cerr := compileArgv(words); cerr != nil {
					err = fmt.Errorf("commandIn: %q: %w", strings.Join(words, " "), cerr)
				}
			}
		}
	}))
	return err
}

// literalCommands are the literal entries of a commandIn list: a string is
// split on blanks, a list of strings is taken word by word.
func literalCommands(e ast.Expr) [][]string {
	if e.Kind() != ast.ListKind {
		return nil
	}
	var out [][]string
	for _, el := range e.AsList().Elements() {
		switch el.Kind() {
		case ast.LiteralKind:
			if s, ok := el.AsLiteral().(types.String); ok {
				out = append(out, strings.Fields(string(s)))
			}
		case ast.ListKind:
			var words []string
			for _, w := range el.AsList().Elements() {
				if w.Kind() != ast.LiteralKind {
					words = nil
					break
				}
				if s, ok := w.AsLiteral().(types.String); ok {
					words = append(words, string(s))
				}
			}
			if words != nil {
				out = append(out, words)
			}
		}
	}
	return out
}

func literalStrings(e ast.Expr) []string {
	switch e.Kind() {
	case ast.LiteralKind:
		if s, ok := e.AsLiteral().(types.String); ok {
			return []string{string(s)}
		}
	case ast.ListKind:
		var out []string
		for _, el := range e.AsList().Elements() {
			out = append(out, literalStrings(el)...)
		}
		return out
	}
	return nil
}
