package server_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
	"github.com/pensados/sentinelx-mcp/server"
)

const allScopes = "sentinelx:state sentinelx:exec sentinelx:script"

func callTool(id int, tool, args string) string {
	return `{"jsonrpc":"2.0","id":` + strconv.Itoa(id) + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
}

// scrapeMetrics fetches /metrics from base and parses it with the
// Prometheus text parser (a malformed exposition fails the test).
func scrapeMetrics(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// TestMetricsAfterScriptedCalls drives a known set of requests through the
// whole server and checks the counters a scrape shows.
func TestMetricsAfterScriptedCalls(t *testing.T) {
	ts := startServerWith(t, setup{idp: []idptest.Option{idptest.WithScope(allScopes)}})
	good := ts.mint(map[string]any{"sub": "alice"})
	stateOnly := ts.mint(map[string]any{"sub": "carol", "scope": "sentinelx:state"})
	expired := ts.mint(map[string]any{"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix()})

	steps := []struct {
		body  string
		token string
		want  int
	}{
		{callTool(1, "ping", `{}`), "", 200},
		{callTool(2, "sentinel_state", `{}`), good, 200},
		{callTool(3, "sentinel_state", `{}`), good, 200}, // cached verification
		{callTool(4, "sentinel_exec", `{"cmd":"definitely-not-allowed"}`), good, 200},
		{callTool(5, "sentinel_state", `{}`), "", 401},
		{callTool(6, "sentinel_state", `{}`), expired, 401},
		{callTool(7, "sentinel_exec", `{"cmd":"uptime"}`), stateOnly, 403},
	}
	for i, s := range steps {
		if r := ts.post(s.body, rpcOpts{token: s.token, version: "2025-06-18"}); r.StatusCode != s.want {
			t.Fatalf("step %d: status %d, want %d; body %s", i+1, r.StatusCode, s.want, r.body)
		}
	}
	ts.do(ts.request(http.MethodGet, "/healthz", nil))
	ts.do(ts.request(http.MethodGet, "/no-such-page", nil))

	fams := scrapeMetrics(t, ts.URL)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sentinelx_http_requests_total", map[string]string{"route": "/mcp", "code": "200"}, 4},
		{"sentinelx_http_requests_total", map[string]string{"route": "/mcp", "code": "401"}, 2},
		{"sentinelx_http_requests_total", map[string]string{"route": "/mcp", "code": "403"}, 1},
		{"sentinelx_http_requests_total", map[string]string{"route": "/healthz", "code": "200"}, 1},
		{"sentinelx_http_requests_total", map[string]string{"route": "other", "code": "404"}, 1},
		{"sentinelx_tool_calls_total", map[string]string{"tool": "ping", "outcome": "ok"}, 1},
		{"sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_state", "outcome": "ok"}, 2},
		{"sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_exec", "outcome": "refused"}, 1},
		{"sentinelx_upstream_request_duration_seconds", map[string]string{"tool": "sentinel_state"}, 2},
		{"sentinelx_upstream_request_duration_seconds", map[string]string{"tool": "ping"}, -1},
		{"sentinelx_token_verifications_total", map[string]string{"outcome": "valid", "reason": "jwt"}, 2},
		{"sentinelx_token_verifications_total", map[string]string{"outcome": "valid", "reason": "cache"}, 2},
		{"sentinelx_token_verifications_total", map[string]string{"outcome": "invalid", "reason": "expired"}, 1},
		{"sentinelx_jwks_fetches_total", map[string]string{"outcome": "ok"}, 1},
		{"sentinelx_upstream_in_flight", nil, 0},
		{"sentinelx_build_info", map[string]string{"version": "test"}, 1},
	}
	for _, c := range checks {
		if got := server.MetricSample(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// in-flight counts the scrape itself.
	if got := server.MetricSample(fams, "sentinelx_http_requests_in_flight", nil); got != 1 {
		t.Errorf("in-flight during the scrape = %v, want 1", got)
	}
	ts.assertNoSecretsLogged()
}

func TestMetricsAddrMovesMetricsOffTheMainPort(t *testing.T) {
	ts := startServerWith(t, setup{env: map[string]string{"METRICS_ADDR": "127.0.0.1:0"}})
	if r := ts.do(ts.request(http.MethodGet, "/metrics", nil)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics on the main port with METRICS_ADDR set: %d, want 404", r.StatusCode)
	}
}

// TestRateLimitPerSubject: one subject past its bucket gets 429 with
// Retry-After and a JSON-RPC error; another subject is unaffected.
func TestRateLimitPerSubject(t *testing.T) {
	ts := startServerWith(t, setup{env: map[string]string{"RATE_LIMIT": "1"}}) // burst 2
	alice := ts.mint(map[string]any{"sub": "alice"})
	bob := ts.mint(map[string]any{"sub": "bob"})
	agentBefore := ts.AgentCalls()
	for i := range 2 {
		if r := ts.post(callTool(i, "sentinel_state", `{}`), rpcOpts{token: alice}); r.StatusCode != 200 {
			t.Fatalf("alice call %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	r := ts.post(callTool(42, "sentinel_state", `{}`), rpcOpts{token: alice})
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("alice over the burst: %d, want 429; body %s", r.StatusCode, r.body)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	msg := r.rpc(t)
	if string(msg.ID) != "42" || msg.Error == nil || msg.Error.Code != -32029 {
		t.Fatalf("429 body %s, want a JSON-RPC error with id 42", r.body)
	}
	if got := ts.AgentCalls() - agentBefore; got != 2 {
		t.Fatalf("agent saw %d calls, want 2 (the refused one must not reach it)", got)
	}
	if r := ts.post(callTool(1, "ping", `{}`), rpcOpts{token: alice}); r.StatusCode != 200 {
		t.Fatalf("alice's public ping was limited: %d", r.StatusCode)
	}
	for i := range 2 {
		if r := ts.post(callTool(i, "sentinel_state", `{}`), rpcOpts{token: bob}); r.StatusCode != 200 {
			t.Fatalf("bob call %d affected by alice's limit: %d %s", i, r.StatusCode, r.body)
		}
	}
	fams := scrapeMetrics(t, ts.URL)
	if got := server.MetricSample(fams, "sentinelx_rate_limited_total", nil); got != 1 {
		t.Fatalf("sentinelx_rate_limited_total = %v, want 1", got)
	}
	if got := server.MetricSample(fams, "sentinelx_http_requests_total", map[string]string{"route": "/mcp", "code": "429"}); got != 1 {
		t.Fatalf("429s counted = %v, want 1", got)
	}
}

// TestUpstreamConcurrencyCap: with one slot held by a long script run, a
// second agent call waits at most UPSTREAM_TIMEOUT and then ends as an
// isError result saying the agent is busy, without reaching the agent.
func TestUpstreamConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	entered := make(chan struct{}, 1)
	ts := startServerWith(t, setup{
		env: map[string]string{"UPSTREAM_MAX_CONCURRENCY": "1", "UPSTREAM_TIMEOUT": "1s", "RATE_LIMIT": "0"},
		idp: []idptest.Option{idptest.WithScope(allScopes)},
		agentWrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/script/run" {
					entered <- struct{}{}
					<-release
				}
				next.ServeHTTP(w, r)
			})
		},
	})
	tok := ts.mint(map[string]any{"sub": "alice"})
	done := make(chan response, 1)
	go func() {
		done <- ts.post(callTool(1, "sentinel_script_run", `{"interpreter":"bash","content":"echo hi","timeout":5}`), rpcOpts{token: tok})
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("script call never reached the agent")
	}
	before := ts.AgentCalls()
	start := time.Now()
	r := ts.post(callTool(2, "sentinel_state", `{}`), rpcOpts{token: tok})
	waited := time.Since(start)
	if r.StatusCode != 200 || !bytes.Contains(r.body, []byte(`"isError":true`)) || !strings.Contains(string(r.body), "busy") {
		t.Fatalf("second call: %d %s, want an isError result saying the agent is busy", r.StatusCode, r.body)
	}
	if waited < 900*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("second call waited %v, want about UPSTREAM_TIMEOUT (1s)", waited)
	}
	if ts.AgentCalls() != before {
		t.Fatal("the busy call reached the agent")
	}
	unblock()
	if r := <-done; r.StatusCode != 200 {
		t.Fatalf("script call: %d %s", r.StatusCode, r.body)
	}
	fams := scrapeMetrics(t, ts.URL)
	if got := server.MetricSample(fams, "sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_state", "outcome": "busy"}); got != 1 {
		t.Fatalf("busy outcome counted %v times, want 1", got)
	}
}
