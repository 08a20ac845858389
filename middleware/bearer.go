package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// Leeway is the clock skew tolerated on exp, nbf and iat, by the verifier
// and by go-sdk's expiry re-check alike.
const Leeway = 60 * time.Second

// BearerOptions configures [Bearer].
type BearerOptions struct {
	// Verify checks a token and returns who it belongs to. Errors are logged
	// (never shown to the client) and answered with 401 invalid_token.
	Verify auth.TokenVerifier
	// Challenger writes the 400/401 responses.
	Challenger Challenger
	// Required makes every request need a token (MCP_AUTH_REQUIRED). When
	// false, requests without one continue anonymously and [Scopes] decides
	// whether the method needs one.
	Required bool
	// Logger receives one line per rejected token with the reason. If nil,
	// nothing is logged.
	Logger *slog.Logger
	// Debug adds the token's claims to those lines (AUTH_DEBUG).
	Debug bool
}

type verifiedKey struct{}

// Bearer authenticates the request from its Authorization header — the
// only place a token is read. A token that is sent is always verified,
// whatever the method, and before more of the body than the anonymous cap
// is read (see [ReadBody]). GET and DELETE (the session stream and session end)
// always need one. Identity reaches go-sdk through auth.RequireBearerToken so
// its session binding and req.Extra.TokenInfo work as the SDK intends; this
// middleware adds what the SDK's does not do: anonymous pass-through, RFC 6750
// error codes, JSON-RPC error bodies and the reason in the log.
func Bearer(opts BearerOptions) func(http.Handler) http.Handler {
	// The SDK middleware re-checks expiry with the same leeway; verification
	// already happened, so its verifier just hands over the result.
	handOver := func(ctx context.Context, _ string, _ *http.Request) (*auth.TokenInfo, error) {
		if ti, ok := ctx.Value(verifiedKey{}).(*auth.TokenInfo); ok {
			return ti, nil
		}
		return nil, auth.ErrInvalidToken
	}
	sdkOpts := &auth.RequireBearerTokenOptions{
		ResourceMetadataURL:    opts.Challenger.ResourceMetadataURL,
		AllowMissingExpiration: true, // introspection answers may omit exp; the verifier enforces it for JWTs
		ClockSkew:              Leeway,
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		withIdentity := auth.RequireBearerToken(handOver, sdkOpts)(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := firstID(r.Context())
			if hasQueryToken(r) || hasFormToken(r) {
				opts.Challenger.InvalidRequest(w, id, "Access tokens are accepted only in the Authorization header")
				return
			}
			values := nonEmpty(r.Header.Values("Authorization"))
			switch {
			case len(values) > 1:
				opts.Challenger.InvalidRequest(w, id, "More than one Authorization header")
				return
			case len(values) == 0:
				if opts.Required || r.Method != http.MethodPost {
					opts.Challenger.Missing(w, id, nil)
					return
				}
				if hasPendingBody(r) {
					// ReadBody parks a long body only for a request with
					// credentials; without them it gets the anonymous cap.
					tooLarge(w, anonymousMaxBody, true)
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			token, ok := bearerToken(values[0])
			if !ok {
				logger.Info("auth rejected", "reason", "Authorization header is not a Bearer token", "path", r.URL.Path)
				opts.Challenger.Missing(w, id, nil)
				return
			}
			ti, err := opts.Verify(r.Context(), token, r)
			if err != nil {
				logger.Info("auth rejected", "reason", err.Error(), "path", r.URL.Path)
				opts.Challenger.InvalidToken(w, id)
				return
			}
			if opts.Debug {
				logger.Info("auth accepted", "subject", ti.UserID, "scopes", ti.Scopes, "claims", ti.Extra["claims"])
			}
			// Verified: only now may the rest of a long body be read.
			r, ok = finishBody(w, r)
			if !ok {
				return
			}
			ctx := context.WithValue(r.Context(), verifiedKey{}, ti)
			// go-sdk reads only the first Authorization value; make it the
			// one verified (blank values were skipped above).
			r.Header.Set("Authorization", values[0])
			withIdentity.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// bearerToken extracts the token68 from "Bearer <token>" (scheme
// case-insensitive, RFC 7235). Anything else — other schemes, empty or
// multi-part credentials — is not a bearer token.
func bearerToken(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok := strings.TrimSpace(rest)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// hasQueryToken reports a token offered in the URL (RFC 6750 §2.3), which
// this server refuses: URLs end up in logs and browser history.
func hasQueryToken(r *http.Request) bool {
	if offered, ok := r.Context().Value(queryTokenKey{}).(bool); ok && offered {
		return true // seen by Logger before it redacted the query
	}
	return rawQueryHasToken(r.URL.RawQuery)
}

type queryTokenKey struct{}

// rawQueryHasToken looks for a token-named parameter in a raw query,
// splitting on both & and ; and tolerating bad escapes, so that a query
// url.ParseQuery rejects (and would drop) still counts.
func rawQueryHasToken(raw string) bool {
	for _, pair := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(pair, "=")
		if u, err := url.QueryUnescape(k); err == nil {
			k = u
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "access_token", "token":
			return true
		}
	}
	return false
}

// formTokenPeek bounds how much of a form body is read to look for a
// token; go-sdk refuses form bodies (415) in any case.
const formTokenPeek = 64 << 10

// hasFormToken reports a token offered as a form field (RFC 6750 §2.2).
// It is refused rather than used: MCP requests are JSON, and a client
// sending one has a bug worth a clear error.
func hasFormToken(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Body == nil {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return false
	}
	head, _ := io.ReadAll(io.LimitReader(r.Body, formTokenPeek))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	q, err := url.ParseQuery(string(head))
	return err == nil && (q.Has("access_token") || q.Has("token"))
}

// nonEmpty drops blank header values: "Authorization:" with nothing
// after it carries no credentials.
func nonEmpty(values []string) []string {
	out := values[:0:0]
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

func firstID(ctx context.Context) json.RawMessage {
	msgs, _ := Messages(ctx)
	for _, m := range msgs {
		if m.ID != nil {
			return m.ID
		}
	}
	return nil
}
