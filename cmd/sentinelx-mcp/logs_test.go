package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestServeLogLinesPrecedeTheAnswer: serve batches log lines
// (internal/logsink), but a request's lines must be written, to stdout and
// to AUDIT_LOG, before its answer is released, so whoever has the answer
// can read the lines about it. Read at once, no polling.
func TestServeLogLinesPrecedeTheAnswer(t *testing.T) {
	audit := filepath.Join(t.TempDir(), "audit.log")
	s := startServe(t, map[string]string{
		"SENTINELX_TOKEN": "agent-token",
		"SENTINELX_URL":   "http://127.0.0.1:1",
		"AUDIT_LOG":       audit,
	})
	base, out := s.base, s.out

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
	s.stop()
}
