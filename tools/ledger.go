package tools

import (
	"fmt"
	"sync"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/bounded"
)

// chunkLedger remembers which chunks of each chunked upload went through
// this bridge, so sentinel_upload_complete can refuse an upload with a gap
// even when the caller gave neither total_size nor sha256 — the agent
// would assemble the chunks it has and report success. It is best effort:
// an upload whose chunks went through another replica (or before a
// restart) is not known here and passes through; sha256 is what makes a
// chunked upload safe everywhere. An upload idle for a day is forgotten,
// and when full the least recently active goes.
type chunkLedger struct {
	mu      sync.Mutex // guards uploads and the entries in it
	uploads *bounded.Map[string, *ledgerEntry]
}

// The ledger's bounds: how many uploads it remembers, and how long one may
// sit idle before it is forgotten (and passes through unchecked, as an
// unknown upload does).
const (
	ledgerMax  = 10000
	ledgerIdle = 24 * time.Hour
)

type ledgerEntry struct {
	host   string // the host the upload was started on
	chunks map[int]bool
}

func newChunkLedger() *chunkLedger {
	return &chunkLedger{uploads: bounded.New[string, *ledgerEntry](ledgerMax, ledgerIdle)}
}

// started records a new upload id (chunked or edit upload) and the host
// it was opened on.
func (l *chunkLedger) started(id, host string) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Sweeping on every start keeps memory following the active uploads
	// rather than the bound; it costs only what it frees.
	l.uploads.Sweep(now)
	l.uploads.Put(id, &ledgerEntry{host: host, chunks: map[int]bool{}}, now)
}

// sameHost refuses a call for a known upload that names another host than
// the one its _init went to: the chunk is never forwarded, so no host
// receives a part of another host's file. An id this replica has not seen
// goes to the host named; the agent there refuses an id it did not issue.
func (l *chunkLedger) sameHost(id, host, tool string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.uploads.Peek(id, time.Now())
	if !ok || e.host == host {
		return nil
	}
	return inputError(fmt.Sprintf("upload %s was started on host %q, not %q: call %s with host %q", id, e.host, host, tool, e.host))
}

// stored records a chunk the agent acknowledged.
func (l *chunkLedger) stored(id string, index int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.uploads.Get(id, now); ok {
		e.chunks[index] = true
	}
}

// gap returns an error naming the first chunk index below the highest one
// sent that never reached the agent, or nil. Checking is not activity: it
// does not keep the upload.
func (l *chunkLedger) gap(id string) error {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.uploads.Peek(id, now)
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
	l.uploads.Delete(id)
	l.mu.Unlock()
}
