package server

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSplitReload: one SIGHUP reaches every consumer (the policy and the
// host registry), and a consumer that has not taken the last one does not
// block the others.
func TestSplitReload(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := make(chan os.Signal)
	outs := splitReload(ctx, in, 2)
	in <- syscall.SIGHUP
	in <- syscall.SIGHUP // outs[1] still holds the first: coalesced, not blocking
	for i, o := range outs {
		select {
		case <-o:
		case <-time.After(10 * time.Second):
			t.Fatalf("consumer %d got no reload", i)
		}
	}
	if nil == splitReload(ctx, nil, 2)[0] {
		t.Fatal("no channel without a reload source")
	}
}
