package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// StreamOptions configures [StreamLimit].
type StreamOptions struct {
	// Max is MCP_MAX_STREAMS: long-lived streams open at once, in total.
	Max int
	// PerClient is MCP_MAX_CLIENT_STREAMS: streams open at once from
	// one client address (the key [ClientAddr] records).
	PerClient int
	// Idle is MCP_STREAM_IDLE_TIMEOUT: a stream that has written nothing
	// for this long is ended (clients reconnect or listen again).
	Idle time.Duration
	// OnLimited, when set, is called for every refused stream (metrics).
	OnLimited func()
	// Logger receives one line per refused stream. If nil, nothing is logged.
	Logger *slog.Logger
}

// StreamLimit governs the long-lived responses on /mcp: the stateful GET
// stream and the 2026-07-28 subscriptions/listen POST. Each holds a
// connection, several goroutines and ~30 KiB for as long as the client
// likes, and neither carries anything this server ever sends (its tools
// never change while it runs), so:
//
//   - at most Max streams are open at once, and PerClient per client
//     address; over either, 429 with Retry-After. Anonymous listen streams
//     count like any other: the MCP spec lets any client listen, and a bare
//     go-sdk server answers it anonymously, so the bridge does too (the
//     conformance comparison must not lose to it), but an address can hold
//     only its share and every stream is bounded in time;
//   - a stream idle for Idle is ended.
//
// It runs after [Bearer] and [ClientAddr]; other requests pass untouched.
func StreamLimit(opts StreamOptions) func(http.Handler) http.Handler {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &streamCount{perKey: map[string]int{}}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && !IsListen(r) {
				next.ServeHTTP(w, r)
				return
			}
			id := firstID(r.Context())
			key := ClientKey(r.Context())
			release, which := s.acquire(key, opts.Max, opts.PerClient)
			if release == nil {
				if opts.OnLimited != nil {
					opts.OnLimited()
				}
				logger.Info("stream refused", "client", key, "limit", which)
				w.Header().Set("Retry-After", "60")
				WriteRPCError(w, http.StatusTooManyRequests, id, CodeRateLimited,
					"Too many open streams "+which+"; close one or retry after 60 s")
				return
			}
			defer release()
			if opts.Idle <= 0 {
				next.ServeHTTP(w, r)
				return
			}
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			iw := &idleWriter{ResponseWriter: w}
			iw.last.Store(time.Now().UnixNano())
			stop := watchIdle(ctx, &iw.last, opts.Idle, cancel)
			defer stop()
			next.ServeHTTP(iw, r.WithContext(ctx))
		})
	}
}

// streamCount counts open streams, in total and per client key.
type streamCount struct {
	mu     sync.Mutex // guards the fields below
	total  int
	perKey map[string]int
}

// acquire takes a slot, or returns nil and which limit was reached.
func (s *streamCount) acquire(key string, max, perClient int) (release func(), which string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if max > 0 && s.total >= max {
		return nil, "on this server (MCP_MAX_STREAMS=" + strconv.Itoa(max) + ")"
	}
	if perClient > 0 && s.perKey[key] >= perClient {
		return nil, "from your address (MCP_MAX_CLIENT_STREAMS=" + strconv.Itoa(perClient) + ")"
	}
	s.total++
	s.perKey[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.total--
			if s.perKey[key]--; s.perKey[key] <= 0 {
				delete(s.perKey, key)
			}
		})
	}, ""
}

// watchIdle calls cancel once last (UnixNano of the latest write) is idle
// old, checking again whenever a write moved it. stop ends the watch.
func watchIdle(ctx context.Context, last *atomic.Int64, idle time.Duration, cancel func()) (stop func()) {
	var mu sync.Mutex // guards t and stopped: stop must win over a reschedule
	var t *time.Timer
	stopped := false
	check := func() {
		left := idle - time.Since(time.Unix(0, last.Load()))
		if left <= 0 {
			cancel()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped && ctx.Err() == nil {
			t.Reset(left)
		}
	}
	mu.Lock()
	t = time.AfterFunc(idle, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// idleWriter records when the stream last wrote.
type idleWriter struct {
	http.ResponseWriter
	last atomic.Int64
}

func (w *idleWriter) Write(p []byte) (int, error) {
	w.last.Store(time.Now().UnixNano())
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flushes).
func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
