package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pensados/sentinelx-mcp/internal/poll"
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
	s := startServe(t, map[string]string{"AGENTS_FILE": agents})
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "AGENTS_FILE reloaded on SIGHUP", func() bool { return strings.Contains(s.out.String(), "SIGHUP: reloading agents file") })
	s.stop()
}
