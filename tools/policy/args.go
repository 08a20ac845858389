package policy

import (
	"fmt"
	"strings"
)

// Arguments are normalised before any rule sees them, so that a rule
// matches what the agent will act on and not a spelling of it.
var (
	// trimmedArgs are sent to the agent trimmed.
	trimmedArgs = [...]string{"cmd", "service", "action", "mode", "interpreter", "upload_id"}
	// hostPathArgs name paths on the host. They are trimmed and must be
	// canonical (see PathProblem): a rule reads them as they are.
	hostPathArgs = [...]string{"path", "cwd", "backup_dir"}
)

// NonCanonicalRule names the built-in denial of a host path with ".",
// ".." or empty segments or a trailing slash (the tools refuse such paths
// before the policy is asked; this is the same check, for any other
// caller of Decide).
const NonCanonicalRule = "builtin:non-canonical-path"

// PathProblem says why p is not a canonical path, or returns "" when it
// is: no "." or ".." segment, no empty segment ("a//b"), no trailing
// slash ("/" itself is canonical). Path rules are lexical: the kernel
// resolves ".." after following symlinks (with /var/run → /run,
// "/var/run/../etc/ssh" is /etc/ssh, while path.Clean says /var/etc/ssh),
// so a rule can only be trusted with a path that has nothing to resolve
// but symlinks — and a symlink is outside what any rule can see.
func PathProblem(p string) string {
	if p == "" || p == "/" {
		return ""
	}
	if p[len(p)-1] == '/' {
		return "ends with a slash"
	}
	start := 0
	if p[0] == '/' {
		start = 1
	}
	for i := start; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch p[start:i] {
		case "":
			return `has an empty segment ("//")`
		case ".":
			return `has a "." segment`
		case "..":
			return `has a ".." segment`
		}
		start = i + 1
	}
	return ""
}

// normalize fills absent arguments that rules read with their type's zero
// value (so a rule reading args.x never fails on a call that left x out),
// makes integers integers (JSON decodes every number as float64) and trims
// the arguments the tools send trimmed.
//
// target_path (uploads) is relative to the agent's upload directory, and
// the agent strips a leading slash before joining it, so "etc/x" and
// "/etc/x" land in the same file: both read as "/etc/x", a path rooted at
// that directory.
//
// It returns a denial when a host path or target_path is not canonical or
// (unless the file allows it) a host path is relative.
func normalize(t *Tool, fill, ints []string, args map[string]any, relativeOK bool) *Decision {
	for _, name := range fill {
		if v, ok := args[name]; !ok || v == nil {
			args[name] = zero(t.Args[name])
		}
	}
	for _, name := range ints {
		if f, ok := args[name].(float64); ok {
			args[name] = int64(f)
		}
	}
	for _, k := range trimmedArgs {
		if s, ok := args[k].(string); ok {
			args[k] = strings.TrimSpace(s)
		}
	}
	relative := ""
	for _, k := range hostPathArgs {
		s, ok := args[k].(string)
		if !ok {
			continue
		}
		s = strings.TrimSpace(s)
		args[k] = s
		if why := PathProblem(s); why != "" {
			return nonCanonical(k, s, why)
		}
		if s != "" && !strings.HasPrefix(s, "/") && relative == "" {
			relative = k
		}
	}
	if s, ok := args["target_path"].(string); ok {
		if s = strings.TrimSpace(s); s != "" {
			s = "/" + strings.TrimPrefix(s, "/")
			if why := PathProblem(s); why != "" {
				return nonCanonical("target_path", s, why)
			}
		}
		args["target_path"] = s
	}
	if relative != "" && !relativeOK {
		return &Decision{Rule: RelativePathRule, Message: fmt.Sprintf(
			"%s must be an absolute path: a relative path is resolved by the agent and cannot be checked against the authorization policy", relative)}
	}
	return nil
}

func nonCanonical(arg, p, why string) *Decision {
	if len(p) > 300 {
		p = p[:300] + "…"
	}
	return &Decision{Rule: NonCanonicalRule, Message: fmt.Sprintf(
		"%s %q %s: give the canonical absolute path (no \".\" or \"..\" segments, no \"//\", no trailing slash); the policy judges paths as written and cannot see where a \"..\" after a symlink leads", arg, p, why)}
}

func zero(typ string) any {
	switch typ {
	case "string":
		return ""
	case "boolean":
		return false
	case "integer":
		return int64(0)
	case "number":
		return float64(0)
	case "array":
		return []any{}
	case "object":
		return map[string]any{}
	}
	return nil
}
