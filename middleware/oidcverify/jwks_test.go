package oidcverify

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

func TestVerifierKeyRotation(t *testing.T) {
	clock := newTestClock()
	old, next := newTestRSA(t, "old"), newTestRSA(t, "next")
	idp := newTestIdP(t, old)
	v := newTestVerifier(t, idp.config(clock))
	ctx := context.Background()
	oldTok := old.sign(t, testClaims(idp, clock), nil)
	if _, err := v.Verify(ctx, oldTok, nil); err != nil {
		t.Fatal(err)
	}

	// The IdP adds a key and signs with it: one refetch picks it up.
	idp.setKeys(old, next)
	before := idp.jwksHits.Load()
	if _, err := v.Verify(ctx, next.sign(t, testClaims(idp, clock), nil), nil); err != nil {
		t.Fatalf("new kid after rotation: %v", err)
	}
	if got := idp.jwksHits.Load() - before; got != 1 {
		t.Errorf("JWKS fetched %d times, want 1", got)
	}
	// The flush dropped the old token's entry, and the result computed
	// across the flush was not stored either.
	if v.jwtCache.len() != 0 {
		t.Errorf("cache not flushed on key change: %d entries", v.jwtCache.len())
	}

	// The IdP withdraws the old key: after the next load a cached token
	// signed with it is no longer accepted.
	idp.setKeys(next)
	if err := v.load(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, oldTok, nil); err == nil || !strings.Contains(err.Error(), `unknown kid "old"`) {
		t.Fatalf("withdrawn key: %v", err)
	}
}

