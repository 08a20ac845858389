package oidcverify

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

const testOpaque = "zitadel-opaque-Z2FyYmFnZSBnYXJiYWdl"

func TestVerifierIntrospection(t *testing.T) {
	clock := newTestClock()
	k := newTestRSA(t, "k1")
	idp := newTestIdP(t, k)
	now := clock.Now().Unix()

	active := func(kv ...any) func(map[string]string) (int, map[string]any) {
		return func(map[string]string) (int, map[string]any) {
			body := map[string]any{
				"active": true, "sub": "user-2", "aud": []string{"https://mcp.example.com/mcp"},
				"iss": idp.issuer, "exp": now + 3600, "scope": "sentinelx:state", "username": "bob", "client_id": "cursor",
			}
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == nil {
					delete(body, kv[i].(string))
				} else {
					body[kv[i].(string)] = kv[i+1]
				}
			}
			return http.StatusOK, body
		}
	}
	tests := []struct {
		name       string
		handler    func(map[string]string) (int, map[string]any)
		down       bool
		discovered bool // leave IntrospectionURL empty
		wantErr    string
		check      func(t *testing.T, info *auth.TokenInfo)
	}{
		{name: "active", handler: active(), check: func(t *testing.T, info *auth.TokenInfo) {
			if info.UserID != "user-2" || !slices.Equal(info.Scopes, []string{"sentinelx:state"}) ||
				info.Extra["username"] != "bob" || info.Extra["client_id"] != "cursor" || info.Expiration.Unix() != now+3600 {
				t.Errorf("info = %+v", info)
			}
		}},
		{name: "endpoint discovered", discovered: true, handler: active()},
		{name: "scp array and no iss", handler: active("scope", nil, "scp", []any{"a", 1, "b"}, "iss", nil),
			check: checkScopes("a", "b")},
		{name: "no exp: expires with the cache", handler: active("exp", nil), check: func(t *testing.T, info *auth.TokenInfo) {
			if !info.Expiration.Equal(clock.Now().Add(introspectCacheTTL)) {
				t.Errorf("expiration = %v", info.Expiration)
			}
		}},
		{name: "inactive", handler: func(map[string]string) (int, map[string]any) { return http.StatusOK, map[string]any{"active": false} },
			wantErr: "inactive token"},
		{name: "endpoint down", down: true, wantErr: "introspection failed"},
		{name: "endpoint error", handler: func(map[string]string) (int, map[string]any) {
			return http.StatusInternalServerError, map[string]any{"error": "server_error"}
		}, wantErr: "introspection failed"},
		{name: "wrong audience", handler: active("aud", "https://other.example.com"), wantErr: "audience mismatch"},
		{name: "no audience", handler: active("aud", nil), wantErr: "no aud"},
		{name: "wrong issuer", handler: active("iss", "https://evil.example.com"), wantErr: "issuer mismatch"},
		{name: "expired", handler: active("exp", now-120), wantErr: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idp.mu.Lock()
			idp.introspect = tt.handler
			idp.mu.Unlock()
			idp.setDown(false)
			cfg := idp.config(clock)
			cfg.ClientID, cfg.ClientSecret = testClientID, testClientSecret
			if !tt.discovered {
				cfg.IntrospectionURL = idp.issuer + "/introspect"
			}
			v := newTestVerifier(t, cfg)
			if !v.Status().Introspection {
				t.Error("Status().Introspection is false")
			}
			idp.setDown(tt.down)
			info, err := v.Verify(context.Background(), testOpaque, nil)
			if err != nil && strings.Contains(err.Error(), testOpaque) {
				t.Errorf("error leaks the token: %v", err)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, info)
			}
		})
	}
}

func TestVerifierIntrospectionRequestAndCache(t *testing.T) {
	clock := newTestClock()
	idp := newTestIdP(t, newTestEC(t, "ec"))
	var mu sync.Mutex
	var forms []map[string]string
	exp := clock.Now().Unix() + 5
	idp.mu.Lock()
	idp.introspect = func(form map[string]string) (int, map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		forms = append(forms, form)
		return http.StatusOK, map[string]any{"active": true, "sub": "u", "aud": "https://mcp.example.com/mcp", "exp": exp}
	}
	idp.mu.Unlock()
	cfg := idp.config(clock)
	cfg.ClientID, cfg.ClientSecret = testClientID, testClientSecret
	cfg.IntrospectionURL = idp.issuer + "/introspect"
	v := newTestVerifier(t, cfg)
	ctx := context.Background()

	verify := func(wantHits int64) {
		t.Helper()
		if _, err := v.Verify(ctx, testOpaque, nil); err != nil {
			t.Fatal(err)
		}
		if got := idp.introHits.Load(); got != wantHits {
			t.Fatalf("introspection endpoint hit %d times, want %d", got, wantHits)
		}
	}
	verify(1)
	mu.Lock()
	f := forms[0]
	mu.Unlock()
	if f["token"] != testOpaque || f["token_type_hint"] != "access_token" || len(f) != 2 {
		t.Errorf("form = %v", f)
	}
	if a, _ := idp.introAuth.Load().(string); !strings.HasPrefix(a, "Basic ") {
		t.Errorf("Authorization = %q", a)
	}
	verify(1) // cached
	clock.Advance(4 * time.Second)
	verify(1) // still before exp
	clock.Advance(2 * time.Second)
	verify(2) // cache never outlives exp (the IdP still says active: leeway)

	// Without an exp in sight the cache keeps an answer at most 30 s.
	mu.Lock()
	exp = clock.Now().Unix() + 3600
	mu.Unlock()
	v.introCache.flush()
	verify(3)
	clock.Advance(introspectCacheTTL - time.Second)
	verify(3)
	clock.Advance(time.Second)
	verify(4)
}

// TestVerifierIntrospectionJunk: replayed junk costs the IdP one call, and
// a flood of distinct junk tokens is cut by the introspection rate limit.
func TestVerifierIntrospectionJunk(t *testing.T) {
	clock := newTestClock()
	idp := newTestIdP(t, newTestEC(t, "ec"))
	idp.mu.Lock()
	idp.introspect = func(map[string]string) (int, map[string]any) {
		return http.StatusOK, map[string]any{"active": false}
	}
	idp.mu.Unlock()
	cfg := idp.config(clock)
	cfg.ClientID, cfg.ClientSecret = testClientID, testClientSecret
	cfg.IntrospectionURL = idp.issuer + "/introspect"
	v := newTestVerifier(t, cfg)
	ctx := context.Background()

	for range 5 {
		if _, err := v.Verify(ctx, "junk-opaque-token", nil); err == nil {
			t.Fatal("an inactive token was accepted")
		}
	}
	if got := idp.introHits.Load(); got != 1 {
		t.Errorf("replaying one inactive token hit the IdP %d times, want 1", got)
	}
	limited := 0
	for i := range 200 {
		_, err := v.Verify(ctx, "junk-"+strconv.Itoa(i), nil)
		if err != nil && strings.Contains(err.Error(), "rate limit") {
			limited++
		}
	}
	if hits := idp.introHits.Load(); hits > 2*introspectRate+2 || limited == 0 {
		t.Errorf("200 distinct junk tokens: %d IdP calls, %d refused by the limit; want ≤ %d calls", hits, limited, 2*introspectRate+2)
	}
}
