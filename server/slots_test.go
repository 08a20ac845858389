package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
	"github.com/pensados/sentinelx-mcp/server"
)

// TestAgentSlotsPerSubject: one subject whose slow calls fill its share of
// the agent slots (UPSTREAM_MAX_CONCURRENCY_PER_SUBJECT) waits for its own
// calls and then gets a "busy" tool error naming that limit, while another
// subject's call still gets one of the remaining slots.
func TestAgentSlotsPerSubject(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	entered := make(chan struct{}, 8)
	ts := startServerWith(t, setup{
		env: map[string]string{
			"UPSTREAM_MAX_CONCURRENCY": "3", "UPSTREAM_MAX_CONCURRENCY_PER_SUBJECT": "2",
			"UPSTREAM_TIMEOUT": "2s", "RATE_LIMIT": "0",
		},
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
	t.Cleanup(unblock) // registered after the server's, so it runs first
	alice := ts.mint(map[string]any{"sub": "alice"})
	bob := ts.mint(map[string]any{"sub": "bob"})
	slow := func(id int) <-chan response {
		done := make(chan response, 1)
		go func() {
			done <- ts.post(callTool(id, "sentinel_script_run", `{"interpreter":"bash","content":"sleep 1","timeout":30}`), rpcOpts{token: alice})
		}()
		return done
	}
	first, second := slow(1), slow(2)
	for range 2 {
		select {
		case <-entered:
		case <-time.After(10 * time.Second): // ends a hang only
			t.Fatal("alice's slow calls never reached the agent")
		}
	}
	third := slow(3) // over alice's share: waits for one of her own calls
	if r := ts.post(callTool(4, "sentinel_state", `{}`), rpcOpts{token: bob}); r.StatusCode != 200 || strings.Contains(string(r.body), `"isError":true`) {
		t.Fatalf("bob's call while alice holds her share: %d %.400s, want a result", r.StatusCode, r.body)
	}
	select {
	case <-entered:
		t.Fatal("alice's third call reached the agent: one subject took more than its share")
	case r := <-third:
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `"isError":true`) ||
			!strings.Contains(string(r.body), "UPSTREAM_MAX_CONCURRENCY_PER_SUBJECT") {
			t.Fatalf("alice's third call: %d %.400s, want a busy tool error naming UPSTREAM_MAX_CONCURRENCY_PER_SUBJECT", r.StatusCode, r.body)
		}
	}
	unblock()
	for _, done := range []<-chan response{first, second} {
		if r := <-done; r.StatusCode != 200 || strings.Contains(string(r.body), "busy") {
			t.Errorf("alice's slow call: %d %.300s", r.StatusCode, r.body)
		}
	}
	fams := scrapeMetrics(t, ts.URL)
	if got := server.MetricSample(fams, "sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_script_run", "outcome": "busy"}); got != 1 {
		t.Fatalf("busy script runs counted %v, want 1", got)
	}
}
