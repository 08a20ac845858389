package devidp_test

import (
	"net/http"
	"net/url"
	"testing"
)

// codeClient registers a public native client with the given registration
// scope and returns its id and a loopback redirect URI.
func codeClient(t *testing.T, issuer, scope string) (clientID, redirect string) {
	t.Helper()
	body := map[string]any{
		"application_type": "native", "token_endpoint_auth_method": "none", "client_name": "step-up",
		"redirect_uris": []string{"http://127.0.0.1/callback"}, "grant_types": []string{"authorization_code", "refresh_token"},
	}
	if scope != "" {
		body["scope"] = scope
	}
	status, m := register(t, issuer, body)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, m)
	}
	return m["client_id"].(string), "http://127.0.0.1:" + freePort(t) + "/callback"
}

// signIn runs the authorization code + PKCE flow for scope and resource
// and returns the token response, or the error the redirect URI received.
func signIn(t *testing.T, issuer, clientID, redirect, scope, resource string) (tok map[string]any, authzErr string) {
	t.Helper()
	verifier, challenge := pkce()
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	loc, status := authorize(t, issuer, q)
	if status != http.StatusFound || loc == nil {
		t.Fatalf("authorize: status %d", status)
	}
	if e := loc.Query().Get("error"); e != "" {
		return nil, e + ": " + loc.Query().Get("error_description")
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {verifier},
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	st, m := postForm(t, issuer+"/oauth/token", form, "", "")
	if st != http.StatusOK {
		t.Fatalf("token: %d %v", st, m)
	}
	return m, ""
}

// A client registered with the first challenge's scope re-authorizes for
// the scope a later 403 names (MCP step-up): the registered scope is what
// the client can use (RFC 7591 §2), not a ceiling, for the code grant.
func TestCodeGrantAllowsEveryKnownScope(t *testing.T) {
	idp, issuer := startIdP(t)
	clientID, redirect := codeClient(t, issuer, "sentinelx:state")

	tok, e := signIn(t, issuer, clientID, redirect, "sentinelx:state", testResource)
	if e != "" {
		t.Fatal(e)
	}
	if c := parseAT(t, idp, tok["access_token"].(string)); c["scope"] != "sentinelx:state" {
		t.Errorf("first sign-in scope %v", c["scope"])
	}
	tok, e = signIn(t, issuer, clientID, redirect, "sentinelx:state sentinelx:exec", testResource)
	if e != "" {
		t.Fatalf("step-up for a scope the client did not register: %s", e)
	}
	if c := parseAT(t, idp, tok["access_token"].(string)); c["scope"] != "sentinelx:state sentinelx:exec" {
		t.Errorf("step-up scope %v", c["scope"])
	}
	// Scopes the server does not know are dropped; nothing known is an error.
	tok, e = signIn(t, issuer, clientID, redirect, "admin sentinelx:exec", testResource)
	if e != "" {
		t.Fatal(e)
	}
	if c := parseAT(t, idp, tok["access_token"].(string)); c["scope"] != "sentinelx:exec" {
		t.Errorf("unknown scope not dropped: %v", c["scope"])
	}
	if _, e = signIn(t, issuer, clientID, redirect, "admin", testResource); e == "" {
		t.Error("a request for unknown scopes only was granted")
	}
}

// client_credentials has no user to approve a grant, so the scopes an
// operator registered stay the ceiling.
func TestClientCredentialsStayWithinRegisteredScopes(t *testing.T) {
	idp, issuer := startIdP(t)
	status, m := register(t, issuer, map[string]any{
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic",
		"scope": "sentinelx:state",
	})
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, m)
	}
	id, secret := m["client_id"].(string), m["client_secret"].(string)
	cc := func(scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return postForm(t, issuer+"/oauth/token", form, id, secret)
	}
	if st, tok := cc(""); st != http.StatusOK {
		t.Fatalf("default scope: %d %v", st, tok)
	} else if c := parseAT(t, idp, tok["access_token"].(string)); c["scope"] != "sentinelx:state" {
		t.Errorf("default scope %v", c["scope"])
	}
	if st, tok := cc("sentinelx:exec"); st != http.StatusBadRequest || tok["error"] != "invalid_scope" {
		t.Errorf("unregistered scope: %d %v", st, tok)
	}
	if st, tok := cc("sentinelx:state sentinelx:exec"); st != http.StatusBadRequest || tok["error"] != "invalid_scope" {
		t.Errorf("registered + unregistered scope: %d %v", st, tok)
	}
}
