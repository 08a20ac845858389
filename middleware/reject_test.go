package middleware

import (
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// verifyReject builds an error the way the token verifier
// (middleware/oidcverify) words its rejections, so TestVerifyOutcome can
// check the buckets against realistic reasons.
func verifyReject(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{auth.ErrInvalidToken}, args...)...)
}
