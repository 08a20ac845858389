package oidcverify

import (
	"context"
	"testing"
)

func BenchmarkVerifyRS256(b *testing.B) {
	verifyBench(b, newVerifyTestRSA(b, "rsa"))
}

func BenchmarkVerifyES256(b *testing.B) {
	verifyBench(b, newVerifyTestEC(b, "ec"))
}

// verifyBench measures a first sight (signature, claims, cache insert) and
// a repeat (hash and cache lookup) of a typical access token.
func verifyBench(b *testing.B, k verifyTestKey) {
	clock := newVerifyTestClock()
	idp := newVerifyTestIdP(b, k)
	v := newVerifyTestVerifier(b, idp.config(clock))
	tok := k.sign(b, verifyTestClaims(idp, clock), nil)
	ctx := context.Background()
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.jwtCache.flush()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
