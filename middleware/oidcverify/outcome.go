package oidcverify

import (
	"errors"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Outcome maps a verification result to bounded label values:
// ("valid", "jwt"|"introspection"|"cache") or ("invalid", bucket). The
// buckets come from the rejection reasons this verifier writes ([reject]),
// which is why the mapping lives beside them; an
// unrecognised one is "other", never the text itself, which may name
// attacker-chosen kids or issuers.
func Outcome(err error) (outcome, reason string) {
	if err == nil {
		return "valid", ""
	}
	if !errors.Is(err, auth.ErrInvalidToken) {
		return "invalid", "other"
	}
	msg := strings.TrimPrefix(err.Error(), auth.ErrInvalidToken.Error()+": ")
	for _, b := range outcomeBuckets {
		if strings.HasPrefix(msg, b.prefix) {
			return "invalid", b.label
		}
	}
	return "invalid", "other"
}

// outcomeBuckets is an array: a fixed table nothing may append to.
var outcomeBuckets = [...]struct{ prefix, label string }{
	{"empty token", "malformed"},
	{"malformed", "malformed"},
	{"crit header", "malformed"},
	{"exp missing", "malformed"},
	{"encrypted JWT", "unsupported"},
	{"not a JWT and introspection", "unsupported"},
	{"alg ", "algorithm"},
	{"typ", "typ"},
	{"signature invalid", "signature"},
	{"jwks unavailable", "keys_unavailable"},
	{"unknown kid", "unknown_key"},
	{"no key for alg", "unknown_key"},
	{"token has no kid", "unknown_key"},
	{"expired", "expired"},
	{"not valid before", "not_yet_valid"},
	{"issued in the future", "not_yet_valid"},
	{"issuer mismatch", "issuer"},
	{"audience mismatch", "audience"},
	{"inactive token", "inactive"},
	{"introspection failed", "introspection_error"},
}
