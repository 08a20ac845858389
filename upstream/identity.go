package upstream

import (
	"context"
	"net/http"
)

// callerHeadersKey carries per-call extra headers in a context.
type callerHeadersKey struct{}

// WithCallerHeaders returns a context whose agent calls also send h, e.g.
// "X-SentinelX-Subject: <sub>" so the agent's audit log can name the
// end user (the old bridge never did). Authorization, Content-Type,
// Content-Length and Host cannot be overridden this way.
func WithCallerHeaders(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, callerHeadersKey{}, h.Clone())
}

func applyCallerHeaders(ctx context.Context, dst http.Header) {
	h, _ := ctx.Value(callerHeadersKey{}).(http.Header)
	for k, vs := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Content-Type", "Content-Length", "Host":
			continue
		}
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}
