package policy

import (
	"path"
	"strings"
)

// Arguments are normalised before any rule sees them, so that a rule
// matches what the agent will act on and not a spelling of it.
var (
	// trimmedArgs are sent to the agent trimmed.
	trimmedArgs = []string{"cmd", "service", "action", "mode", "interpreter", "upload_id"}
	// hostPathArgs name paths on the host: trimmed and cleaned, so
	// "/etc/./ssh/x" and "/etc/foo/../ssh/x" read as "/etc/ssh/x".
	hostPathArgs = []string{"path", "cwd", "backup_dir"}
)

// normalize fills absent arguments that rules read with their type's zero
// value (so a rule reading args.x never fails on a call that left x out),
// makes integers
// integers (JSON decodes every number as float64), and cleans paths.
//
// target_path (uploads) is relative to the agent's upload directory, and
// the agent strips leading slashes before joining it, so "etc/x",
// "/etc/x" and "//etc/./x" all land in the same file: all read as "/etc/x",
// a path rooted at that directory.
//
// It returns the name of the first host-path argument that is relative.
func normalize(t *Tool, fill, ints []string, args map[string]any) (relative string) {
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
	for _, k := range hostPathArgs {
		s, ok := args[k].(string)
		if !ok {
			continue
		}
		s = cleanPath(strings.TrimSpace(s))
		args[k] = s
		if s != "" && !strings.HasPrefix(s, "/") && relative == "" {
			relative = k
		}
	}
	if s, ok := args["target_path"].(string); ok {
		if s = strings.TrimLeft(strings.TrimSpace(s), "/"); s != "" {
			s = path.Clean("/" + s)
		}
		args["target_path"] = s
	}
	return relative
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
