package middleware

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// AnonLimitOptions configures [AnonLimit].
type AnonLimitOptions struct {
	// Rate is ANON_RATE_LIMIT: JSON-RPC messages per second that requests
	// without a verified token may send from one client address (the
	// key [ClientAddr] records), with a burst of twice that. Zero or less
	// disables the limit.
	Rate float64
	// GlobalRate caps all anonymous messages together, whatever their
	// address, so clients with many addresses (an IPv6 block, a botnet)
	// still cannot make anonymous work unbounded; 0 means 10 × Rate. Its
	// burst is 10 times an address's.
	GlobalRate float64
	// OnLimited, when set, is called for every refused request (metrics).
	OnLimited func()
	// Logger receives one line per refused request. If nil, nothing is
	// logged.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// AnonLimit refuses requests that carry no verified token beyond their
// client address's token bucket (or the global anonymous one) with 429, a
// Retry-After header and one JSON-RPC error; nothing of the request is
// processed. Every message of a batch takes one token. The per-subject
// [RateLimit] never sees these requests, and without this one request
// could make the server do any amount of anonymous work. It runs after
// [Bearer] (a request with a bad token never gets here) and [ClientAddr].
func AnonLimit(opts AnonLimitOptions) func(http.Handler) http.Handler {
	if opts.Rate <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	global := opts.GlobalRate
	if global <= 0 {
		global = 10 * opts.Rate
	}
	perAddr := newBuckets(RateLimitOptions{Rate: opts.Rate, Now: opts.Now})
	all := newBuckets(RateLimitOptions{Rate: global, Burst: 10 * perAddr.burst, Now: opts.Now})
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			msgs, _ := Messages(r.Context())
			if len(msgs) == 0 || auth.TokenInfoFromContext(r.Context()) != nil {
				next.ServeHTTP(w, r)
				return
			}
			key := ClientKey(r.Context())
			wait, ok := perAddr.take(key, len(msgs))
			scope := "from your address"
			if ok {
				// A request refused here has still spent its address's
				// tokens; it would have been refused anyway.
				if wait, ok = all.take("", len(msgs)); !ok {
					scope = "from all addresses together"
				}
			}
			if ok {
				next.ServeHTTP(w, r)
				return
			}
			if opts.OnLimited != nil {
				opts.OnLimited()
			}
			secs := max(int(math.Ceil(wait.Seconds())), 1)
			logger.Info("anonymous rate limited", "client", key, "messages", len(msgs), "retry_after_s", secs)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			WriteRPCError(w, http.StatusTooManyRequests, firstID(r.Context()), CodeRateLimited,
				"Rate limit exceeded: too many requests without an access token "+scope+
					"; retry after "+strconv.Itoa(secs)+" s, or send an access token")
		})
	}
}
