package middleware

import "time"

// KeyedLimiter is a bounded map of token buckets, one per key: the same
// limiter RATE_LIMIT and the anonymous limit use, offered to the token
// verifier for its per-address introspection budget. Safe for concurrent
// use.
type KeyedLimiter struct{ b *buckets }

// NewKeyedLimiter refills each key's bucket at rate per second up to burst
// (0 means twice rate, at least 1). now is the clock; nil means time.Now.
func NewKeyedLimiter(rate float64, burst int, now func() time.Time) *KeyedLimiter {
	return &KeyedLimiter{b: newBuckets(RateLimitOptions{Rate: rate, Burst: burst, Now: now})}
}

// Allow spends one token of key's bucket, or reports that none is left.
func (l *KeyedLimiter) Allow(key string) bool {
	_, ok := l.b.take(key, 1)
	return ok
}
