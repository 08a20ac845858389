package oidcverify

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/pensados/sentinelx-mcp/internal/bounded"
	"github.com/pensados/sentinelx-mcp/middleware"
)

// Introspection budget for opaque tokens the cache cannot answer. The IdP
// sees at most introspectRate calls per second in total (burst twice
// that), split in two halves so that junk cannot spend what real users
// need:
//
//   - the vouched half serves tokens the IdP has called active before
//     (re-checks after the 30 s cache) and addresses that presented an
//     active token within introspectVouchFor;
//   - the open half serves everyone else, and each such address gets at
//     most introspectPerAddr calls per second of it.
//
// So one address flooding random tokens spends introspectPerAddr/s of the
// open half and nothing of the vouched one; many addresses together can
// exhaust the open half (new users then wait) but never the vouched half.
const (
	introspectPerAddr  = 2
	introspectVouchFor = 10 * time.Minute
)

// introLimiter decides whether an unknown opaque token may cost an
// introspection call. Safe for concurrent use. Its voucher tables hold at
// most cacheMax entries each; when full, expired vouchers go first, then
// the least recently presented, which only costs that address or token
// the open half's budget until its next active answer.
type introLimiter struct {
	vouched, open *rate.Limiter
	perAddr       *middleware.KeyedLimiter

	mu     sync.Mutex // guards the fields below
	addrs  *bounded.Map[string, struct{}]
	tokens *bounded.Map[[32]byte, struct{}]
}

func newIntroLimiter(now func() time.Time) *introLimiter {
	half := rate.Limit(introspectRate / 2)
	return &introLimiter{
		vouched: rate.NewLimiter(half, introspectRate),
		open:    rate.NewLimiter(half, introspectRate),
		perAddr: middleware.NewKeyedLimiter(introspectPerAddr, 5*introspectPerAddr, now),
		addrs:   bounded.New[string, struct{}](cacheMax, 0),
		tokens:  bounded.New[[32]byte, struct{}](cacheMax, 0),
	}
}

// allow spends one introspection call for token key from client addr, or
// says why not.
func (l *introLimiter) allow(addr string, key [32]byte, now time.Time) error {
	if l.vouchedFor(addr, key, now) {
		if l.vouched.AllowN(now, 1) || l.open.AllowN(now, 1) {
			return nil
		}
		return reject("introspection rate limit reached (%d calls/s in total)", introspectRate)
	}
	if !l.perAddr.Allow(addr) {
		return reject("introspection rate limit reached for client %s (%d calls/s per address until it presents an active token)", addr, introspectPerAddr)
	}
	if !l.open.AllowN(now, 1) {
		return reject("introspection rate limit reached (%g calls/s for addresses without an active token)", float64(l.open.Limit()))
	}
	return nil
}

func (l *introLimiter) vouchedFor(addr string, key [32]byte, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.tokens.Get(key, now); ok {
		return true
	}
	_, ok := l.addrs.Get(addr, now)
	return ok
}

// active records an active answer: the token is vouched for until exp,
// and its address for introspectVouchFor.
func (l *introLimiter) active(addr string, key [32]byte, exp, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if exp.IsZero() || exp.Before(now) {
		exp = now.Add(introspectCacheTTL)
	}
	l.tokens.PutUntil(key, struct{}{}, exp, now)
	l.addrs.PutUntil(addr, struct{}{}, now.Add(introspectVouchFor), now)
}

// inactive records an inactive answer: the address loses its voucher, so
// a client cannot vouch for itself with one good token and then spend the
// vouched half on junk.
func (l *introLimiter) inactive(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs.Delete(addr)
}
