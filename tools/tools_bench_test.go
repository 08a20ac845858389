package tools_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/upstream"
)

// fakeAgent answers each path with a fixed JSON object shaped like the
// agent's (UPSTREAM.md), in process: the tool handler's cost without the
// agent's or a socket's.
type fakeAgent map[string]string

func (f fakeAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	rec.WriteString(f[r.URL.Path])
	return rec.Result(), nil
}

var fakeBodies = fakeAgent{
	"/state": `{"uptime":"1 day, 2:03:04","last_command":"uptime","last_output":" 10:00:00 up 1 day","last_status":"ok","last_update":"2026-01-01T10:00:00","total_executions":42,"blocked_count":1,"error_count":0}`,
	"/exec":  `{"output":" 10:00:00 up 1 day,  load average: 0.00, 0.01, 0.05\n","duration":0.004,"returncode":0}`,
}

// BenchmarkToolHandler calls sentinel_state and sentinel_exec through
// go-sdk's in-memory transport (so the SDK's own cost is included) with
// an authenticated caller, a JSON audit log and an upstream that answers
// in process. BenchmarkToolsCall in server/ has the whole HTTP chain.
func BenchmarkToolHandler(b *testing.B) {
	up, err := upstream.New(upstream.Options{BaseURL: "http://agent.invalid", Token: "agent-secret",
		HTTPClient: &http.Client{Transport: fakeBodies}})
	if err != nil {
		b.Fatal(err)
	}
	table := tools.New(tools.Deps{Upstream: up, Version: "bench",
		Audit: slog.New(slog.NewJSONHandler(io.Discard, nil)).With("log", "audit")})
	srv := mcp.NewServer(&mcp.Implementation{Name: "sentinelx-mcp", Version: "bench"}, nil)
	table.Register(srv)
	ti := &auth.TokenInfo{UserID: "user-1", Scopes: []string{"sentinelx:state", "sentinelx:exec"},
		Extra: map[string]any{"username": "alice", "client_id": "bench"}}
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if r, ok := req.(*mcp.CallToolRequest); ok {
				if r.Extra == nil {
					r.Extra = &mcp.RequestExtra{}
				}
				r.Extra.TokenInfo = ti
			}
			return next(ctx, method, req)
		}
	})
	cs := tools.ConnectInMemory(b, srv)
	ctx := context.Background()
	for _, tc := range []struct {
		tool string
		args map[string]any
	}{
		{"sentinel_state", map[string]any{}},
		{"sentinel_exec", map[string]any{"cmd": "uptime"}},
	} {
		b.Run(tc.tool, func(b *testing.B) {
			params := &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args}
			b.ReportAllocs()
			for b.Loop() {
				res, err := cs.CallTool(ctx, params)
				if err != nil {
					b.Fatal(err)
				}
				if res.IsError {
					b.Fatal(res.Content[0].(*mcp.TextContent).Text)
				}
			}
		})
	}
}
