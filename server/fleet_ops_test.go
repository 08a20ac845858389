package server_test

// Many hosts under operation: reloads, readiness, faults in a fan-out,
// hosts leaving mid-call, metrics, bounded answers.

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/server"
)

func TestFleetReadyAndReload(t *testing.T) {
	hosts := append(threeHosts(), fleetHost{name: "web-3", down: true})
	f := startFleet(t, hosts, "", map[string]string{"READY_MIN_HOSTS": "4"})
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})

	var body readyBody
	poll.Until(t, "readyz to report three reachable hosts", func() bool {
		_, body = f.readyz()
		d := body.Checks["hosts"].Detail
		return d != nil && d["reachable"] == float64(3)
	})
	code, body := f.readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body.Checks["hosts"].Error, "3 of 4 hosts reachable") {
		t.Errorf("READY_MIN_HOSTS=4 with one down: %d %+v", code, body.Checks["hosts"])
	}

	// A bad edit keeps the hosts in force and says why.
	good, _ := os.ReadFile(f.file)
	if err := os.WriteFile(f.file, append(good, []byte("  - name: Bad_Name\n    url: http://127.0.0.1:1\n    token_env: NOPE\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "readyz to report the failed reload", func() bool {
		_, body = f.readyz()
		d := body.Checks["hosts"].Detail
		return d != nil && d["reload_error"] != nil
	})
	if got := hostEnum(f.toolsList(t, tok)["sentinel_restart"]); len(got) != 4 {
		t.Errorf("after a bad reload: hosts %v", got)
	}

	// Removing the dead host: the enum follows the file.
	f.writeWithout(t, string(good), "web-3")
	poll.Until(t, "tools/list to follow the edited file", func() bool {
		return len(hostEnum(f.toolsList(t, tok)["sentinel_restart"])) == 3
	})
	poll.Until(t, "readyz to count three hosts, short of READY_MIN_HOSTS=4", func() bool {
		code, body := f.readyz()
		d := body.Checks["hosts"].Detail
		return code == http.StatusServiceUnavailable && d["total"] == float64(3) && d["reachable"] == float64(3)
	})
}

// TestFleetReloadNotifiesSessions: a stateful session hears
// notifications/tools/list_changed when the registry changes, and the next
// tools/list carries the new host enum.
func TestFleetReloadNotifiesSessions(t *testing.T) {
	f := startFleet(t, threeHosts(), "", map[string]string{"MCP_STATEFUL": "true"})
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	changed := make(chan struct{}, 8)
	c := mcp.NewClient(&mcp.Implementation{Name: "fleet-test", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   f.MCPURL,
		HTTPClient: &http.Client{Transport: bearerTransport{token: tok, base: http.DefaultTransport}},
		MaxRetries: -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	doc, _ := os.ReadFile(f.file)
	moved := strings.Replace(string(doc), "name: db-1", "name: db-2", 1)
	if err := os.WriteFile(f.file, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	// Each notification is followed by a tools/list, as a client does; the
	// new enum must show up (go-sdk may send more than one notification).
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("no tools/list with the reloaded hosts after notifications/tools/list_changed")
		}
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var schema string
		for _, tl := range res.Tools {
			if tl.Name == "sentinel_restart" {
				b, _ := json.Marshal(tl.InputSchema)
				schema = string(b)
			}
		}
		if strings.Contains(schema, `"db-2"`) && !strings.Contains(schema, `"db-1"`) {
			return
		}
	}
}

// onCall makes an agent misbehave on tool calls only (probes, which carry
// no caller headers, get the real agent, so the host is not marked down).
func onCall(bad http.HandlerFunc) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-SentinelX-Subject") == "" {
				next.ServeHTTP(w, r)
				return
			}
			bad(w, r)
		})
	}
}

