package devidp_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// startCode runs /authorize → consent → callback and returns the code and
// its PKCE verifier.
func startCode(t *testing.T, issuer, clientID, redirect, scope string) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkce()
	loc, status := authorize(t, issuer, url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {testResource},
	})
	if status != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: status %d, location %v", status, loc)
	}
	return loc.Query().Get("code"), verifier
}

func token(t *testing.T, issuer string, form url.Values) (int, map[string]any) {
	t.Helper()
	return postForm(t, issuer+"/oauth/token", form, "", "")
}

func codeForm(clientID, code, verifier, redirect string) url.Values {
	return url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {testResource},
	}
}

func refreshForm(clientID, rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {clientID}}
}

// introspect asks the token endpoint's sibling whether an access token is
// active, as the dev client (RFC 7662).
func introspect(t *testing.T, idp interface{ DevClient() (string, string) }, issuer, at string) bool {
	t.Helper()
	id, secret := idp.DevClient()
	_, m := postForm(t, issuer+"/oauth/introspect", url.Values{"token": {at}}, id, secret)
	return m["active"] == true
}

// A redirect URI that reaches the authorization server under another
// loopback name or the scheme's implied port is refused, at registration
// and, for native clients whose loopback port is free at authorization
// time (RFC 8252 §7.3), at /authorize.
func TestRedirectIntoTheASIsRefused(t *testing.T) {
	_, issuer := startIdP(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(issuer, "http://"))
	for _, uri := range []string{
		issuer + "/keys",
		"http://localhost:" + port + "/keys",
		"http://[::1]:" + port + "/authorize/callback",
		"http://127.0.0.2:" + port + "/x",
		"https://LOCALHOST:" + port + "/",
	} {
		for _, app := range []string{"web", "native"} {
			status, m := register(t, issuer, map[string]any{
				"application_type": app, "token_endpoint_auth_method": "none", "redirect_uris": []string{uri},
			})
			if status != http.StatusBadRequest || m["error"] != "invalid_redirect_uri" {
				t.Errorf("%s client with redirect %s: %d %v", app, uri, status, m)
			}
		}
	}
	// Another loopback port is a client's listener, and fine.
	if status, m := register(t, issuer, map[string]any{
		"token_endpoint_auth_method": "none", "redirect_uris": []string{"http://localhost:" + freePort(t) + "/cb"},
	}); status != http.StatusCreated {
		t.Errorf("loopback redirect on another port: %d %v", status, m)
	}

	clientID, _ := codeClient(t, issuer, "")
	_, challenge := pkce()
	for _, uri := range []string{"http://localhost:" + port + "/keys", "http://127.0.0.1:" + port + "/callback"} {
		loc, status := authorize(t, issuer, url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {uri}, "scope": {"sentinelx:state"},
			"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		})
		if status != http.StatusBadRequest || loc != nil {
			t.Errorf("native client, redirect %s at /authorize: status %d, location %v; want 400, no redirect", uri, status, loc)
		}
	}
}

// Replaying a rotated refresh token, or a used code, revokes every token
// of that authorization (RFC 9700 §4.14.2, RFC 6749 §4.1.2).
func TestReplayRevokesTheGrantFamily(t *testing.T) {
	idp, issuer := startIdP(t)
	clientID, redirect := codeClient(t, issuer, "")

	t.Run("refresh token", func(t *testing.T) {
		code, verifier := startCode(t, issuer, clientID, redirect, "sentinelx:state")
		_, tok := token(t, issuer, codeForm(clientID, code, verifier, redirect))
		rt1 := tok["refresh_token"].(string)
		st, ref := token(t, issuer, refreshForm(clientID, rt1))
		if st != http.StatusOK {
			t.Fatalf("refresh: %d %v", st, ref)
		}
		rt2, at2 := ref["refresh_token"].(string), ref["access_token"].(string)
		if !introspect(t, idp, issuer, at2) {
			t.Fatal("the refreshed access token is not active")
		}
		if st, m := token(t, issuer, refreshForm(clientID, rt1)); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("replayed refresh token: %d %v", st, m)
		}
		if st, m := token(t, issuer, refreshForm(clientID, rt2)); st != http.StatusBadRequest {
			t.Errorf("the token the replayed one was rotated into still works: %d %v", st, m)
		}
		if introspect(t, idp, issuer, at2) {
			t.Error("an access token of the revoked family is still active at introspection")
		}
	})
	t.Run("authorization code", func(t *testing.T) {
		code, verifier := startCode(t, issuer, clientID, redirect, "sentinelx:state")
		_, tok := token(t, issuer, codeForm(clientID, code, verifier, redirect))
		if st, m := token(t, issuer, codeForm(clientID, code, verifier, redirect)); st != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("code reuse: %d %v", st, m)
		}
		if st, m := token(t, issuer, refreshForm(clientID, tok["refresh_token"].(string))); st != http.StatusBadRequest {
			t.Errorf("refresh token issued for a replayed code still works: %d %v", st, m)
		}
	})
	t.Run("other families are untouched", func(t *testing.T) {
		code, verifier := startCode(t, issuer, clientID, redirect, "sentinelx:state")
		_, keep := token(t, issuer, codeForm(clientID, code, verifier, redirect))
		code, verifier = startCode(t, issuer, clientID, redirect, "sentinelx:state")
		_, burn := token(t, issuer, codeForm(clientID, code, verifier, redirect))
		token(t, issuer, refreshForm(clientID, burn["refresh_token"].(string)))
		token(t, issuer, refreshForm(clientID, burn["refresh_token"].(string))) // replay
		if st, m := token(t, issuer, refreshForm(clientID, keep["refresh_token"].(string))); st != http.StatusOK {
			t.Errorf("a refresh token of another sign-in was revoked: %d %v", st, m)
		}
	})
}

