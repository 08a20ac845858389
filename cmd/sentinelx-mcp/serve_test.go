package main

import (
	"context"
	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/internal/testlog"
)

// serving is one `sentinelx-mcp serve` run by [startServe].
type serving struct {
	base string          // http://127.0.0.1:port
	out  *testlog.Buffer // its stdout: the log
	stop func()          // cancels it and waits for run to return nil
}

// startServe runs the serve command on a free port with env (plus MCP_PORT
// and RESOURCE_URL, and a down IdP unless env names one): serving must not
// wait for the IdP. It returns once the log says it listens.
func startServe(t *testing.T, env map[string]string) serving {
	t.Helper()
	port := strconv.Itoa(testnet.FreePort(t))
	s := serving{base: "http://127.0.0.1:" + port, out: &testlog.Buffer{}}
	env["MCP_PORT"], env["RESOURCE_URL"] = port, s.base
	if env["OIDC_ISSUER"] == "" {
		env["OIDC_ISSUER"] = "http://127.0.0.1:1/issuer"
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, s.out, io.Discard)
	}()
	s.stop = func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("run did not return after cancel")
		}
	}
	poll.Until(t, "the bridge listening", func() bool {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve ended: %v; output:\n%s", err, s.out)
		default:
		}
		return strings.Contains(s.out.String(), "sentinelx-mcp listening")
	})
	t.Cleanup(cancel)
	return s
}