// TestFleetFanoutFaults: a slow, a 500, a garbage and a resetting host in
// one fan-out; each says what went wrong and the healthy host is served.
func TestFleetFanoutFaults(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hosts := []fleetHost{
		{name: "ok-1"},
		{name: "slow-1", timeout: "1s", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})},
		{name: "err-1", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"detail":"boom"}`, http.StatusInternalServerError)
		})},
		{name: "junk-1", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("<html>not json"))
		})},
		{name: "reset-1", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = c.Close()
			}
		})},
	}
	f := startFleet(t, hosts, "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	r := f.callTool(t, tok, "sentinel_state", map[string]any{"hosts": []string{"*"}}, 30*time.Second)
	fr := decodeFan(t, r)
	want := map[string]string{"ok-1": "ok", "slow-1": "timeout", "err-1": "http", "junk-1": "bad_response", "reset-1": "unreachable"}
	if got := fr.outcomes(); !maps.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	for _, res := range fr.Results {
		if !res.OK && res.Error == "" {
			t.Errorf("%s: no error text", res.Host)
		}
		if strings.Contains(res.Error, "127.0.0.1") {
			t.Errorf("%s: error names the agent's address: %s", res.Host, res.Error)
		}
	}
	if r.IsError || fr.Summary["ok"] != 1 || fr.Summary["hosts"] != 5 {
		t.Errorf("summary %v isError %v", fr.Summary, r.IsError)
	}
	f.assertNoSecretsLogged()
}

// TestFleetHostRemovedMidCall: a call in flight when its host leaves the
// registry finishes on the host it started with; the next call is refused.
func TestFleetHostRemovedMidCall(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	hosts := []fleetHost{
		{name: "web-1"},
		{name: "web-2", wrap: onCall(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-release
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"uptime":"1 day","total_executions":7,"blocked_count":0,"error_count":0}`))
		})},
	}
	f := startFleet(t, hosts, "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	done := make(chan toolResult, 1)
	go func() { done <- f.callTool(t, tok, "sentinel_state", map[string]any{"host": "web-2"}, 30*time.Second) }()
	<-entered

	doc, _ := os.ReadFile(f.file)
	f.writeWithout(t, string(doc), "web-2")
	poll.Until(t, "web-2 to leave tools/list", func() bool {
		return len(hostEnum(f.toolsList(t, tok)["sentinel_restart"])) == 1
	})
	close(release)
	if r := <-done; r.IsError || !strings.Contains(string(r.StructuredContent), `"total_executions":7`) {
		t.Errorf("the call in flight: %v %s", r.IsError, r.text())
	}
	r := f.callTool(t, tok, "sentinel_state", map[string]any{"host": "web-2"}, 10*time.Second)
	// The input schema's enum (the registry's names) refuses it first.
	if !r.IsError || !strings.Contains(r.text(), "web-2") || !strings.Contains(r.text(), "[web-1]") {
		t.Errorf("after removal: %v %s", r.IsError, r.text())
	}
}

// TestFleetMetricsPerHost: each host of a fan-out is one sample of
// sentinelx_host_calls_total under its registry name, and a host removed
// from the registry loses its series.
func TestFleetMetricsPerHost(t *testing.T) {
	f := startFleet(t, threeHosts(), "", nil)
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	f.callTool(t, tok, "sentinel_state", map[string]any{"hosts": []string{"web-*"}}, 20*time.Second)
	f.callTool(t, tok, "sentinel_state", map[string]any{"host": "db-1"}, 20*time.Second)
	fams := scrapeMetrics(t, f.URL)
	for host, want := range map[string]float64{"web-1": 1, "web-2": 1, "db-1": 1} {
		if got := server.MetricSample(fams, "sentinelx_host_calls_total", map[string]string{"host": host, "outcome": "ok"}); got != want {
			t.Errorf("host_calls_total{host=%q} = %v, want %v", host, got, want)
		}
	}
	if got := server.MetricSample(fams, "sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_state", "outcome": "ok"}); got != 3 {
		t.Errorf("tool_calls_total{sentinel_state} = %v, want 3 (one per host)", got)
	}

	doc, _ := os.ReadFile(f.file)
	f.writeWithout(t, string(doc), "web-2")
	poll.Until(t, "web-2's series to be dropped", func() bool {
		fams := scrapeMetrics(t, f.URL)
		return server.MetricSample(fams, "sentinelx_host_calls_total", map[string]string{"host": "web-2", "outcome": "ok"}) == -1 &&
			server.MetricSample(fams, "sentinelx_host_calls_total", map[string]string{"host": "web-1", "outcome": "ok"}) == 1
	})
}

// TestFleetFanoutAnswerIsBounded: hosts whose answers together exceed a
// fan-out's share of MCP_MAX_RESPONSE_BYTES are each replaced by a note
// saying to call that host alone; the caller gets every host's outcome
// instead of a response-cap error after every host ran the call.
func TestFleetFanoutAnswerIsBounded(t *testing.T) {
	big := `{"uptime":"` + strings.Repeat("x", 200<<10) + `","total_executions":1,"blocked_count":0,"error_count":0}`
	wrap := onCall(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(big))
	})
	hosts := []fleetHost{{name: "a-1", wrap: wrap}, {name: "a-2", wrap: wrap}, {name: "a-3", wrap: wrap}, {name: "a-4", wrap: wrap}}
	f := startFleet(t, hosts, "", map[string]string{"MCP_MAX_RESPONSE_BYTES": "1048576"})
	tok := f.mint(map[string]any{"sub": "alice", "scope": everyScope})
	r := f.callTool(t, tok, "sentinel_state", map[string]any{"hosts": []string{"*"}}, 30*time.Second)
	fr := decodeFan(t, r)
	if r.IsError || fr.Summary["ok"] != 4 {
		t.Fatalf("summary %v isError %v", fr.Summary, r.IsError)
	}
	for _, res := range fr.Results {
		if !strings.Contains(string(res.Result), `"truncated":true`) || !strings.Contains(string(res.Result), `host \"`+res.Host+`\"`) {
			t.Errorf("%s: %.200s", res.Host, res.Result)
		}
	}
	// One host alone still gets its whole answer.
	r = f.callTool(t, tok, "sentinel_state", map[string]any{"host": "a-1"}, 30*time.Second)
	if r.IsError || len(r.StructuredContent) < 200<<10 {
		t.Errorf("a-1 alone: %v, %d bytes", r.IsError, len(r.StructuredContent))
	}
}
