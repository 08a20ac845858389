package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// TestGracefulShutdown: cancelling Run's context lets an in-flight tool
// call finish, then Run returns nil.
func TestGracefulShutdown(t *testing.T) {
	ts := startServerWith(t, setup{agent: sandbox.Options{Delay: 300 * time.Millisecond}})
	tok := ts.mint(nil)
	before := ts.AgentCalls()

	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		req := ts.request(http.MethodPost, "/mcp", strings.NewReader(callState))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := ts.client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, err = io.Copy(&b, resp.Body)
		done <- result{r: response{resp, []byte(b.String())}, err: err}
	}()

	// Wait (bounded) until the call is inside the agent.
	deadline := time.Now().Add(5 * time.Second)
	for ts.AgentCalls() == before {
		if time.Now().After(deadline) {
			t.Fatalf("the tool call never reached the agent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop() }()

	res := <-done
	if res.err != nil {
		t.Fatalf("in-flight call failed during shutdown: %v", res.err)
	}
	if res.r.StatusCode != http.StatusOK {
		t.Fatalf("in-flight call: %d %s", res.r.StatusCode, res.r.body)
	}
	checkStateResult(t, res.r)
	if err := <-stopped; err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	// Nothing is accepted any more.
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(ts.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("server still answers after Run returned: %d", resp.StatusCode)
	}
	ts.assertNoSecretsLogged()
}

// TestAuthDebugLogsNoTokens: with AUTH_DEBUG=true claims are logged, tokens
// and the agent token never (DESIGN item 3 and "Upstream").
func TestAuthDebugLogsNoTokens(t *testing.T) {
	ts := startServerWith(t, setup{env: map[string]string{"AUTH_DEBUG": "true"}})
	idp := ts.IdP
	good := ts.mint(map[string]any{"sub": "debug-subject-42"})
	bad := idptest.TamperSignature(ts.mint(nil))
	ts.secret(bad)
	expired := ts.mint(map[string]any{"exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()})
	wrongKey := ts.mint(nil, idptest.WithKey(idp.NewUnpublishedKey("ES256")))
	for _, tok := range []string{good, bad, expired, wrongKey} {
		ts.post(callState, rpcOpts{token: tok})
		ts.post(callPing, rpcOpts{token: tok})
	}
	ts.post(callState, rpcOpts{query: "access_token=" + good})
	ts.post(callState, rpcOpts{query: "token=" + good + "&x=1"})
	if !strings.Contains(ts.Logs.String(), "debug-subject-42") {
		t.Errorf("AUTH_DEBUG logged no claims")
	}
	if !strings.Contains(ts.Logs.String(), "auth rejected") {
		t.Errorf("rejections are not logged with a reason")
	}
	ts.assertNoSecretsLogged()
}

// TestAgentTokenScrubbed: SENTINELX_TOKEN never reaches the MCP client or
// the logs, even when the agent echoes it back in an error (DESIGN
// "Upstream").
func TestAgentTokenScrubbed(t *testing.T) {
	echo := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/state" && r.Method == http.MethodGet && echoOn.Load() {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, `{"detail":"rejected credentials %s (token %s)"}`, r.Header.Get("Authorization"), strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	ts := startServerWith(t, setup{agentWrap: echo})
	echoOn.Store(true)
	defer echoOn.Store(false)
	r := ts.post(callState, rpcOpts{token: ts.mint(nil)})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status = %d; body %s", r.StatusCode, r.body)
	}
	if !strings.Contains(string(r.body), `"isError":true`) {
		t.Errorf("agent 500 did not become an isError result: %s", r.body)
	}
	if strings.Contains(string(r.body), agentToken) {
		t.Errorf("the agent token was relayed to the MCP client: %s", r.body)
	}
	if !strings.Contains(string(r.body), "500") {
		t.Errorf("the error does not name the HTTP status: %s", r.body)
	}
	ts.assertNoSecretsLogged()
}

// echoOn switches TestAgentTokenScrubbed's echoing agent on after startup
// (so /readyz sees a healthy agent).
var echoOn atomic.Bool

// TestQueryTokenNeverLogged: a token offered in the URL of any route is
// redacted from the request log.
func TestQueryTokenNeverLogged(t *testing.T) {
	ts := startServer(t, nil)
	tok := ts.mint(nil)
	for _, path := range []string{
		"/mcp?access_token=" + tok,
		"/mcp?x=1&token=" + tok,
		"/readyz?access_token=" + tok,
		"/.well-known/oauth-protected-resource/mcp?access_token=" + tok,
		"/no-such-page?access_token=" + tok,
		"/mcp?access_token=" + tok + "&bad=%zz",
		"/mcp?x=1;access_token=" + tok,
	} {
		req := ts.request(http.MethodPost, path, strings.NewReader(callState))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		r := ts.do(req)
		if strings.HasPrefix(path, "/mcp?") && r.StatusCode == http.StatusOK {
			t.Errorf("%s: a query-string token was accepted", path[:20])
		}
		ts.do(ts.request(http.MethodGet, path, nil))
	}
	ts.assertNoSecretsLogged()
}
