package oidcverify

import (
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/pensados/sentinelx-mcp/internal/bounded"
)

// tokenCache remembers verified tokens by the SHA-256 of the token, so the
// token itself is never stored. It is bounded (when full, dead entries go
// first, then the oldest stored), and an entry is never served after its
// deadline, which callers derive from the token's exp.
type tokenCache struct {
	mu      sync.Mutex // guards the fields below
	gen     uint64     // bumped by flush
	entries *bounded.Map[[32]byte, *auth.TokenInfo]
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{entries: bounded.New[[32]byte, *auth.TokenInfo](max, 0)}
}

// get peeks rather than gets: a hit is every authenticated request, and
// should cost a map lookup, not a reordering of the cache. Eviction then
// goes by when a token was stored, which is also roughly when it expires.
func (c *tokenCache) get(key [32]byte, now time.Time) (*auth.TokenInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Peek(key, now)
}

// generation identifies the cache's current contents; pass it to put so a
// result computed before a flush is dropped instead of stored.
func (c *tokenCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores info until its deadline; the entry is dead from until on.
func (c *tokenCache) put(gen uint64, key [32]byte, info *auth.TokenInfo, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	c.entries.PutUntil(key, info, until, now)
}

// flush forgets everything, e.g. because the key set changed and entries
// verified with a withdrawn key must not outlive it.
func (c *tokenCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Clear()
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries.Len()
}
