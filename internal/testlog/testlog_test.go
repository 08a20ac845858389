package testlog

import (
	"fmt"
	"sync"
	"testing"
)

// TestBufferConcurrent writes from several goroutines while reading; run
// with -race it fails if the buffer is not guarded.
func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				fmt.Fprintf(&b, "{\"g\":%d,\"n\":%d}\n", i, j)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if got := len(b.JSONLines(t)); got != 400 {
		t.Fatalf("JSONLines: %d lines, want 400", got)
	}
	b.Reset()
	if b.String() != "" {
		t.Fatal("Reset left data")
	}
}

// TestResetFreesStorage: heap-measuring tests reset the log before they
// measure, so Reset must not keep the old capacity.
func TestResetFreesStorage(t *testing.T) {
	var b Buffer
	b.Write(make([]byte, 1<<20))
	b.Reset()
	if c := b.buf.Cap(); c != 0 {
		t.Fatalf("capacity after Reset = %d, want 0", c)
	}
}
