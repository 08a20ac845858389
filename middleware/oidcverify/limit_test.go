package oidcverify

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"
)

// TestIntroLimiter: junk from unvouched addresses can spend only the open
// half of the budget, at most introspectPerAddr/s each; tokens and
// addresses the IdP vouched for keep the other half; an inactive answer
// takes an address's standing away. The clock is frozen (no refill).
func TestIntroLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newIntroLimiter(func() time.Time { return now })
	tok := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }

	allowed := 0
	for i := range 50 {
		if l.allow("198.51.100.1", tok("junk-"+strconv.Itoa(i)), now) == nil {
			allowed++
		}
	}
	if allowed != 5*introspectPerAddr {
		t.Errorf("one unvouched address got %d calls, want its burst %d", allowed, 5*introspectPerAddr)
	}

	// A real user's first token, from another address, then vouched.
	if err := l.allow("203.0.113.7", tok("good-1"), now); err != nil {
		t.Fatalf("first token of a new address: %v", err)
	}
	l.active("203.0.113.7", tok("good-1"), now.Add(time.Hour), now)

	// Other junk addresses drain the rest of the open half.
	for i := range 20 {
		for j := range 5 * introspectPerAddr {
			_ = l.allow("198.51.101."+strconv.Itoa(i), tok("junk-"+strconv.Itoa(i)+"-"+strconv.Itoa(j)), now)
		}
	}
	if err := l.allow("198.51.102.1", tok("new"), now); err == nil {
		t.Fatal("the open half is not exhausted; the test needs it to be")
	}
	// The vouched address and the vouched token are still served.
	for i := range introspectRate {
		if err := l.allow("203.0.113.7", tok("good-fresh-"+strconv.Itoa(i)), now); err != nil {
			t.Fatalf("vouched address, fresh token %d: %v", i, err)
		}
	}
	l = newIntroLimiter(func() time.Time { return now })
	l.active("203.0.113.7", tok("good-1"), now.Add(time.Hour), now)
	for i := range 40 {
		_ = l.allow("198.51.103."+strconv.Itoa(i), tok("junk-"+strconv.Itoa(i)), now)
	}
	if err := l.allow("192.0.2.50", tok("good-1"), now); err != nil {
		t.Errorf("a token the IdP called active, re-checked from a new address: %v", err)
	}
	l.inactive("203.0.113.7")
	if l.vouchedFor("203.0.113.7", tok("other"), now) {
		t.Error("an address kept its standing after an inactive answer")
	}
}
