// Package logsink batches log lines into fewer write(2) calls without
// letting a request's lines trail its answer.
//
// Each log line used to be one write to stdout (a pipe to journald) or to
// AUDIT_LOG: two per tool call, the audit line and the request line. On a
// pipe every write also wakes the reader, and together they cost ~4 % of a
// call's CPU. A [Sink] keeps lines in memory until [Sink.Flush], which the
// request log calls as each request ends and before its answer is
// released: a client that has its answer can read the lines about it, and
// one write carries both lines (and those of requests that ended
// meanwhile). Lines written outside any request (startup, probes,
// reloads) go out within [MaxDelay]; a buffer over [MaxBuffered] goes out
// at once. What a crash can lose is what was buffered: at most the lines of
// requests still running and MaxDelay's worth of the others.
package logsink

import (
	"io"
	"sync"
	"time"
)

const (
	// MaxDelay bounds how long a line waits for a Flush.
	MaxDelay = 100 * time.Millisecond
	// MaxBuffered is the most a Sink holds before it writes.
	MaxBuffered = 64 << 10
)

// Sink is an io.Writer that batches whole writes (slog writes one record
// per Write). It is safe for concurrent use; lines keep their order.
type Sink struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	timer  *time.Timer // flushes delay after the first line of a batch
	delay  time.Duration
	armed  bool
	closed bool
}

// New returns a Sink writing to w.
func New(w io.Writer) *Sink { return newSink(w, MaxDelay) }

func newSink(w io.Writer, delay time.Duration) *Sink {
	s := &Sink{w: w, delay: delay}
	s.timer = time.AfterFunc(time.Hour, s.timedFlush)
	s.timer.Stop()
	return s
}

// Write buffers p. It reports success: as with a direct write whose error
// slog drops, a failed write loses its lines and nothing else.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.w.Write(p)
	}
	s.buf = append(s.buf, p...)
	if len(s.buf) >= MaxBuffered {
		s.flushLocked()
		return len(p), nil
	}
	if !s.armed {
		s.armed = true
		s.timer.Reset(s.delay)
	}
	return len(p), nil
}

// Flush writes out what is buffered, in one write.
func (s *Sink) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *Sink) timedFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	s.flushLocked()
}

func (s *Sink) flushLocked() {
	if len(s.buf) == 0 {
		return
	}
	_, _ = s.w.Write(s.buf)
	if cap(s.buf) > 4*MaxBuffered {
		s.buf = nil // a burst of huge lines does not pin its buffer
		return
	}
	s.buf = s.buf[:0]
}

// Close writes out what is buffered; later writes go straight to the
// underlying writer. It does not close that writer.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	s.closed = true
	s.timer.Stop()
	return nil
}
