package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Store holds the policy loaded from a file and replaces it when the file
// changes. A file that fails to load never replaces a good policy: the old
// one stays in force and the error is logged and reported by [Store.Status].
type Store struct {
	file  string
	tools []Tool
	log   *slog.Logger
	cur   atomic.Pointer[Policy]

	mu        sync.Mutex // guards the fields below
	stamp     stamp      // of the file last read, good or bad
	status    Status
	reloading sync.Mutex // one reload at a time
}

// Status is the load state, for /readyz and the status page.
type Status struct {
	File        string
	Rules       int
	Digest      string    // first 12 hex digits of the loaded file's SHA-256
	LoadedAt    time.Time // when the policy in force was loaded
	LastError   string    // why the last reload failed; empty after a good one
	LastErrorAt time.Time
}

type stamp struct {
	mod  time.Time
	size int64
}

// Open loads file; unlike a reload, a first load that fails is an error
// (the server should not start without the policy it was told to enforce).
// tools are the tools rules may govern. logger may be nil.
func Open(file string, tools []Tool, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{file: file, tools: tools, log: logger, status: Status{File: file}}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Policy returns the policy in force.
func (s *Store) Policy() *Policy { return s.cur.Load() }

// Status returns the load state.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Reload reads the file again. On error the old policy stays.
func (s *Store) Reload() error {
	err := s.load()
	if err != nil {
		s.log.Error("policy reload failed; the previous policy stays in force", "file", s.file, "error", err.Error())
		return err
	}
	st := s.Status()
	s.log.Info("policy loaded", "file", s.file, "rules", st.Rules, "digest", st.Digest)
	return nil
}

func (s *Store) load() error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	fi, statErr := os.Stat(s.file)
	data, err := os.ReadFile(s.file)
	var p *Policy
	if err == nil {
		p, err = Parse(data, s.tools)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stamp = stamp{}
	if statErr == nil {
		s.stamp = stamp{fi.ModTime(), fi.Size()}
	}
	if err != nil {
		err = fmt.Errorf("policy %s: %w", s.file, err)
		s.status.LastError, s.status.LastErrorAt = err.Error(), time.Now()
		return err
	}
	sum := sha256.Sum256(data)
	s.cur.Store(p)
	s.status = Status{File: s.file, Rules: p.Rules(), Digest: hex.EncodeToString(sum[:6]), LoadedAt: time.Now()}
	return nil
}

// changed reports whether the file's modification time or size differs
// from when it was last read.
func (s *Store) changed() bool {
	fi, err := os.Stat(s.file)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		return s.stamp != stamp{} // it was there and is gone: report that once
	}
	return stamp{fi.ModTime(), fi.Size()} != s.stamp
}

// Watch reloads on every value from hup (SIGHUP) and whenever the file's
// modification time or size changes, checked every poll, until ctx ends.
//
// Polling rather than inotify (fsnotify): editors and config management
// replace files by rename and Kubernetes swaps a symlink, which an inotify
// watch on the file misses and a watch on the directory must untangle; a
// stat every few seconds sees all of them, costs nothing, and needs no
// dependency.
func (s *Store) Watch(ctx context.Context, poll time.Duration, hup <-chan os.Signal) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.log.Info("SIGHUP: reloading policy", "file", s.file)
			_ = s.Reload()
		case <-t.C:
			if s.changed() {
				_ = s.Reload()
			}
		}
	}
}
