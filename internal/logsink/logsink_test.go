package logsink

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/poll"
)

// recorder records every Write it receives, so tests can count them.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) snapshot() (n int, all string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, w := range r.writes {
		b.Write(w)
	}
	return len(r.writes), b.String()
}

func TestFlushWritesBufferedLinesInOneWrite(t *testing.T) {
	rec := &recorder{}
	s := newSink(rec, time.Hour) // only Flush writes here
	defer s.Close()
	s.Write([]byte("audit line\n"))
	s.Write([]byte("request line\n"))
	if n, _ := rec.snapshot(); n != 0 {
		t.Fatalf("%d writes before Flush, want 0", n)
	}
	s.Flush()
	n, all := rec.snapshot()
	if n != 1 || all != "audit line\nrequest line\n" {
		t.Fatalf("after Flush: %d writes %q, want 1 write of both lines in order", n, all)
	}
	s.Flush() // nothing buffered: no empty write
	if n, _ := rec.snapshot(); n != 1 {
		t.Fatalf("an empty Flush wrote: %d writes", n)
	}
}

// TestLinesOutsideRequestsGoOutByThemselves: a line nobody flushes (a
// probe's warning, a reload message) is written within MaxDelay.
func TestLinesOutsideRequestsGoOutByThemselves(t *testing.T) {
	rec := &recorder{}
	s := New(rec)
	defer s.Close()
	s.Write([]byte("agent web-3 unreachable\n"))
	poll.Until(t, "the unflushed line written by the timer", func() bool {
		_, all := rec.snapshot()
		return all == "agent web-3 unreachable\n"
	})
	// The timer re-arms for the next batch.
	s.Write([]byte("second\n"))
	poll.Until(t, "the next unflushed line written too", func() bool {
		_, all := rec.snapshot()
		return strings.HasSuffix(all, "second\n")
	})
}

func TestFullBufferIsWrittenAtOnce(t *testing.T) {
	rec := &recorder{}
	s := newSink(rec, time.Hour)
	defer s.Close()
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for range MaxBuffered / len(line) {
		s.Write(line)
	}
	n, all := rec.snapshot()
	if n != 1 || len(all) != MaxBuffered {
		t.Fatalf("%d writes of %d bytes in all, want one write of %d once the buffer is full", n, len(all), MaxBuffered)
	}
}

func TestCloseFlushesAndWritesThrough(t *testing.T) {
	rec := &recorder{}
	s := newSink(rec, time.Hour)
	s.Write([]byte("last line before shutdown\n"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("after close\n"))
	n, all := rec.snapshot()
	if n != 2 || all != "last line before shutdown\nafter close\n" {
		t.Fatalf("%d writes %q", n, all)
	}
}

// TestConcurrentWritersKeepLinesWhole: slog writes one record per Write
// from many goroutines; each must come out whole, none lost (-race).
func TestConcurrentWritersKeepLinesWhole(t *testing.T) {
	rec := &recorder{}
	s := New(rec)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(s, "g%d line %d %s\n", g, i, strings.Repeat("y", i%50))
				if i%7 == 0 {
					s.Flush()
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
	_, all := rec.snapshot()
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	next := make(map[string]int)
	for _, l := range lines {
		var g, i int
		var pad string
		if _, err := fmt.Sscanf(l, "g%d line %d %s", &g, &i, &pad); err != nil && i%50 != 0 {
			t.Fatalf("torn line %q: %v", l, err)
		}
		key := fmt.Sprint(g)
		if i != next[key] {
			t.Fatalf("goroutine %d: line %d after %d (out of order or lost)", g, i, next[key]-1)
		}
		if len(pad) != i%50 {
			t.Fatalf("torn line %q", l)
		}
		next[key]++
	}
}
