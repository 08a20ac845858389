package tools

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// policyDenied is a call the authorization policy refused. It becomes an
// isError result naming the rule, never a protocol error: the model reads
// why and can tell its user, where a bare 403 would only be retried.
type policyDenied struct{ rule, msg string }

func (e *policyDenied) Error() string { return e.msg }

// checkPolicy checks a call against the policy in force, if any, and
// returns the deciding rule. Public tools are outside the policy: they never
// reach the agent.
func checkPolicy[In any](d *Deps, spec Spec, who caller, in In, t policy.Target) (rule string, err error) {
	if d.Policy == nil || spec.Scope == "" || spec.Local {
		return "", nil
	}
	p := d.Policy()
	if p == nil {
		return "", nil
	}
	args, err := argsMap(in)
	if err != nil {
		return policy.DefaultRule, &policyDenied{policy.DefaultRule, "denied by policy: the arguments could not be read: " + err.Error()}
	}
	dec := p.DecideFor(who.policyCaller(), spec.Name, args, t)
	if !dec.Allow {
		return dec.Rule, &policyDenied{dec.Rule, dec.Message}
	}
	return dec.Rule, nil
}

// argsMap is the typed input as the policy sees it: after go-sdk applied
// the schema's defaults and validated it, as plain JSON values.
func argsMap(in any) (map[string]any, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range targetArgs() {
		delete(m, k)
	}
	return m, nil
}

func (c caller) policyCaller() *policy.Caller {
	return &policy.Caller{Subject: c.Subject, Username: c.Username, ClientID: c.ClientID, Scopes: c.Scopes, Claims: c.Claims}
}

// argTypes lists a tool's arguments with their JSON types (the non-null
// one for optional pointers).
func argTypes(s *jsonschema.Schema) map[string]string {
	out := make(map[string]string, len(s.Properties))
	for name, ps := range s.Properties {
		if slices.Contains(targetArgs(), name) {
			continue
		}
		typ := ps.Type
		for _, t := range ps.Types {
			if typ == "" && t != "null" {
				typ = t
			}
		}
		out[name] = typ
	}
	return out
}

// guardedArgs are, per tool, the arguments that run code or pick where
// files go: an allow rule must constrain each of them or grant it by
// name (policy.Tool.Guarded). upload_id is not among them: it is checked
// against the agent's id format before any rule runs and cannot name a
// place. file_url picks what is written, not where.
func guardedArgs() map[string][]string {
	edit := []string{"path", "backup_dir", "validator", "validator_preset"}
	return map[string][]string{
		"sentinel_exec":                 {"cmd"},
		"sentinel_edit":                 edit,
		"sentinel_edit_upload_complete": edit,
		"sentinel_upload_file":          {"target_path"},
		"sentinel_upload_init":          {"target_path"},
		"sentinel_script_run":           {"content", "interpreter", "args", "env", "cwd"},
	}
}

// PolicyTools are the tools a policy governs (every tool with a scope)
// with their arguments, for [policy.Parse].
func (t *Table) PolicyTools() []policy.Tool { return policyTools(t.tools) }

// PolicyTools is [Table.PolicyTools] without a table, so a policy file can
// be loaded before the table that enforces it is built.
func PolicyTools() []policy.Tool { return policyTools(allTools()) }

func policyTools(tools []tool) []policy.Tool {
	var out []policy.Tool
	guarded := guardedArgs()
	for _, tl := range tools {
		if tl.Scope != "" && !tl.Local {
			out = append(out, policy.Tool{Name: tl.Name, Args: tl.args, Guarded: guarded[tl.Name]})
		}
	}
	return out
}

type callerKey struct{}

// callerFrom returns the caller [handle] put in ctx.
func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// ListFilter is go-sdk receiving middleware (Server.AddReceivingMiddleware)
// that makes tools/list per caller (MCP_FILTER_TOOLS): public tools for
// everyone, and a protected tool only when the token carries its scope and
// the policy, if any, could allow the caller to call it with some
// arguments. The SDK's list is server-wide, so the filter runs on its
// result; a filtered list is marked cacheScope "private" so that shared
// caches (2026-07-28 clients and intermediaries) never hand one caller's
// list to another. Calls stay gated as before: hiding is not enforcing.
func (t *Table) ListFilter() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			lr, ok := res.(*mcp.ListToolsResult)
			if err != nil || method != "tools/list" || !ok || lr == nil {
				return res, err
			}
			var ti *auth.TokenInfo
			if ex := req.GetExtra(); ex != nil {
				ti = ex.TokenInfo
			}
			out := *lr
			out.Tools = make([]*mcp.Tool, 0, len(lr.Tools))
			for _, tl := range lr.Tools {
				if t.visible(tl.Name, ti) {
					out.Tools = append(out.Tools, tl)
				}
			}
			out.CacheScope = "private"
			return &out, nil
		}
	}
}

func (t *Table) visible(name string, ti *auth.TokenInfo) bool {
	scope := t.ScopeOf(name)
	if scope == "" {
		return true
	}
	if ti == nil || !slices.Contains(ti.Scopes, scope) {
		return false
	}
	if t.deps.Policy == nil {
		return true
	}
	p := t.deps.Policy()
	if p == nil {
		return true
	}
	return p.MayCall(callerOfToken(ti).policyCaller(), name)
}

// authHint is what ping adds for an anonymous caller, when configured.
func (d *Deps) authHint(ctx context.Context) map[string]any {
	if d.AuthHint == nil || callerFrom(ctx).Authenticated {
		return nil
	}
	return d.AuthHint()
}
