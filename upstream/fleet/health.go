package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream"
)

// probeConcurrency bounds the probes in flight per store, so a fleet of
// hundreds of hosts does not open hundreds of sockets at once (and a
// handful of stalled agents cannot hold up the rest for long).
const probeConcurrency = 16

// versionTimeout bounds the /capabilities call that reads the agent
// version after a host comes up; it is informational and must not hold
// a probe slot for a whole call timeout.
const versionTimeout = 5 * time.Second

// Health is what the registry knows about one host, for the hosts tool,
// /readyz and the status page.
type Health struct {
	// Reachable: the last probe was answered with success.
	Reachable bool
	// Down: DownAfter connect failures in a row; calls fail at once
	// (see [Host.Available]) until a probe or a call gets an answer.
	Down      bool
	DownSince time.Time
	// Latency is the round trip of the last successful probe.
	Latency time.Duration
	// AgentVersion is read from /capabilities when the host comes up;
	// empty if unknown.
	AgentVersion string
	// LastError is why the last probe or call failed, without any
	// address ("connection refused", "403 Forbidden: Invalid token").
	LastError string
	CheckedAt time.Time
	InFlight  int
}

// Up reports whether the host answered its last probe and is not marked
// down: what readiness, the status page and sentinel_hosts call reachable.
func (h Health) Up() bool { return h.Reachable && !h.Down }

// identity is what makes two loads of a host the same agent: a change to
// any of these needs a new client and a fresh health record.
type identity struct {
	url, token string
	timeout    time.Duration
}

// state is a host's mutable side: slots and health. It outlives a
// registry when a reload keeps the host's identity.
type state struct {
	name      string
	id        identity
	single    bool          // the SENTINELX_URL host: no down-marking, no cap
	downAfter int           // Options.DownAfter
	interval  time.Duration // Options.ProbeInterval
	log       *slog.Logger
	client    *upstream.Client // to drop idle connections once retired

	slots    chan struct{} // nil: no per-host cap
	inFlight atomic.Int64
	probing  atomic.Bool // a probe of this host is running
	retired  atomic.Bool // no longer in the registry in force

	mu      sync.Mutex // guards the fields below
	health  Health
	fails   int           // consecutive connect failures
	next    time.Time     // when the next probe is due
	backoff time.Duration // 0 while the host answers
}

func newState(name string, id identity, c *upstream.Client, o Options) *state {
	return &state{name: name, id: id, downAfter: o.DownAfter, interval: o.ProbeInterval,
		log: o.Logger, client: c, slots: make(chan struct{}, o.MaxPerHost)}
}

// Available returns nil unless the host is marked down, and then, at
// once, an *upstream.Error of KindUnreachable saying since when and when
// the next probe runs: a dead host answers in microseconds instead of
// holding the caller for a connect timeout.
func (h *Host) Available() error {
	st := h.st
	if st.single {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.health.Down {
		return nil
	}
	next := "next probe due now"
	if d := time.Until(st.next); d > 0 {
		next = "next probe in " + d.Round(time.Second).String()
		if d < time.Second {
			next = "next probe in under 1s"
		}
	}
	return &upstream.Error{Kind: upstream.KindUnreachable, Cause: st.health.LastError,
		Detail: fmt.Sprintf("host %s unreachable since %s (%s); %s",
			h.Name, st.health.DownSince.Format(time.TimeOnly), st.health.LastError, next)}
}

// Observe feeds the outcome of a real call into the host's health: a
// connect failure counts toward DownAfter like a failed probe, and any
// answer from the agent (success or an HTTP error) proves it alive. A
// timeout or a caller's cancellation says nothing either way.
func (h *Host) Observe(err error) {
	st := h.st
	if st.single {
		return
	}
	var ue *upstream.Error
	if err != nil && !errors.As(err, &ue) {
		return
	}
	st.record(ue, time.Now())
}

// Acquire takes one of the host's MaxPerHost slots, waiting until ctx
// ends. The error says how busy the host is; it is an *upstream.Error so
// callers handle it like any other agent failure.
func (h *Host) Acquire(ctx context.Context) (release func(), err error) {
	st := h.st
	if st.slots != nil {
		select {
		case st.slots <- struct{}{}:
		default:
			select {
			case st.slots <- struct{}{}:
			case <-ctx.Done():
				kind := upstream.KindCanceled
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					kind = upstream.KindTimeout
				}
				return nil, &upstream.Error{Kind: kind, Err: context.Cause(ctx),
					Detail: fmt.Sprintf("host %s is busy: %d calls in flight", h.Name, len(st.slots))}
			}
		}
	}
	st.inFlight.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			if st.slots != nil {
				<-st.slots
			}
			// A host removed by a reload keeps its connections only as
			// long as its last call needs them. net/http puts a
			// connection back in the pool on its own goroutine after the
			// body was read, which can come after this release: close
			// the idle ones again once that has surely happened, or one
			// would stay open to the removed agent for IdleConnTimeout.
			if st.inFlight.Add(-1) == 0 && st.retired.Load() {
				st.client.CloseIdleConnections()
				time.AfterFunc(retiredGrace, st.client.CloseIdleConnections)
			}
		})
	}, nil
}

// retiredGrace is how long after a removed host's last call its idle
// connections are closed a second time (see Acquire).
const retiredGrace = time.Second

