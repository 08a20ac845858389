package server_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestIntrospectionJunkFlood: one address floods random opaque tokens
// (bounded: 1,500 requests, 8 at a time — several hundred per second on
// loopback) while another address calls with 20 fresh valid opaque
// tokens. The introspection budget is per client address, with half of
// the global ceiling kept for addresses and tokens the IdP has vouched
// for, so every valid call succeeds. Before, one global 20/s bucket was
// drained by the junk and the valid calls got 401.
func TestIntrospectionJunkFlood(t *testing.T) {
	in := newIntrospector(t)
	ts := startServerWith(t, setup{env: map[string]string{"RATE_LIMIT": "0",
		"OIDC_CLIENT_ID": "bridge", "OIDC_CLIENT_SECRET": "s3cret", "OIDC_INTROSPECTION_URL": in.srv.URL}})
	in.aud.Store(ts.MCPURL)

	client := &http.Client{Timeout: clientTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	call := func(tok, from string) int {
		req := ts.request(http.MethodPost, "/mcp", strings.NewReader(callState))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Forwarded-For", from)
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	ctx, stop := context.WithCancel(context.Background())
	var sent, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && sent.Add(1) <= 1500; i++ {
				if call("junk-"+strconv.Itoa(w)+"-"+strconv.Itoa(i), "198.51.100.66") == http.StatusUnauthorized {
					refused.Add(1)
				}
			}
		}()
	}
	for sent.Load() < 200 { // the flood is under way before the first valid call
		time.Sleep(5 * time.Millisecond)
	}
	var failed []string
	for i := range 20 {
		tok := "opaque-good-" + strconv.Itoa(i)
		ts.secret(tok)
		if got := call(tok, "203.0.113.7"); got != http.StatusOK {
			failed = append(failed, strconv.Itoa(got))
		}
	}
	stop()
	wg.Wait()
	elapsed := time.Since(start)
	junk := min(sent.Load(), 1500)
	t.Logf("junk: %d requests in %s (%.0f/s), %d refused with 401; IdP saw %d introspection calls; valid: %d/20 failed",
		junk, elapsed.Round(time.Millisecond), float64(junk)/elapsed.Seconds(), refused.Load(), in.calls.Load(), len(failed))
	if len(failed) > 0 {
		t.Fatalf("valid opaque tokens from another address failed during a junk flood: statuses %v", failed)
	}
	if refused.Load() != junk {
		t.Errorf("%d of %d junk tokens were accepted", junk-refused.Load(), junk)
	}
	ts.assertNoSecretsLogged()
}
