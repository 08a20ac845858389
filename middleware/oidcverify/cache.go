package oidcverify

import (
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// tokenCache remembers verified tokens by the SHA-256 of the token, so the
// token itself is never stored. It is bounded, and an entry is never served
// after its deadline, which callers derive from the token's exp.
type tokenCache struct {
	max int

	mu      sync.Mutex // guards the fields below
	gen     uint64     // bumped by flush
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	info  *auth.TokenInfo
	until time.Time // the entry is dead from this instant on
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[[32]byte]cacheEntry)}
}

func (c *tokenCache) get(key [32]byte, now time.Time) (*auth.TokenInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return nil, false
	}
	return e.info, true
}

// generation identifies the cache's current contents; pass it to put so a
// result computed before a flush is dropped instead of stored.
func (c *tokenCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *tokenCache) put(gen uint64, key [32]byte, info *auth.TokenInfo, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[key] = cacheEntry{info: info, until: until}
}

// evict drops dead entries and, if that frees nothing, about a tenth of the
// rest in map order (effectively random), so that a full cache pays for its
// scan once per tenth of its size instead of on every insert.
func (c *tokenCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) < c.max {
		return
	}
	drop := c.max/10 + 1
	for k := range c.entries {
		delete(c.entries, k)
		drop--
		if drop == 0 {
			break
		}
	}
}

// flush forgets everything, e.g. because the key set changed and entries
// verified with a withdrawn key must not outlive it.
func (c *tokenCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
