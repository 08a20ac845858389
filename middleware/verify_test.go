package middleware

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

func TestVerifierBasicRS256(t *testing.T) {
	clock := newVerifyTestClock()
	k := newVerifyTestRSA(t, "rsa1")
	idp := newVerifyTestIdP(t, k)
	v := newLoadedVerifier(t, idp.config(clock))
	tok := k.sign(t, verifyTestClaims(idp, clock), nil)
	info, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if info.UserID != "user-1" || !slices.Equal(info.Scopes, []string{"sentinelx:state", "sentinelx:exec"}) {
		t.Errorf("info = %+v", info)
	}
	if _, err := v.Verify(context.Background(), "garbage"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("garbage: %v", err)
	}
}
