package tools

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestConcurrency(t *testing.T) {
	c := NewConcurrency(2, 0) // no share: one subject may take both
	r1, err := c.Acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Acquire(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if c.InUse() != 2 {
		t.Fatalf("InUse = %d", c.InUse())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Acquire(ctx, "c"); !errors.Is(err, ErrBusy) {
		t.Fatalf("third Acquire: %v, want ErrBusy", err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := c.Acquire(context.Background(), "c")
		if err == nil {
			r()
		}
		got <- err
	}()
	r1()
	if err := <-got; err != nil {
		t.Fatalf("waiting Acquire after a release: %v", err)
	}
	r2()
	if c.InUse() != 0 {
		t.Fatalf("InUse = %d after releases", c.InUse())
	}
	if n := c.subjectsTracked(); n != 0 {
		t.Fatalf("%d subjects still tracked with no call in progress", n)
	}
}

// TestConcurrencyPerSubject: one subject holding its whole share waits (and
// then gets ErrSubjectBusy) while another subject still gets a slot; a
// subject waiting on its own share holds no global slot.
func TestConcurrencyPerSubject(t *testing.T) {
	c := NewConcurrency(4, 2)
	var held []func()
	for range 2 {
		r, err := c.Acquire(context.Background(), "greedy")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan error, 1)
	go func() {
		_, err := c.Acquire(ctx, "greedy")
		waiting <- err
	}()
	bounded, stop := context.WithTimeout(context.Background(), 10*time.Second) // ends a hang only
	defer stop()
	for range 2 { // the other two global slots are free for others
		r, err := c.Acquire(bounded, "other")
		if err != nil {
			t.Fatalf("another subject: %v, want a slot while greedy is at its share", err)
		}
		held = append(held, r)
	}
	if c.InUse() != 4 {
		t.Fatalf("InUse = %d, want 4 (greedy's waiting call must not hold a slot)", c.InUse())
	}
	cancel()
	if err := <-waiting; !errors.Is(err, ErrSubjectBusy) {
		t.Fatalf("greedy's third call: %v, want ErrSubjectBusy", err)
	}
	held[0]()
	r, err := c.Acquire(context.Background(), "greedy")
	if err != nil {
		t.Fatalf("greedy after one of its calls ended: %v", err)
	}
	r()
	for _, r := range held[1:] {
		r()
	}
	if c.InUse() != 0 || c.subjectsTracked() != 0 {
		t.Fatalf("InUse = %d, subjects tracked = %d after all releases", c.InUse(), c.subjectsTracked())
	}
}

// subjectsTracked is how many subjects have calls holding or waiting for a
// slot; the map must not outlive the calls.
func (c *Concurrency) subjectsTracked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.subjects)
}

func TestNewConcurrencyShare(t *testing.T) {
	for _, tt := range []struct{ n, per, wantN, wantPer int }{
		{32, 8, 32, 8}, {32, 0, 32, 32}, {4, 8, 4, 4}, {0, 0, 1, 1}, {1, 8, 1, 1},
	} {
		c := NewConcurrency(tt.n, tt.per)
		if cap(c.sem) != tt.wantN || c.perSubject != tt.wantPer {
			t.Errorf("NewConcurrency(%d, %d) = %d slots, %d per subject; want %d, %d",
				tt.n, tt.per, cap(c.sem), c.perSubject, tt.wantN, tt.wantPer)
		}
	}
}
