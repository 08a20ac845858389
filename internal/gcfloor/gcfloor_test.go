package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/pensados/sentinelx-mcp/internal/poll"
)

// goal is the runtime's heap goal after a collection that found live
// bytes of heap and scanned scan bytes of stacks and globals, at GOGC=p
// (runtime/mgcpacer.go, without the memory limit).
func goal(live, scan uint64, p int) float64 {
	return max(float64(heapMinimum)*float64(p)/100, float64(live)+float64(live+scan)*float64(p)/100)
}

func TestPercentPutsTheGoalAtTheFloorOrAbove(t *testing.T) {
	const MB = 1 << 20
	const floor, base = 48 * MB, 400
	for _, tc := range []struct {
		live, scan uint64
		want       int // 0: only check the goal
	}{
		{0, 0, 1200},           // before the first collection: 4 MB × 12 = 48 MB
		{2 * MB, 0, 1200},      // the runtime's own minimum reaches the floor first
		{3 * MB, 1 * MB, 1125}, // go-sdk's case: 3 + 4 × 11.25 = 48 MB
		{2 * MB, 2 * MB, 1150}, // big stacks count: 2 + 4 × 11.5 = 48 MB
		{8 * MB, 0, 500},       // 8 + 8 × 5 = 48 MB
		{8 * MB, 1 * MB, 445},  // 8 + 9 × 4.45 ≈ 48 MB
		{9 * MB, 0, 434},       // just under where base gets there
		{10 * MB, 0, base},     // 10 + 10 × 4 = 50 MB ≥ floor: GOGC=base as is
		{9 * MB, 2 * MB, base}, // 9 + 11 × 4 = 53 MB
		{200 * MB, 5 * MB, base},
		{1, 0, 1200},
	} {
		p := Percent(tc.live, tc.scan, floor, base)
		if tc.want != 0 && p != tc.want {
			t.Errorf("live %d scan %d: GOGC %d, want %d", tc.live, tc.scan, p, tc.want)
		}
		if p < base {
			t.Errorf("live %d scan %d: GOGC %d below base %d", tc.live, tc.scan, p, base)
		}
		g, want := goal(tc.live, tc.scan, p), max(float64(floor), goal(tc.live, tc.scan, base))
		if g < want || g > want*1.01+MB {
			t.Errorf("live %d scan %d: GOGC %d gives a goal of %.1f MB, want %.1f MB", tc.live, tc.scan, p, g/MB, want/MB)
		}
	}
	if p := Percent(1, 0, 1<<50, 100); p != maxPercent {
		t.Errorf("an absurd floor gives GOGC %d, want the cap %d", p, maxPercent)
	}
}

// TestStartRetunesAfterEachCollection: the hook runs after a collection
// and leaves GOGC at or above base; once stop returns it changes nothing.
func TestStartRetunesAfterEachCollection(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	const floor, base = 64 << 20, 300
	stop := Start(floor, base)
	defer stop()
	if got := debug.SetGCPercent(-1); got != Percent(0, 0, floor, base) {
		t.Errorf("GOGC right after Start: %d, want %d", got, Percent(0, 0, floor, base))
	}
	debug.SetGCPercent(7) // something the hook must overwrite
	poll.Until(t, "GOGC re-tuned after a collection", func() bool {
		runtime.GC()
		p := debug.SetGCPercent(7)
		return p != 7 && p >= base
	})
	stop()
	debug.SetGCPercent(55)
	for range 3 {
		runtime.GC()
	}
	if got := debug.SetGCPercent(prev); got != 55 {
		t.Errorf("GOGC %d after stop, want the 55 set by hand", got)
	}
}
