// Package gcfloor gives the Go collector a floor under its heap goal
// without raising GOGC for large heaps.
//
// go-sdk turns every MCP request into ~300 KB of garbage that is dead
// within microseconds (nine JSON decodes, each through a fresh 32 KiB
// buffer), while the bridge's live heap is 2–3 MB. How often the collector
// runs is garbage rate ÷ (heap goal − live heap). Go sets the goal at
// max(4 MB × GOGC/100, live × (1 + GOGC/100)): for a small heap that is
// the first term, so the only knob is GOGC, and raising it enough to batch
// go-sdk's garbage also lets a large live heap (sessions, a big fleet,
// uploads in flight) grow many times over before it is collected.
//
// [Start] decouples the two: after every collection it sets GOGC so that
// the next goal is max(floor, what GOGC=base gives). Small heaps are
// collected once floor bytes have piled up; heaps whose goal at GOGC=base
// is above floor behave exactly as under GOGC=base. The soft memory limit
// (GOMEMLIMIT) still caps the goal.
package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapMinimum is the runtime's heap goal floor at GOGC=100; it scales with
// GOGC (runtime/mgcpacer.go).
const heapMinimum = 4 << 20

// maxPercent bounds the GOGC Percent returns (a tiny live heap would
// otherwise ask for an absurd one).
const maxPercent = 100_000

// Percent is the GOGC that makes the next heap goal max(floor, what
// GOGC=base gives) after a collection that found live bytes of heap and
// scanned scan bytes of stacks and globals. The runtime's goal
// (runtime/mgcpacer.go) is max(4 MB × GOGC/100, live + (live + scan) ×
// GOGC/100); both terms grow with GOGC, so the answer is the smaller of the
// GOGCs that bring either one to floor, unless base already gets there.
func Percent(live, scan, floor uint64, base int) int {
	grown := func(p float64) float64 { return float64(live) + float64(live+scan)*p/100 }
	if grown(float64(base)) >= float64(floor) {
		return base
	}
	p := 100 * float64(floor) / heapMinimum // 4 MB × p/100 = floor
	if live+scan > 0 {
		p = math.Min(p, 100*(float64(floor)-float64(live))/float64(live+scan)) // grown(p) = floor
	}
	return max(base, min(int(math.Ceil(p)), maxPercent))
}

// Start keeps the heap goal at max(floor, what GOGC=base gives) until stop
// is called, and sets GOGC for the first collection at once. It must not
// be used where the operator set GOGC. After stop returns, GOGC is no
// longer changed.
func Start(floor uint64, base int) (stop func()) {
	t := &tuner{floor: floor, base: base, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	debug.SetGCPercent(Percent(0, 0, floor, base))
	t.arm()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
	}
}

type tuner struct {
	floor   uint64
	base    int
	mu      sync.Mutex
	sample  []metrics.Sample
	stopped bool
}

// sentinel is allocated for one collection to find unreachable: its
// cleanup runs once that collection is done. It holds a pointer so that
// it is an object of its own, not part of a tiny-allocation block.
type sentinel struct{ _ *tuner }

func (t *tuner) arm() {
	runtime.AddCleanup(new(sentinel), (*tuner).afterGC, t)
}

// afterGC runs on the runtime's cleanup goroutine after each collection.
func (t *tuner) afterGC() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	var v [3]uint64
	for i, s := range t.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			t.arm() // a runtime without the metric: leave GOGC as it is
			return
		}
		v[i] = s.Value.Uint64()
	}
	debug.SetGCPercent(Percent(v[0], v[1]+v[2], t.floor, t.base))
	t.arm()
}
