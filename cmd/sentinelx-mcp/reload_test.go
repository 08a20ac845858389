package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/internal/testlog"
)

// TestServeReloadsAgentsFileOnSIGHUP: with AGENTS_FILE and no POLICY_FILE,
// `systemctl reload` (SIGHUP) must reload the registry, as docs/fleet.md
// says, and must not end the process. serve subscribes to SIGHUP only
// when there is something to reload; had it not here, the signal's default
// action would end this test binary.
func TestServeReloadsAgentsFileOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	agents, token := filepath.Join(dir, "agents.yaml"), filepath.Join(dir, "web-1.token")
	if err := os.WriteFile(token, []byte("agent-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(agents, []byte("hosts:\n  - name: web-1\n    url: http://127.0.0.1:1\n    token_file: "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	env := map[string]string{
		"MCP_PORT":     strconv.Itoa(port),
		"AGENTS_FILE":  agents,
		"OIDC_ISSUER":  "http://127.0.0.1:1/issuer",
		"RESOURCE_URL": "http://127.0.0.1:" + strconv.Itoa(port),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testlog.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, out, io.Discard) }()
	poll.Until(t, "the bridge listening", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v; output:\n%s", err, out)
		default:
		}
		return strings.Contains(out.String(), "sentinelx-mcp listening")
	})
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "AGENTS_FILE reloaded on SIGHUP", func() bool { return strings.Contains(out.String(), "SIGHUP: reloading agents file") })
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
