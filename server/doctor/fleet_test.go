package doctor_test

import (
	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pensados/sentinelx-mcp/server/doctor"
)

// writeAgents writes an AGENTS_FILE naming the stack's agent as web-1 and a
// closed port as web-2, each token by reference.
func writeAgents(t *testing.T, s *stack, extra string) string {
	t.Helper()
	dir := t.TempDir()
	tok := filepath.Join(dir, "web.token")
	if err := os.WriteFile(tok, []byte(agentToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := "hosts:\n" +
		"  - name: web-1\n    url: " + s.env["SENTINELX_URL"] + "\n    token_file: " + tok + "\n    labels: {role: web}\n" +
		"  - name: web-2\n    url: http://127.0.0.1:" + strconv.Itoa(testnet.FreePort(t)) + "\n    token_file: " + tok + "\n" + extra
	path := filepath.Join(dir, "agents.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAgentsFileProbesEveryHost(t *testing.T) {
	s := newStack(t)
	s.env["AGENTS_FILE"] = writeAgents(t, s, "")
	delete(s.env, "SENTINELX_TOKEN")
	rep, text := s.run(t, "")
	wantStatus(t, rep, text, "agents file", doctor.StatusWarn, "2 hosts, 1 answer")
	wantStatus(t, rep, text, "agent web-2", doctor.StatusWarn, `agent "web-2"`)
	for _, c := range rep.Checks {
		if c.Name == "agent web-1" || c.Name == "agent" {
			t.Errorf("unexpected check %+v", c)
		}
	}

	s.env["READY_MIN_HOSTS"] = "2"
	rep, text = s.run(t, "")
	wantStatus(t, rep, text, "agents file", doctor.StatusFail, "READY_MIN_HOSTS is 2")
	if rep.OK {
		t.Errorf("report OK with too few hosts:\n%s", text)
	}
}

func TestAgentsFileThatDoesNotLoadFails(t *testing.T) {
	s := newStack(t)
	s.env["AGENTS_FILE"] = writeAgents(t, s, "  - name: web-1\n    url: http://127.0.0.1:1\n    token_env: NOPE\n")
	rep, text := s.run(t, "")
	wantStatus(t, rep, text, "agents file", doctor.StatusFail, "duplicate")
}
