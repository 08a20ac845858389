package devidp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/pensados/sentinelx-mcp/server/dev/devidp"
)

const testResource = "http://127.0.0.1:8099/mcp"

var testScopes = []string{"sentinelx:state", "sentinelx:exec"}

// startIdP serves a fresh authorization server on a loopback port.
func startIdP(t *testing.T) (*devidp.IdP, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	idp, err := devidp.New(devidp.Options{Issuer: issuer, Resources: []string{testResource}, Scopes: testScopes})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = idp.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return idp, issuer
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// postForm posts form to the token endpoint and decodes the JSON answer.
func postForm(t *testing.T, u string, form url.Values, user, pass string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func register(t *testing.T, issuer string, body map[string]any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(issuer+"/register", "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestDiscovery(t *testing.T) {
	_, issuer := startIdP(t)
	oidcDoc := getJSON(t, issuer+"/.well-known/openid-configuration")
	asDoc := getJSON(t, issuer+"/.well-known/oauth-authorization-server")
	for name, d := range map[string]map[string]any{"openid-configuration": oidcDoc, "oauth-authorization-server": asDoc} {
		t.Run(name, func(t *testing.T) {
			if d["issuer"] != issuer {
				t.Errorf("issuer = %v, want %s", d["issuer"], issuer)
			}
			if d["registration_endpoint"] != issuer+"/register" {
				t.Errorf("registration_endpoint = %v", d["registration_endpoint"])
			}
			if d["authorization_response_iss_parameter_supported"] != true {
				t.Error("authorization_response_iss_parameter_supported is not true")
			}
			for field, want := range map[string][]string{
				"code_challenge_methods_supported": {"S256"},
				"grant_types_supported":            {"authorization_code", "refresh_token", "client_credentials"},
				"response_types_supported":         {"code"},
				"scopes_supported":                 testScopes,
			} {
				got, _ := json.Marshal(d[field])
				for _, w := range want {
					if !strings.Contains(string(got), `"`+w+`"`) {
						t.Errorf("%s = %s, missing %q", field, got, w)
					}
				}
			}
		})
	}
	keys := getJSON(t, oidcDoc["jwks_uri"].(string))
	if ks, _ := keys["keys"].([]any); len(ks) != 1 {
		t.Fatalf("jwks: %v", keys)
	}
}

func TestNewRefusesNonLoopbackIssuer(t *testing.T) {
	for _, iss := range []string{"http://0.0.0.0:8100", "https://auth.example.com", "http://192.168.1.2:8100", "not a url"} {
		if _, err := devidp.New(devidp.Options{Issuer: iss, Resources: []string{testResource}}); err == nil {
			t.Errorf("New(%q) succeeded", iss)
		}
	}
}

func TestRegister(t *testing.T) {
	_, issuer := startIdP(t)
	tests := []struct {
		name     string
		body     map[string]any
		status   int
		errCode  string
		secret   bool
		wantType string
	}{
		{"web loopback, default auth method gets a secret", map[string]any{"redirect_uris": []string{"http://localhost:6274/oauth/callback"}}, 201, "", true, "web"},
		{"native loopback, public", map[string]any{"application_type": "native", "token_endpoint_auth_method": "none", "redirect_uris": []string{"http://127.0.0.1/cb"}, "grant_types": []string{"authorization_code", "refresh_token"}}, 201, "", false, "native"},
		{"native private-use scheme", map[string]any{"application_type": "native", "token_endpoint_auth_method": "none", "redirect_uris": []string{"com.example.app:/oauth"}}, 201, "", false, "native"},
		{"web private-use scheme refused", map[string]any{"application_type": "web", "redirect_uris": []string{"com.example.app:/oauth"}}, 400, "invalid_redirect_uri", false, ""},
		{"remote https refused in dev", map[string]any{"redirect_uris": []string{"https://claude.ai/api/mcp/auth_callback"}}, 400, "invalid_redirect_uri", false, ""},
		{"fragment refused", map[string]any{"redirect_uris": []string{"http://127.0.0.1:9/cb#x"}}, 400, "invalid_redirect_uri", false, ""},
		{"code grant needs redirect_uris", map[string]any{"token_endpoint_auth_method": "none"}, 400, "invalid_redirect_uri", false, ""},
		{"client_credentials", map[string]any{"grant_types": []string{"client_credentials"}}, 201, "", true, "web"},
		{"client_credentials needs a secret", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "none"}, 400, "invalid_client_metadata", false, ""},
		{"unknown application_type", map[string]any{"application_type": "desktop", "redirect_uris": []string{"http://127.0.0.1/cb"}}, 400, "invalid_client_metadata", false, ""},
		{"implicit refused", map[string]any{"grant_types": []string{"implicit"}, "redirect_uris": []string{"http://127.0.0.1/cb"}}, 400, "invalid_client_metadata", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, m := register(t, issuer, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, m)
			}
			if tt.errCode != "" {
				if m["error"] != tt.errCode || m["error_description"] == "" {
					t.Errorf("error = %v, want %s with a description", m, tt.errCode)
				}
				return
			}
			if m["client_id"] == "" || m["application_type"] != tt.wantType {
				t.Errorf("response %v", m)
			}
			if _, has := m["client_secret"]; has != tt.secret {
				t.Errorf("client_secret present = %v, want %v", has, tt.secret)
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	idp, issuer := startIdP(t)
	id, secret := idp.DevClient()
	tests := []struct {
		name    string
		form    url.Values
		status  int
		errCode string
		scope   string
	}{
		{"default scope and resource", url.Values{}, 200, "", "sentinelx:state sentinelx:exec"},
		{"narrowed scope", url.Values{"scope": {"sentinelx:state"}, "resource": {testResource}}, 200, "", "sentinelx:state"},
		{"unknown resource", url.Values{"resource": {"http://127.0.0.1:1/other"}}, 400, "invalid_target", ""},
		{"unknown scope", url.Values{"scope": {"admin"}}, 400, "invalid_scope", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("grant_type", "client_credentials")
			status, m := postForm(t, issuer+"/oauth/token", tt.form, id, secret)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, m)
			}
			if tt.errCode != "" {
				if m["error"] != tt.errCode {
					t.Errorf("error = %v, want %s", m["error"], tt.errCode)
				}
				return
			}
			claims := parseAT(t, idp, m["access_token"].(string))
			if claims["aud"] != testResource || claims["scope"] != tt.scope || claims["client_id"] != id || claims["iss"] != issuer {
				t.Errorf("claims %v", claims)
			}
		})
	}
	if status, _ := postForm(t, issuer+"/oauth/token", url.Values{"grant_type": {"client_credentials"}}, id, "wrong"); status < 400 {
		t.Errorf("wrong secret: status %d", status)
	}
}

// parseAT checks the header of an access token and returns its claims.
func parseAT(t *testing.T, idp *devidp.IdP, tok string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders["typ"] != "at+jwt" || h.KeyID == "" {
		t.Errorf("header typ=%v kid=%q", h.ExtraHeaders["typ"], h.KeyID)
	}
	var c map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if exp, _ := c["exp"].(float64); time.Until(time.Unix(int64(exp), 0)) <= 0 {
		t.Error("token already expired")
	}
	return c
}

func pkce() (verifier, challenge string) {
	verifier = "v-" + strings.Repeat("x", 50) + time.Now().Format("150405.000000")
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize runs /authorize → consent → callback with a client that follows
// redirects until the client's redirect URI, and returns that URL.
func authorize(t *testing.T, issuer string, q url.Values) (*url.URL, int) {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), issuer) {
			return nil
		}
		return http.ErrUseLastResponse
	}}
	resp, err := hc.Get(issuer + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := resp.Location()
	return loc, resp.StatusCode
}

