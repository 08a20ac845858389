package server_test

// The fleet tests' harness: a bridge in front of several recording sandboxed
// agents (AGENTS_FILE, docs/fleet.md), and readers for what it answers.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// everyScope is every scope a tool needs.
const everyScope = "sentinelx:state sentinelx:exec sentinelx:service sentinelx:restart sentinelx:edit sentinelx:upload sentinelx:script sentinelx:capabilities"

// fleetHost is one host of a test fleet.
type fleetHost struct {
	name    string
	labels  map[string]string
	down    bool                            // the registry points at a closed port
	timeout string                          // the registry's timeout for it, if any
	wrap    func(http.Handler) http.Handler // fakes misbehaviour
}

// fleetAgent is a sandboxed agent that records every request it gets,
// with the bearer token it came with.
type fleetAgent struct {
	name, token string
	agent       *sandbox.Agent
	mu          sync.Mutex
	seen        []string // "METHOD /path token", every request
	calls       []string // the same, for requests made on behalf of a caller (not probes)
}

// requests are the agent requests tool calls made (probes carry no
// caller headers).
func (a *fleetAgent) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// everything is every request, probes included.
func (a *fleetAgent) everything() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// fleet is a bridge in front of several sandboxed agents.
type fleet struct {
	*testServer
	agents map[string]*fleetAgent
	file   string // AGENTS_FILE
	policy string // POLICY_FILE, when a policy was given
	dir    string
}

// startFleet writes an AGENTS_FILE for hosts (each agent with its own
// token, from a token_file) and a POLICY_FILE when doc is not empty, and
// starts a bridge on them.
func startFleet(t *testing.T, hosts []fleetHost, doc string, env map[string]string) *fleet {
	t.Helper()
	f := &fleet{agents: map[string]*fleetAgent{}, dir: t.TempDir()}
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range hosts {
		url := closedPortURL(t)
		token := "agent-token-" + h.name + "-5c1d"
		if !h.down {
			fa := &fleetAgent{name: h.name, token: token}
			ag, err := sandbox.New(sandbox.Options{Token: token})
			if err != nil {
				t.Fatal(err)
			}
			fa.agent = ag
			var agH http.Handler = ag
			if h.wrap != nil {
				agH = h.wrap(ag)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				line := r.Method + " " + r.URL.Path + " " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				fa.mu.Lock()
				fa.seen = append(fa.seen, line)
				if r.Header.Get("X-SentinelX-Subject") != "" {
					fa.calls = append(fa.calls, line)
				}
				fa.mu.Unlock()
				agH.ServeHTTP(w, r)
			}))
			t.Cleanup(func() { srv.Close(); _ = ag.Close() })
			url = srv.URL
			f.agents[h.name] = fa
		}
		tokFile := filepath.Join(f.dir, h.name+".token")
		if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    token_file: %s\n", h.name, url, tokFile)
		if h.timeout != "" {
			fmt.Fprintf(&b, "    timeout: %s\n", h.timeout)
		}
		if len(h.labels) > 0 {
			b.WriteString("    labels:\n")
			for k, v := range h.labels {
				fmt.Fprintf(&b, "      %s: %s\n", k, v)
			}
		}
	}
	f.file = filepath.Join(f.dir, "agents.yaml")
	if err := os.WriteFile(f.file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e := map[string]string{"AGENTS_FILE": f.file, "SENTINELX_TOKEN": "", "RATE_LIMIT": "0", "AGENT_PROBE_INTERVAL": "200ms", "AGENT_DOWN_AFTER": "1"}
	if doc != "" {
		f.policy = filepath.Join(f.dir, "policy.yaml")
		if err := os.WriteFile(f.policy, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		e["POLICY_FILE"] = f.policy
	}
	for k, v := range env {
		e[k] = v
	}
	f.testServer = startServerWith(t, setup{env: e})
	for _, a := range f.agents {
		f.secret(a.token)
	}
	return f
}

// writeWithout writes doc (an AGENTS_FILE as startFleet writes it) to
// the registry file without the host named name.
func (f *fleet) writeWithout(t *testing.T, doc, name string) {
	t.Helper()
	var kept []string
	for _, block := range strings.Split(doc, "\n  - ") {
		if !strings.Contains(block, "name: "+name+"\n") {
			kept = append(kept, block)
		}
	}
	if err := os.WriteFile(f.file, []byte(strings.Join(kept, "\n  - ")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// threeHosts is the dev fleet's shape.
func threeHosts() []fleetHost {
	return []fleetHost{
		{name: "web-1", labels: map[string]string{"role": "web", "env": "prod"}},
		{name: "web-2", labels: map[string]string{"role": "web", "env": "staging"}},
		{name: "db-1", labels: map[string]string{"role": "db", "env": "prod"}},
	}
}

// fanResult is a fan-out's structuredContent.
type fanResult struct {
	Results []struct {
		Host       string          `json:"host"`
		OK         bool            `json:"ok"`
		Outcome    string          `json:"outcome"`
		Result     json.RawMessage `json:"result"`
		Error      string          `json:"error"`
		PolicyRule string          `json:"policy_rule"`
	} `json:"results"`
	Summary map[string]int `json:"summary"`
}

func decodeFan(t *testing.T, r toolResult) fanResult {
	t.Helper()
	var f fanResult
	if err := json.Unmarshal(r.StructuredContent, &f); err != nil {
		t.Fatalf("fan-out result: %v in %s", err, r.StructuredContent)
	}
	return f
}

func (f fanResult) outcomes() map[string]string {
	out := map[string]string{}
	for _, r := range f.Results {
		out[r.Host] = r.Outcome
	}
	return out
}

// assertOwnTokens checks that every agent only ever saw its own token.
func (f *fleet) assertOwnTokens(t *testing.T) {
	t.Helper()
	for name, a := range f.agents {
		for _, r := range a.everything() {
			if !strings.HasSuffix(r, " "+a.token) {
				t.Errorf("agent %s got a request with another token: %q", name, r)
			}
		}
	}
}

func (f *fleet) toolsList(t *testing.T, tok string) map[string]map[string]any {
	t.Helper()
	r := f.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, rpcOpts{token: tok, version: "2025-06-18"})
	var m struct {
		Tools []struct {
			Name        string         `json:"name"`
			InputSchema map[string]any `json:"inputSchema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(r.rpc(t).Result, &m); err != nil {
		t.Fatalf("tools/list: %v: %s", err, r.body)
	}
	out := map[string]map[string]any{}
	for _, tl := range m.Tools {
		out[tl.Name] = tl.InputSchema
	}
	return out
}

func hostEnum(schema map[string]any) []string {
	props, _ := schema["properties"].(map[string]any)
	host, _ := props["host"].(map[string]any)
	var out []string
	for _, v := range host["enum"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

func required(schema map[string]any, name string) bool {
	req, _ := schema["required"].([]any)
	return slices.Contains(req, any(name))
}
