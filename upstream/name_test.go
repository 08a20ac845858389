package upstream_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"github.com/pensados/sentinelx-mcp/upstream"
)

// TestNamedAgentErrors: a client built for a host registry names the
// agent, not SENTINELX_URL (there is no such variable in a fleet), and
// still keeps the address out of what reaches MCP clients.
func TestNamedAgentErrors(t *testing.T) {
	t.Parallel()
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		addr := testnet.ClosedAddr(t)
		c, err := upstream.New(upstream.Options{BaseURL: "http://" + addr, Token: testToken, Name: "web-1"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Probe(context.Background())
		ue := asError(t, err)
		want := `cannot reach agent "web-1": connection refused; check its url in AGENTS_FILE and that the SentinelX Core agent is running`
		if ue.Kind != upstream.KindUnreachable || ue.Detail != want || ue.Cause != "connection refused" {
			t.Errorf("got Kind %v Detail %q Cause %q", ue.Kind, ue.Detail, ue.Cause)
		}
		if host, _, _ := net.SplitHostPort(addr); strings.Contains(err.Error(), host) || strings.Contains(err.Error(), "SENTINELX_URL") {
			t.Errorf("error = %q: want neither the address nor SENTINELX_URL", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		block := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		t.Cleanup(block.Close)
		c, err := upstream.New(upstream.Options{BaseURL: block.URL, Token: testToken, Name: "db-1",
			Timeout: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.State(context.Background())
		if ue := asError(t, err); ue.Kind != upstream.KindTimeout || ue.Detail != `agent "db-1" timed out after 20ms` {
			t.Errorf("got %v (%v)", ue, ue.Kind)
		}
	})
	t.Run("New", func(t *testing.T) {
		t.Parallel()
		tests := []struct{ url, want string }{
			{"", `upstream: agent "web-1": url: is empty; set it to the agent address, e.g. http://127.0.0.1:8091`},
			{"ftp://host", `upstream: agent "web-1": url: must start with http:// or https://`},
			{"http://", `upstream: agent "web-1": url: has no host`},
			{"http://user:hunter2@host", `upstream: agent "web-1": url: must not carry credentials, a query or a fragment`},
			{"http://[::1", `upstream: agent "web-1": url: is not a URL: missing ']' in host`},
		}
		for _, tt := range tests {
			_, err := upstream.New(upstream.Options{BaseURL: tt.url, Name: "web-1"})
			if err == nil || err.Error() != tt.want {
				t.Errorf("New(%q) = %v, want %s", tt.url, err, tt.want)
			}
		}
	})
}

// TestErrorWithoutCall: an error made without a request (a registry
// refusing a call to a host marked down) reads without an empty method.
func TestErrorWithoutCall(t *testing.T) {
	t.Parallel()
	e := &upstream.Error{Kind: upstream.KindUnreachable, Detail: "host web-3 unreachable"}
	if e.Error() != "sentinelx: host web-3 unreachable" {
		t.Error(e.Error())
	}
}
