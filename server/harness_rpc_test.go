package server_test

// Request, JSON-RPC, golden-file and go-sdk client helpers of the test server.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
)

// request builds a request to path on the server.
func (ts *testServer) request(method, path string, body io.Reader) *http.Request {
	ts.t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		ts.t.Fatalf("NewRequest: %v", err)
	}
	return req
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body []byte
}

func (ts *testServer) do(req *http.Request) response {
	ts.t.Helper()
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL.Path, err)
	}
	return response{resp, b}
}

// rpcOpts are the HTTP details of one JSON-RPC POST.
type rpcOpts struct {
	token    string // Authorization: Bearer <token>; "" sends none
	auth     []string
	version  string // MCP-Protocol-Version; "" sends none
	accept   string // "" means "application/json, text/event-stream"; "-" sends none
	session  string
	headers  map[string]string
	query    string
	host     string
	noAccept bool
}

// post sends body (a JSON string) to /mcp.
func (ts *testServer) post(body string, o rpcOpts) response {
	ts.t.Helper()
	path := "/mcp"
	if o.query != "" {
		path += "?" + o.query
	}
	req := ts.request(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	switch o.accept {
	case "":
		req.Header.Set("Accept", "application/json, text/event-stream")
	case "-":
	default:
		req.Header.Set("Accept", o.accept)
	}
	if o.version != "" {
		req.Header.Set("MCP-Protocol-Version", o.version)
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	for _, a := range o.auth {
		req.Header.Add("Authorization", a)
	}
	if o.session != "" {
		req.Header.Set("Mcp-Session-Id", o.session)
	}
	for k, v := range o.headers {
		req.Header.Set(k, v)
	}
	if o.host != "" {
		req.Host = o.host
	}
	return ts.do(req)
}

// rpcBody is a JSON-RPC response or error object.
type rpcBody struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// rpc decodes the (single) JSON-RPC message of a response, whether it came
// as application/json or as one SSE event.
func (r response) rpc(t *testing.T) rpcBody {
	t.Helper()
	msgs := r.rpcAll(t)
	if len(msgs) != 1 {
		t.Fatalf("want one JSON-RPC message, got %d in %q", len(msgs), r.body)
	}
	return msgs[0]
}

func (r response) rpcAll(t *testing.T) []rpcBody {
	t.Helper()
	var datas [][]byte
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(string(r.body), "\n") {
			if d, ok := strings.CutPrefix(line, "data:"); ok && strings.TrimSpace(d) != "" {
				datas = append(datas, []byte(strings.TrimSpace(d)))
			}
		}
	} else {
		datas = [][]byte{r.body}
	}
	var out []rpcBody
	for _, d := range datas {
		d = bytes.TrimSpace(d)
		if len(d) > 0 && d[0] == '[' {
			var arr []rpcBody
			if err := json.Unmarshal(d, &arr); err != nil {
				t.Fatalf("decoding JSON-RPC batch %q: %v", d, err)
			}
			out = append(out, arr...)
			continue
		}
		var m rpcBody
		if err := json.Unmarshal(d, &m); err != nil {
			t.Fatalf("decoding JSON-RPC %q (status %d, %s): %v", d, r.StatusCode, r.Header.Get("Content-Type"), err)
		}
		out = append(out, m)
	}
	return out
}

// checkGolden compares got with testdata/name, rewriting it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden %s (run with -update to create): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch:\n got: %s\nwant: %s", path, got, want)
	}
}

// normalize replaces the run-specific parts (ports) of s with placeholders
// so golden files are stable.
func (ts *testServer) normalize(s string) string {
	s = strings.ReplaceAll(s, ts.IdP.URL, "http://IDP")
	s = strings.ReplaceAll(s, ts.URL, "http://MCP")
	return s
}

// bearerTransport adds an Authorization header to every request.
type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

// connect opens a go-sdk client session to the server with token (may be
// empty) at protocol version (empty = the SDK's latest).
func (ts *testServer) connect(ctx context.Context, token, version string) *mcp.ClientSession {
	ts.t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "server-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{
		Endpoint: ts.MCPURL,
		HTTPClient: &http.Client{
			Timeout:   clientTimeout,
			Transport: bearerTransport{token: token, base: http.DefaultTransport},
		},
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}
	cs, err := c.Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		ts.t.Fatalf("connect (version %q): %v", version, err)
	}
	ts.t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func idptestIssuerPath(p string) []idptest.Option { return []idptest.Option{idptest.WithIssuerPath(p)} }