// Status returns the host's health as last observed.
func (h *Host) Status() Health {
	h.st.mu.Lock()
	hl := h.st.health
	h.st.mu.Unlock()
	hl.InFlight = int(h.st.inFlight.Load())
	return hl
}

// answeredKind reports whether an error of kind k came with an answer
// from the agent, which proves it reachable.
func answeredKind(k upstream.Kind) bool {
	switch k {
	case upstream.KindHTTP, upstream.KindRefused, upstream.KindBadResponse, upstream.KindTooLarge:
		return true
	}
	return false
}

// shortCause is the address-free reason to show in a host list.
func shortCause(ue *upstream.Error) string {
	if ue.Kind == upstream.KindUnreachable && ue.Cause != "" {
		return ue.Cause
	}
	return ue.Message()
}

// record feeds one outcome (nil: success) into the down-marking, the
// same way for probes and real calls.
func (st *state) record(ue *upstream.Error, now time.Time) {
	switch {
	case ue == nil || answeredKind(ue.Kind):
		st.answered()
	case ue.Kind == upstream.KindUnreachable:
		st.connectFailed(shortCause(ue), now)
	}
}

// answered records that the agent answered: the failure count resets
// and a down host comes back.
func (st *state) answered() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.fails = 0
	if st.health.Down {
		st.health.Down, st.health.DownSince = false, time.Time{}
		st.log.Info("host up", "host", st.name)
	}
}

// connectFailed counts one connect failure and marks the host down at
// DownAfter; a host marked down by calls is re-probed soon.
func (st *state) connectFailed(cause string, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.fails++
	st.health.Reachable = false
	st.health.LastError = cause
	if st.health.Down || st.fails < st.downAfter {
		return
	}
	st.health.Down, st.health.DownSince = true, now
	if st.backoff == 0 {
		st.backoff = st.firstBackoff()
	}
	if due := now.Add(st.backoff); st.next.After(due) {
		st.next = due
	}
	st.log.Warn("host down", "host", st.name, "cause", cause, "failures", st.fails)
}

// firstBackoff is 1 s, or the probe interval when that is shorter.
func (st *state) firstBackoff() time.Duration { return min(time.Second, st.interval) }

// probed records a probe's outcome and schedules the next one. It
// reports whether the host just became reachable, so the caller reads
// the agent version once per up-transition.
func (st *state) probed(now time.Time, latency time.Duration, err error) (cameUp bool) {
	var ue *upstream.Error
	if err != nil && !errors.As(err, &ue) {
		ue = &upstream.Error{Detail: err.Error()} // no kind: proves nothing either way
	}
	if ue != nil && ue.Kind == upstream.KindTimeout {
		// A probe is a plain GET /state: no answer within its bound
		// means a host that drops packets or an agent that hangs, as
		// good as unreachable for the calls that would wait on it. (A
		// real call's timeout proves nothing: a script may run long.)
		st.connectFailed("no answer within the probe timeout", now)
	} else {
		st.record(ue, now)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.health.CheckedAt = now
	if ue == nil {
		cameUp = !st.health.Reachable
		st.health.Reachable, st.health.Latency, st.health.LastError = true, latency, ""
	} else {
		st.health.Reachable, st.health.Latency, st.health.LastError = false, 0, shortCause(ue)
	}
	if ue == nil || answeredKind(ue.Kind) {
		st.backoff = 0
		st.next = now.Add(jitter(st.interval))
		return cameUp
	}
	if st.backoff == 0 {
		st.backoff = st.firstBackoff()
	} else {
		st.backoff = min(2*st.backoff, st.interval)
	}
	st.next = now.Add(st.backoff)
	return false
}

// jitter spreads d by ±10 %, so hosts loaded together are not probed in
// lockstep forever.
func jitter(d time.Duration) time.Duration {
	if d < 10 {
		return d
	}
	return d - d/10 + rand.N(d/5)
}

func (st *state) setVersion(v string) {
	st.mu.Lock()
	st.health.AgentVersion = v
	st.mu.Unlock()
}

func (st *state) due() time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.next
}

// probeLoop probes the hosts of the registry in force, each when due,
// at most probeConcurrency at once, until ctx ends; it returns after the
// last probe has.
func probeLoop(ctx context.Context, registry func() *Registry, interval time.Duration) {
	sem := make(chan struct{}, probeConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	// The loop never sleeps longer than tick, so a host added by a reload
	// or marked down by calls does not wait a whole interval for a probe.
	tick := min(time.Second, interval)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		wake := now.Add(tick)
		for _, h := range registry().Hosts() {
			if due := h.st.due(); due.After(now) {
				if due.Before(wake) {
					wake = due
				}
				continue
			}
			if !h.st.probing.CompareAndSwap(false, true) {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				h.st.probing.Store(false)
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				defer h.st.probing.Store(false)
				probe(ctx, h)
			})
		}
		t.Reset(time.Until(wake))
	}
}

// probe checks one host and, when it has just come up, reads its agent
// version.
func probe(ctx context.Context, h *Host) {
	latency, err := h.Client.Probe(ctx)
	if ctx.Err() != nil {
		return // shutting down: the failure is ours, not the host's
	}
	if !h.st.probed(time.Now(), latency, err) {
		return
	}
	vctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	version := ""
	if caps, err := h.Client.Capabilities(vctx); err == nil {
		version = caps.Version
	}
	h.st.setVersion(version)
}
