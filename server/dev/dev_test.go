package dev

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/testlog"
	"github.com/pensados/sentinelx-mcp/middleware/oidcverify"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

var (
	devMCPURLRe = regexp.MustCompile(`(?m)^  MCP URL\s+(\S+)$`)
	devIssuerRe = regexp.MustCompile(`(?m)^  Issuer\s+(\S+)`)
	devTokenRe  = regexp.MustCompile(`(?m)^(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`)
)

// devRun is one running dev mode and what its banner says.
type devRun struct {
	banner, mcpURL, issuer, token string
	stderr                        *testlog.Buffer
}

// startDev runs Dev on free ports until the test ends and waits for the
// banner.
func startDev(t *testing.T, o Options) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &testlog.Buffer{}, &testlog.Buffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, out, errOut) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Dev returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Dev did not stop within 10 s")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "--- end of smoke test ---") {
		select {
		case err := <-done:
			t.Fatalf("Dev stopped before its banner: %v\n%s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 10 s; stderr:\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	b := out.String()
	r := &devRun{banner: b, stderr: errOut}
	for _, f := range []struct {
		re  *regexp.Regexp
		dst *string
	}{{devMCPURLRe, &r.mcpURL}, {devIssuerRe, &r.issuer}, {devTokenRe, &r.token}} {
		m := f.re.FindStringSubmatch(b)
		if m == nil {
			t.Fatalf("banner lacks %s:\n%s", f.re, b)
		}
		*f.dst = m[1]
	}
	return r
}

// callTool sends one stateless tools/call and returns the JSON-RPC result.
func callTool(t *testing.T, mcpURL, token, name string, args map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": map[string]any{"name": name, "arguments": args}})
	req, _ := http.NewRequest(http.MethodPost, mcpURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var msg struct {
		Result map[string]any `json:"result"`
		Error  any            `json:"error"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &msg) != nil || msg.Error != nil {
		t.Fatalf("tools/call %s: %s %s", name, resp.Status, raw)
	}
	return msg.Result
}

func TestDevBannerSmokeTest(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("jq not installed")
	}
	d := startDev(t, Options{})
	for _, want := range []string{
		"PRM         " + strings.TrimSuffix(d.mcpURL, "/mcp") + "/.well-known/oauth-protected-resource/mcp",
		"npx @modelcontextprotocol/inspector@1.0.3 --cli " + d.mcpURL + " --transport http --header \"Authorization: Bearer " + d.token + "\" --method tools/list",
		`"args": ["-y", "mcp-remote@0.15.1", "` + d.mcpURL + `", "--allow-http"]`,
	} {
		if !strings.Contains(d.banner, want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	steps := d.banner[strings.Index(d.banner, "# 1. Initialize"):strings.Index(d.banner, "--- end of smoke test")]
	for _, s := range []string{"# 2. Notify initialized", "# 3. Call ping (public)", "# 4. Call a protected tool", "Bearer " + d.token} {
		if !strings.Contains(steps, s) {
			t.Fatalf("smoke test lacks %q:\n%s", s, steps)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail\n"+steps).CombinedOutput()
	if err != nil {
		t.Fatalf("smoke test: %v\n%s", err, out)
	}
	got := string(out)
	ping := strings.Index(got, `"id": "2"`)
	exe := strings.Index(got, `"id": "3"`)
	if ping < 0 || exe < ping {
		t.Fatalf("want the ping result then the exec result:\n%s", got)
	}
	if !strings.Contains(got[ping:exe], `"ok": true`) {
		t.Errorf("step 3 (ping) result:\n%s", got[ping:exe])
	}
	if !strings.Contains(got[exe:], `"returncode": 0`) || !strings.Contains(got[exe:], " up ") || !strings.Contains(got[exe:], `"subject": "dev"`) {
		t.Errorf("step 4 (sentinel_exec uptime) result:\n%s", got[exe:])
	}
	if strings.Contains(got, `"isError": true`) || strings.Contains(got, `"error"`) {
		t.Errorf("smoke test shows an error:\n%s", got)
	}
}

// TestDevOAuthToTool goes from discovery to a tool call with a token the
// bridge's own verifier accepts: DCR, client_credentials with resource.
func TestDevOAuthToTool(t *testing.T) {
	d := startDev(t, Options{})
	var disc map[string]any
	var prm struct {
		AuthorizationServers []string `json:"authorization_servers"`
		Resource             string   `json:"resource"`
	}
	getJSON(t, strings.TrimSuffix(d.mcpURL, "/mcp")+"/.well-known/oauth-protected-resource/mcp", &prm)
	if len(prm.AuthorizationServers) != 1 || prm.AuthorizationServers[0] != d.issuer || prm.Resource != d.mcpURL {
		t.Fatalf("PRM %+v, want issuer %s", prm, d.issuer)
	}
	getJSON(t, d.issuer+"/.well-known/oauth-authorization-server", &disc)
	if disc["issuer"] != d.issuer {
		t.Fatalf("RFC 8414 issuer %v", disc["issuer"])
	}

	regBody := `{"client_name":"test","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`
	resp, err := http.Post(disc["registration_endpoint"].(string), "application/json", strings.NewReader(regBody))
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %s %v", resp.Status, reg)
	}
	resp, err = http.PostForm(disc["token_endpoint"].(string), url.Values{
		"grant_type": {"client_credentials"}, "client_id": {reg["client_id"].(string)},
		"client_secret": {reg["client_secret"].(string)}, "resource": {d.mcpURL}, "scope": {"sentinelx:state"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	at, _ := tok["access_token"].(string)
	if at == "" {
		t.Fatalf("token: %s %v", resp.Status, tok)
	}

	v, err := oidcverify.New(oidcverify.Config{Issuer: d.issuer, Audiences: []string{d.mcpURL}, RequireATJWT: true})
	if err != nil {
		t.Fatal(err)
	}
	info, err := v.Verify(context.Background(), at, nil)
	if err != nil {
		t.Fatalf("the bridge's verifier refuses the token: %v", err)
	}
	if len(info.Scopes) != 1 || info.Scopes[0] != "sentinelx:state" {
		t.Errorf("scopes %v", info.Scopes)
	}
	if _, err := v.Verify(context.Background(), d.token, nil); err != nil {
		t.Errorf("the banner token does not verify: %v", err)
	}

	res := callTool(t, d.mcpURL, at, "sentinel_state", map[string]any{})
	sc, _ := res["structuredContent"].(map[string]any)
	if res["isError"] == true || sc == nil || sc["total_executions"] == nil {
		t.Errorf("sentinel_state result %v", res)
	}
	req, _ := http.NewRequest(http.MethodPost, d.mcpURL, strings.NewReader(
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sentinel_exec","arguments":{"cmd":"uptime"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sentinel_exec with a sentinelx:state token: %s, want 403", resp.Status)
	}
}

func TestDevUpstreamChoice(t *testing.T) {
	agent := sandbox.Start(t, sandbox.Options{Token: "real-agent-token"})
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	t.Run("SENTINELX_URL uses that agent", func(t *testing.T) {
		d := startDev(t, Options{Getenv: env("SENTINELX_URL", agent.URL, "SENTINELX_TOKEN", "real-agent-token")})
		if !strings.Contains(d.banner, "SENTINELX_URL "+agent.URL) || strings.Contains(d.banner, "embedded sandbox") {
			t.Errorf("banner agent line:\n%s", d.banner)
		}
		res := callTool(t, d.mcpURL, d.token, "sentinel_state", map[string]any{})
		if res["isError"] == true {
			t.Errorf("sentinel_state via SENTINELX_URL: %v", res)
		}
	})
	t.Run("SENTINELX_URL without a token is refused", func(t *testing.T) {
		err := Run(context.Background(), Options{Getenv: env("SENTINELX_URL", agent.URL)}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SENTINELX_TOKEN") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no agent", func(t *testing.T) {
		d := startDev(t, Options{NoAgent: true, Getenv: env()})
		if !strings.Contains(d.banner, "none (--no-agent)") {
			t.Errorf("banner:\n%s", d.banner)
		}
		// Authentication still works; the call itself finds no agent.
		res := callTool(t, d.mcpURL, d.token, "ping", map[string]any{})
		if res["isError"] == true {
			t.Errorf("ping: %v", res)
		}
	})
}

func TestDevRefusesNonLoopback(t *testing.T) {
	for _, host := range []string{"0.0.0.0", "::", "192.168.1.10", "example.com"} {
		err := Run(context.Background(), Options{Host: host}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("host %q: err = %v", host, err)
		}
	}
}

// getJSON GETs u and decodes its JSON body into v, failing the test on
// either error.
func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
