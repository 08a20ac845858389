package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
	"github.com/pensados/sentinelx-mcp/server/doctor"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

const (
	agentToken   = "agent-token-s3cret-value"
	clientSecret = "client-s3cret-value"
)

// stack is a real IdP (idptest) and a real agent (upstream/sandbox) on loopback,
// and the environment serve would be given for them.
type stack struct {
	idp *idptest.IdP
	env map[string]string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	port := testnet.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	idp := idptest.New(t, idptest.WithIssuerPath("/realms/sx"), idptest.WithAudience(base+"/mcp"), idptest.WithScope("sentinelx:state sentinelx:exec"))
	a, err := sandbox.New(sandbox.Options{Token: agentToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	agent := httptest.NewServer(a)
	t.Cleanup(agent.Close)
	return &stack{idp: idp, env: map[string]string{
		"MCP_HOST":               "127.0.0.1",
		"MCP_PORT":               strconv.Itoa(port),
		"RESOURCE_URL":           base,
		"OIDC_ISSUER":            idp.Issuer,
		"OIDC_EXPECTED_AUDIENCE": base + "/mcp",
		"SENTINELX_URL":          agent.URL,
		"SENTINELX_TOKEN":        agentToken,
	}}
}

func (s *stack) run(t *testing.T, token string) (doctor.Report, string) {
	t.Helper()
	rep := doctor.Run(context.Background(), doctor.Options{
		Getenv: func(k string) string { return s.env[k] }, Source: "test", Token: token,
		Timeout: 3 * time.Second, Version: "test",
	})
	var text, js bytes.Buffer
	rep.WriteText(&text)
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	out := text.String() + js.String()
	for _, secret := range []string{agentToken, clientSecret} {
		if strings.Contains(out, secret) {
			t.Fatalf("report prints a secret:\n%s", out)
		}
	}
	if token != "" && strings.Contains(out, token) {
		t.Fatalf("report prints the token under test:\n%s", out)
	}
	return rep, text.String()
}

func find(t *testing.T, rep doctor.Report, name string) doctor.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, rep.Checks)
	return doctor.Check{}
}

func wantStatus(t *testing.T, rep doctor.Report, text, name string, want doctor.Status, detail string) doctor.Check {
	t.Helper()
	c := find(t, rep, name)
	if c.Status != want || !strings.Contains(c.Detail, detail) {
		t.Fatalf("%s: %s %q, want %s containing %q\n%s", name, c.Status, c.Detail, want, detail, text)
	}
	return c
}

func TestHealthyConfigurationIsReadyAndExplainsAGoodToken(t *testing.T) {
	s := newStack(t)
	tok := s.idp.Mint(nil)
	rep, text := s.run(t, tok)
	if !rep.OK {
		t.Fatalf("not OK:\n%s", text)
	}
	wantStatus(t, rep, text, "config", doctor.StatusPass, "every variable parses")
	wantStatus(t, rep, text, "issuer discovery", doctor.StatusPass, "as configured")
	keys := wantStatus(t, rep, text, "signing keys (JWKS)", doctor.StatusPass, "2 usable signing key(s)")
	if !strings.Contains(strings.Join(keys.Notes, "\n"), "alg RS256 kty RSA") {
		t.Fatalf("key notes: %q", keys.Notes)
	}
	wantStatus(t, rep, text, "agent", doctor.StatusPass, "answers GET /state")
	wantStatus(t, rep, text, "agent refuses anonymous", doctor.StatusPass, "HTTP 401")
	wantStatus(t, rep, text, "listen", doctor.StatusPass, "is free")
	wantStatus(t, rep, text, "agents file", doctor.StatusSkip, "AGENTS_FILE not set")
	tc := wantStatus(t, rep, text, "token", doctor.StatusPass, `accepted: subject "`)
	notes := strings.Join(tc.Notes, "\n")
	for _, want := range []string{"token: " + strconv.Itoa(len(tok)) + " chars, sha256 ", "matches OIDC_ISSUER", `scope: "sentinelx:state sentinelx:exec"`, "includes an expected audience", "can call: ping, sentinel_state, sentinel_exec", "sentinel_exec", "cannot call: ", "sentinel_service (needs sentinelx:service)"} {
		if !strings.Contains(notes, want) {
			t.Fatalf("token notes lack %q:\n%s", want, notes)
		}
	}
	if !strings.Contains(text, "✓ config") || !strings.Contains(text, "ready to serve") {
		t.Fatalf("text report:\n%s", text)
	}
}

func TestStoppedIdPFailsDiscoveryAndKeys(t *testing.T) {
	s := newStack(t)
	s.idp.SetDown(true)
	rep, text := s.run(t, "")
	if rep.OK {
		t.Fatalf("OK with the IdP down:\n%s", text)
	}
	wantStatus(t, rep, text, "issuer discovery", doctor.StatusFail, "HTTP 503")
	wantStatus(t, rep, text, "signing keys (JWKS)", doctor.StatusFail, "")
	if !strings.Contains(text, "✗ issuer discovery") || !strings.Contains(text, "fix: ") {
		t.Fatalf("text report:\n%s", text)
	}
}

