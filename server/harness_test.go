package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/httplog/v2"

	"github.com/pensados/sentinelx-mcp/internal/testlog"
	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
	"github.com/pensados/sentinelx-mcp/server"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// agentToken is the SENTINELX_TOKEN of every test agent. It must never show
// up in the bridge's logs.
const agentToken = "agent-secret-7f3c9e1d2b"

// clientTimeout bounds every HTTP call a test makes.
const clientTimeout = 10 * time.Second

// setup describes one server under test.
type setup struct {
	// env overrides or adds variables (an empty value deletes one).
	env map[string]string
	// mutate edits the parsed Config before New.
	mutate func(*server.Config)
	agent  sandbox.Options
	idp    []idptest.Option
	// agentWrap wraps the agent's handler (to fake misbehaviour).
	agentWrap func(http.Handler) http.Handler
	// agentDown points SENTINELX_URL at a closed loopback port.
	agentDown bool
	// idpDown makes the IdP answer 503 before the server starts.
	idpDown bool
	// noWait skips waiting for /readyz to report the keys loaded.
	noWait bool
}

// testServer is a running bridge with its agent and IdP.
type testServer struct {
	t      *testing.T
	URL    string // base URL, e.g. http://127.0.0.1:41234
	MCPURL string // URL + "/mcp"
	Port   int
	IdP    *idptest.IdP
	Agent  *sandbox.Agent
	Cfg    server.Config
	Logs   *testlog.Buffer
	// secrets are strings that must never be logged (tokens sent, agent token).
	secretsMu sync.Mutex
	secrets   []string

	agentCalls atomic.Int64
	cancel     context.CancelFunc
	done       chan error
	client     *http.Client

	stopOnce sync.Once
	runErr   error
}

// stop cancels Run's context and returns what Run returned. It may be
// called more than once.
func (ts *testServer) stop() error {
	ts.stopOnce.Do(func() {
		ts.cancel()
		select {
		case ts.runErr = <-ts.done:
		case <-time.After(15 * time.Second):
			ts.runErr = errors.New("server.Run did not return 15 s after cancel")
		}
	})
	return ts.runErr
}

// startServer runs a bridge with the default test configuration, edited by
// mutate (which may be nil).
func startServer(t *testing.T, mutate func(*server.Config)) *testServer {
	t.Helper()
	return startServerWith(t, setup{mutate: mutate})
}

func startServerWith(t *testing.T, s setup) *testServer {
	t.Helper()
	ts := &testServer{t: t, Logs: &testlog.Buffer{}, done: make(chan error, 1)}
	ts.client = &http.Client{Timeout: clientTimeout}
	ts.secrets = []string{agentToken}

	if s.agent.Token == "" {
		s.agent.Token = agentToken
	}
	agent, err := sandbox.New(s.agent)
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	ts.Agent = agent
	var agentH http.Handler = agent
	if s.agentWrap != nil {
		agentH = s.agentWrap(agentH)
	}
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.agentCalls.Add(1)
		agentH.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		agentSrv.Close()
		_ = agent.Close()
	})
	agentURL := agentSrv.URL
	if s.agentDown {
		agentURL = closedPortURL(t)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ts.Port = ln.Addr().(*net.TCPAddr).Port
	ts.URL = "http://127.0.0.1:" + strconv.Itoa(ts.Port)
	ts.MCPURL = ts.URL + "/mcp"

	ts.IdP = idptest.New(t, s.idp...)
	if s.idpDown {
		ts.IdP.SetDown(true)
	}

	env := map[string]string{
		"SENTINELX_URL":          agentURL,
		"SENTINELX_TOKEN":        agentToken,
		"OIDC_ISSUER":            ts.IdP.Issuer,
		"OIDC_EXPECTED_AUDIENCE": ts.MCPURL,
		"RESOURCE_URL":           ts.URL,
		"MCP_PORT":               strconv.Itoa(ts.Port),
		"LOG_LEVEL":              "debug",
	}
	for k, v := range s.env {
		if v == "" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	cfg, err := server.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		ln.Close()
		t.Fatalf("LoadConfig: %v", err)
	}
	if s.mutate != nil {
		s.mutate(&cfg)
	}
	ts.Cfg = cfg

	logger := httplog.NewLogger("sentinelx-mcp-test", httplog.Options{
		JSON:           true,
		LogLevel:       slog.LevelDebug,
		Writer:         ts.Logs,
		RequestHeaders: true,
	})
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	h, err := server.New(ctx, cfg, server.Deps{Logger: logger, Version: "test"})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("server.New: %v", err)
	}
	go func() { ts.done <- server.Run(ctx, ln, h, logger.Logger) }()
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("server.Run: %v", err)
		}
		if t.Failed() {
			lines := strings.Split(ts.Logs.String(), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("server logs (tail):\n%s", strings.Join(lines, "\n"))
		}
	})
	if !s.noWait {
		ts.waitKeys()
	}
	return ts
}

// closedPortURL returns an http URL of a loopback port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// readyz fetches /readyz and decodes it.
type readyBody struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK     bool           `json:"ok"`
		Error  string         `json:"error"`
		Detail map[string]any `json:"detail"`
	} `json:"checks"`
}

func (ts *testServer) readyz() (int, readyBody) {
	ts.t.Helper()
	resp := ts.do(ts.request(http.MethodGet, "/readyz", nil))
	var rb readyBody
	if err := json.Unmarshal(resp.body, &rb); err != nil {
		ts.t.Fatalf("/readyz body %q: %v", resp.body, err)
	}
	return resp.StatusCode, rb
}

// waitKeys polls /readyz (bounded) until the token keys are loaded.
func (ts *testServer) waitKeys() {
	ts.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, rb := ts.readyz()
		if rb.Checks["token_keys"].OK {
			return
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("token keys not loaded after 10s: %+v", rb)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// AgentCalls is how many requests reached the agent so far.
func (ts *testServer) AgentCalls() int64 { return ts.agentCalls.Load() }

// mint signs a token and remembers it as a secret the logs must not hold.
// Unless claims set aud (nil removes it), the token is for this server's
// first expected audience.
func (ts *testServer) mint(claims map[string]any, opts ...idptest.MintOption) string {
	ts.t.Helper()
	c := map[string]any{}
	if len(ts.Cfg.Audiences) > 0 {
		c["aud"] = ts.Cfg.Audiences[0]
	}
	for k, v := range claims {
		c[k] = v
	}
	tok := ts.IdP.Mint(c, opts...)
	ts.secret(tok)
	return tok
}

func (ts *testServer) secret(s string) {
	ts.secretsMu.Lock()
	defer ts.secretsMu.Unlock()
	ts.secrets = append(ts.secrets, s)
}

// assertNoSecretsLogged fails if any token or the agent token is in the logs.
func (ts *testServer) assertNoSecretsLogged() {
	ts.t.Helper()
	logs := ts.Logs.String()
	ts.secretsMu.Lock()
	defer ts.secretsMu.Unlock()
	for _, s := range ts.secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			ts.t.Errorf("a secret (%.12s…) appears in the logs", s)
		}
		// The signature alone is as good as the token for grep-based leaks.
		if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i > 20 && strings.Contains(logs, s[i+1:]) {
			ts.t.Errorf("the signature of a token (%.12s…) appears in the logs", s)
		}
	}
}
