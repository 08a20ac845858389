package server

import (
	"context"
	"sync"
	"time"
)

// probeTTL is how long one agent probe answers /readyz and the status
// page. Both are unauthenticated; without the cache every anonymous page
// load would cost the agent a call (and the real agent serializes them).
const probeTTL = 2 * time.Second

// probeCache shares one agent probe among callers for probeTTL; callers
// that arrive while a probe runs wait for it (or for their own ctx).
type probeCache struct {
	probe func(context.Context) (time.Duration, error)

	mu      sync.Mutex // guards the fields below
	at      time.Time
	lat     time.Duration
	err     error
	running chan struct{} // non-nil while a probe is in flight
}

func (p *probeCache) Probe(ctx context.Context) (time.Duration, error) {
	p.mu.Lock()
	if !p.at.IsZero() && time.Since(p.at) < probeTTL {
		lat, err := p.lat, p.err
		p.mu.Unlock()
		return lat, err
	}
	if p.running != nil {
		done := p.running
		p.mu.Unlock()
		select {
		case <-done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.lat, p.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	done := make(chan struct{})
	p.running = done
	p.mu.Unlock()

	// The probe outlives a caller that gives up, so the next one finds a
	// fresh answer; upstream.Probe bounds it to 5 s.
	lat, err := p.probe(context.WithoutCancel(ctx))

	p.mu.Lock()
	p.at, p.lat, p.err, p.running = time.Now(), lat, err, nil
	p.mu.Unlock()
	close(done)
	return lat, err
}
