package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/internal/testlog"
)

// TestServeLogLinesPrecedeTheAnswer: serve batches log lines
// (internal/logsink), but a request's lines must be written, to stdout and
// to AUDIT_LOG, before its answer is released, so whoever has the answer
// can read the lines about it. Read at once, no polling.
func TestServeLogLinesPrecedeTheAnswer(t *testing.T) {
	audit := filepath.Join(t.TempDir(), "audit.log")
	port := freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := map[string]string{
		"MCP_PORT":        strconv.Itoa(port),
		"SENTINELX_TOKEN": "agent-token",
		"SENTINELX_URL":   "http://127.0.0.1:1",
		"OIDC_ISSUER":     "http://127.0.0.1:1/issuer",
		"RESOURCE_URL":    base,
		"AUDIT_LOG":       audit,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testlog.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, out, io.Discard) }()
	poll.Until(t, "the bridge listening", func() bool { return strings.Contains(out.String(), "sentinelx-mcp listening") })

	for i := range 20 {
		id := strconv.Itoa(1000 + i)
		req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(
			`{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"ping","arguments":{}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"id":`+id) {
			t.Fatalf("ping: %d %s", resp.StatusCode, body)
		}
		a, err := os.ReadFile(audit)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(a), `"msg":"tool call"`); got != i+1 {
			t.Fatalf("after %d answers AUDIT_LOG holds %d tool call lines:\n%s", i+1, got, a)
		}
		if got := strings.Count(out.String(), `"path":"/mcp"`); got != i+1 {
			t.Fatalf("after %d answers stdout holds %d /mcp request lines:\n%s", i+1, got, out)
		}
	}
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
