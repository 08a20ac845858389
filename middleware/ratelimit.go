package middleware

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"golang.org/x/time/rate"

	"github.com/pensados/sentinelx-mcp/internal/bounded"
)

// RateLimitOptions configures [RateLimit].
type RateLimitOptions struct {
	// Rate is RATE_LIMIT: protected tool calls per second per subject.
	// Zero or less disables the limit.
	Rate float64
	// Burst is how many calls a subject may make at once after being idle;
	// 0 means twice Rate (at least 1).
	Burst int
	// ScopeOf tells protected tools (those with a scope) from public ones;
	// only calls of protected tools are counted, because only they reach
	// the agent.
	ScopeOf ScopeFunc
	// MaxSubjects bounds the number of buckets kept; 0 means 10000. When
	// full, idle subjects (whose bucket has refilled, so forgetting them
	// changes nothing) are dropped first, then the least recently seen.
	MaxSubjects int
	// OnLimited, when set, is called for every refused request (metrics).
	OnLimited func()
	// Logger receives one line per refused request. If nil, nothing is
	// logged.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// RateLimit refuses protected tools/call requests of a subject beyond its
// token bucket with 429, a Retry-After header and a JSON-RPC error body.
// Each protected call in a batch takes one token. It runs after [Scopes],
// so only authenticated, authorised calls are counted; anonymous requests
// and other methods pass untouched. The subject is the token's sub (or its
// client_id when it has none), so one noisy client cannot starve another.
func RateLimit(opts RateLimitOptions) func(http.Handler) http.Handler {
	if opts.Rate <= 0 || opts.ScopeOf == nil {
		return func(next http.Handler) http.Handler { return next }
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := newBuckets(opts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, n, _ := protectedCalls(r.Context(), opts.ScopeOf)
			subject := rateSubject(auth.TokenInfoFromContext(r.Context()))
			if n == 0 || subject == "" {
				next.ServeHTTP(w, r)
				return
			}
			wait, ok := b.take(subject, n)
			if ok {
				next.ServeHTTP(w, r)
				return
			}
			if opts.OnLimited != nil {
				opts.OnLimited()
			}
			secs := int(math.Ceil(wait.Seconds()))
			logger.Info("rate limited", "subject", subject, "calls", n, "retry_after_s", secs)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			WriteRPCError(w, http.StatusTooManyRequests, id, CodeRateLimited,
				"Rate limit exceeded: too many tool calls; retry after "+strconv.Itoa(max(secs, 1))+" s")
		})
	}
}

func rateSubject(ti *auth.TokenInfo) string {
	if ti == nil {
		return ""
	}
	if ti.UserID != "" {
		return "sub:" + ti.UserID
	}
	if c, _ := ti.Extra["client_id"].(string); c != "" {
		return "client:" + c
	}
	return ""
}

// buckets is a bounded map of per-subject token buckets. A bucket is idle
// once it has refilled: forgetting it then changes nothing, so idle
// buckets are dropped every sweepEvery and before a new subject would
// overflow the map; only when none is idle does the least recently seen
// subject go. Idleness depends on the bucket's tokens, not on a deadline
// known when it was stored, so it is judged here with a scan
// (bounded.Map's DeleteFunc) and the map itself has no TTL.
type buckets struct {
	limit rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu        sync.Mutex // guards the fields below
	m         *bounded.Map[string, *rate.Limiter]
	lastSweep time.Time
}

// sweepEvery is how often idle buckets are dropped even when the map is
// not full, so memory follows the active subjects.
const sweepEvery = time.Minute

func newBuckets(opts RateLimitOptions) *buckets {
	burst := opts.Burst
	if burst <= 0 {
		burst = max(int(math.Ceil(2*opts.Rate)), 1)
	}
	maxN := opts.MaxSubjects
	if maxN <= 0 {
		maxN = 10000
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &buckets{limit: rate.Limit(opts.Rate), burst: burst, max: maxN, now: now,
		m: bounded.New[string, *rate.Limiter](maxN, 0)}
}

// take spends n tokens of subject's bucket. When it cannot, nothing is
// spent and wait says when n tokens will be there.
func (b *buckets) take(subject string, n int) (wait time.Duration, ok bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.lastSweep) >= sweepEvery {
		b.sweep(now)
		b.lastSweep = now
	}
	lim, found := b.m.Get(subject, now)
	if !found {
		if b.m.Len() >= b.max {
			// When nothing is idle, Put makes room by dropping the least
			// recently seen subject.
			b.sweep(now)
		}
		lim = rate.NewLimiter(b.limit, b.burst)
		b.m.Put(subject, lim, now)
	}
	if n > b.burst {
		// Never satisfiable in one go: ask for a full bucket's worth of wait.
		return time.Duration(float64(b.burst) / float64(b.limit) * float64(time.Second)), false
	}
	res := lim.ReserveN(now, n)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// sweep drops the buckets that have refilled.
func (b *buckets) sweep(now time.Time) {
	b.m.DeleteFunc(func(_ string, lim *rate.Limiter) bool {
		return lim.TokensAt(now) >= float64(b.burst)
	})
}

func (b *buckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m.Len()
}
