package middleware

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/httplog/v2"
)

// Logger logs one line per request with a request ID (httplog, which also
// recovers panics). Tokens offered in the query string are redacted before
// the line is written; the bearer gate still refuses the request. flush,
// when non-nil, writes out the log lines buffered while the request was
// served (internal/logsink); it runs before net/http releases the answer.
func Logger(l *httplog.Logger, skipPaths []string, flush func()) func(http.Handler) http.Handler {
	logged := httplog.RequestLogger(l, skipPaths)
	return func(next http.Handler) http.Handler {
		h := logged(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rawQueryHasToken(r.URL.RawQuery) {
				r = r.WithContext(context.WithValue(r.Context(), queryTokenKey{}, true))
			}
			redactQuery(r)
			if flush != nil {
				defer flush()
			}
			h.ServeHTTP(w, r)
		})
	}
}

// redactQuery replaces the value of any token-like query parameter, in
// both r.URL and r.RequestURI (which is what httplog prints).
func redactQuery(r *http.Request) {
	if r.URL.RawQuery == "" {
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		// Unparseable queries cannot be redacted key by key; drop the value.
		r.URL.RawQuery = "redacted"
		r.RequestURI = r.URL.Path + "?redacted"
		return
	}
	changed := false
	for k := range q {
		switch strings.ToLower(k) {
		case "access_token", "token", "id_token", "refresh_token", "code", "client_secret":
			q[k] = []string{"REDACTED"}
			changed = true
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
		r.RequestURI = r.URL.EscapedPath() + "?" + r.URL.RawQuery
	}
}
