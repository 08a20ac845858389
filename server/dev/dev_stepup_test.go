package dev

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// headlessBrowser plays the user's browser for an authorization URL of the
// dev authorization server: it follows the redirects inside the issuer (the
// consent page auto-approves) and stops at the client's redirect URI.
type headlessBrowser struct {
	issuer string

	mu     sync.Mutex
	scopes []string // the scope parameter of every authorization, in order
}

func (b *headlessBrowser) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	u, err := url.Parse(args.URL)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.scopes = append(b.scopes, u.Query().Get("scope"))
	b.mu.Unlock()
	loc, err := b.follow(ctx, args.URL)
	if err != nil {
		return nil, err
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return nil, fmt.Errorf("authorization refused: %s: %s", e, q.Get("error_description"))
	}
	return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
}

// follow GETs start and follows redirects within the issuer; it returns
// the first Location outside it.
func (b *headlessBrowser) follow(ctx context.Context, start string) (*url.URL, error) {
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), b.issuer+"/") {
			return nil
		}
		return http.ErrUseLastResponse
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("authorization ended with %s and no redirect", resp.Status)
	}
	return loc, nil
}

func (b *headlessBrowser) asked() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.scopes...)
}

// TestDevStepUpGoSDKClient: go-sdk's own authorization-code client against
// dev mode, given nothing but the MCP URL. It registers dynamically with the
// scope of the first challenge (sentinelx:state), signs in, gets the 403 on
// sentinel_exec, re-authorizes for the challenged scope and the call
// succeeds; state still works afterwards without another sign-in. The dev
// authorization server used to refuse that second authorization
// (invalid_scope: the registered scope was a ceiling).
func TestDevStepUpGoSDKClient(t *testing.T) {
	d := startDev(t, Options{})
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(version, func(t *testing.T) {
			b := &headlessBrowser{issuer: d.issuer}
			redirect := fmt.Sprintf("http://127.0.0.1:%d/callback", testnet.FreePort(t))
			h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
				DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{
					Metadata: &oauthex.ClientRegistrationMetadata{
						ClientName: "go-sdk step-up", RedirectURIs: []string{redirect},
						TokenEndpointAuthMethod: "none", GrantTypes: []string{"authorization_code", "refresh_token"},
						// The scope of the first challenge, as the MCP scope-selection strategy has it.
						Scope: "sentinelx:state",
					},
				},
				RedirectURL:              redirect,
				AuthorizationCodeFetcher: b.fetch,
				Client:                   &http.Client{Timeout: 10 * time.Second},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := mcp.NewClient(&mcp.Implementation{Name: "go-sdk-step-up", Version: "1"}, nil)
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
				Endpoint: d.mcpURL, HTTPClient: &http.Client{Timeout: 10 * time.Second}, OAuthHandler: h, MaxRetries: -1,
			}, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()

			call := func(name string, args map[string]any) {
				t.Helper()
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
				if err != nil {
					t.Fatalf("%s: %v (authorizations: %q)\n%s", name, err, b.asked(), d.stderr.String())
				}
				if res.IsError {
					raw, _ := json.Marshal(res)
					t.Fatalf("%s: isError %s", name, raw)
				}
			}
			call("sentinel_state", map[string]any{})
			if got := b.asked(); len(got) != 1 || got[0] != "sentinelx:state" {
				t.Fatalf("authorizations %q, want one for the 401's sentinelx:state", got)
			}
			call("sentinel_exec", map[string]any{"cmd": "uptime"})
			got := b.asked()
			if len(got) != 2 || !strings.Contains(" "+got[1]+" ", " sentinelx:exec ") || !strings.Contains(" "+got[1]+" ", " sentinelx:state ") {
				t.Fatalf("authorizations %q, want a second one for sentinelx:state and sentinelx:exec", got)
			}
			call("sentinel_state", map[string]any{})
			call("sentinel_exec", map[string]any{"cmd": "uptime"})
			if n := len(b.asked()); n != 2 {
				t.Errorf("%d authorizations, want 2: the stepped-up token serves both tools", n)
			}
		})
	}
}

// TestDevRootFormResource: a client that found the server through the root
// PRM (resource = the base URL, RFC 9728 §3.3) asks the dev authorization
// server for a token for that resource; it gets one, and the bridge
// accepts it. The status page shows no root-audience warning.
func TestDevRootFormResource(t *testing.T) {
	d := startDev(t, Options{})
	base := strings.TrimSuffix(d.mcpURL, "/mcp")
	var prm struct {
		Resource string `json:"resource"`
	}
	getJSON(t, base+"/.well-known/oauth-protected-resource", &prm)
	if prm.Resource != base {
		t.Fatalf("root PRM resource %q, want %q", prm.Resource, base)
	}

	redirect := fmt.Sprintf("http://127.0.0.1:%d/cb", testnet.FreePort(t))
	reg, _ := json.Marshal(map[string]any{"redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none", "scope": "sentinelx:state"})
	resp, err := http.Post(d.issuer+"/register", "application/json", strings.NewReader(string(reg)))
	if err != nil {
		t.Fatal(err)
	}
	var client map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&client)
	resp.Body.Close()
	clientID, _ := client["client_id"].(string)
	if clientID == "" {
		t.Fatalf("register: %s %v", resp.Status, client)
	}

	verifier := "root-form-" + strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	b := &headlessBrowser{issuer: d.issuer}
	loc, err := b.follow(context.Background(), d.issuer+"/authorize?"+url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"sentinelx:state"},
		"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {prm.Resource},
	}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if e := loc.Query().Get("error"); e != "" {
		t.Fatalf("authorization for the root-form resource refused: %s: %s", e, loc.Query().Get("error_description"))
	}
	resp, err = http.PostForm(d.issuer+"/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {prm.Resource},
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
	var claims struct {
		Aud any `json:"aud"`
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(at, ".")[1])
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Aud != base {
		t.Fatalf("aud %v (%v), want %s", claims.Aud, err, base)
	}
	res := callTool(t, d.mcpURL, at, "sentinel_state", map[string]any{})
	if res["isError"] == true {
		t.Errorf("sentinel_state with the root-form token: %v", res)
	}

	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(page), `id="root-audience-warning"`) {
		t.Error("dev mode's status page warns that the root-form audience is missing")
	}
}

// TestDevLibraryLogQuiet: the handler Dev gives for the process-wide slog
// default (where zitadel/oidc's op logs "registered route") writes library
// Info lines only at LOG_LEVEL=debug, and keeps warnings.
func TestDevLibraryLogQuiet(t *testing.T) {
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			var lib *slog.Logger
			d := startDev(t, Options{NoAgent: true, LibraryLog: func(h slog.Handler) { lib = slog.New(h) },
				Getenv: func(k string) string {
					if k == "LOG_LEVEL" {
						return level
					}
					return ""
				}})
			if lib == nil {
				t.Fatal("LibraryLog was not called")
			}
			lib.Info("registered route", "endpoint", "/authorize")
			lib.Warn("request error", "oidc_error.type", "invalid_scope")
			out := d.stderr.String()
			if got := strings.Contains(out, "registered route"); got != (level == "debug") {
				t.Errorf("LOG_LEVEL=%s: library Info line written = %v:\n%s", level, got, out)
			}
			if !strings.Contains(out, "request error") {
				t.Errorf("LOG_LEVEL=%s: library warning lost:\n%s", level, out)
			}
		})
	}
}
