package tools

import (
	"fmt"
	"sync"
	"time"
)

// chunkLedger remembers which chunks of each chunked upload went through
// this bridge, so sentinel_upload_complete can refuse an upload with a gap
// even when the caller gave neither total_size nor sha256 — the agent
// would assemble the chunks it has and report success. It is best effort:
// an upload whose chunks went through another replica (or before a
// restart) is not known here and passes through; sha256 is what makes a
// chunked upload safe everywhere.
type chunkLedger struct {
	mu      sync.Mutex // guards uploads
	uploads map[string]*ledgerEntry
	max     int
	ttl     time.Duration
}

type ledgerEntry struct {
	host   string // the host the upload was started on
	chunks map[int]bool
	seen   time.Time
}

func newChunkLedger() *chunkLedger {
	return &chunkLedger{uploads: map[string]*ledgerEntry{}, max: 10000, ttl: 24 * time.Hour}
}

// started records a new upload id (chunked or edit upload) and the host
// it was opened on.
func (l *chunkLedger) started(id, host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evict(time.Now())
	l.uploads[id] = &ledgerEntry{host: host, chunks: map[int]bool{}, seen: time.Now()}
}

// sameHost refuses a call for a known upload that names another host than
// the one its _init went to: the chunk is never forwarded, so no host
// receives a part of another host's file. An id this replica has not seen
// goes to the host named; the agent there refuses an id it did not issue.
func (l *chunkLedger) sameHost(id, host, tool string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.uploads[id]
	if !ok || e.host == host {
		return nil
	}
	return inputError(fmt.Sprintf("upload %s was started on host %q, not %q: call %s with host %q", id, e.host, host, tool, e.host))
}

// stored records a chunk the agent acknowledged.
func (l *chunkLedger) stored(id string, index int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.uploads[id]; ok {
		e.chunks[index] = true
		e.seen = time.Now()
	}
}

// gap returns an error naming the first chunk index below the highest one
// sent that never reached the agent, or nil.
func (l *chunkLedger) gap(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.uploads[id]
	if !ok || len(e.chunks) == 0 {
		return nil
	}
	high := -1
	for i := range e.chunks {
		high = max(high, i)
	}
	for i := 0; i < high; i++ {
		if !e.chunks[i] {
			return inputError(fmt.Sprintf("chunk %d of upload %s never reached the agent (chunks up to %d did); send it again, then complete", i, id, high))
		}
	}
	return nil
}

func (l *chunkLedger) done(id string) {
	l.mu.Lock()
	delete(l.uploads, id)
	l.mu.Unlock()
}

// evict drops expired entries and, when full, the least recently used.
func (l *chunkLedger) evict(now time.Time) {
	for id, e := range l.uploads {
		if now.Sub(e.seen) > l.ttl {
			delete(l.uploads, id)
		}
	}
	for len(l.uploads) >= l.max {
		var oldest string
		var at time.Time
		for id, e := range l.uploads {
			if oldest == "" || e.seen.Before(at) {
				oldest, at = id, e.seen
			}
		}
		delete(l.uploads, oldest)
	}
}
