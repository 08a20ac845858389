package tools_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/internal/testlog"
	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/tools/policy"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

const testPolicy = `
rules:
  - name: no-ssh-edits
    effect: deny
    tools: [sentinel_edit, sentinel_edit_upload_complete]
    when: args.path.under("/etc/ssh")
    message: sshd is managed by Ansible
  - name: ops-services
    effect: allow
    groups: [ops]
    tools: [sentinel_service]
    when: args.action in ["status", "restart"] && args.service.glob(["nginx", "php*"])
  - name: ops-edit
    effect: allow
    groups: [ops]
    tools: [sentinel_edit]
    when: args.validator == "" && args.validator_preset == "" && args.backup_dir == ""
    unconstrained_args: [path]
  - name: readers
    effect: allow
    tools: [sentinel_state, sentinel_capabilities, sentinel_help]
`

// testTokens are what the fake verifier knows; built per call so that no
// test can change another's tokens.
func testTokens() map[string]*auth.TokenInfo {
	allScopes := []string{"sentinelx:state", "sentinelx:exec", "sentinelx:service", "sentinelx:restart",
		"sentinelx:edit", "sentinelx:upload", "sentinelx:script", "sentinelx:capabilities"}
	return map[string]*auth.TokenInfo{
		"tok-ops": {UserID: "alice", Scopes: allScopes, Extra: map[string]any{
			"username": "alice", "client_id": "claude", "claims": map[string]any{"sub": "alice", "groups": []any{"ops"}}}},
		"tok-dev": {UserID: "bob", Scopes: []string{"sentinelx:state", "sentinelx:capabilities", "sentinelx:exec"}, Extra: map[string]any{
			"username": "bob", "client_id": "cursor", "claims": map[string]any{"sub": "bob", "groups": []any{"dev"}}}},
	}
}

type authzEnv struct {
	url     string
	audit   *testlog.Buffer
	mu      sync.Mutex
	headers []http.Header // as each request reached the agent
}

