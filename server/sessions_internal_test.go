package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestLiveSessions: the ids BindSessions keeps owners for are exactly the
// stateful sessions go-sdk holds: listed once initialized, gone once ended.
func TestLiveSessions(t *testing.T) {
	a := &app{mcp: mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)}
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return a.mcp }, nil))
	t.Cleanup(srv.Close)
	send := func(method, sid, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		r, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	r := send(http.MethodPost, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	sid := r.Header.Get("Mcp-Session-Id")
	if r.StatusCode != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d, session %q", r.StatusCode, sid)
	}
	if got := slices.Collect(a.liveSessions()); !slices.Contains(got, sid) {
		t.Fatalf("live sessions %q, want %q listed", got, sid)
	}
	if r := send(http.MethodDelete, sid, ""); r.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", r.StatusCode)
	}
	if got := slices.Collect(a.liveSessions()); slices.Contains(got, sid) {
		t.Fatalf("live sessions %q still list the ended session", got)
	}
}
