package oidcverify

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
)

// Fuzz target for the scope parser, which decides what a token may do. It
// runs over its seeds (the f.Add calls below and testdata/fuzz/<Name>) in
// every `go test`; run it for real with `go test ./middleware/oidcverify
// -run '^$' -fuzz FuzzVerifyScopes -fuzztime 30s`.

// FuzzVerifyScopes feeds arbitrary JSON as the token's claims. scope and
// scp may be any JSON type; only strings and arrays of strings may grant
// anything, and what is granted is exactly the whitespace-separated words
// found there — never a word from another claim, never an empty one.
func FuzzVerifyScopes(f *testing.F) {
	for _, s := range []string{
		`{"scope":"sentinelx:state sentinelx:exec"}`,
		`{"scp":["sentinelx:state","sentinelx:exec"]}`,
		`{"scope":"a","scp":"a b"}`,
		`{"scope":["a b","c"]}`,
		`{"scope":["a",5,true,null,{"x":"sentinelx:exec"},["sentinelx:exec"]]}`,
		`{"scope":5}`, `{"scope":true}`, `{"scope":null}`, `{"scope":{"sentinelx:exec":true}}`,
		`{"scope":1e999}`, `{"scope":""}`, `{"scope":"   "}`, `{"scope":"a\tb\nc\u00a0d\u2028e"}`,
		`{"scope":"sentinelx:capabilities,sentinelx:state"}`,
		`{"scopes":"sentinelx:exec","Scope":"sentinelx:exec","SCP":"x"}`,
		`{"scope":"a","scope":"sentinelx:exec"}`,
		`{"scp":[]}`, `[]`, `"scope"`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var claims map[string]any
		if json.Unmarshal(data, &claims) != nil {
			return
		}
		got := scopesOf(claims)
		allowed := map[string]bool{}
		for _, name := range []string{"scope", "scp"} {
			switch v := claims[name].(type) {
			case string:
				for _, w := range strings.Fields(v) {
					allowed[w] = true
				}
			case []any:
				for _, e := range v {
					if s, ok := e.(string); ok {
						for _, w := range strings.Fields(s) {
							allowed[w] = true
						}
					}
				}
			}
		}
		seen := map[string]bool{}
		for _, s := range got {
			if s == "" || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
				t.Fatalf("scope %q from %s is empty or holds whitespace", s, data)
			}
			if !allowed[s] {
				t.Fatalf("scope %q granted from %s, where scope/scp do not name it", s, data)
			}
			if seen[s] {
				t.Fatalf("scope %q listed twice for %s", s, data)
			}
			seen[s] = true
		}
		if len(seen) != len(allowed) {
			t.Fatalf("granted %q from %s, want every word of %v", got, data, allowed)
		}
	})
}
