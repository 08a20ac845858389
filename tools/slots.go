package tools

import (
	"context"
	"errors"
	"sync"
)

// The agent's concurrency slots live here, beside their only user: a tool
// that calls the agent takes one before its work (see run in result.go).

// ErrBusy is returned by [Concurrency.Acquire] when no slot freed up before
// the caller's context ended.
var ErrBusy = errors.New("the SentinelX agent is busy: too many calls in progress (UPSTREAM_MAX_CONCURRENCY); try again shortly")

// ErrSubjectBusy is returned by [Concurrency.Acquire] when the caller's own
// share of the slots stayed full until its context ended.
var ErrSubjectBusy = errors.New("too many of your calls are already in progress at the SentinelX agent (UPSTREAM_MAX_CONCURRENCY_PER_SUBJECT); wait for one to finish")

// Concurrency caps the calls in flight to the agent, so a burst of clients
// queues here instead of piling processes onto the host; and it caps each
// subject's share of those slots, so one subject's slow calls (scripts run
// for minutes) cannot take every slot while other subjects get "busy".
type Concurrency struct {
	sem        chan struct{}
	perSubject int

	mu       sync.Mutex // guards subjects
	subjects map[string]*subjectSlots
}

// subjectSlots is one subject's share. refs counts the calls holding or
// waiting for it; at zero the entry is dropped, so the map holds only
// subjects with calls in progress.
type subjectSlots struct {
	sem  chan struct{}
	refs int
}

// NewConcurrency allows n calls at once, at most perSubject of them for one
// subject; n < 1 means 1, and perSubject < 1 or above n means n.
func NewConcurrency(n, perSubject int) *Concurrency {
	n = max(n, 1)
	if perSubject < 1 || perSubject > n {
		perSubject = n
	}
	return &Concurrency{sem: make(chan struct{}, n), perSubject: perSubject, subjects: map[string]*subjectSlots{}}
}

// Acquire waits until subject has a slot of its share and a global slot is
// free, or until ctx ends (ErrSubjectBusy or ErrBusy). The share is taken
// first, so a subject waiting on its own share holds no global slot. Call
// release exactly once when the call is done.
func (c *Concurrency) Acquire(ctx context.Context, subject string) (release func(), err error) {
	s := c.ref(subject)
	if !take(ctx, s.sem) {
		c.unref(subject)
		return nil, ErrSubjectBusy
	}
	if !take(ctx, c.sem) {
		<-s.sem
		c.unref(subject)
		return nil, ErrBusy
	}
	return func() {
		<-c.sem
		<-s.sem
		c.unref(subject)
	}, nil
}

// take puts a token in sem, waiting until ctx ends; a free slot wins over
// an ended ctx.
func take(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Concurrency) ref(subject string) *subjectSlots {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.subjects[subject]
	if s == nil {
		s = &subjectSlots{sem: make(chan struct{}, c.perSubject)}
		c.subjects[subject] = s
	}
	s.refs++
	return s
}

func (c *Concurrency) unref(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.subjects[subject]; s != nil {
		if s.refs--; s.refs == 0 {
			delete(c.subjects, subject)
		}
	}
}

// InUse is the number of calls holding a slot.
func (c *Concurrency) InUse() int { return len(c.sem) }