// newAuthzEnv serves the tool table over Streamable HTTP behind the SDK's
// bearer middleware (a fake verifier), as the server does, with the agent
// behind a recording proxy.
func newAuthzEnv(t *testing.T, doc string, filter bool) *authzEnv {
	t.Helper()
	agent := sandbox.Start(t, sandbox.Options{Token: "agent-secret"})
	target, _ := url.Parse(agent.URL)
	e := &authzEnv{audit: &testlog.Buffer{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.headers = append(e.headers, r.Header.Clone())
		e.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	up, err := upstream.New(upstream.Options{BaseURL: front.URL, Token: "agent-secret"})
	if err != nil {
		t.Fatal(err)
	}
	var p *policy.Policy
	deps := tools.Deps{Upstream: up, Version: "test", Audit: slog.New(slog.NewJSONHandler(e.audit, nil))}
	if doc != "" {
		deps.Policy = func() *policy.Policy { return p }
	}
	if filter {
		deps.AuthHint = func() map[string]any { return map[string]any{"message": "send a bearer token"} }
	}
	table := tools.New(deps)
	if doc != "" {
		if p, err = policy.Parse([]byte(doc), table.PolicyTools()); err != nil {
			t.Fatal(err)
		}
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "sentinelx-mcp", Version: "test"}, nil)
	table.Register(srv)
	if filter {
		srv.AddReceivingMiddleware(table.ListFilter())
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	tokens := testTokens()
	verify := func(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
		if ti, ok := tokens[tok]; ok {
			return ti, nil
		}
		return nil, auth.ErrInvalidToken
	}
	withAuth := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			h.ServeHTTP(w, r) // anonymous, as middleware.Bearer lets through
			return
		}
		withAuth.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

type bearerRT struct{ tok string }

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.tok != "" {
		r.Header.Set("Authorization", "Bearer "+b.tok)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (e *authzEnv) client(t *testing.T, tok string) *mcp.ClientSession {
	t.Helper()
	tr := &mcp.StreamableClientTransport{Endpoint: e.url, HTTPClient: &http.Client{Transport: bearerRT{tok}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(context.Background(), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func (e *authzEnv) agentCalls() []http.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.headers)
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error %v", name, err)
	}
	return res
}

func TestPolicyEnforcedOnCalls(t *testing.T) {
	e := newAuthzEnv(t, testPolicy, false)
	ops := e.client(t, "tok-ops")

	res := callTool(t, ops, "sentinel_service", map[string]any{"service": "nginx", "action": "restart"})
	if res.IsError {
		t.Fatalf("ops restart nginx: %s", text(res))
	}
	calls := e.agentCalls()
	if len(calls) != 1 {
		t.Fatalf("%d agent calls, want 1", len(calls))
	}
	// The caller's identity reaches the agent; the caller's token never does.
	h := calls[0]
	if h.Get("X-SentinelX-Subject") != "alice" || h.Get("X-SentinelX-Username") != "alice" || h.Get("X-SentinelX-Client") != "claude" {
		t.Errorf("identity headers at the agent: %v", h)
	}
	if h.Get("Authorization") != "Bearer agent-secret" {
		t.Errorf("agent Authorization = %q, want the bridge's static token", h.Get("Authorization"))
	}
	for k, vs := range h {
		for _, v := range vs {
			if strings.Contains(v, "tok-ops") {
				t.Errorf("the caller's token reached the agent in %s", k)
			}
		}
	}

	for _, path := range []string{"/etc/ssh/sshd_config", " /etc/ssh/sshd_config", "/etc/ssh/sshd_config\t"} {
		res = callTool(t, ops, "sentinel_edit", map[string]any{"path": path, "mode": "write", "new_text": "PermitRootLogin yes\n"})
		if !res.IsError || !strings.Contains(text(res), `denied by policy rule "no-ssh-edits": sshd is managed by Ansible`) {
			t.Fatalf("edit %s: isError=%v %q", path, res.IsError, text(res))
		}
		if res.Meta["policy_rule"] != "no-ssh-edits" {
			t.Errorf("_meta = %v, want policy_rule", res.Meta)
		}
	}
	res = callTool(t, ops, "sentinel_service", map[string]any{"service": "nginx", "action": "stop"})
	if !res.IsError || !strings.Contains(text(res), policy.DefaultRule) {
		t.Fatalf("ops stop nginx: isError=%v %q", res.IsError, text(res))
	}
	dev := e.client(t, "tok-dev")
	res = callTool(t, dev, "sentinel_exec", map[string]any{"cmd": "uptime"})
	if !res.IsError || !strings.Contains(text(res), `no rule allows sentinel_exec for "bob"`) {
		t.Fatalf("dev exec: isError=%v %q", res.IsError, text(res))
	}
	if n := len(e.agentCalls()); n != 1 {
		t.Fatalf("denied calls reached the agent: %d calls", n)
	}
	// Public tools are outside the policy.
	if res = callTool(t, dev, "ping", nil); res.IsError {
		t.Fatalf("ping: %s", text(res))
	}

	var rules, outcomes []string
	for _, l := range e.audit.JSONLines(t) {
		r, _ := l["policy_rule"].(string)
		o, _ := l["outcome"].(string)
		rules, outcomes = append(rules, r), append(outcomes, o)
	}
	wantRules := []string{"ops-services", "no-ssh-edits", "no-ssh-edits", "no-ssh-edits", policy.DefaultRule, policy.DefaultRule, ""}
	wantOutcomes := []string{"ok", "policy_denied", "policy_denied", "policy_denied", "policy_denied", "policy_denied", "ok"}
	if !slices.Equal(rules, wantRules) || !slices.Equal(outcomes, wantOutcomes) {
		t.Errorf("audit policy_rule = %q outcome = %q\nwant %q %q", rules, outcomes, wantRules, wantOutcomes)
	}
}

func TestNoPolicyNoRuleInAudit(t *testing.T) {
	e := newAuthzEnv(t, "", false)
	if res := callTool(t, e.client(t, "tok-dev"), "sentinel_exec", map[string]any{"cmd": "uptime"}); res.IsError {
		t.Fatalf("exec: %s", text(res))
	}
	for _, l := range e.audit.JSONLines(t) {
		if _, ok := l["policy_rule"]; ok {
			t.Errorf("policy_rule without a policy: %v", l)
		}
	}
}

func listNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tl := range res.Tools {
		out = append(out, tl.Name)
	}
	return out
}

func TestListFilter(t *testing.T) {
	t.Run("scopes and policy", func(t *testing.T) {
		e := newAuthzEnv(t, testPolicy, true)
		tests := []struct {
			tok  string
			want []string
		}{
			{"", []string{"ping"}},
			// ops has every scope; the policy allows service (some
			// arguments), edit (but not under /etc/ssh) and the readers.
			{"tok-ops", []string{"ping", "sentinel_capabilities", "sentinel_edit", "sentinel_help", "sentinel_service", "sentinel_state"}},
			// dev has exec's scope but no rule allows exec.
			{"tok-dev", []string{"ping", "sentinel_capabilities", "sentinel_help", "sentinel_state"}},
		}
		for _, tt := range tests {
			if got := listNames(t, e.client(t, tt.tok)); !slices.Equal(got, tt.want) {
				t.Errorf("token %q lists %v, want %v", tt.tok, got, tt.want)
			}
		}
	})
	t.Run("scopes only", func(t *testing.T) {
		e := newAuthzEnv(t, "", true)
		want := []string{"ping", "sentinel_capabilities", "sentinel_exec", "sentinel_help", "sentinel_state"}
		if got := listNames(t, e.client(t, "tok-dev")); !slices.Equal(got, want) {
			t.Errorf("dev lists %v, want %v", got, want)
		}
		if got := listNames(t, e.client(t, "tok-ops")); len(got) != 16 {
			t.Errorf("ops lists %d tools, want 16", len(got))
		}
	})
	t.Run("ping hint for anonymous callers only", func(t *testing.T) {
		e := newAuthzEnv(t, "", true)
		for tok, want := range map[string]bool{"": true, "tok-dev": false} {
			res := callTool(t, e.client(t, tok), "ping", nil)
			var out map[string]any
			if err := json.Unmarshal([]byte(text(res)), &out); err != nil {
				t.Fatal(err)
			}
			if _, got := out["auth"]; got != want {
				t.Errorf("token %q: ping auth hint present=%v, want %v: %v", tok, got, want, out)
			}
		}
	})
	t.Run("off by default", func(t *testing.T) {
		e := newAuthzEnv(t, testPolicy, false)
		if got := listNames(t, e.client(t, "")); len(got) != 16 {
			t.Errorf("unfiltered list has %d tools", len(got))
		}
		res := callTool(t, e.client(t, ""), "ping", nil)
		if strings.Contains(text(res), `"auth"`) {
			t.Errorf("ping hint without MCP_FILTER_TOOLS: %s", text(res))
		}
	})
}

func TestListFilterMarksPrivate(t *testing.T) {
	table := tools.New(tools.Deps{})
	mw := table.ListFilter()
	next := func(context.Context, string, mcp.Request) (mcp.Result, error) {
		return &mcp.ListToolsResult{Tools: []*mcp.Tool{{Name: "ping"}, {Name: "sentinel_exec"}}}, nil
	}
	res, err := mw(next)(context.Background(), "tools/list", &mcp.ListToolsRequest{Extra: &mcp.RequestExtra{}})
	if err != nil {
		t.Fatal(err)
	}
	lr := res.(*mcp.ListToolsResult)
	if len(lr.Tools) != 1 || lr.Tools[0].Name != "ping" || lr.CacheScope != "private" {
		t.Fatalf("filtered = %+v", lr)
	}
}

// TestGuardedArgsExist: every guarded argument names a real argument of
// its tool (a typo would make the guard unsatisfiable), and the tools
// that can run code or write files all have guards.
func TestGuardedArgsExist(t *testing.T) {
	want := map[string]bool{"sentinel_exec": true, "sentinel_edit": true, "sentinel_edit_upload_complete": true,
		"sentinel_upload_file": true, "sentinel_upload_init": true, "sentinel_script_run": true}
	for _, pt := range tools.New(tools.Deps{}).PolicyTools() {
		if want[pt.Name] != (len(pt.Guarded) > 0) {
			t.Errorf("%s guards %v", pt.Name, pt.Guarded)
		}
		for _, a := range pt.Guarded {
			if _, ok := pt.Args[a]; !ok {
				t.Errorf("%s: guarded %q is not an argument", pt.Name, a)
			}
		}
	}
}
