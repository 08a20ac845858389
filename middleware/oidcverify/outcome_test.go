package oidcverify

import (
	"errors"
	"fmt"
	"testing"
)

func TestOutcome(t *testing.T) {
	tests := []struct {
		err          error
		outcome, why string
	}{
		{nil, "valid", ""},
		{reject("expired at %s", "2020-01-01T00:00:00Z"), "invalid", "expired"},
		{reject("unknown kid %q for alg %s", "attacker-chosen", "RS256"), "invalid", "unknown_key"},
		{reject("issuer mismatch: got %q", "https://evil"), "invalid", "issuer"},
		{reject("audience mismatch: token has no aud"), "invalid", "audience"},
		{reject("signature invalid (kid %q, alg %s)", "k", "RS256"), "invalid", "signature"},
		{reject("malformed JWT: x"), "invalid", "malformed"},
		{reject("alg %q not allowed", "HS256"), "invalid", "algorithm"},
		{reject("typ %q not allowed", "id+jwt"), "invalid", "typ"},
		{reject("inactive token"), "invalid", "inactive"},
		{reject("introspection failed: 500"), "invalid", "introspection_error"},
		{reject("jwks unavailable: down"), "invalid", "keys_unavailable"},
		{reject("issued in the future (iat x)"), "invalid", "not_yet_valid"},
		{reject("something new %q", "free text"), "invalid", "other"},
		{errors.New("plain"), "invalid", "other"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			o, r := Outcome(tc.err)
			if o != tc.outcome || r != tc.why {
				t.Fatalf("got (%s, %s), want (%s, %s)", o, r, tc.outcome, tc.why)
			}
		})
	}
}
