package oidcverify

import (
	"context"
	"testing"
)

func BenchmarkVerifyRS256(b *testing.B) {
	benchVerify(b, newTestRSA(b, "rsa"))
}

func BenchmarkVerifyES256(b *testing.B) {
	benchVerify(b, newTestEC(b, "ec"))
}

// benchVerify measures a first sight (signature, claims, cache insert) and
// a repeat (hash and cache lookup) of a typical access token.
func benchVerify(b *testing.B, k testKey) {
	clock := newTestClock()
	idp := newTestIdP(b, k)
	v := newTestVerifier(b, idp.config(clock))
	tok := k.sign(b, testClaims(idp, clock), nil)
	ctx := context.Background()
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.jwtCache.flush()
			if _, err := v.Verify(ctx, tok, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
