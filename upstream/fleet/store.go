package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream"
)

// Store holds the registry in force and replaces it when AGENTS_FILE (or
// a token file it names) changes or on SIGHUP. A file that fails to load
// never replaces a good registry: the old one stays, and the error is
// logged and reported by [Store.Status].
type Store struct {
	o      Options
	log    *slog.Logger
	single bool
	cur    atomic.Pointer[Registry]
	done   chan struct{} // closed when watching and probing have stopped

	reloading sync.Mutex // one reload at a time; OnChange calls run under it

	mu     sync.Mutex // guards the fields below
	stamps map[string]stamp
	status StoreStatus
	hooks  []func(*Registry)
}

// StoreStatus is the load state, for /readyz, the status page and the
// hosts tool.
type StoreStatus struct {
	Path        string
	Hosts       int
	Digest      string    // first 12 hex digits of the loaded file's SHA-256 (token files are not hashed)
	LoadedAt    time.Time // when the registry in force was loaded
	LastError   string    // why the last reload failed; empty after a good one
	LastErrorAt time.Time
}

// Open loads o.Path; unlike a reload, a first load that fails is an
// error, since the bridge must not start without the hosts it was told
// to front. It then watches the file and probes the hosts until ctx
// ends (see [Store.Done]).
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Path == "" {
		return nil, errors.New("fleet: no AGENTS_FILE path")
	}
	o = o.withDefaults()
	s := &Store{o: o, log: o.Logger, done: make(chan struct{}), status: StoreStatus{Path: o.Path}}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	st := s.Status()
	s.log.Info("agents file loaded", "file", o.Path, "hosts", st.Hosts, "digest", st.Digest)
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(ctx) })
	wg.Go(func() { probeLoop(ctx, s.Registry, o.ProbeInterval) })
	go func() {
		wg.Wait()
		for _, h := range s.Registry().Hosts() {
			h.Client.CloseIdleConnections()
		}
		close(s.done)
	}()
	return s, nil
}

// NewSingle is the store of the one agent of SENTINELX_URL, named
// [DefaultHost]: the bridge without AGENTS_FILE. Nothing is watched or
// probed, the host is never marked down (the server's own readiness
// probe covers it) and has no per-host cap (the server has a global
// one). c may be nil for a table that never calls the agent (listing
// tools, building scopes).
func NewSingle(c *upstream.Client) *Store {
	var url string
	if c != nil {
		url = c.BaseURL()
	}
	h := &Host{Name: DefaultHost, Client: c, url: url,
		st: &state{name: DefaultHost, single: true, client: c, log: slog.New(slog.DiscardHandler)}}
	s := &Store{single: true, log: slog.New(slog.DiscardHandler), done: make(chan struct{}),
		status: StoreStatus{Hosts: 1, LoadedAt: time.Now()}}
	close(s.done)
	s.cur.Store(newRegistry([]*Host{h}, true))
	return s
}

// Registry returns the registry in force. A caller keeps the one it got
// for the whole call, so a reload never changes hosts under it.
func (s *Store) Registry() *Registry { return s.cur.Load() }

// Done is closed once the store has stopped watching and probing after
// Open's ctx ended (at once for [NewSingle]).
func (s *Store) Done() <-chan struct{} { return s.done }

// Status returns the load state.
func (s *Store) Status() StoreStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// OnChange registers f to be called after every reload that changed the
// registry (hosts added, removed, re-keyed or relabelled), e.g. to
// rebuild tool schemas. Calls are sequential, in reload order; f must not
// call Reload.
func (s *Store) OnChange(f func(*Registry)) {
	s.mu.Lock()
	s.hooks = append(s.hooks, f)
	s.mu.Unlock()
}

// Reload reads the file again now. On error the previous registry stays
// in force, and the error is logged and kept in Status().LastError until
// a good load.
func (s *Store) Reload() error {
	if s.single {
		return nil
	}
	s.reloading.Lock()
	defer s.reloading.Unlock()
	reg, err := s.load()
	if err != nil {
		s.log.Error("agents file reload failed; the previous hosts stay in force", "file", s.o.Path, "error", err.Error())
		return err
	}
	st := s.Status()
	s.log.Info("agents file loaded", "file", s.o.Path, "hosts", st.Hosts, "digest", st.Digest, "changed", reg != nil)
	if reg == nil {
		return nil
	}
	s.mu.Lock()
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	for _, f := range hooks {
		f(reg)
	}
	return nil
}

// load reads the file and swaps the registry in. It returns the new
// registry if it differs from the previous one, nil if not.
func (s *Store) load() (*Registry, error) {
	prev := s.cur.Load()
	l := loader{o: s.o, prev: prev}
	reg, data, err := l.load(s.o.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stamps = l.stamps
	if err != nil {
		s.status.LastError, s.status.LastErrorAt = err.Error(), time.Now()
		return nil, err
	}
	sum := sha256.Sum256(data)
	s.status = StoreStatus{Path: s.o.Path, Hosts: reg.Len(), Digest: hex.EncodeToString(sum[:6]), LoadedAt: time.Now()}
	s.cur.Store(reg)
	if prev != nil && slices.Equal(prev.hosts, reg.hosts) {
		return nil, nil
	}
	retire(prev, reg)
	return reg, nil
}

// retire lets go of the agents prev had and next does not: no more
// probes (next is what the prober reads) and no idle connections once
// their calls in flight are done.
func retire(prev, next *Registry) {
	if prev == nil {
		return
	}
	kept := make(map[*state]bool, len(next.hosts))
	for _, h := range next.hosts {
		kept[h.st] = true
	}
	for _, h := range prev.hosts {
		if !kept[h.st] {
			h.st.retired.Store(true)
			h.Client.CloseIdleConnections()
		}
	}
}

// watch reloads on every value from Options.Reload (SIGHUP) and whenever
// a file of the last load changed, checked every Options.Poll, until ctx
// ends. Polling rather than inotify for the reasons of the policy store:
// renames, Kubernetes symlink swaps and token files in other directories
// are all seen by a stat.
func (s *Store) watch(ctx context.Context) {
	t := time.NewTicker(s.o.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.o.Reload:
			s.log.Info("SIGHUP: reloading agents file", "file", s.o.Path)
			_ = s.Reload()
		case <-t.C:
			if s.changed() {
				_ = s.Reload()
			}
		}
	}
}

// changed reports whether a file read by the last load has a different
// modification time or size, appeared, or disappeared.
func (s *Store) changed() bool {
	s.mu.Lock()
	stamps := s.stamps
	s.mu.Unlock()
	for file, was := range stamps {
		var now stamp
		if fi, err := os.Stat(file); err == nil {
			now = stampOf(fi)
		}
		if now != was {
			return true
		}
	}
	return false
}
