package middleware

import (
	"errors"
	"fmt"
	"testing"
)

func TestVerifyOutcome(t *testing.T) {
	tests := []struct {
		err          error
		outcome, why string
	}{
		{nil, "valid", ""},
		{verifyReject("expired at %s", "2020-01-01T00:00:00Z"), "invalid", "expired"},
		{verifyReject("unknown kid %q for alg %s", "attacker-chosen", "RS256"), "invalid", "unknown_key"},
		{verifyReject("issuer mismatch: got %q", "https://evil"), "invalid", "issuer"},
		{verifyReject("audience mismatch: token has no aud"), "invalid", "audience"},
		{verifyReject("signature invalid (kid %q, alg %s)", "k", "RS256"), "invalid", "signature"},
		{verifyReject("malformed JWT: x"), "invalid", "malformed"},
		{verifyReject("alg %q not allowed", "HS256"), "invalid", "algorithm"},
		{verifyReject("typ %q not allowed", "id+jwt"), "invalid", "typ"},
		{verifyReject("inactive token"), "invalid", "inactive"},
		{verifyReject("introspection failed: 500"), "invalid", "introspection_error"},
		{verifyReject("jwks unavailable: down"), "invalid", "keys_unavailable"},
		{verifyReject("issued in the future (iat x)"), "invalid", "not_yet_valid"},
		{verifyReject("something new %q", "free text"), "invalid", "other"},
		{errors.New("plain"), "invalid", "other"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.err), func(t *testing.T) {
			o, r := VerifyOutcome(tc.err)
			if o != tc.outcome || r != tc.why {
				t.Fatalf("got (%s, %s), want (%s, %s)", o, r, tc.outcome, tc.why)
			}
		})
	}
}
