package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify/idptest"
)

// TestIdPDownAtStart: with the JWKS unreachable the bridge starts, /readyz
// is 503 naming the failure, every token is refused (fail closed) without
// hammering the IdP, and once the IdP is back the background retry loads
// the keys and tokens work — no restart.
func TestIdPDownAtStart(t *testing.T) {
	ts := startServerWith(t, setup{idpDown: true, noWait: true, env: hostileEnv()})
	code, rb := ts.readyz()
	if code != http.StatusServiceUnavailable || rb.Checks["token_keys"].OK || rb.Checks["token_keys"].Error == "" {
		t.Fatalf("/readyz = %d %+v, want 503 with a token_keys error", code, rb.Checks["token_keys"])
	}
	t.Logf("token_keys while down: %s", rb.Checks["token_keys"].Error)
	tok := ts.mint(nil)
	agentBefore := ts.AgentCalls()
	before := ts.IdP.JWKSFetches() + ts.IdP.MetadataFetches()
	for range 20 {
		r := ts.post(callState, rpcOpts{token: tok})
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("IdP down: status %d, want 401", r.StatusCode)
		}
	}
	// 20 requests: at most one verify-triggered fetch (10 s rate limit,
	// discovery tries two metadata URLs) plus the background retries.
	if n := ts.IdP.JWKSFetches() + ts.IdP.MetadataFetches() - before; n > 6 {
		t.Errorf("20 requests while the IdP was down caused %d IdP fetches", n)
	}
	if ts.AgentCalls() != agentBefore {
		t.Error("agent called while no key could verify a token")
	}
	ts.IdP.SetDown(false)
	ts.waitKeys() // bounded: 10 s; the backoff starts at 1 s
	if r := ts.post(callState, rpcOpts{token: tok}); r.StatusCode != http.StatusOK {
		t.Fatalf("IdP back: status %d, want 200", r.StatusCode)
	}
}

// TestRotationUnderLoad: while the IdP publishes a new key next to the old
// ones, concurrent calls signed with old and new keys all succeed and the
// new kid costs one JWKS fetch, not one per request.
func TestRotationUnderLoad(t *testing.T) {
	ts := startServerWith(t, setup{env: hostileEnv()})
	old := ts.mint(nil)
	newKey := ts.IdP.Rotate()
	fresh := ts.mint(nil, idptest.WithKey(newKey))
	before := ts.IdP.JWKSFetches()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := old
			if i%2 == 0 {
				tok = fresh
			}
			req := ts.request(http.MethodPost, "/mcp", strings.NewReader(callState))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := ts.client.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of 20 calls failed during rotation", n)
	}
	if n := ts.IdP.JWKSFetches() - before; n != 1 {
		t.Errorf("a new kid under 20 concurrent calls caused %d JWKS fetches, want 1", n)
	}
}

// introspector is an RFC 7662 endpoint whose behaviour the test switches.
type introspector struct {
	srv   *httptest.Server
	mode  atomic.Value // "ok", "down", "slow", "garbage"
	aud   atomic.Value // string, set once the bridge's URL is known
	calls atomic.Int64
	stop  chan struct{}
}

func newIntrospector(t *testing.T) *introspector {
	in := &introspector{stop: make(chan struct{})}
	in.mode.Store("ok")
	in.aud.Store("")
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.calls.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "bridge" || secret != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch in.mode.Load().(string) {
		case "down":
			http.Error(w, "introspection down", http.StatusServiceUnavailable)
		case "slow":
			// Reading the body lets net/http notice the caller hanging up.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-in.stop:
			}
		case "garbage":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"active":"yes",`))
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{
				"active": strings.HasPrefix(r.PostFormValue("token"), "opaque-good"), "scope": "sentinelx:state",
				"aud": in.aud.Load(), "sub": "intro-user", "exp": time.Now().Add(time.Hour).Unix(),
			})
		}
	}))
	t.Cleanup(func() { close(in.stop); in.srv.Close() })
	return in
}

// TestIntrospectionFaults: opaque tokens when the introspection endpoint
// is slow, down or answers garbage are refused (fail closed), the slow
// case within the verifier's 10 s IdP timeout (bounded here by a 25 s
// context, never timed). It runs in parallel with the rest of the package
// because of that one slow case.
func TestIntrospectionFaults(t *testing.T) {
	t.Parallel()
	in := newIntrospector(t)
	ts := startServerWith(t, setup{env: map[string]string{"RATE_LIMIT": "0",
		"OIDC_CLIENT_ID": "bridge", "OIDC_CLIENT_SECRET": "s3cret", "OIDC_INTROSPECTION_URL": in.srv.URL}})
	in.aud.Store(ts.MCPURL)
	ts.secret("opaque-good-1")

	client := &http.Client{Timeout: 30 * time.Second}
	call := func(t *testing.T, tok string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		req := ts.request(http.MethodPost, "/mcp", strings.NewReader(callState)).WithContext(ctx)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("call did not return (bound 25 s): %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(t, "opaque-good-1"); got != http.StatusOK {
		t.Fatalf("active opaque token: %d, want 200", got)
	}
	if got := call(t, "opaque-bad-1"); got != http.StatusUnauthorized {
		t.Errorf("inactive opaque token: %d, want 401", got)
	}
	for _, mode := range []string{"down", "garbage", "slow"} {
		t.Run(mode, func(t *testing.T) {
			in.mode.Store(mode)
			defer in.mode.Store("ok")
			before := ts.AgentCalls()
			if got := call(t, "opaque-good-"+mode); got != http.StatusUnauthorized {
				t.Errorf("introspection %s: %d, want 401 (fail closed)", mode, got)
			}
			if ts.AgentCalls() != before {
				t.Error("agent called")
			}
		})
	}
	// Cached "active" answers outlive an outage by at most 30 s, by design.
	in.mode.Store("down")
	if got := call(t, "opaque-good-1"); got != http.StatusOK {
		t.Errorf("cached active token during outage: %d, want 200 (≤ 30 s cache)", got)
	}
	in.mode.Store("ok")
	// Failures are not cached: each distinct bad opaque token costs one
	// introspection call (figure reported in docs/SECURITY.md).
	calls := in.calls.Load()
	for i := range 20 {
		call(t, "garbage-"+strconv.Itoa(i))
	}
	t.Logf("20 distinct invalid opaque tokens caused %d introspection calls", in.calls.Load()-calls)
	ts.assertNoSecretsLogged()
}
