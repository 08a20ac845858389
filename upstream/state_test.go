package upstream_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/pensados/sentinelx-mcp/internal/testlog"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

const testToken = "s3cret-token-value"

func newClient(t *testing.T, url, token string) *upstream.Client {
	t.Helper()
	c, err := upstream.New(upstream.Options{BaseURL: url, Token: token})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestStateAndProbe(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.Options{Token: testToken})
	c := newClient(t, srv.URL, testToken)

	st, err := c.State(context.Background())
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	if st.LastCommand != nil || st.TotalExecutions != 0 || st.Uptime == "" {
		t.Errorf("fresh state = %+v", st)
	}
	if !strings.Contains(string(st.Raw), `"last_command":null`) {
		t.Errorf("Raw = %s", st.Raw)
	}
	if _, err := c.Probe(context.Background()); err != nil {
		t.Errorf("Probe: %v", err)
	}
}

func TestStateAuthErrors(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.Options{Token: testToken})
	tests := []struct {
		name   string
		token  string
		status int
		detail string
	}{
		{"missing", "", 401, "Missing token"},
		{"wrong", "wrong", 403, "Invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(t, srv.URL, tt.token)
			_, err := c.State(context.Background())
			var ue *upstream.Error
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want *upstream.Error", err)
			}
			if ue.Kind != upstream.KindHTTP || ue.Status != tt.status || ue.Detail != tt.detail {
				t.Errorf("got %+v", ue)
			}
			if _, err := c.Probe(context.Background()); err == nil {
				t.Errorf("Probe succeeded with bad token")
			}
		})
	}
}

func TestProbeUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newClient(t, "http://"+addr, testToken)
	_, err = c.Probe(context.Background())
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Kind != upstream.KindUnreachable {
		t.Fatalf("err = %v", err)
	}
	want := "cannot reach SENTINELX_URL: connection refused; check SENTINELX_URL and that the SentinelX Core agent is running"
	if ue.Detail != want {
		t.Errorf("Detail = %q, want %q", ue.Detail, want)
	}
}

// TestUnreachableAddressLoggedNotReturned: the error reaches MCP clients,
// so it names the variable to check and never the agent's address; the
// address goes to the operator's log.
func TestUnreachableAddressLoggedNotReturned(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs testlog.Buffer
	c, err := upstream.New(upstream.Options{BaseURL: "http://" + addr, Token: testToken,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(context.Background(), upstream.ExecRequest{Cmd: "uptime"})
	if err == nil {
		t.Fatal("Exec against a closed port succeeded")
	}
	host, _, _ := net.SplitHostPort(addr)
	if msg := err.Error(); strings.Contains(msg, addr) || strings.Contains(msg, host) ||
		!strings.Contains(msg, "cannot reach SENTINELX_URL") || !strings.Contains(msg, "check SENTINELX_URL") {
		t.Errorf("error = %q: want the variable named and no address", msg)
	}
	lines := logs.JSONLines(t)
	if len(lines) != 1 || lines[0]["msg"] != "agent unreachable" || lines[0]["url"] != "http://"+addr ||
		lines[0]["call"] != "POST /exec" {
		t.Errorf("log = %v, want one \"agent unreachable\" line with url http://%s and call POST /exec", lines, addr)
	}
}