// A host that accepts connections and never answers must not hang doctor:
// each check ends at its own deadline.
func TestHangingIdPTimesOut(t *testing.T) {
	s := newStack(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 64)
	defer func() {
		ln.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c:
			default:
				c.Close()
			}
		}
	}()
	s.env["OIDC_ISSUER"] = "http://" + ln.Addr().String() + "/realms/sx"
	rep := doctor.Run(context.Background(), doctor.Options{Getenv: func(k string) string { return s.env[k] }, Source: "test", Timeout: 300 * time.Millisecond})
	if rep.OK {
		t.Fatal("OK with a hanging IdP")
	}
	if c := find(t, rep, "issuer discovery"); c.Status != doctor.StatusFail || !strings.Contains(c.Detail, "timed out") {
		t.Fatalf("discovery: %+v", c)
	}
	if c := find(t, rep, "signing keys (JWKS)"); c.Status != doctor.StatusFail {
		t.Fatalf("jwks: %+v", c)
	}
	// The checks that do not need the IdP still ran.
	if c := find(t, rep, "agent"); c.Status != doctor.StatusPass {
		t.Fatalf("agent: %+v", c)
	}
}

func TestWrongIssuerIsNamed(t *testing.T) {
	s := newStack(t)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": "https://elsewhere.example/realms/sx", "jwks_uri": s.idp.JWKSURI()})
	}))
	defer other.Close()
	s.env["OIDC_ISSUER"] = other.URL + "/realms/sx"
	rep, text := s.run(t, "")
	if rep.OK {
		t.Fatalf("OK with a wrong issuer:\n%s", text)
	}
	c := wantStatus(t, rep, text, "issuer discovery", doctor.StatusFail, `names issuer "https://elsewhere.example/realms/sx", not OIDC_ISSUER`)
	if c.Fix == "" {
		t.Fatal("no fix")
	}
}

func TestIssuerTrailingSlashIsAWarning(t *testing.T) {
	s := newStack(t)
	s.env["OIDC_ISSUER"] = s.idp.Issuer + "/"
	rep, text := s.run(t, "")
	if !rep.OK {
		t.Fatalf("not OK:\n%s", text)
	}
	wantStatus(t, rep, text, "issuer discovery", doctor.StatusWarn, "trailing slash")
}

func TestTokenForAnotherAudienceIsRefusedAndExplained(t *testing.T) {
	s := newStack(t)
	tok := s.idp.Mint(map[string]any{"aud": "https://other.example/mcp"})
	rep, text := s.run(t, tok)
	if rep.OK {
		t.Fatalf("OK with a refused token:\n%s", text)
	}
	c := wantStatus(t, rep, text, "token", doctor.StatusFail, "refused: ")
	if !strings.Contains(c.Detail, "audience") || !strings.Contains(strings.Join(c.Notes, "\n"), `aud ["https://other.example/mcp"] has none of OIDC_EXPECTED_AUDIENCE`) {
		t.Fatalf("token check: %+v", c)
	}
	// Everything needed to serve passed; only the token failed.
	for _, ch := range rep.Checks {
		if ch.Status == doctor.StatusFail && ch.Name != "token" {
			t.Fatalf("%s failed:\n%s", ch.Name, text)
		}
	}
}

func TestExpiredTokenExplainsExpiryAndLeeway(t *testing.T) {
	s := newStack(t)
	tok := s.idp.Mint(nil, idptest.At(time.Now().Add(-2*time.Hour)))
	rep, text := s.run(t, tok)
	c := wantStatus(t, rep, text, "token", doctor.StatusFail, "refused: ")
	if !strings.Contains(strings.Join(c.Notes, "\n"), "expired 1h0m") || !strings.Contains(strings.Join(c.Notes, "\n"), "(leeway 1m0s)") {
		t.Fatalf("token notes: %q", c.Notes)
	}
}

func TestBadAgentTokenFailsWithoutPrintingIt(t *testing.T) {
	s := newStack(t)
	s.env["SENTINELX_TOKEN"] = "wrong-agent-token-value"
	rep, text := s.run(t, "")
	if rep.OK {
		t.Fatalf("OK with a wrong agent token:\n%s", text)
	}
	c := wantStatus(t, rep, text, "agent", doctor.StatusFail, "403 Forbidden")
	if !strings.Contains(c.Fix, "refused SENTINELX_TOKEN (23 chars, sha256 ") {
		t.Fatalf("fix: %q", c.Fix)
	}
	if strings.Contains(text, "wrong-agent-token-value") {
		t.Fatalf("agent token printed:\n%s", text)
	}
}

func TestStoppedAgentFails(t *testing.T) {
	s := newStack(t)
	s.env["SENTINELX_URL"] = "http://127.0.0.1:" + strconv.Itoa(testnet.FreePort(t))
	rep, text := s.run(t, "")
	c := wantStatus(t, rep, text, "agent", doctor.StatusFail, "")
	if rep.OK || !strings.Contains(c.Fix, "start the SentinelX Core agent") {
		t.Fatalf("agent check: %+v\n%s", c, text)
	}
}