func TestAuthorizationCodeFlow(t *testing.T) {
	idp, issuer := startIdP(t)
	_, m := register(t, issuer, map[string]any{
		"application_type": "native", "token_endpoint_auth_method": "none", "client_name": "test",
		"redirect_uris": []string{"http://127.0.0.1/callback"}, "grant_types": []string{"authorization_code", "refresh_token"},
	})
	clientID := m["client_id"].(string)
	// RFC 8252 §7.3: a native client's loopback redirect may use any port.
	redirect := "http://127.0.0.1:" + freePort(t) + "/callback"

	start := func(t *testing.T) (code, verifier string) {
		verifier, challenge := pkce()
		loc, status := authorize(t, issuer, url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
			"scope": {"openid sentinelx:state"}, "state": {"st8"}, "nonce": {"n0"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {testResource},
		})
		if status != http.StatusFound || loc == nil {
			t.Fatalf("authorize: status %d", status)
		}
		q := loc.Query()
		if q.Get("iss") != issuer || q.Get("state") != "st8" || q.Get("code") == "" {
			t.Fatalf("authorization response %s: want code, state and iss=%s (RFC 9207)", loc, issuer)
		}
		return q.Get("code"), verifier
	}
	exchange := func(code, verifier, redirectURI string) (int, map[string]any) {
		return postForm(t, issuer+"/oauth/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
			"redirect_uri": {redirectURI}, "code_verifier": {verifier}, "resource": {testResource},
		}, "", "")
	}

	t.Run("code, token, refresh", func(t *testing.T) {
		code, verifier := start(t)
		status, tok := exchange(code, verifier, redirect)
		if status != 200 {
			t.Fatalf("token: %d %v", status, tok)
		}
		c := parseAT(t, idp, tok["access_token"].(string))
		if c["aud"] != testResource || c["sub"] != "dev" || c["scope"] != "openid sentinelx:state" {
			t.Errorf("claims %v", c)
		}
		if tok["id_token"] == nil || tok["refresh_token"] == nil {
			t.Fatalf("want id_token and refresh_token: %v", tok)
		}
		rt := tok["refresh_token"].(string)
		status, ref := postForm(t, issuer+"/oauth/token", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}, "scope": {"sentinelx:state"},
		}, "", "")
		if status != 200 {
			t.Fatalf("refresh: %d %v", status, ref)
		}
		if c := parseAT(t, idp, ref["access_token"].(string)); c["scope"] != "sentinelx:state" || c["aud"] != testResource {
			t.Errorf("refreshed claims %v", c)
		}
		if ref["refresh_token"] == nil || ref["refresh_token"] == rt {
			t.Error("refresh token was not rotated")
		}
		if status, _ := postForm(t, issuer+"/oauth/token", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID},
		}, "", ""); status != 400 {
			t.Errorf("old refresh token reused: %d", status)
		}
		if status, again := exchange(code, verifier, redirect); status != 400 || again["error"] != "invalid_grant" {
			t.Errorf("code reuse: %d %v", status, again)
		}
	})
	t.Run("wrong code_verifier", func(t *testing.T) {
		code, _ := start(t)
		if status, m := exchange(code, "wrong-verifier-"+strings.Repeat("y", 40), redirect); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("got %d %v", status, m)
		}
	})
	t.Run("redirect_uri mismatch at the token endpoint", func(t *testing.T) {
		code, verifier := start(t)
		if status, m := exchange(code, verifier, "http://127.0.0.1/other"); status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("got %d %v", status, m)
		}
	})
	t.Run("unregistered redirect_uri is not redirected to", func(t *testing.T) {
		_, challenge := pkce()
		loc, status := authorize(t, issuer, url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {"http://127.0.0.1/evil"},
			"scope": {"sentinelx:state"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		})
		if status != http.StatusBadRequest || loc != nil {
			t.Errorf("status %d, location %v", status, loc)
		}
	})
	t.Run("unknown client_id is a 400, not redirected", func(t *testing.T) {
		_, challenge := pkce()
		q := url.Values{
			"response_type": {"code"}, "client_id": {"no-such-client"}, "redirect_uri": {redirect},
			"scope": {"sentinelx:state"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}
		loc, status := authorize(t, issuer, q)
		if status != http.StatusBadRequest || loc != nil {
			t.Fatalf("status %d, location %v: want 400 and no redirect (RFC 6749 §4.1.2.1)", status, loc)
		}
		resp, err := http.Get(issuer + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e["error"] != "invalid_request" {
			t.Errorf("body %v (%v): want error invalid_request", e, err)
		}
	})
	t.Run("PKCE is required, error carries iss", func(t *testing.T) {
		loc, _ := authorize(t, issuer, url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
			"scope": {"sentinelx:state"}, "state": {"s"},
		})
		if loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("iss") != issuer {
			t.Errorf("location %v", loc)
		}
	})
	t.Run("unknown resource", func(t *testing.T) {
		_, challenge := pkce()
		loc, _ := authorize(t, issuer, url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"sentinelx:state"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {"http://127.0.0.1:1/x"},
		})
		if loc == nil || loc.Query().Get("error") != "invalid_target" {
			t.Errorf("location %v", loc)
		}
	})
}

func TestConsentPageForBrowsers(t *testing.T) {
	_, issuer := startIdP(t)
	_, m := register(t, issuer, map[string]any{"token_endpoint_auth_method": "none", "client_name": "Inspector", "redirect_uris": []string{"http://localhost:6274/oauth/callback"}})
	_, challenge := pkce()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(issuer + "/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {m["client_id"].(string)}, "redirect_uri": {"http://localhost:6274/oauth/callback"},
		"scope": {"sentinelx:exec"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, resp.Header.Get("Location"), nil)
	req.Header.Set("Accept", "text/html")
	page, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	body, _ := io.ReadAll(page.Body)
	for _, want := range []string{"Inspector", "sentinelx:exec", testResource, "http://localhost:6274/oauth/callback", "/authorize/callback?id="} {
		if !strings.Contains(string(body), want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}