// /authorize, /oauth/token and the rest of op's endpoints never reflect an
// Origin with credentials: any page could otherwise make credentialed calls.
func TestNoCredentialedCORS(t *testing.T) {
	_, issuer := startIdP(t)
	const evil = "https://evil.example"
	check := func(name string, req *http.Request) {
		t.Helper()
		req.Header.Set("Origin", evil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if v := resp.Header.Get("Access-Control-Allow-Credentials"); v != "" {
			t.Errorf("%s: Access-Control-Allow-Credentials: %s", name, v)
		}
		if v := resp.Header.Get("Access-Control-Allow-Origin"); v == evil {
			t.Errorf("%s: Origin reflected in Access-Control-Allow-Origin", name)
		}
	}
	for _, path := range []string{"/authorize", "/oauth/token", "/.well-known/openid-configuration", "/keys"} {
		pre, _ := http.NewRequest(http.MethodOptions, issuer+path, nil)
		pre.Header.Set("Access-Control-Request-Method", http.MethodPost)
		pre.Header.Set("Access-Control-Request-Headers", "content-type, authorization")
		check("preflight "+path, pre)
		get, _ := http.NewRequest(http.MethodGet, issuer+path, nil)
		check("GET "+path, get)
	}
	post, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	check("POST /oauth/token", post)

	// Browser clients still read the token endpoint's answers.
	get, _ := http.NewRequest(http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	get.Header.Set("Origin", "http://localhost:6274")
	resp, err := http.DefaultTransport.RoundTrip(get)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "*" {
		t.Errorf("discovery Access-Control-Allow-Origin %q, want *", v)
	}
}

// An exchange that fails on the request's own input leaves the code or
// refresh token usable; see grants.go for which failures spend it.
func TestFailedExchangeDoesNotBurn(t *testing.T) {
	_, issuer := startIdP(t)
	clientID, redirect := codeClient(t, issuer, "")
	otherID, _ := codeClient(t, issuer, "")

	t.Run("code", func(t *testing.T) {
		code, verifier := startCode(t, issuer, clientID, redirect, "sentinelx:state")
		bad := []struct {
			name string
			form url.Values
		}{
			{"wrong code_verifier", codeForm(clientID, code, "wrong-"+strings.Repeat("v", 45), redirect)},
			{"wrong redirect_uri", codeForm(clientID, code, verifier, "http://127.0.0.1:1/other")},
			{"unknown resource", func() url.Values {
				f := codeForm(clientID, code, verifier, redirect)
				f.Set("resource", "http://127.0.0.1:1/x")
				return f
			}()},
			{"another client", codeForm(otherID, code, verifier, redirect)},
		}
		for _, b := range bad {
			if st, m := token(t, issuer, b.form); st != http.StatusBadRequest {
				t.Fatalf("%s: %d %v", b.name, st, m)
			}
		}
		if st, m := token(t, issuer, codeForm(clientID, code, verifier, redirect)); st != http.StatusOK {
			t.Fatalf("the code after failed exchanges: %d %v", st, m)
		}
	})
	t.Run("code survives a bounded number of failures", func(t *testing.T) {
		code, verifier := startCode(t, issuer, clientID, redirect, "sentinelx:state")
		for range 5 {
			token(t, issuer, codeForm(clientID, code, "wrong-"+strings.Repeat("v", 45), redirect))
		}
		if st, _ := token(t, issuer, codeForm(clientID, code, verifier, redirect)); st != http.StatusBadRequest {
			t.Errorf("the code still works after 5 wrong verifiers: %d", st)
		}
	})
	t.Run("refresh token", func(t *testing.T) {
		code, verifier := startCode(t, issuer, clientID, redirect, "sentinelx:state")
		_, tok := token(t, issuer, codeForm(clientID, code, verifier, redirect))
		rt := tok["refresh_token"].(string)
		widen := refreshForm(clientID, rt)
		widen.Set("scope", "sentinelx:state sentinelx:exec")
		if st, m := token(t, issuer, widen); st != http.StatusBadRequest || m["error"] != "invalid_scope" {
			t.Fatalf("widening refresh: %d %v", st, m)
		}
		target := refreshForm(clientID, rt)
		target.Set("resource", "http://127.0.0.1:1/x")
		if st, m := token(t, issuer, target); st != http.StatusBadRequest || m["error"] != "invalid_target" {
			t.Fatalf("refresh for an unknown resource: %d %v", st, m)
		}
		if st, m := token(t, issuer, refreshForm(otherID, rt)); st != http.StatusBadRequest {
			t.Fatalf("refresh by another client: %d %v", st, m)
		}
		if st, m := token(t, issuer, refreshForm(clientID, rt)); st != http.StatusOK {
			t.Errorf("the refresh token after failed refreshes: %d %v", st, m)
		}
	})
}
