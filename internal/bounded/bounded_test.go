package bounded

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(d time.Duration) time.Time { return t0.Add(d) }

// keys lists the keys held, most recently used first.
func keys[K comparable, V any](m *Map[K, V]) []K {
	var ks []K
	if m.m == nil {
		return ks
	}
	for e := m.root.next; e != &m.root; e = e.next {
		ks = append(ks, e.key)
	}
	return ks
}

func TestIdleTTL(t *testing.T) {
	m := New[string, int](0, time.Minute)
	m.Put("a", 1, at(0))
	m.Put("b", 2, at(0))
	if v, ok := m.Get("a", at(time.Minute)); !ok || v != 1 {
		t.Fatalf("a at exactly its TTL: %v %v, want alive (dead only when older)", v, ok)
	}
	// a's use restarted its TTL; b was only peeked at, which does not.
	if _, ok := m.Peek("b", at(time.Minute)); !ok {
		t.Fatal("b gone at exactly its TTL")
	}
	if _, ok := m.Peek("b", at(time.Minute+1)); ok {
		t.Fatal("b alive past its TTL")
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d after a dead entry was looked up, want 1", m.Len())
	}
	if _, ok := m.Get("a", at(2*time.Minute)); !ok {
		t.Fatal("a died although its Get restarted its TTL")
	}
	if n := m.Sweep(at(3*time.Minute + 1)); n != 1 || m.Len() != 0 {
		t.Fatalf("Sweep freed %d, left %d; want 1 and 0", n, m.Len())
	}
}

func TestDeadline(t *testing.T) {
	m := New[string, int](0, 0)
	m.PutUntil("a", 1, at(time.Second), at(0))
	m.PutUntil("b", 2, at(3*time.Second), at(0))
	m.PutUntil("c", 3, at(2*time.Second), at(0))
	m.Put("forever", 4, at(0))
	if _, ok := m.Get("a", at(time.Second-1)); !ok {
		t.Fatal("a dead before its deadline")
	}
	if _, ok := m.Get("a", at(time.Second)); ok {
		t.Fatal("a alive at its deadline")
	}
	if n := m.Sweep(at(2 * time.Second)); n != 1 {
		t.Fatalf("Sweep at c's deadline freed %d, want 1", n)
	}
	if got := fmt.Sprint(keys(m)); got != "[forever b]" {
		t.Fatalf("left %s, want [forever b]", got)
	}
	// Put replaces the deadline with none; PutUntil a new one.
	m.Put("b", 5, at(2*time.Second))
	if v, ok := m.Get("b", at(time.Hour)); !ok || v != 5 {
		t.Fatalf("b after Put without deadline: %v %v", v, ok)
	}
	m.PutUntil("forever", 6, at(2*time.Hour), at(time.Hour))
	if n := m.Sweep(at(2 * time.Hour)); n != 1 || m.Len() != 1 {
		t.Fatalf("Sweep after a new deadline freed %d, left %d; want 1 and 1", n, m.Len())
	}
	// A value dead on arrival is not stored, and removes the old one.
	m.PutUntil("b", 7, at(time.Hour), at(3*time.Hour))
	if m.Len() != 0 {
		t.Fatalf("a dead value was stored (Len %d)", m.Len())
	}
}

func TestCapacityEvictsLeastRecentlyUsed(t *testing.T) {
	m := New[int, int](3, 0)
	for i := range 3 {
		m.Put(i, i, at(time.Duration(i)))
	}
	m.Get(0, at(10))  // 0 is now the most recently used
	m.Peek(1, at(11)) // a peek does not count
	m.Put(2, 20, at(12))
	m.Put(3, 3, at(13)) // full: 1 goes
	if got := fmt.Sprint(keys(m)); got != "[3 2 0]" {
		t.Fatalf("after one eviction: %s, want [3 2 0]", got)
	}
	m.Put(3, 30, at(14)) // replacing never evicts
	if m.Len() != 3 {
		t.Fatalf("Len = %d after replacing, want 3", m.Len())
	}
	m.Put(4, 4, at(15))
	if got := fmt.Sprint(keys(m)); got != "[4 3 2]" {
		t.Fatalf("after a second eviction: %s, want [4 3 2]", got)
	}
}

func TestCapacityDropsDeadFirst(t *testing.T) {
	m := New[string, int](3, 0)
	m.Put("old", 0, at(0))                     // least recently used, but alive
	m.PutUntil("x", 1, at(time.Second), at(1)) // dies at 1 s
	m.PutUntil("y", 2, at(time.Second), at(2)) // dies at 1 s
	m.Put("new", 3, at(time.Second))
	if got := fmt.Sprint(keys(m)); got != "[new old]" {
		t.Fatalf("got %s, want the two dead entries gone and old kept", got)
	}
	idle := New[string, int](2, time.Minute)
	idle.Put("a", 0, at(0))
	idle.Put("b", 0, at(time.Minute))
	idle.Put("c", 0, at(time.Minute+1)) // a is dead of idleness: it goes, b stays
	if got := fmt.Sprint(keys(idle)); got != "[c b]" {
		t.Fatalf("idle map: %s, want [c b]", got)
	}
}

