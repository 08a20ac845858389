package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// stub answers every request with a fixed status, content type and body.
func stub(t *testing.T, status int, ctype, body string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func asError(t *testing.T, err error) *upstream.Error {
	t.Helper()
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v (%T), want *upstream.Error", err, err)
	}
	return ue
}

func TestErrorShapes(t *testing.T) {
	t.Parallel()
	const js = "application/json"
	tests := []struct {
		name     string
		status   int
		ctype    string
		body     string
		kind     upstream.Kind
		detail   string
		message  string // full Error(), when checked
		keepBody bool
	}{
		{name: "401", status: 401, ctype: js, body: `{"detail":"Missing token"}`, kind: upstream.KindHTTP,
			detail: "Missing token", message: "sentinelx POST /exec: 401 Unauthorized: Missing token", keepBody: true},
		{name: "403", status: 403, ctype: js, body: `{"detail":"Invalid token"}`, kind: upstream.KindHTTP,
			detail: "Invalid token", message: "sentinelx POST /exec: 403 Forbidden: Invalid token", keepBody: true},
		{name: "400", status: 400, ctype: js, body: `{"detail":"Missing command"}`, kind: upstream.KindHTTP,
			detail: "Missing command", keepBody: true},
		{name: "422 list", status: 422, ctype: js, keepBody: true, kind: upstream.KindHTTP,
			body: `{"detail":[{"type":"missing","loc":["body","path"],"msg":"Field required","input":{}},` +
				`{"type":"literal_error","loc":["body","mode"],"msg":"Input should be 'replace', 'regex', 'replace-block', 'append', 'prepend' or 'write'","input":"patch"},` +
				`{"type":"string_type","loc":["body","args",0],"msg":"Input should be a valid string","input":1}]}`,
			detail: "path: Field required; mode: Input should be 'replace', 'regex', 'replace-block', 'append', 'prepend' or 'write'; args.0: Input should be a valid string"},
		{name: "422 model rule", status: 422, ctype: js, keepBody: true, kind: upstream.KindHTTP,
			body:   `{"detail":[{"type":"value_error","loc":["body"],"msg":"Value error, En mode=regex debes indicar pattern","input":{},"ctx":{"error":{}}}]}`,
			detail: "En mode=regex debes indicar pattern"},
		{name: "500 text", status: 500, ctype: "text/plain; charset=utf-8", body: "Internal Server Error",
			kind: upstream.KindHTTP, detail: "Internal Server Error",
			message: "sentinelx POST /exec: 500 Internal Server Error: Internal Server Error"},
		{name: "502 html", status: 502, ctype: "text/html", body: "<html>\n<body>bad   gateway</body>\n</html>",
			kind: upstream.KindHTTP, detail: "<html> <body>bad gateway</body> </html>"},
		{name: "soft refusal", status: 200, ctype: js, keepBody: true, kind: upstream.KindRefused,
			body:    `{"error":"Action not allowed for docker: reload","status":"blocked","allowed_actions":["status","start"]}`,
			detail:  "Action not allowed for docker: reload",
			message: "sentinelx POST /exec: refused: Action not allowed for docker: reload"},
		{name: "non-JSON 200", status: 200, ctype: "text/html", body: "<h1>hello</h1>", kind: upstream.KindBadResponse,
			detail: `agent answered 200 with a body that is not a JSON object (text/html): "<h1>hello</h1>"`},
		{name: "JSON array 200", status: 200, ctype: js, body: `[1,2]`, kind: upstream.KindBadResponse},
		{name: "redirect", status: 307, ctype: js, body: `{}`, kind: upstream.KindHTTP, keepBody: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := stub(t, tt.status, tt.ctype, tt.body)
			c := newClient(t, s.URL, testToken)
			_, err := c.Exec(context.Background(), upstream.ExecRequest{Cmd: "x"})
			ue := asError(t, err)
			if ue.Kind != tt.kind {
				t.Errorf("Kind = %v, want %v", ue.Kind, tt.kind)
			}
			if ue.Status != tt.status {
				t.Errorf("Status = %d, want %d", ue.Status, tt.status)
			}
			if tt.detail != "" && ue.Detail != tt.detail {
				t.Errorf("Detail = %q\n want %q", ue.Detail, tt.detail)
			}
			if tt.message != "" && ue.Error() != tt.message {
				t.Errorf("Error() = %q\n    want %q", ue.Error(), tt.message)
			}
			if tt.keepBody != (ue.Body != nil) {
				t.Errorf("Body = %s, keep = %v", ue.Body, tt.keepBody)
			}
			if ue.Method != http.MethodPost || ue.Path != "/exec" {
				t.Errorf("Method/Path = %s %s", ue.Method, ue.Path)
			}
		})
	}
}

