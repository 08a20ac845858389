package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

const benchToolsCall = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"},"_meta":{"progressToken":"p1"}}}`

// BenchmarkPeek is the body peek alone: UTF-8 and depth checks, then id,
// method and tool name of each message.
func BenchmarkPeek(b *testing.B) {
	bodies := map[string]string{
		"tools_call": benchToolsCall,
		"batch_8":    "[" + strings.TrimSuffix(strings.Repeat(benchToolsCall+",", 8), ",") + "]",
		"initialize": `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`,
	}
	for name, body := range bodies {
		b.Run(name, func(b *testing.B) {
			data := []byte(body)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, code, msg := peek(data); code != 0 {
					b.Fatal(msg)
				}
			}
		})
	}
}

// BenchmarkScopeGate is ReadBody, Bearer and Scopes on an authenticated
// tools/call, as the /mcp chain runs them, with token verification
// replaced by a fixed answer (see BenchmarkVerify* for that part).
func BenchmarkScopeGate(b *testing.B) {
	scopeOf := func(tool string) string {
		if tool == "ping" {
			return ""
		}
		return "sentinelx:" + strings.TrimPrefix(tool, "sentinel_")
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	ti := &auth.TokenInfo{UserID: "u", Scopes: []string{"sentinelx:exec"}, Expiration: time.Now().Add(time.Hour)}
	ch := Challenger{ResourceMetadataURL: "http://x/prm"}
	bearer := Bearer(BearerOptions{
		Verify:     func(context.Context, string, *http.Request) (*auth.TokenInfo, error) { return ti, nil },
		Challenger: ch,
	})
	h := ReadBody(16 << 20)(bearer(Scopes(scopeOf, ch, nil)(ok)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(benchToolsCall))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer x.y.z")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
}