func TestZeroAndNegativeSettings(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    *Map[int, int]
	}{
		{"New(0, 0)", New[int, int](0, 0)},
		{"New(-1, -time.Second)", New[int, int](-1, -time.Second)},
		{"zero Map", &Map[int, int]{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tt.m.Get(1, at(0)); ok || tt.m.Len() != 0 || tt.m.Sweep(at(0)) != 0 {
				t.Fatal("an empty map is not empty")
			}
			tt.m.Delete(1)
			tt.m.Clear()
			for i := range 1000 {
				tt.m.Put(i, i, at(0))
			}
			if tt.m.Len() != 1000 {
				t.Fatalf("Len = %d, want 1000 (no bound)", tt.m.Len())
			}
			if n := tt.m.Sweep(at(1000 * time.Hour)); n != 0 {
				t.Fatalf("Sweep freed %d entries of a map without TTL", n)
			}
			if v, ok := tt.m.Get(7, at(1000*time.Hour)); !ok || v != 7 {
				t.Fatal("an entry died without a TTL or deadline")
			}
		})
	}
	one := New[int, int](1, 0)
	one.Put(1, 1, at(0))
	one.Put(2, 2, at(0))
	if got := fmt.Sprint(keys(one)); got != "[2]" {
		t.Fatalf("a map of one: %s, want [2]", got)
	}
}

func TestDeleteFuncAndClear(t *testing.T) {
	m := New[int, int](0, 0)
	for i := range 10 {
		m.PutUntil(i, i, at(time.Duration(i+1)*time.Second), at(0))
	}
	if n := m.DeleteFunc(func(_, v int) bool { return v%2 == 0 }); n != 5 || m.Len() != 5 {
		t.Fatalf("DeleteFunc removed %d, left %d", n, m.Len())
	}
	if n := m.Sweep(at(10 * time.Second)); n != 5 {
		t.Fatalf("Sweep after DeleteFunc freed %d, want 5 (the heap followed)", n)
	}
	m.PutUntil(1, 1, at(time.Hour), at(0))
	m.Clear()
	if m.Len() != 0 || m.Sweep(at(2*time.Hour)) != 0 {
		t.Fatal("Clear left something behind")
	}
	m.Put(1, 1, at(0))
	if v, ok := m.Get(1, at(0)); !ok || v != 1 {
		t.Fatal("a cleared map does not take new entries")
	}
}

// TestBackwardsClock: readings that go backwards may leave a dead entry to
// a later sweep, but it is never returned.
func TestBackwardsClock(t *testing.T) {
	m := New[string, int](0, time.Minute)
	m.Put("a", 1, at(time.Hour))
	m.Put("b", 2, at(0)) // b is in front, yet older
	m.Sweep(at(time.Hour))
	if _, ok := m.Get("b", at(time.Hour)); ok {
		t.Fatal("a dead entry was returned")
	}
}

// TestAgainstModel drives a Map and a plain-map model of its rules (dead
// entries go first, then the least recently used) with the same random
// operations on a clock that only goes forward.
func TestAgainstModel(t *testing.T) {
	type mentry struct {
		v           int
		used, until time.Time
		seq         int
	}
	const max, ttl = 8, 50 * time.Millisecond
	r := rand.New(rand.NewPCG(1, 2))
	m := New[int, int](max, ttl)
	model := map[int]*mentry{}
	seq := 0
	now := t0
	dead := func(e *mentry) bool {
		return (!e.until.IsZero() && !now.Before(e.until)) || now.Sub(e.used) > ttl
	}
	for i := range 20000 {
		now = now.Add(time.Duration(r.IntN(5)) * time.Millisecond)
		k := r.IntN(16)
		switch op := r.IntN(10); {
		case op < 4:
			var until time.Time
			if r.IntN(2) == 0 {
				until = now.Add(time.Duration(r.IntN(80)-10) * time.Millisecond)
			}
			m.PutUntil(k, i, until, now)
			if !until.IsZero() && !now.Before(until) {
				delete(model, k)
				break
			}
			if _, ok := model[k]; !ok && len(model) >= max {
				for mk, e := range model {
					if dead(e) {
						delete(model, mk)
					}
				}
				for len(model) >= max {
					lru := -1
					for mk, e := range model {
						if lru < 0 || e.seq < model[lru].seq {
							lru = mk
						}
					}
					delete(model, lru)
				}
			}
			seq++
			model[k] = &mentry{v: i, used: now, until: until, seq: seq}
		case op < 8:
			peek := op == 7
			var v int
			var ok bool
			if peek {
				v, ok = m.Peek(k, now)
			} else {
				v, ok = m.Get(k, now)
			}
			e, want := model[k]
			if want && dead(e) {
				delete(model, k)
				want = false
			}
			if ok != want || (ok && v != e.v) {
				t.Fatalf("op %d: get %d = %v %v, model %v", i, k, v, ok, e)
			}
			if ok && !peek {
				seq++
				e.used, e.seq = now, seq
			}
		case op == 8:
			m.Delete(k)
			delete(model, k)
		default:
			m.Sweep(now)
			for mk, e := range model {
				if dead(e) {
					delete(model, mk)
				}
			}
		}
		if m.Len() != len(model) {
			t.Fatalf("op %d: Len %d, model %d", i, m.Len(), len(model))
		}
	}
}

func BenchmarkMap(b *testing.B) {
	const n = 10000
	ks := make([]string, 4*n)
	for i := range ks {
		ks[i] = fmt.Sprint("key-", i)
	}
	b.Run("get", func(b *testing.B) {
		m := New[string, int](n, time.Hour)
		for i := range n {
			m.Put(ks[i], i, t0)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.Get(ks[i%n], t0)
			i++
		}
	})
	b.Run("put-into-full", func(b *testing.B) {
		m := New[string, int](n, time.Hour)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.Put(ks[i%len(ks)], i, t0)
			i++
		}
	})
	b.Run("put-until-into-full", func(b *testing.B) {
		m := New[string, int](n, 0)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.PutUntil(ks[i%len(ks)], i, t0.Add(time.Duration(i%977)*time.Second), t0)
			i++
		}
	})
}
