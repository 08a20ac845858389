package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/pensados/sentinelx-mcp/internal/poll"
)

// goal is the runtime's heap goal for a live heap at GOGC=p (ignoring the
// memory limit): max(4 MB × p/100, live × (1 + p/100)).
func goal(live uint64, p int) float64 {
	return max(float64(heapMinimum)*float64(p)/100, float64(live)*(1+float64(p)/100))
}

func TestPercentPutsTheGoalAtTheFloorOrAbove(t *testing.T) {
	const MB = 1 << 20
	const floor, base = 48 * MB, 400
	for _, tc := range []struct {
		live uint64
		want int // 0: only check the goal
	}{
		{0, 1200},          // before the first collection: 4 MB × 12 = 48 MB
		{2 * MB, 1200},     // go-sdk's case: the runtime's own minimum reaches the floor first
		{4 * MB, 1100},     // 4 MB × 12 = 48 MB: the live term gets there first
		{8 * MB, 500},      // 8 MB × 6 = 48 MB
		{9*MB + MB/2, 406}, // just under floor ÷ 5
		{10 * MB, base},    // 10 MB × 5 = 50 MB ≥ floor: GOGC=base as is
		{200 * MB, base},
		{1, 1200},
	} {
		p := Percent(tc.live, floor, base)
		if tc.want != 0 && p != tc.want {
			t.Errorf("live %d: GOGC %d, want %d", tc.live, p, tc.want)
		}
		if p < base {
			t.Errorf("live %d: GOGC %d below base %d", tc.live, p, base)
		}
		g := goal(tc.live, p)
		want := max(float64(floor), float64(tc.live)*(1+float64(base)/100))
		if g < want || g > want*1.01+MB {
			t.Errorf("live %d: GOGC %d gives a goal of %.1f MB, want %.1f MB", tc.live, p, g/MB, want/MB)
		}
	}
	if p := Percent(1, 1<<50, 100); p != maxPercent {
		t.Errorf("an absurd floor gives GOGC %d, want the cap %d", p, maxPercent)
	}
}

// TestStartRetunesAfterEachCollection: the hook runs after a collection
// and leaves GOGC where Percent puts it for the live heap it finds; stop
// ends it.
func TestStartRetunesAfterEachCollection(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	const floor, base = 64 << 20, 300
	stop := Start(floor, base)
	defer stop()
	if got := debug.SetGCPercent(-1); got != Percent(0, floor, base) {
		t.Errorf("GOGC right after Start: %d, want %d", got, Percent(0, floor, base))
	}
	debug.SetGCPercent(7) // something the hook must overwrite
	poll.Until(t, "GOGC re-tuned after a collection", func() bool {
		runtime.GC()
		p := debug.SetGCPercent(7)
		return p != 7 && p >= base
	})
	stop()
	runtime.GC()
	runtime.GC()
	debug.SetGCPercent(55)
	runtime.GC()
	runtime.GC()
	if got := debug.SetGCPercent(prev); got != 55 {
		t.Errorf("GOGC %d after stop, want the 55 set by hand", got)
	}
}