func TestVerifierRefetchRateLimit(t *testing.T) {
	clock := newTestClock()
	k := newTestRSA(t, "k1")
	idp := newTestIdP(t, k)
	v := newTestVerifier(t, idp.config(clock))
	claims := testClaims(idp, clock)
	forged := make([]string, 50)
	for i := range forged {
		forged[i] = testKey{kid: "forged-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), alg: k.alg, priv: k.priv}.sign(t, claims, nil)
	}
	burst := func() {
		var wg sync.WaitGroup
		for _, tok := range forged {
			wg.Go(func() {
				if _, err := v.Verify(context.Background(), tok, nil); !errors.Is(err, auth.ErrInvalidToken) {
					t.Errorf("forged kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	start := idp.jwksHits.Load()
	burst()
	if got := idp.jwksHits.Load() - start; got != 1 {
		t.Fatalf("first burst: %d fetches, want 1", got)
	}
	clock.Advance(9 * time.Second)
	burst()
	if got := idp.jwksHits.Load() - start; got != 1 {
		t.Fatalf("burst 9 s later: %d fetches in total, want 1", got)
	}
	clock.Advance(time.Second)
	burst()
	if got := idp.jwksHits.Load() - start; got != 2 {
		t.Fatalf("burst 10 s later: %d fetches in total, want 2", got)
	}
	_, err := v.Verify(context.Background(), forged[0], nil)
	if err == nil || !strings.Contains(err.Error(), "rate-limited") {
		t.Errorf("reason should say the refetch was skipped: %v", err)
	}
}

func TestVerifierIdPDownAfterFirstFetch(t *testing.T) {
	clock := newTestClock()
	k := newTestRSA(t, "k1")
	idp := newTestIdP(t, k)
	v := newTestVerifier(t, idp.config(clock))
	idp.setDown(true)
	ctx := context.Background()

	if err := v.load(ctx, false); err == nil {
		t.Fatal("load against a down IdP succeeded")
	}
	st := v.Status()
	if !st.Ready || st.Keys != 1 || !strings.Contains(st.LastError, "503") {
		t.Errorf("status = %+v", st)
	}
	if _, err := v.Verify(ctx, k.sign(t, testClaims(idp, clock), nil), nil); err != nil {
		t.Fatalf("old key while IdP down: %v", err)
	}
	_, err := v.Verify(ctx, newTestRSA(t, "new").sign(t, testClaims(idp, clock), nil), nil)
	if err == nil || !strings.Contains(err.Error(), `unknown kid "new"`) || !strings.Contains(err.Error(), "503") {
		t.Errorf("unknown kid while IdP down: %v", err)
	}
	if strings.Contains(st.LastError, "maintenance") && len(st.LastError) > 300 {
		t.Errorf("LastError not shortened: %q", st.LastError)
	}
}

func TestVerifierIdPDownAtStart(t *testing.T) {
	clock := newTestClock()
	k := newTestRSA(t, "k1")
	idp := newTestIdP(t, k)
	idp.setDown(true)
	v, err := New(idp.config(clock))
	if err != nil {
		t.Fatal(err)
	}
	v.backoffMin, v.backoffMax = 5*time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v.Start(ctx)
	v.Start(ctx) // no second loop

	tok := k.sign(t, testClaims(idp, clock), nil)
	if _, err := v.Verify(ctx, tok, nil); !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), "jwks unavailable") {
		t.Fatalf("Verify with IdP down at start: %v", err)
	}
	waitFor(t, func() bool { return v.Status().LastError != "" })
	if st := v.Status(); st.Ready || st.Keys != 0 {
		t.Fatalf("status while down = %+v", st)
	}

	idp.setDown(false)
	waitFor(t, func() bool { return v.Status().Ready })
	st := v.Status()
	if st.JWKSURI != idp.issuer+"/jwks" || st.LastError != "" || st.KeysFetchedAt.IsZero() {
		t.Errorf("status after recovery = %+v", st)
	}
	if _, err := v.Verify(ctx, tok, nil); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestVerifierDiscovery(t *testing.T) {
	tests := []struct {
		name                  string
		oidcGone              bool
		jwksURI               bool
		wantOIDC, wantRFC8414 int64
		badIssuer             bool
		wantErr               string
	}{
		{name: "OIDC discovery", wantOIDC: 1},
		{name: "RFC 8414 when OIDC discovery 404s", oidcGone: true, wantOIDC: 1, wantRFC8414: 1},
		{name: "configured JWKS URI skips discovery", jwksURI: true},
		{name: "metadata for another issuer", badIssuer: true, wantOIDC: 1, wantRFC8414: 1, wantErr: "issuer mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock()
			k := newTestEC(t, "ec")
			idp := newTestIdP(t, k)
			idp.mu.Lock()
			idp.oidcGone = tt.oidcGone
			idp.mu.Unlock()
			cfg := idp.config(clock)
			if tt.jwksURI {
				cfg.JWKSURI = idp.issuer + "/jwks"
			}
			if tt.badIssuer {
				cfg.Issuer = strings.Replace(idp.issuer, "127.0.0.1", "localhost", 1)
			}
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = v.load(context.Background(), false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if idp.oidcHits.Load() != tt.wantOIDC || idp.rfc8414Hits.Load() != tt.wantRFC8414 {
				t.Errorf("hits: oidc %d rfc8414 %d, want %d %d", idp.oidcHits.Load(), idp.rfc8414Hits.Load(), tt.wantOIDC, tt.wantRFC8414)
			}
			if tt.wantErr == "" {
				if _, err := v.Verify(context.Background(), k.sign(t, testClaims(idp, clock), nil), nil); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if got := rfc8414URL("https://idp.example.com/realms/x/"); got != "https://idp.example.com/.well-known/oauth-authorization-server/realms/x" {
		t.Errorf("RFC 8414 URL = %s", got)
	}
}

// New must not touch the network: an unreachable IdP at startup
// is the IdP's problem, not a reason to crash-loop.
func TestNewVerifierOffline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	v, err := New(Config{Issuer: "http://" + addr + "/tenant"})
	if err != nil || time.Since(start) > time.Second {
		t.Fatalf("New: %v after %v", err, time.Since(start))
	}
	if st := v.Status(); st.Ready || st.AudienceCheck || st.Introspection {
		t.Errorf("status = %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tok := newTestEC(t, "k").sign(t, map[string]any{"iss": "http://" + addr + "/tenant", "exp": time.Now().Unix() + 60}, nil)
	if _, err := v.Verify(ctx, tok, nil); !errors.Is(err, auth.ErrInvalidToken) || !strings.Contains(err.Error(), "jwks unavailable") {
		t.Errorf("Verify: %v", err)
	}
}