func TestTokenScrubbed(t *testing.T) {
	t.Parallel()
	const tok = `tok"en/with+chars`
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"detail", 400, `{"detail":"bad token tok\"en/with+chars here"}`},
		{"422 input echo", 422, `{"detail":[{"type":"value_error","loc":["body"],"msg":"Value error, x tok\"en/with+chars","input":{"cmd":"tok\"en/with+chars"}}]}`},
		{"soft", 200, `{"error":"Command not allowed: echo tok\"en/with+chars"}`},
		{"text", 500, `Traceback: token=tok"en/with+chars`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := stub(t, tt.status, "", tt.body)
			c := newClient(t, s.URL, tok)
			_, err := c.Exec(context.Background(), upstream.ExecRequest{Cmd: "x"})
			ue := asError(t, err)
			for what, v := range map[string]string{"Error()": ue.Error(), "Detail": ue.Detail, "Body": string(ue.Body)} {
				if strings.Contains(v, `tok"en`) || strings.Contains(v, `tok\"en`) {
					t.Errorf("%s leaks the token: %s", what, v)
				}
			}
			if !strings.Contains(ue.Error(), "[redacted]") {
				t.Errorf("Error() = %q, want [redacted]", ue.Error())
			}
		})
	}
	t.Run("success body", func(t *testing.T) {
		t.Parallel()
		s := stub(t, 200, "application/json", `{"output":"SENTINEL_TOKEN=tok\"en/with+chars","duration":0.1,"returncode":0}`)
		c := newClient(t, s.URL, tok)
		res, err := c.Exec(context.Background(), upstream.ExecRequest{Cmd: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Output != "SENTINEL_TOKEN=[redacted]" || strings.Contains(string(res.Raw), "tok") {
			t.Errorf("Output = %q Raw = %s", res.Output, res.Raw)
		}
	})
}

func TestTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	block := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(block.Close)

	t.Run("own deadline", func(t *testing.T) {
		t.Parallel()
		c, err := upstream.New(upstream.Options{BaseURL: block.URL, Token: testToken, Timeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.State(context.Background())
		ue := asError(t, err)
		if ue.Kind != upstream.KindTimeout || ue.Detail != "timed out after 50ms" {
			t.Errorf("got %v (%v)", ue, ue.Kind)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(DeadlineExceeded) = false for %v", err)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, block.URL, testToken)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.State(ctx)
			errc <- err
		}()
		cancel()
		ue := asError(t, <-errc)
		if ue.Kind != upstream.KindCanceled {
			t.Errorf("Kind = %v (%v)", ue.Kind, ue)
		}
	})
	t.Run("default message", func(t *testing.T) {
		t.Parallel()
		// The message for the default timeout reads "60s", not "1m0s".
		e := &upstream.Error{Kind: upstream.KindTimeout, Method: "GET", Path: "/state", Detail: "timed out after 60s"}
		if e.Error() != "sentinelx GET /state: timed out after 60s" {
			t.Error(e.Error())
		}
	})
}

func TestOversizedResponse(t *testing.T) {
	t.Parallel()
	t.Run("small cap", func(t *testing.T) {
		t.Parallel()
		s := stub(t, 200, "application/json", `{"output":"`+strings.Repeat("x", 2048)+`"}`)
		c, err := upstream.New(upstream.Options{BaseURL: s.URL, MaxResponseBytes: 1024})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.State(context.Background())
		ue := asError(t, err)
		if ue.Kind != upstream.KindTooLarge || ue.Detail != "response exceeds 1 KiB" {
			t.Errorf("got %v", ue)
		}
	})
	t.Run("declared length over the cap, body never sent", func(t *testing.T) {
		t.Parallel()
		// The agent announces 2 KiB and then stalls: the answer is refused on
		// its Content-Length alone, without waiting for (or buffering) the body.
		release := make(chan struct{})
		defer close(release)
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "2048")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer s.Close()
		c, err := upstream.New(upstream.Options{BaseURL: s.URL, MaxResponseBytes: 1024, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = c.State(ctx)
		ue := asError(t, err)
		if ue.Kind != upstream.KindTooLarge || ue.Detail != "response exceeds 1 KiB" {
			t.Errorf("got %v", ue)
		}
	})
	t.Run("agent huge fault, default cap", func(t *testing.T) {
		t.Parallel()
		srv := sandbox.Start(t, sandbox.Options{Token: testToken})
		srv.SetFault(sandbox.FaultHuge)
		c := newClient(t, srv.URL, testToken)
		_, err := c.State(context.Background())
		ue := asError(t, err)
		if ue.Kind != upstream.KindTooLarge || ue.Error() != "sentinelx GET /state: response exceeds 16 MiB" {
			t.Errorf("got %v", ue)
		}
	})
}

func TestAgentFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault  sandbox.Fault
		kind   upstream.Kind
		status int
		prefix string
	}{
		{sandbox.FaultReset, upstream.KindUnreachable, 0, "connection to SENTINELX_URL"},
		{sandbox.FaultGarbage500, upstream.KindHTTP, 500, "<html>"},
		{sandbox.FaultStall, upstream.KindTimeout, 0, "timed out after 100ms"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fault), func(t *testing.T) {
			t.Parallel()
			srv := sandbox.Start(t, sandbox.Options{Token: testToken,
				Fault: func(r *http.Request) sandbox.Fault { return tt.fault }})
			c, err := upstream.New(upstream.Options{BaseURL: srv.URL, Token: testToken, Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if tt.fault != sandbox.FaultStall {
				c, _ = upstream.New(upstream.Options{BaseURL: srv.URL, Token: testToken})
			}
			_, err = c.Exec(context.Background(), upstream.ExecRequest{Cmd: "uptime"})
			ue := asError(t, err)
			if ue.Kind != tt.kind || ue.Status != tt.status || !strings.HasPrefix(ue.Detail, tt.prefix) {
				t.Errorf("got kind %v status %d: %v", ue.Kind, ue.Status, ue)
			}
		})
	}
}

func TestNewValidatesBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8091", true},
		{"https://agent.internal/prefix/", true},
		{"", false},
		{"127.0.0.1:8091", false},
		{"ftp://host", false},
		{"http://", false},
		{"http://user:pw@host", false},
		{"http://host/?q=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			c, err := upstream.New(upstream.Options{BaseURL: tt.url})
			if (err == nil) != tt.ok {
				t.Fatalf("New(%q) err = %v, want ok %v", tt.url, err, tt.ok)
			}
			if tt.ok && strings.HasSuffix(c.BaseURL(), "/") {
				t.Errorf("BaseURL() = %q keeps the trailing slash", c.BaseURL())
			}
		})
	}
}
