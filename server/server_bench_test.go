package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-chi/httplog/v2"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
	"github.com/pensados/sentinelx-mcp/server"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// handlerTransport serves HTTP requests with a handler, in process: the
// upstream hop without a socket.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// newBenchHandler is server.New as `serve` builds it (JSON logs at info,
// stateless, audience checked), with the agent in process and logs
// discarded.
func newBenchHandler(b *testing.B, env map[string]string, level slog.Level) (http.Handler, string) {
	b.Helper()
	agent, err := sandbox.New(sandbox.Options{Token: agentToken})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { agent.Close() })
	idp := idptest.New(b, idptest.WithScope("sentinelx:state sentinelx:exec"),
		idptest.WithAudience("http://127.0.0.1:8098/mcp"))
	vars := map[string]string{
		"SENTINELX_URL":          "http://agent.invalid",
		"SENTINELX_TOKEN":        agentToken,
		"OIDC_ISSUER":            idp.Issuer,
		"OIDC_EXPECTED_AUDIENCE": "http://127.0.0.1:8098/mcp",
		"RESOURCE_URL":           "http://127.0.0.1:8098",
		"RATE_LIMIT":             "0",
		// Every benchmark request comes from one address; the anonymous
		// per-address limit would turn the anonymous rows into 429s.
		"ANON_RATE_LIMIT": "0",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := server.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		b.Fatal(err)
	}
	up, err := upstream.New(upstream.Options{BaseURL: cfg.UpstreamURL, Token: agentToken,
		HTTPClient: &http.Client{Transport: handlerTransport{agent}}})
	if err != nil {
		b.Fatal(err)
	}
	logger := httplog.NewLogger("sentinelx-mcp", httplog.Options{JSON: true, LogLevel: level, Concise: true, Writer: io.Discard})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	h, err := server.New(ctx, cfg, server.Deps{Logger: logger, Version: "bench", Upstream: up})
	if err != nil {
		b.Fatal(err)
	}
	// Wait for the JWKS (fetched once, over loopback, before timing).
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8098/readyz", nil))
		if rec.Code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not ready: %s", rec.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return h, idp.Mint(nil)
}

func benchCall(b *testing.B, h http.Handler, tok, accept, body string) {
	b.Helper()
	do := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8098/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"result"`) ||
		strings.Contains(rec.Body.String(), `"isError":true`) {
		b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		do()
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
}

// processCPU is the process's user+system CPU time: unlike ns/op it does
// not grow when other processes share the machine, and it counts the GC's
// background workers.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkToolsCall is one authenticated tools/call through the whole
// chain (guard, body peek, bearer, scopes, go-sdk, tool, upstream client)
// with the agent in process: no sockets, so this is bridge CPU only, plus
// the in-process agent's own handler.
func BenchmarkToolsCall(b *testing.B) {
	h, tok := newBenchHandler(b, nil, slog.LevelInfo)
	const state = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sentinel_state","arguments":{}}}`
	b.Run("sentinel_state/sse", func(b *testing.B) {
		benchCall(b, h, tok, "application/json, text/event-stream", state)
	})
	b.Run("sentinel_state/json", func(b *testing.B) {
		benchCall(b, h, tok, "application/json", state)
	})
	b.Run("sentinel_state/sse/LOG_LEVEL=warn", func(b *testing.B) {
		quiet, tok := newBenchHandler(b, nil, slog.LevelWarn)
		benchCall(b, quiet, tok, "application/json, text/event-stream", state)
	})
	b.Run("ping/anonymous", func(b *testing.B) {
		benchCall(b, h, "", "application/json, text/event-stream",
			`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ping","arguments":{}}}`)
	})
	b.Run("tools_list/anonymous", func(b *testing.B) {
		benchCall(b, h, "", "application/json, text/event-stream", `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
	})
}

// BenchmarkAgentState is the in-process agent's GET /state alone, to
// subtract from BenchmarkToolsCall.
func BenchmarkAgentState(b *testing.B) {
	agent, err := sandbox.New(sandbox.Options{Token: agentToken})
	if err != nil {
		b.Fatal(err)
	}
	defer agent.Close()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "http://agent.invalid/state", nil)
		req.Header.Set("Authorization", "Bearer "+agentToken)
		rec := httptest.NewRecorder()
		agent.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkBareSDK is the yardstick: a bare go-sdk stateless server with
// one trivial tool, no middleware, the same request as BenchmarkToolsCall.
func BenchmarkBareSDK(b *testing.B) {
	type in struct {
		Text string `json:"text,omitempty"`
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "bare", Version: "0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns its text."},
		func(_ context.Context, _ *mcp.CallToolRequest, in in) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{Stateless: true})
	benchCall(b, h, "", "application/json, text/event-stream",
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
}