func TestHostChecks(t *testing.T) {
	s := newStack(t)
	ww := t.TempDir()
	if err := os.Chmod(ww, 0o777); err != nil {
		t.Fatal(err)
	}
	s.env["EDIT_UPLOAD_LOCAL_DIR"] = ww
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s.env["MCP_PORT"] = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	s.env["RESOURCE_URL"] = "http://127.0.0.1:" + s.env["MCP_PORT"]
	s.env["OIDC_EXPECTED_AUDIENCE"] = "https://something.else/mcp"
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(pol, []byte("rules:\n  - name: broken\n    allow: [\n"), 0o600)
	s.env["POLICY_FILE"] = pol
	rep, text := s.run(t, "")
	if rep.OK {
		t.Fatalf("OK:\n%s", text)
	}
	wantStatus(t, rep, text, "edit upload directory", doctor.StatusFail, "world-writable")
	wantStatus(t, rep, text, "listen", doctor.StatusFail, "cannot listen on 127.0.0.1:")
	wantStatus(t, rep, text, "audience", doctor.StatusFail, "does not contain the MCP URL")
	wantStatus(t, rep, text, "policy", doctor.StatusFail, pol)

	os.Chmod(ww, 0o755)
	os.WriteFile(pol, []byte("rules:\n  - name: everyone\n    effect: allow\n    unconstrained_args: [\"*\"]\n"), 0o600)
	ln.Close()
	s.env["OIDC_EXPECTED_AUDIENCE"] = s.env["RESOURCE_URL"] + "/mcp"
	rep, text = s.run(t, "")
	if !rep.OK {
		t.Fatalf("not OK:\n%s", text)
	}
	wantStatus(t, rep, text, "edit upload directory", doctor.StatusPass, "mode 0755")
	wantStatus(t, rep, text, "policy", doctor.StatusPass, "compiles: 1 rule(s)")
}

func TestConfigErrorStopsEarly(t *testing.T) {
	s := newStack(t)
	delete(s.env, "SENTINELX_TOKEN")
	rep, text := s.run(t, "")
	if rep.OK || len(rep.Checks) != 2 {
		t.Fatalf("report:\n%s", text)
	}
	wantStatus(t, rep, text, "config", doctor.StatusFail, "SENTINELX_TOKEN: required")
}

func TestIntrospectionCredentials(t *testing.T) {
	s := newStack(t)
	intro := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "bridge" || secret != clientSecret {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"active":false}`))
	}))
	defer intro.Close()
	s.env["OIDC_CLIENT_ID"] = "bridge"
	s.env["OIDC_CLIENT_SECRET"] = clientSecret
	s.env["OIDC_INTROSPECTION_URL"] = intro.URL
	rep, text := s.run(t, "")
	wantStatus(t, rep, text, "introspection", doctor.StatusPass, `answers client "bridge"`)

	s.env["OIDC_CLIENT_SECRET"] = "wrong-secret"
	rep, text = s.run(t, "")
	wantStatus(t, rep, text, "introspection", doctor.StatusFail, "HTTP 401")
	if rep.OK || strings.Contains(text, "wrong-secret") {
		t.Fatalf("report:\n%s", text)
	}
}

func TestReadEnvFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.env")
	os.WriteFile(p, []byte("# comment\n; also\n\nMCP_PORT=8098\nOIDC_ISSUER=\"https://a.example/realms/x\"\nSENTINELX_TOKEN='tok en'\nOIDC_ISSUR=typo\n"), 0o600)
	vars, err := doctor.ReadEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if vars["MCP_PORT"] != "8098" || vars["OIDC_ISSUER"] != "https://a.example/realms/x" || vars["SENTINELX_TOKEN"] != "tok en" {
		t.Fatalf("vars: %q", vars)
	}
	if u := doctor.Unknown(vars); len(u) != 1 || u[0] != "OIDC_ISSUR" {
		t.Fatalf("unknown: %q", u)
	}
	os.WriteFile(p, []byte("SENTINELX_TOKEN=ok\nthis line holds s3cret\n"), 0o600)
	_, err = doctor.ReadEnvFile(p)
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err: %v", err)
	}
}

// Beside the running service its port is taken by sentinelx-mcp itself:
// a warning, not a failure, so doctor can vet an edit before a restart.
func TestPortHeldByRunningBridgeIsAWarning(t *testing.T) {
	s := newStack(t)
	bridge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok","version":"v9.9.9"}`))
	}))
	defer bridge.Close()
	s.env["MCP_PORT"] = strings.TrimPrefix(bridge.URL, "http://127.0.0.1:")
	rep, text := s.run(t, "")
	wantStatus(t, rep, text, "listen", doctor.StatusWarn, "held by a running sentinelx-mcp v9.9.9")
	if !rep.OK {
		t.Fatalf("not OK:\n%s", text)
	}
}
